//! Runners: one per runtime id, each implementing every workload with its own primitives.
//!
//! A [`Runner`] is a trait object so that the command can hold the whole field in one list
//! ([`all`]) and pick from it by id. The fixed ids, in report order:
//!
//! | id | what runs |
//! |---|---|
//! | `ringloop-epoll-ct`, `ringloop-epoll-mt`, `ringloop-uring-ct`, `ringloop-uring-mt` | ringloop on each backend, current-thread and multi-thread ([`ringloop`]) |
//! | `tokio-ct`, `tokio-mt` | tokio's current-thread and multi-thread runtimes ([`tokio`]) |
//! | `smol` | an `async-executor` driven by `smol::block_on` on one thread ([`smol`]) |
//! | `asyncio`, `uvloop` | the bundled Python script, on asyncio's default loop or uvloop ([`python`]) |
//!
//! `run` is only ever called inside a fresh `--cell` child process (see [`crate::cell`]), so a
//! runner may build a runtime, leak memory, or spawn threads without disturbing the next cell.
//! A runner checks what it can see (the sum of `spawn_join`, the value `ping_pong` echoes) and
//! returns an error when it is wrong; the child then checks [`Sample::ops`] against
//! [`Workload::expected_ops`].
//!
//! A runtime that cannot run here (ringloop not built yet, no `python3`, no uvloop) says why in
//! [`Runner::available`]; the command lists it once with that reason.

pub mod python;
pub mod ringloop;
pub mod smol;
pub mod tokio;

use crate::workload::{Params, Sample, Workload};

/// One runtime under one fixed id.
pub trait Runner: Send + Sync {
    /// The fixed id, as `--runtime` takes it and the report prints it.
    fn id(&self) -> &'static str;

    /// Whether this runtime can run on this machine, and if not, why.
    fn available(&self) -> Result<(), String>;

    /// Runs one cell of `workload` and returns what it measured. Called in the cell's own
    /// process; an `Err` is reported as the cell's failure.
    fn run(&self, workload: Workload, params: &Params) -> Result<Sample, String>;

    /// Whether this row is ringloop (compared against the best peer) or a peer.
    fn is_ringloop(&self) -> bool {
        self.id().starts_with("ringloop")
    }
}

/// Every runner, in report order: ringloop's four, then the peers.
pub fn all() -> Vec<Box<dyn Runner>> {
    let mut v: Vec<Box<dyn Runner>> = Vec::new();
    v.extend(ringloop::runners());
    v.extend(tokio::runners());
    v.push(Box::new(smol::Smol));
    v.extend(python::runners());
    v
}

/// Every runner's id, in report order.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|r| r.id()).collect()
}

/// The runner with this id, if there is one.
pub fn find(id: &str) -> Option<Box<dyn Runner>> {
    all().into_iter().find(|r| r.id() == id)
}

/// Whether `id` names a ringloop row.
pub fn is_ringloop_id(id: &str) -> bool {
    id.starts_with("ringloop")
}

/// Checks a value a workload computed against the one it must be, with a message naming both.
pub fn expect_eq(what: &str, got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, expected {want}"))
    }
}

/// Whether `id` is a known runtime id.
pub fn is_known(id: &str) -> bool {
    ids().contains(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_and_unique() {
        let ids = ids();
        for want in [
            "ringloop-epoll-ct",
            "ringloop-epoll-mt",
            "ringloop-uring-ct",
            "ringloop-uring-mt",
            "tokio-ct",
            "tokio-mt",
            "smol",
            "asyncio",
            "uvloop",
        ] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }

    /// The tiny-N run: every workload on every in-process runtime available here, with its
    /// counts checked. No timing is asserted. (The ringloop rows join in by themselves once
    /// they report available. The Python rows start an interpreter per cell whatever the
    /// caller; `tests/command.rs` runs them, through the real binary. `tcp_echo` runs in
    /// `tests/tcp_echo.rs`, each runtime in a child process with a deadline: a network hang
    /// in this process would hang the whole test run instead of failing one test.)
    #[test]
    fn every_available_runtime_runs_every_workload_at_tiny_n() {
        let mut ran = 0;
        for runner in all() {
            if python::runners().iter().any(|p| p.id() == runner.id()) {
                continue;
            }
            if let Err(why) = runner.available() {
                eprintln!("skipping {}: {why}", runner.id());
                continue;
            }
            for w in Workload::ALL
                .into_iter()
                .filter(|&w| w != Workload::TcpEcho)
            {
                let n = if w == Workload::Lateness { 20 } else { 130 };
                let params = Params { n, seed: 7 };
                let sample = runner
                    .run(w, &params)
                    .unwrap_or_else(|e| panic!("{} {w}: {e}", runner.id()));
                sample
                    .check(w, &params)
                    .unwrap_or_else(|e| panic!("{} {w}: {e}", runner.id()));
                assert!(sample.wall_ns > 0, "{} {w}: zero wall time", runner.id());
                ran += 1;
            }
        }
        // At least tokio-ct, tokio-mt and smol are always available.
        assert!(ran >= 3 * (Workload::ALL.len() - 1), "only {ran} cells ran");
    }
}
