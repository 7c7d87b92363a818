//! The queue errors, named after asyncio's exceptions: `QueueFull`, `QueueEmpty` (as variants
//! of [`TryPutError`] and [`TryGetError`]), `QueueShutDown` (Python 3.13) and the `ValueError`
//! of a `task_done()` too many.
//!
//! asyncio raises `QueueFull` from `put_nowait` and `QueueShutDown` from `put_nowait` on a
//! shut-down queue; one Rust function returns one error type, so the two are the variants of
//! one enum, and both give the item back.

use std::fmt;

/// Why [`put_nowait`](super::GenericQueue::put_nowait) failed; either way the item comes back.
#[derive(PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue holds `maxsize` items (asyncio's `QueueFull`).
    Full(T),
    /// The queue was shut down (asyncio's `QueueShutDown`).
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t) | TryPutError::ShutDown(t) => t,
        }
    }

    /// Whether the queue was full (rather than shut down).
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("the queue is full"),
            TryPutError::ShutDown(_) => f.write_str("the queue is shut down"),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`get_nowait`](super::GenericQueue::get_nowait) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// No item is ready (asyncio's `QueueEmpty`).
    Empty,
    /// No item is left and the queue was shut down (asyncio's `QueueShutDown`).
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("the queue is empty"),
            TryGetError::ShutDown => f.write_str("the queue is shut down and empty"),
        }
    }
}

impl std::error::Error for TryGetError {}

/// The queue was shut down (asyncio's `QueueShutDown`): from `put().await`, with the item, or
/// from `get().await` (then `T = ()`) once the queue is shut down and empty.
#[derive(PartialEq, Eq)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}

/// `task_done()` was called more times than items were put (asyncio's
/// `ValueError: task_done() called too many times`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
