//! Tasks: a future, its output, and everything the scheduler needs, in one allocation.
//!
//! This is asyncio's `Task` object rebuilt without a garbage collector. Read the files in this
//! order:
//!
//! 1. `state.rs`: the state word. Every bit and every transition is documented there; this is
//!    the contract all the other files follow.
//! 2. `raw.rs`: the memory layout (header, scheduler, stage, trailer) and who may touch which
//!    field when.
//! 3. `harness.rs`: what running, completing, cancelling and freeing a task do.
//! 4. `waker.rs`: the `Waker` of a task, and `join.rs`: the `Task<T>` handle users await.
//! 5. `list.rs`: the list of live tasks that shutdown walks.
//!
//! # References
//!
//! A task is reference counted in its state word. These hold one reference each:
//!
//! - a `Notified`: the task is in a run queue (at most one at a time);
//! - every `Waker` clone;
//! - the [`Task<T>`] handle (and every [`TaskRef`]);
//! - the runtime's `TaskList`, until the task completes.
//!
//! The thread that drops the last reference frees the allocation, and only then: the future (or
//! its output) is dropped earlier, at completion, by the thread that completes the task.
//!
//! # Safety argument, in short
//!
//! The future is touched only by the thread that set `RUNNING`; `COMPLETE` is never unset, so a
//! completed task is never polled again; the output moves to the handle only after `COMPLETE`;
//! and memory is freed only at reference count zero. Each `unsafe` block names which of these
//! it relies on.

mod error;
mod harness;
mod join;
mod list;
mod raw;
mod state;
mod waker;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

pub use error::TaskError;
pub use join::{Task, TaskRef};
pub(crate) use list::TaskList;
pub(crate) use raw::RawTask;

use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// A task's unique id within the process. Ids are never reused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        TaskId(NonZeroU64::new(id).expect("task ids do not wrap in 2^64 spawns"))
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a scheduler provides to its tasks.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// A wake from anywhere: put the task in a run queue.
    fn schedule(&self, task: Notified);

    /// The task was woken while it ran (it yielded): put it behind the tasks already waiting.
    fn yield_now(&self, task: Notified) {
        self.schedule(task);
    }

    /// The task completed: remove it from the task list. Returns false if it was not there
    /// (shutdown had taken it out).
    fn release(&self, task: RawTask) -> bool;

    /// Where errors nobody retrieves, and slow polls in debug mode, are reported.
    fn hooks(&self) -> &crate::hooks::Hooks;
}

/// A task in a run queue. Owns one reference; running it hands that reference to the harness.
pub(crate) struct Notified(RawTask);

impl Notified {
    pub(crate) fn from_raw(raw: RawTask) -> Notified {
        Notified(raw)
    }

    /// Polls the task once.
    pub(crate) fn run(self) {
        let raw = self.0;
        std::mem::forget(self);
        raw.poll();
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        // A queue dropped without running (shutdown): the task itself is cancelled through the
        // task list; here only the queue's reference goes.
        self.0.drop_reference();
    }
}

/// Why a task could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// The runtime is shutting down or has shut down.
    Shutdown,
    /// The calling thread is not inside a ringloop runtime.
    NoRuntime,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Shutdown => write!(f, "the ringloop runtime has shut down; cannot spawn"),
            SpawnError::NoRuntime => write!(
                f,
                "no ringloop runtime on this thread: call this from inside `ringloop::run`, \
                 `Runtime::block_on` or a task, or spawn through a `Handle`"
            ),
        }
    }
}

impl std::error::Error for SpawnError {}

/// Allocates a task for `future` on `scheduler` and enters it in `list`.
///
/// Returns the first notification (the caller submits it) and the handle. If the list is
/// closed, the future is dropped at once and `SpawnError::Shutdown` returned.
pub(crate) fn spawn<F, S>(
    future: F,
    scheduler: S,
    list: &TaskList,
    name: Option<String>,
) -> Result<(Notified, Task<F::Output>), SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: F and its output are Send, so the task may run and complete on any thread.
    unsafe { spawn_unchecked(future, scheduler, list, name) }
}

/// As [`spawn`], without the `Send` bounds.
///
/// # Safety
///
/// If `F` or its output is not `Send`, the caller must ensure that the task is polled,
/// completed, cancelled and read only on the thread that spawned it (the current-thread
/// scheduler, for `spawn_local`).
pub(crate) unsafe fn spawn_unchecked<F, S>(
    future: F,
    scheduler: S,
    list: &TaskList,
    name: Option<String>,
) -> Result<(Notified, Task<F::Output>), SpawnError>
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    let ptr = raw::Cell::allocate(future, scheduler, TaskId::next());
    let raw = RawTask::from_raw(ptr);
    if let Some(name) = name {
        *raw.header().extras.lock() = Some(Box::new(raw::Extras {
            name: Some(name),
            ..Default::default()
        }));
    }
    let notified = Notified(raw);
    let handle = Task::new(raw);
    if list.push(raw).is_err() {
        // Never entered the list: claim it, drop the future, and let the three references go
        // (shutdown's `complete` drops the one meant for the list).
        let claimed = raw.state().transition_to_shutdown();
        debug_assert!(claimed);
        raw.shutdown();
        drop(notified);
        drop(handle);
        return Err(SpawnError::Shutdown);
    }
    Ok((notified, handle))
}

/// The runtime is shutting down: cancel every task left in `list`, dropping each future exactly
/// once. The caller must have stopped every worker first, so no task is running.
pub(crate) fn shutdown_all(list: &TaskList) {
    list.close();
    while let Some(task) = list.pop() {
        if task.state().transition_to_shutdown() {
            // We claimed it; `shutdown` completes it and drops the list's reference.
            task.shutdown();
        } else {
            // Already complete (it was leaving the list) or running elsewhere: just let the
            // list's reference go.
            task.drop_reference();
        }
    }
}

/// The task being polled on this thread, and what cancellation boundaries may do to it.
pub(crate) mod current {
    use super::raw::{Header, RawTask, ARMED_NOW};
    use super::TaskRef;
    use std::cell::Cell;
    use std::ptr::NonNull;

    thread_local! {
        static CURRENT: Cell<Option<NonNull<Header>>> = const { Cell::new(None) };
    }

    /// Marks `task` as the current task until the guard drops.
    pub(crate) fn enter(task: NonNull<Header>) -> Guard {
        let prev = CURRENT.with(|c| c.replace(Some(task)));
        Guard { prev }
    }

    pub(crate) struct Guard {
        prev: Option<NonNull<Header>>,
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.prev));
        }
    }

    /// A handle to the task being polled on this thread, if any.
    pub(crate) fn get() -> Option<TaskRef> {
        CURRENT
            .with(|c| c.get())
            .map(|ptr| TaskRef::new_counted(RawTask::from_raw(ptr)))
    }

    /// The running task, as seen from a future it is polling. Only usable during that poll.
    pub(crate) struct Current {
        raw: RawTask,
    }

    /// Runs `f` with the task being polled on this thread (`None` in `block_on`'s own future
    /// or outside a runtime).
    pub(crate) fn with<R>(f: impl FnOnce(Option<&Current>) -> R) -> R {
        let current = CURRENT.with(|c| c.get()).map(|ptr| Current {
            raw: RawTask::from_raw(ptr),
        });
        f(current.as_ref())
    }

    impl Current {
        /// True if a cancellation request is pending (not yet taken by a boundary).
        pub(crate) fn cancel_requested(&self) -> bool {
            self.raw.state().load().is_cancelled()
        }

        /// Takes the pending request, returning its message (`Some(None)`: taken, no message;
        /// `None`: there was none).
        pub(crate) fn take_cancel(&self) -> Option<Option<String>> {
            if !self.raw.state().take_cancel() {
                return None;
            }
            let extras = self.raw.header().extras.lock();
            Some(extras.as_ref().and_then(|e| e.cancel_msg.clone()))
        }

        /// The message of the latest request, if any.
        pub(crate) fn cancel_message(&self) -> Option<String> {
            let extras = self.raw.header().extras.lock();
            extras.as_ref().and_then(|e| e.cancel_msg.clone())
        }

        /// Requests cancellation of this very task (what a timeout does when it expires).
        pub(crate) fn request_cancel(&self, msg: Option<String>) {
            TaskRef::new_counted(self.raw).request_cancel(msg);
        }

        /// asyncio's `uncancel()`: one request fewer. Returns the count left.
        pub(crate) fn uncancel(&self) -> u32 {
            TaskRef::new_counted(self.raw).uncancel()
        }

        fn armed_bits(&self) -> u8 {
            // SAFETY: `Current` only exists during a poll of this task on this thread, which
            // holds RUNNING and so owns `armed`.
            unsafe { *self.raw.header().armed.get() }
        }

        fn set_armed_bits(&self, bits: u8) {
            // SAFETY: as in `armed_bits`; no reference to the cell is held across this write.
            unsafe { *self.raw.header().armed.get() = bits }
        }

        /// Marks that a boundary is pending in this poll and handles cancellation itself: a
        /// pending request is then delivered by polling, not by dropping the future.
        pub(crate) fn arm(&self) {
            self.set_armed_bits(self.armed_bits() | ARMED_NOW);
        }

        /// Polls `f` and reports whether anything inside it armed. The bit seen by the
        /// harness stays set if it was set before or inside.
        pub(crate) fn scoped<R>(&self, f: impl FnOnce() -> R) -> (R, bool) {
            let before = self.armed_bits() & ARMED_NOW;
            self.set_armed_bits(self.armed_bits() & !ARMED_NOW);
            let out = f();
            let inner = self.armed_bits() & ARMED_NOW != 0;
            self.set_armed_bits(self.armed_bits() | before);
            (out, inner)
        }
    }
}
