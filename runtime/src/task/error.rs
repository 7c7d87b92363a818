//! Why awaiting a task gave no value: it was cancelled, or it panicked.

use std::any::Any;
use std::fmt;

/// The error of a task that did not return a value: asyncio's `CancelledError`, or the
/// exception a task raised (here: the payload of its panic).
pub struct TaskError {
    repr: Repr,
}

enum Repr {
    Cancelled(Option<String>),
    Panicked(Box<dyn Any + Send + 'static>),
}

impl TaskError {
    pub(crate) fn cancelled(msg: Option<String>) -> TaskError {
        TaskError {
            repr: Repr::Cancelled(msg),
        }
    }

    pub(crate) fn panicked(payload: Box<dyn Any + Send + 'static>) -> TaskError {
        TaskError {
            repr: Repr::Panicked(payload),
        }
    }

    /// True if the task was cancelled (asyncio: the awaiting code sees `CancelledError`).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled(_))
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The message given to `cancel_with`, if the task was cancelled with one.
    pub fn cancel_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Cancelled(msg) => msg.as_deref(),
            Repr::Panicked(_) => None,
        }
    }

    /// The panic payload, to resume the panic with `std::panic::resume_unwind`; `Err(self)` if
    /// the task was cancelled instead.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match self.repr {
            Repr::Panicked(payload) => Ok(payload),
            repr @ Repr::Cancelled(_) => Err(TaskError { repr }),
        }
    }

    /// The panic message, when the payload is a string (as `panic!("...")` makes it).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panicked(p) => p
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            Repr::Cancelled(_) => None,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled(Some(msg)) => write!(f, "task was cancelled: {msg}"),
            Repr::Cancelled(None) => write!(f, "task was cancelled"),
            Repr::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => write!(f, "task panicked"),
            },
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled(msg) => f.debug_tuple("Cancelled").field(msg).finish(),
            Repr::Panicked(_) => f
                .debug_tuple("Panicked")
                .field(&self.panic_message().unwrap_or("<non-string payload>"))
                .finish(),
        }
    }
}

impl std::error::Error for TaskError {}
