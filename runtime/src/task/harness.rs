//! The harness: what running, completing, cancelling and freeing a task do, written once per
//! future type and reached through the vtable.
//!
//! Polling follows the Future contract: the future is polled with a waker that points back at
//! this task; if it returns `Pending`, it has promised to arrange for that waker to be woken, and
//! the harness gives the task up until then. Every call into user code (poll, drop of the future
//! or of the output, the join waker) runs under `catch_unwind`: a panic becomes the task's
//! error, never an unwind through a worker thread.

use super::raw::{Cell, Header, RawTask, Stage, Vtable};
use super::state::{TransitionToIdle, TransitionToRunning};
use super::{current, waker, Notified, Schedule, TaskError};
use crate::loom::sync::atomic::Ordering;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// The vtable for tasks running `F` on scheduler `S`.
pub(super) fn vtable<F: Future, S: Schedule>() -> &'static Vtable {
    &Vtable {
        poll: poll::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_output: drop_output::<F, S>,
        poll_complete: poll_complete::<F, S>,
        shutdown: shutdown::<F, S>,
        run_done_callbacks: run_done_callbacks::<F, S>,
        peek_error: peek_error::<F, S>,
    }
}

/// A typed view of a cell.
struct Harness<F: Future, S: 'static> {
    cell: NonNull<Cell<F, S>>,
}

impl<F: Future, S: Schedule> Harness<F, S> {
    /// # Safety
    ///
    /// `ptr` must point to a live `Cell<F, S>`.
    unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Harness { cell: ptr.cast() }
    }

    fn cell(&self) -> &Cell<F, S> {
        // SAFETY: from_raw's contract: the cell is live while the harness exists.
        unsafe { self.cell.as_ref() }
    }

    fn raw(&self) -> RawTask {
        RawTask::from_raw(self.cell.cast())
    }

    /// # Safety
    ///
    /// The caller must own the stage: `RUNNING` set by this thread, or `COMPLETE` and the
    /// caller is the `Task` handle. The stage lives in an `UnsafeCell`, so handing out `&mut`
    /// from `&self` is sound under that exclusive ownership.
    #[allow(clippy::mut_from_ref)]
    unsafe fn stage(&self) -> &mut Stage<F> {
        // SAFETY: the caller's contract gives exclusive access to the stage.
        unsafe { &mut *self.cell().stage.get() }
    }

    /// Runs the task once. The caller passes in the notification's reference.
    fn poll(self) {
        match self.cell().header.state.transition_to_running() {
            TransitionToRunning::Success => self.poll_future(),
            TransitionToRunning::Cancelled if self.armed_last() => {
                // A boundary inside the future handles cancellation: poll, and it takes it.
                self.poll_future()
            }
            TransitionToRunning::Cancelled => {
                self.cancel_future();
                self.complete();
            }
            TransitionToRunning::Failed => {}
            TransitionToRunning::Dealloc => self.dealloc(),
        }
    }

    fn poll_future(self) {
        let header = self.cell.cast::<Header>();
        // The waker lent to the future borrows this poll's reference: no count change unless
        // the future clones it.
        let waker = waker::borrowed(header);
        let mut cx = Context::from_waker(&waker);
        let _current = current::enter(header);
        // SAFETY: transition_to_running succeeded, so this thread owns the stage.
        let stage = unsafe { self.stage() };
        let Stage::Running(future) = stage else {
            unreachable!("a task in the running state has its future")
        };
        // SAFETY: the future lives inside the heap cell and is never moved until it is
        // dropped in place, so it is pinned.
        let future = unsafe { Pin::new_unchecked(future) };
        let slow_poll = self.cell().scheduler.hooks().slow_poll;
        let started = slow_poll.map(|_| std::time::Instant::now());
        let result = catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx)));
        if let (Some(threshold), Some(started)) = (slow_poll, started) {
            self.report_slow_poll(threshold, started.elapsed());
        }
        let armed = self.finish_armed();
        match result {
            Ok(Poll::Ready(output)) => {
                self.store_output(Ok(output));
                self.complete();
            }
            Ok(Poll::Pending) => match self.cell().header.state.transition_to_idle(armed) {
                TransitionToIdle::Ok => {}
                TransitionToIdle::OkDealloc => self.dealloc(),
                TransitionToIdle::OkNotified => {
                    // Woken while it ran (often by itself, as `sleep(0)` does): to the back of
                    // the queue, so it cannot starve the tasks that are already waiting.
                    self.cell()
                        .scheduler
                        .yield_now(Notified::from_raw(self.raw()));
                }
                TransitionToIdle::Cancelled => {
                    self.cancel_future();
                    self.complete();
                }
            },
            Err(payload) => {
                // The future panicked; drop what is left of it (which may panic again, and that
                // payload is dropped: the first panic is the one reported).
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: still RUNNING on this thread.
                    *unsafe { self.stage() } = Stage::Consumed;
                }));
                self.store_output(Err(TaskError::panicked(payload)));
                self.complete();
            }
        }
    }

    /// Whether a boundary was pending when the last poll returned.
    fn armed_last(&self) -> bool {
        // SAFETY: RUNNING is held by this thread (transition_to_running just succeeded), which
        // owns `armed`.
        unsafe { *self.cell().header.armed.get() & super::raw::ARMED_LAST != 0 }
    }

    /// Ends a poll's boundary bookkeeping: the "now" bit becomes the "last" bit.
    fn finish_armed(&self) -> bool {
        // SAFETY: as above; the poll that used the bits has returned.
        let armed = unsafe { &mut *self.cell().header.armed.get() };
        let now = *armed & super::raw::ARMED_NOW != 0;
        *armed = if now { super::raw::ARMED_LAST } else { 0 };
        now
    }

    /// Drops the future (catching a panic in its destructor) and stores the cancelled error.
    fn cancel_future(&self) {
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the caller owns the stage (RUNNING).
            *unsafe { self.stage() } = Stage::Consumed;
        }));
        let err = match dropped {
            Ok(()) => {
                let mut extras = self.cell().header.extras.lock();
                let extras = extras.get_or_insert_with(Default::default);
                extras.cancelled = true;
                TaskError::cancelled(extras.cancel_msg.clone())
            }
            Err(payload) => TaskError::panicked(payload),
        };
        self.store_output(Err(err));
    }

    fn store_output(&self, output: Result<F::Output, TaskError>) {
        if output.is_err() {
            // Recorded where the handle can read it without taking the output (`failed()`).
            self.cell()
                .header
                .extras
                .lock()
                .get_or_insert_with(Default::default)
                .failed = true;
        }
        // SAFETY: the caller owns the stage (RUNNING).
        let stage = unsafe { self.stage() };
        if let Stage::Running(_) = stage {
            // Dropping a future that returned Ready runs its remaining drop glue, which can
            // panic; keep the output either way.
            let _ = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
        }
        *stage = Stage::Finished(output);
    }

    /// The future is gone: publish completion, notify the handle, leave the task list, and drop
    /// this thread's reference (and the list's).
    fn complete(self) {
        let snapshot = self.cell().header.state.transition_to_complete();
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if !snapshot.is_join_interested() {
                // Nobody will read the output: drop it here, reporting an error first.
                self.drop_unread_output();
            } else if snapshot.is_join_waker_set() {
                // SAFETY: JOIN_WAKER is set and COMPLETE now too, so the handle can no longer
                // take the slot back; reading it here is the completing side's right.
                let waker = unsafe { &*self.cell().trailer.waker.get() };
                if let Some(waker) = waker {
                    waker.wake_by_ref();
                }
            }
        }));
        // Done callbacks run after the join waker, on this thread. Without any registered this
        // is one plain load: see `run_done_callbacks` for why it cannot miss a registration.
        if self.cell().header.has_callbacks.load(Ordering::Acquire) {
            self.run_done_callbacks();
        }
        let released = self.cell().scheduler.release(self.raw());
        let refs = if released { 2 } else { 1 };
        if self.cell().header.state.transition_to_terminal(refs) {
            self.dealloc();
        }
    }

    /// Drops an output nobody will read; a panic in it is reported as never retrieved (asyncio:
    /// "Task exception was never retrieved"). The caller must own the stage.
    fn drop_unread_output(&self) {
        // SAFETY: the caller owns the stage (the completing thread with no handle left, or the
        // handle after COMPLETE).
        let stage = std::mem::replace(unsafe { self.stage() }, Stage::Consumed);
        if let Stage::Finished(Err(error)) = stage {
            let retrieved = || {
                let extras = self.cell().header.extras.lock();
                extras.as_ref().is_some_and(|e| e.retrieved)
            };
            if error.is_panic() && !retrieved() {
                let header = &self.cell().header;
                self.cell()
                    .scheduler
                    .hooks()
                    .report(crate::hooks::ExceptionContext {
                        message: "Task exception was never retrieved".into(),
                        task_id: Some(header.id),
                        task_name: Some(super::TaskRef::new_counted(self.raw()).name()),
                        error: Some(error),
                    });
            }
        }
    }

    fn report_slow_poll(&self, threshold: std::time::Duration, took: std::time::Duration) {
        if took <= threshold {
            return;
        }
        let header = &self.cell().header;
        let name = super::TaskRef::new_counted(self.raw()).name();
        self.cell()
            .scheduler
            .hooks()
            .report(crate::hooks::ExceptionContext {
                message: format!(
                    "Executing task {name} took {:.3} seconds",
                    took.as_secs_f64()
                ),
                task_id: Some(header.id),
                task_name: Some(name),
                error: None,
            });
    }

    /// Runs the done callbacks registered so far, in order, each under `catch_unwind`; a panic
    /// is reported to the exception handler and the next callback runs.
    ///
    /// Called by the completing thread (after `COMPLETE`, if it sees `has_callbacks`) and by
    /// `add_done_callback` (if it sees `COMPLETE` after registering). Neither can miss the
    /// other: the registering side pushes its callback and sets `has_callbacks` before a
    /// release read-modify-write of the state word, then loads the state word; the completing
    /// side sets `COMPLETE` with an acquire-release read-modify-write, then loads
    /// `has_callbacks`. All writes to the state word are read-modify-writes, so they are totally
    /// ordered: if the registering RMW comes first, the completing RMW synchronizes with it and
    /// sees the flag; if the completing RMW comes first, the registering RMW (and the load
    /// after it) sees `COMPLETE`. Both may see each other: the callbacks are taken out of
    /// `extras` under its lock, so each still runs exactly once.
    fn run_done_callbacks(&self) {
        let callbacks = {
            let mut extras = self.cell().header.extras.lock();
            match extras.as_mut() {
                Some(extras) => std::mem::take(&mut extras.callbacks),
                None => return,
            }
        };
        if callbacks.is_empty() {
            return;
        }
        // Run outside the lock: a callback may read the task's name or register another.
        let task = super::TaskRef::new_counted(self.raw());
        for callback in callbacks {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(&task))) {
                self.cell()
                    .scheduler
                    .hooks()
                    .report(crate::hooks::ExceptionContext {
                        message: "Exception in a done callback".into(),
                        task_id: Some(task.id()),
                        task_name: Some(task.name()),
                        error: Some(TaskError::panicked(payload)),
                    });
            }
        }
    }

    /// The error the task finished with, left in the stage.
    ///
    /// # Safety
    ///
    /// The caller is the `Task` handle and the task is complete, so the handle owns the stage.
    unsafe fn peek_error(&self) -> Option<NonNull<TaskError>> {
        // SAFETY: the caller's contract: the handle owns the stage after COMPLETE.
        match unsafe { self.stage() } {
            Stage::Finished(Err(error)) => Some(NonNull::from(error)),
            _ => None,
        }
    }

    fn dealloc(self) {
        // SAFETY: the reference count reached zero, so nothing else points at the cell; it was
        // allocated by `Box::new` in `Cell::allocate`.
        let cell = unsafe { Box::from_raw(self.cell.as_ptr()) };
        // Dropping the cell drops the stage (a future never polled to completion is normally
        // consumed already) and the join waker; catch a panic in either.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(cell)));
    }

    /// The handle's poll: take the output if complete, else (re)register the join waker.
    ///
    /// # Safety
    ///
    /// `dst` points to an `Option<Result<F::Output, TaskError>>`; the caller is the handle.
    unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        if !self.can_read_output(waker) {
            return;
        }
        // SAFETY: COMPLETE is set and the caller is the handle, which owns the stage now.
        let stage = std::mem::replace(unsafe { self.stage() }, Stage::Consumed);
        let Stage::Finished(output) = stage else {
            panic!("a task's output was read twice");
        };
        // SAFETY: the caller's contract on `dst`.
        unsafe { *dst.cast::<Option<Result<F::Output, TaskError>>>() = Some(output) };
    }

    /// The join-waker protocol of `state.rs`: true if complete, else the waker is stored.
    fn can_read_output(&self, waker: &Waker) -> bool {
        let state = &self.cell().header.state;
        let trailer = &self.cell().trailer;
        let snapshot = state.load();
        if snapshot.is_complete() {
            return true;
        }
        let stored = if snapshot.is_join_waker_set() {
            // SAFETY: a shared read of the slot; the completing side only reads it too.
            let same = unsafe { &*trailer.waker.get() }
                .as_ref()
                .is_some_and(|w| w.will_wake(waker));
            if same {
                return false;
            }
            // Take the slot back, then write the new waker.
            state
                .unset_join_waker()
                .and_then(|_| self.set_join_waker(waker))
        } else {
            self.set_join_waker(waker)
        };
        match stored {
            Ok(_) => false,
            Err(s) => {
                debug_assert!(s.is_complete());
                true
            }
        }
    }

    fn set_join_waker(
        &self,
        waker: &Waker,
    ) -> Result<super::state::Snapshot, super::state::Snapshot> {
        let slot = self.cell().trailer.waker.get();
        // SAFETY: JOIN_WAKER is unset, so the handle (the caller) owns the slot.
        unsafe { *slot = Some(waker.clone()) };
        let res = self.cell().header.state.set_join_waker();
        if res.is_err() {
            // Completed meanwhile: the slot is still ours; clear it.
            // SAFETY: as above: set_join_waker failed, JOIN_WAKER stays unset.
            unsafe { *slot = None };
        }
        res
    }
}

unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable was built for this cell's F and S.
    unsafe { Harness::<F, S>::from_raw(ptr) }.poll()
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: as above.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    harness
        .cell()
        .scheduler
        .schedule(Notified::from_raw(harness.raw()));
}

unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: as above.
    unsafe { Harness::<F, S>::from_raw(ptr) }.dealloc()
}

unsafe fn try_read_output<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: as above; the caller's contract on dst is forwarded.
    unsafe { Harness::<F, S>::from_raw(ptr).try_read_output(dst, waker) }
}

unsafe fn drop_output<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: as above.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    // COMPLETE is set and the handle (the caller) owns the stage.
    let _ = catch_unwind(AssertUnwindSafe(|| harness.drop_unread_output()));
}

unsafe fn poll_complete<F: Future, S: Schedule>(ptr: NonNull<Header>, waker: &Waker) -> bool {
    // SAFETY: as above; the caller is the handle.
    unsafe { Harness::<F, S>::from_raw(ptr) }.can_read_output(waker)
}

unsafe fn run_done_callbacks<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable was built for this cell's F and S; the callbacks sit in `extras`,
    // under its lock.
    unsafe { Harness::<F, S>::from_raw(ptr) }.run_done_callbacks()
}

unsafe fn peek_error<F: Future, S: Schedule>(ptr: NonNull<Header>) -> Option<NonNull<TaskError>> {
    // SAFETY: as above; the caller (the handle, after COMPLETE) owns the stage.
    unsafe { Harness::<F, S>::from_raw(ptr).peek_error() }
}

unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: as above; the caller claimed the task with transition_to_shutdown (RUNNING set)
    // and passes in a reference, which `complete` drops.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    harness.cancel_future();
    harness.complete();
}
