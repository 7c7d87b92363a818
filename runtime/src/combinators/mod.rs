//! Waiting on many tasks: asyncio's `gather`, `wait`, `as_completed` and `TaskGroup`.
//!
//! They all hold `Task` handles and follow one set of cancellation rules (see
//! [`crate::cancel`]): when the task awaiting them is cancelled, the request is passed on to
//! every child still running, the awaiting task waits for them to finish, and then its own
//! cancellation proceeds. `wait` and `as_completed` cancel nothing on their own, as in asyncio.

pub(crate) mod as_completed;
pub(crate) mod gather;
pub(crate) mod task_group;
pub(crate) mod wait;

use crate::task::{current, Task, TaskError};
use std::task::{Context, Poll};

/// One child of a group: running, or finished with its result kept until taken. (Public only
/// because the `gather!` macro's tuple types name it; not reachable by users.)
#[doc(hidden)]
pub enum Slot<T> {
    Running(Task<T>),
    Done(Result<T, TaskError>),
    Taken,
}

impl<T> Slot<T> {
    /// Polls a running child; true once it is done.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if let Slot::Running(task) = self {
            match task.poll_output(cx) {
                Poll::Ready(result) => *self = Slot::Done(result),
                Poll::Pending => return false,
            }
        }
        true
    }

    /// Passes a cancellation on to a running child.
    pub(crate) fn cancel(&self, msg: Option<String>) {
        if let Slot::Running(task) = self {
            task.request_cancel(msg);
        }
    }

    /// The error of a finished child, if it failed.
    pub(crate) fn error(&self) -> Option<&TaskError> {
        match self {
            Slot::Done(Err(e)) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn take(&mut self) -> Result<T, TaskError> {
        match std::mem::replace(self, Slot::Taken) {
            Slot::Done(result) => result,
            _ => panic!("a child's result was taken twice or before it finished"),
        }
    }
}

/// The awaiting task's side of a group's cancellation rules.
#[derive(Default)]
pub(crate) struct GroupCancel {
    /// A cancellation of the awaiting task was passed on to the children.
    forwarded: bool,
}

impl GroupCancel {
    /// Before polling the children: passes a pending cancellation of the awaiting task on to
    /// every child (once). Returns true if one was passed on, now or before.
    pub(crate) fn forward(&mut self, cancel_child: impl FnOnce(Option<String>)) -> bool {
        if !self.forwarded {
            let msg = current::with(|cur| {
                cur.filter(|c| c.cancel_requested())
                    .map(|c| c.cancel_message())
            });
            if let Some(msg) = msg {
                self.forwarded = true;
                cancel_child(msg);
            }
        }
        self.forwarded
    }

    /// Children still running: mark the awaiting task as handling cancellation here, so a
    /// request is delivered by polling this group (which passes it on) rather than by
    /// dropping it.
    pub(crate) fn arm(&self) {
        current::with(|cur| {
            if let Some(cur) = cur {
                cur.arm();
            }
        });
    }

    /// Every child finished after a cancellation was passed on: true if the awaiting task's
    /// request is still pending, and the group must return `Pending` without arming so that it
    /// is delivered (asyncio: the gather raises `CancelledError` once its children are done).
    pub(crate) fn must_deliver(&self) -> bool {
        self.forwarded && current::with(|cur| cur.is_some_and(|c| c.cancel_requested()))
    }
}
