//! The task's single allocation and the type-erased pointer to it.
//!
//! # Layout
//!
//! ```text
//! Cell<F, S>  (#[repr(C)], one Box)
//! +-----------------------------+
//! | Header                      |  state word, vtable, id, task-list links, extras
//! | S  (the scheduler handle)   |  an Arc to the runtime's shared state: 8 bytes
//! | Stage<F>                    |  the future, then its output, then nothing
//! | Trailer                     |  the join waker (16 bytes)
//! +-----------------------------+
//! ```
//!
//! The header comes first so a `NonNull<Header>` is also a pointer to the whole cell; the
//! vtable recovers the concrete `F` and `S`. On x86-64 the header is 64 bytes (one cache line:
//! state 8, vtable 8, id 8, list links 16, extras lock 16, armed bits 1, done-callback flag 1,
//! padding) and a task costs `64 + 8 + max(size_of::<F>(), size_of::<Result<F::Output, TaskError>>()) + 16`
//! bytes, rounded up to alignment. A task running `async { sleep(d).await }` is one 152-byte
//! allocation (its future is 56 bytes, of which `Sleep` is 48); its timer adds a 40-byte wheel
//! entry (`ringloop-timers`). The `task_size_of` test prints these figures.
//!
//! # Who may touch what
//!
//! - `header.state`: anyone holding a reference, through the transitions of `state.rs`.
//! - `stage`: only the thread that set `RUNNING` (to poll or drop the future, or store the
//!   output), or, after `COMPLETE`, the `Task` handle (to take the output).
//! - `trailer.waker`: the handle while `JOIN_WAKER` is unset, the completing thread while it is
//!   set (see `join.rs`).
//! - `header.links`: only under the task list's lock.
//! - `header.extras`: under its own small lock (names and cancel messages are rare).
//! - `header.armed`: only by the thread that holds `RUNNING` (the poller, and the cancellation
//!   boundaries it polls, through `current.rs`).
//! - `header.has_callbacks`: set (never cleared) by `add_done_callback`, read by the completing
//!   thread; the callbacks themselves live in `extras` (see `run_done_callbacks` in
//!   `harness.rs` for why neither side can miss the other).

use super::state::State;
use super::{Schedule, TaskError, TaskId, TaskRef};
use crate::loom::sync::atomic::AtomicBool;
use parking_lot::Mutex;
use std::cell::UnsafeCell;
use std::future::Future;
use std::ptr::NonNull;
use std::task::Waker;

/// The part of every task that does not depend on its future's type.
#[repr(C)]
pub(crate) struct Header {
    pub(super) state: State,
    pub(super) vtable: &'static Vtable,
    pub(super) id: TaskId,
    /// Intrusive links of the runtime's task list (`list.rs`); guarded by that list's lock.
    pub(super) links: UnsafeCell<Links>,
    /// Rarely used data, allocated on first use: the name, the cancel message and count.
    pub(super) extras: Mutex<Option<Box<Extras>>>,
    /// Cancellation boundaries pending in the current and the last poll (`ARMED_*` bits).
    /// Touched only by the thread that holds `RUNNING`.
    pub(super) armed: UnsafeCell<u8>,
    /// A done callback was registered (`extras.callbacks` may hold some). Lets the completing
    /// thread skip the extras lock in the common case: one plain load, in the header's padding.
    pub(super) has_callbacks: AtomicBool,
}

/// A boundary was pending in the poll under way.
pub(super) const ARMED_NOW: u8 = 1;
/// A boundary was pending when the last poll returned.
pub(super) const ARMED_LAST: u8 = 2;

/// Previous and next task in the runtime's task list.
#[derive(Default)]
pub(crate) struct Links {
    pub(crate) prev: Option<NonNull<Header>>,
    pub(crate) next: Option<NonNull<Header>>,
}

/// Per-task data most tasks never need.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) name: Option<String>,
    /// The message of the latest `cancel(msg)` (asyncio keeps the latest too).
    pub(crate) cancel_msg: Option<String>,
    /// asyncio's `cancelling()`: cancel requests minus `uncancel()` calls.
    pub(crate) cancelling: u32,
    /// Set when the task finished by cancellation.
    pub(crate) cancelled: bool,
    /// Set when the task finished with an error (a panic or a cancellation).
    pub(crate) failed: bool,
    /// The error was looked at through `Task::exception`: dropping it unread is not reported
    /// (asyncio clears its "never retrieved" flag in `exception()` too).
    pub(crate) retrieved: bool,
    /// asyncio's done callbacks, in registration order; run once, at completion.
    pub(crate) callbacks: Vec<DoneCallback>,
}

/// A callback given to `TaskRef::add_done_callback`.
pub(crate) type DoneCallback = Box<dyn FnOnce(&TaskRef) + Send + 'static>;

/// The type-erased operations on a task.
pub(crate) struct Vtable {
    /// Runs the task (the caller owns a notification reference).
    pub(super) poll: unsafe fn(NonNull<Header>),
    /// Submits the task to its scheduler (the caller passes a reference to the queue).
    pub(super) schedule: unsafe fn(NonNull<Header>),
    /// Frees the cell.
    pub(super) dealloc: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst` (an `Option<Result<T, TaskError>>`) if complete, else stores
    /// the waker.
    pub(super) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The handle is dropped after completion: drop the output.
    pub(super) drop_output: unsafe fn(NonNull<Header>),
    /// The handle waits for completion without taking the output: true if complete, else the
    /// waker is stored.
    pub(super) poll_complete: unsafe fn(NonNull<Header>, &Waker) -> bool,
    /// Shutdown: drops the future of a task the caller claimed, completing it as cancelled.
    pub(super) shutdown: unsafe fn(NonNull<Header>),
    /// Runs the done callbacks registered so far (the task is complete), reporting panics to
    /// the scheduler's exception handler.
    pub(super) run_done_callbacks: unsafe fn(NonNull<Header>),
    /// A pointer to the error in the stage, if the task finished with one and it was not taken.
    pub(super) peek_error: unsafe fn(NonNull<Header>) -> Option<NonNull<TaskError>>,
}

/// What the stage holds over the task's life.
pub(super) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// The task's one allocation.
#[repr(C)]
pub(super) struct Cell<F: Future, S> {
    pub(super) header: Header,
    pub(super) scheduler: S,
    pub(super) stage: UnsafeCell<Stage<F>>,
    pub(super) trailer: Trailer,
}

/// The join waker: the task waiting on this task's `Task` handle.
pub(super) struct Trailer {
    pub(super) waker: UnsafeCell<Option<Waker>>,
}

impl<F: Future, S: Schedule> Cell<F, S> {
    /// Allocates a new task in the initial state (see `State::new`).
    pub(super) fn allocate(future: F, scheduler: S, id: TaskId) -> NonNull<Header> {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: super::harness::vtable::<F, S>(),
                id,
                links: UnsafeCell::new(Links::default()),
                extras: Mutex::new(None),
                armed: UnsafeCell::new(0),
                has_callbacks: AtomicBool::new(false),
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            trailer: Trailer {
                waker: UnsafeCell::new(None),
            },
        });
        NonNull::from(Box::leak(cell)).cast()
    }
}

/// The size of the allocation a task running `future` takes (for the layout figures).
#[cfg(test)]
pub(super) fn cell_size_of<F: Future>(_future: F) -> usize {
    std::mem::size_of::<Cell<F, std::sync::Arc<()>>>()
}

/// A type-erased pointer to a task; it owns nothing by itself (the wrappers in `mod.rs` own
/// references).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a RawTask is a pointer to a task whose shared parts (the state word, the extras lock)
// are thread-safe; the parts that are not (stage, trailer, links) are touched only under the
// protocol documented at the top of this file. The futures inside are Send where the spawn
// functions require it.
unsafe impl Send for RawTask {}
// SAFETY: as above.
unsafe impl Sync for RawTask {}

impl RawTask {
    pub(super) fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a RawTask is only made from a live cell, and every wrapper that hands one out
        // holds a reference that keeps the cell allocated.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn state(&self) -> &State {
        &self.header().state
    }

    /// Polls the task. The caller passes in a notification reference.
    pub(crate) fn poll(self) {
        // SAFETY: the vtable matches the cell it was allocated with.
        unsafe { (self.header().vtable.poll)(self.ptr) }
    }

    /// Submits the task to its scheduler, passing a reference along.
    pub(crate) fn schedule(self) {
        // SAFETY: as above.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    pub(crate) fn dealloc(self) {
        // SAFETY: called once, by the thread that took the reference count to zero.
        unsafe { (self.header().vtable.dealloc)(self.ptr) }
    }

    /// # Safety
    ///
    /// `dst` must point to an `Option<Result<T, TaskError>>` where `T` is the task's output type.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: the caller's contract on `dst`; the vtable matches the cell.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    /// True if the task completed; else `waker` is stored as the join waker. Only the `Task`
    /// handle may call this.
    pub(crate) fn poll_complete(self, waker: &Waker) -> bool {
        // SAFETY: the vtable matches the cell; the caller is the handle, which owns the join
        // waker slot while JOIN_WAKER is unset.
        unsafe { (self.header().vtable.poll_complete)(self.ptr, waker) }
    }

    pub(crate) fn drop_output(self) {
        // SAFETY: the vtable matches the cell.
        unsafe { (self.header().vtable.drop_output)(self.ptr) }
    }

    pub(crate) fn shutdown(self) {
        // SAFETY: the vtable matches the cell.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    /// Runs the done callbacks registered so far. Only once the task is complete.
    pub(crate) fn run_done_callbacks(self) {
        // SAFETY: the vtable matches the cell; the callbacks are taken under the extras lock,
        // so each runs once whoever calls this.
        unsafe { (self.header().vtable.run_done_callbacks)(self.ptr) }
    }

    /// # Safety
    ///
    /// The caller must be the `Task` handle, the task complete, and the returned pointer used
    /// only while the handle is borrowed and the output not taken.
    pub(crate) unsafe fn peek_error(self) -> Option<NonNull<TaskError>> {
        // SAFETY: the caller's contract; the vtable matches the cell.
        unsafe { (self.header().vtable.peek_error)(self.ptr) }
    }

    /// Drops one reference, freeing the task if it was the last.
    pub(crate) fn drop_reference(self) {
        if self.state().ref_dec() {
            self.dealloc();
        }
    }
}
