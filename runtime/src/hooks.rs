//! What the runtime reports instead of raising: asyncio's exception handler and debug mode.
//!
//! - A task that panicked and whose result nobody will read (it was detached, or its handle
//!   was dropped without awaiting it) is reported to the exception handler, as asyncio reports
//!   "Task exception was never retrieved". The runtime and the other tasks go on.
//! - In debug mode, a poll slower than the threshold (100 ms by default, as asyncio's
//!   `slow_callback_duration`) is reported with the task's name: a task that blocks its
//!   thread stalls every other task there.
//!
//! The default handler prints to stderr; `Handle::set_exception_handler` replaces it.

use crate::task::{TaskError, TaskId};
use parking_lot::RwLock;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What the exception handler is told: asyncio's `context` dict.
#[derive(Debug)]
pub struct ExceptionContext {
    /// What happened, in words ("Task exception was never retrieved", "Executing ... took ...").
    pub message: String,
    /// The task concerned, if any.
    pub task_id: Option<TaskId>,
    /// Its name.
    pub task_name: Option<String>,
    /// The error, for a task that panicked.
    pub error: Option<TaskError>,
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(name) = &self.task_name {
            write!(f, " (task {name})")?;
        }
        if let Some(error) = &self.error {
            write!(f, ": {error}")?;
        }
        Ok(())
    }
}

/// An exception handler: called on the thread where the event happened; it must not block.
pub type ExceptionHandler = Arc<dyn Fn(&ExceptionContext) + Send + Sync + 'static>;

/// The runtime's reporting settings.
pub(crate) struct Hooks {
    handler: RwLock<Option<ExceptionHandler>>,
    /// Debug mode: report polls slower than this.
    pub(crate) slow_poll: Option<Duration>,
}

impl Hooks {
    pub(crate) fn new(slow_poll: Option<Duration>) -> Hooks {
        Hooks {
            handler: RwLock::new(None),
            slow_poll,
        }
    }

    pub(crate) fn set_handler(&self, handler: Option<ExceptionHandler>) {
        *self.handler.write() = handler;
    }

    /// Reports `context` to the handler, or to stderr. A panicking handler is caught: the
    /// report is lost, the runtime thread is not.
    pub(crate) fn report(&self, context: ExceptionContext) {
        let handler = self.handler.read().clone();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match handler {
            Some(handler) => handler(&context),
            None => eprintln!("ringloop: {context}"),
        }));
    }
}
