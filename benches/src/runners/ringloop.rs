//! The ringloop rows: `ringloop-{epoll,uring}-{ct,mt}`, one [`Ringloop`] per backend and
//! scheduler flavour.
//!
//! The runtime itself lands with issue 4; until then the four rows report themselves
//! unavailable with the reason, and the command lists them once with it. When the runtime
//! exists this file's body implements every workload exactly as `tokio.rs` does (each body
//! inside a spawned task, the same primitives by their ringloop names), with the backend
//! forced through the runtime's builder.

use super::Runner;
use crate::workload::{Params, Sample, Workload};

/// Why the ringloop rows cannot run yet.
const NOT_BUILT: &str = "ringloop runtime not built yet (issue 4)";

/// The reactor backend a row forces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// epoll, through mio.
    Epoll,
    /// io_uring.
    Uring,
}

/// One ringloop row: a backend and a scheduler flavour.
pub struct Ringloop {
    /// The reactor backend.
    pub backend: Backend,
    /// Multi-thread (work-stealing) scheduler if true, current-thread if false.
    pub multi_thread: bool,
}

/// The four ringloop rows, in report order.
pub fn runners() -> Vec<Box<dyn Runner>> {
    let mut v: Vec<Box<dyn Runner>> = Vec::new();
    for backend in [Backend::Epoll, Backend::Uring] {
        for multi_thread in [false, true] {
            v.push(Box::new(Ringloop {
                backend,
                multi_thread,
            }));
        }
    }
    v
}

impl Runner for Ringloop {
    fn id(&self) -> &'static str {
        match (self.backend, self.multi_thread) {
            (Backend::Epoll, false) => "ringloop-epoll-ct",
            (Backend::Epoll, true) => "ringloop-epoll-mt",
            (Backend::Uring, false) => "ringloop-uring-ct",
            (Backend::Uring, true) => "ringloop-uring-mt",
        }
    }

    fn available(&self) -> Result<(), String> {
        Err(NOT_BUILT.into())
    }

    fn run(&self, _workload: Workload, _params: &Params) -> Result<Sample, String> {
        Err(NOT_BUILT.into())
    }
}
