//! The handles users hold: `Task<T>` (asyncio's `Task` object, awaitable for the result) and
//! `TaskRef` (a task of any output type, as `current_task()` and `all_tasks()` return).

use super::current;
use super::raw::RawTask;
use super::TaskError;
use super::TaskId;
use crate::loom::sync::atomic::Ordering;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A handle to a task of any output type: name, id, state, cancellation.
///
/// Holding a `TaskRef` keeps the task's memory alive (not the task running: that is the
/// scheduler's business), the way a Python reference keeps a `Task` object alive.
pub struct TaskRef {
    raw: RawTask,
}

impl TaskRef {
    /// Takes over a reference the caller already counted.
    pub(crate) fn from_counted(raw: RawTask) -> TaskRef {
        TaskRef { raw }
    }

    /// Counts a new reference to `raw`.
    pub(crate) fn new_counted(raw: RawTask) -> TaskRef {
        raw.state().ref_inc();
        TaskRef { raw }
    }

    /// The task's unique id (asyncio has none; it is what `get_name` defaults to: `Task-<id>`).
    pub fn id(&self) -> TaskId {
        self.raw.header().id
    }

    /// The task's name: the one given at creation or by `set_name`, else `Task-<id>` as in
    /// asyncio.
    pub fn name(&self) -> String {
        let extras = self.raw.header().extras.lock();
        match extras.as_ref().and_then(|e| e.name.clone()) {
            Some(name) => name,
            None => format!("Task-{}", self.id()),
        }
    }

    /// Renames the task (asyncio's `set_name`).
    pub fn set_name(&self, name: impl Into<String>) {
        let mut extras = self.raw.header().extras.lock();
        extras.get_or_insert_with(Default::default).name = Some(name.into());
    }

    /// True once the task finished: returned, panicked or was cancelled (asyncio's `done()`).
    pub fn done(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// Requests cancellation (asyncio's `cancel()`). The task stops at its next await point: its
    /// future is dropped, its destructors run, and awaiting it gives a cancelled [`TaskError`].
    /// Returns false if the task had already finished.
    pub fn cancel(&self) -> bool {
        self.request_cancel(None)
    }

    /// As [`cancel`](Self::cancel), with a message that the cancelled error carries
    /// (asyncio's `cancel(msg)`).
    pub fn cancel_with(&self, msg: impl Into<String>) -> bool {
        self.request_cancel(Some(msg.into()))
    }

    /// asyncio's `uncancel()`: removes one pending cancellation request from the count that
    /// [`cancelling`](Self::cancelling) reports, and returns the count left. A task that caught
    /// a cancellation and decided to go on calls it on itself.
    pub fn uncancel(&self) -> u32 {
        let mut extras = self.raw.header().extras.lock();
        match extras.as_mut() {
            Some(e) => {
                e.cancelling = e.cancelling.saturating_sub(1);
                e.cancelling
            }
            None => 0,
        }
    }

    pub(crate) fn request_cancel(&self, msg: Option<String>) -> bool {
        if self.done() {
            return false;
        }
        {
            let mut extras = self.raw.header().extras.lock();
            let extras = extras.get_or_insert_with(Default::default);
            extras.cancelling += 1;
            if msg.is_some() {
                extras.cancel_msg = msg;
            }
        }
        if self.raw.state().transition_to_notified_and_cancel() {
            // The task was idle: submit it (the transition counted a reference for the queue)
            // so that it sees the request now rather than at its next wake.
            self.raw.schedule();
        }
        true
    }

    /// Registers `callback` to run once when the task finishes (asyncio's
    /// `add_done_callback`): returned, panicked or cancelled, including at runtime shutdown.
    ///
    /// It runs on the thread that finishes the task, right after the task's awaiter was woken,
    /// with a handle to the task; callbacks run in the order they were added. If the task has
    /// already finished, it runs at once, on this thread. A panicking callback is caught and
    /// reported to the runtime's exception handler (as asyncio logs an exception raised in a
    /// callback); the other callbacks and the task's result are not disturbed.
    ///
    /// Differences from asyncio: the callback runs inline on the finishing thread rather than
    /// being scheduled with `call_soon`, so it must be quick and must not block; and there is
    /// no `remove_done_callback` (Rust closures cannot be compared).
    ///
    /// On the current-thread flavour the callbacks have run by the time the awaiter resumes;
    /// on the multi-thread flavour a worker may still be running them then.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// let rt = ringloop::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let seen = Arc::new(AtomicBool::new(false));
    ///     let s = seen.clone();
    ///     let task = ringloop::create_task(async { 7 });
    ///     task.add_done_callback(move |t| s.store(t.done(), Ordering::SeqCst));
    ///     assert_eq!(task.await.unwrap(), 7);
    ///     assert!(seen.load(Ordering::SeqCst));
    /// });
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&TaskRef) + Send + 'static) {
        let header = self.raw.header();
        header
            .extras
            .lock()
            .get_or_insert_with(Default::default)
            .callbacks
            .push(Box::new(callback));
        header.has_callbacks.store(true, Ordering::Relaxed);
        // A release read-modify-write of the state word (one reference taken and given back),
        // then a load of it: with the completing thread's RMW this makes sure that one side
        // at least sees the other (the argument is at `run_done_callbacks` in `harness.rs`).
        drop(self.clone());
        if self.done() {
            self.raw.run_done_callbacks();
        }
    }

    /// Marks the task's error as retrieved by someone other than its handle (a `TaskGroup`
    /// reports it): dropping the handle unread then does not report "never retrieved".
    pub(crate) fn mark_retrieved(&self) {
        let mut extras = self.raw.header().extras.lock();
        extras.get_or_insert_with(Default::default).retrieved = true;
    }

    /// The number of pending cancellation requests (asyncio's `cancelling()`).
    pub fn cancelling(&self) -> u32 {
        let extras = self.raw.header().extras.lock();
        extras.as_ref().map_or(0, |e| e.cancelling)
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        TaskRef::new_counted(self.raw)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

impl PartialEq for TaskRef {
    fn eq(&self, other: &TaskRef) -> bool {
        self.raw == other.raw
    }
}

impl Eq for TaskRef {}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("done", &self.done())
            .finish()
    }
}

/// A spawned task: asyncio's `Task`. Await it for the task's result.
///
/// `Task<T>` is a future of `Result<T, TaskError>`: `Ok` with the value the task returned, or
/// an error telling cancellation (with its message) from a panic (with its payload).
///
/// **Dropping a `Task` does not cancel the task**: it detaches it, and the task runs to the end
/// with nobody to read its result, as an asyncio task whose object you let go of (asyncio may
/// then garbage-collect a pending task; ringloop keeps it running until the runtime shuts
/// down). Call [`cancel`](TaskRef::cancel) to stop it. The shared methods (name, id, `done`,
/// `cancel`) come from [`TaskRef`] through `Deref`.
#[must_use = "dropping a Task detaches it; await it to get its result"]
pub struct Task<T> {
    inner: TaskRef,
    /// The awaiting task's cancellation was passed on to this task.
    forwarded: bool,
    /// The output was moved out (by `result()` or a completed poll).
    taken: bool,
    _output: PhantomData<T>,
}

impl<T> Task<T> {
    /// Wraps the handle's reference (counted in the task's initial state).
    pub(crate) fn new(raw: RawTask) -> Task<T> {
        Task {
            inner: TaskRef::from_counted(raw),
            forwarded: false,
            taken: false,
            _output: PhantomData,
        }
    }

    /// True if the task finished because it was cancelled (asyncio's `cancelled()`). It does
    /// not consume the result.
    pub fn cancelled(&self) -> bool {
        self.done()
            && self
                .inner
                .raw
                .header()
                .extras
                .lock()
                .as_ref()
                .is_some_and(|e| e.cancelled)
    }

    /// Takes the task's result if it has finished (asyncio's `result()`): `Ok` with the value it
    /// returned, or the [`TaskError`] of a panic or a cancellation. `None` while the task runs,
    /// and once the result was taken (by an earlier call or by awaiting the task).
    ///
    /// Differences from asyncio: `result()` raises `InvalidStateError` on an unfinished task
    /// and can be called repeatedly; here the result moves out, once, and an unfinished task
    /// gives `None`. Awaiting the task after its result was taken panics, as polling any
    /// finished future may.
    pub fn result(&mut self) -> Option<Result<T, TaskError>> {
        if self.taken || !self.done() {
            return None;
        }
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: as in `poll_output`. The task is complete, so no waker is stored.
        unsafe {
            self.inner
                .raw
                .try_read_output(&mut out as *mut _ as *mut (), std::task::Waker::noop())
        };
        self.taken = out.is_some();
        out
    }

    /// The error the task finished with, without taking it (asyncio's `exception()`): a panic
    /// or, unlike asyncio (which raises `CancelledError` there), a cancellation. `None` while
    /// the task runs, if it returned a value, or once its result was taken.
    ///
    /// Looking at a panic this way counts as retrieving it: dropping the handle afterwards does
    /// not report "Task exception was never retrieved" (as in asyncio).
    pub fn exception(&self) -> Option<&TaskError> {
        if self.taken || !self.failed() {
            return None;
        }
        // SAFETY: the task is complete and this is its handle, which owns the stage from then
        // on; nobody else touches it until the handle takes the output (`&mut self`, excluded
        // while the returned borrow of `self` lives) or drops it (the same).
        let error = unsafe { self.inner.raw.peek_error() }?;
        if let Some(extras) = self.inner.raw.header().extras.lock().as_mut() {
            extras.retrieved = true;
        }
        // SAFETY: the pointer is into the stage, which stays as it is while `self` is borrowed
        // (see above); the cell lives as long as the handle's reference.
        Some(unsafe { error.as_ref() })
    }

    /// Joins without the cancellation rules of `poll` (for combinators that apply their own
    /// to a group of tasks).
    pub(crate) fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        assert!(
            !self.taken,
            "a Task polled after its result was taken (by `result()` or an earlier await)"
        );
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: `out` has the type the vtable's try_read_output writes for a task whose output
        // is T (Task<T> is only made by spawn for a future with Output = T), and this handle is
        // the one join handle of the task.
        unsafe {
            self.inner
                .raw
                .try_read_output(&mut out as *mut _ as *mut (), cx.waker())
        };
        match out {
            Some(result) => {
                self.taken = true;
                Poll::Ready(result)
            }
            None => Poll::Pending,
        }
    }

    /// Waits for the task to finish without taking its result (asyncio's `wait` leaves results
    /// in the tasks it returns).
    pub(crate) fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.raw.poll_complete(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// True if the task finished with an error: it panicked or was cancelled (asyncio:
    /// `exception()` is not None, or `cancelled()`). False while it runs.
    pub fn failed(&self) -> bool {
        self.done()
            && self
                .inner
                .raw
                .header()
                .extras
                .lock()
                .as_ref()
                .is_some_and(|e| e.failed)
    }

    /// A type-erased handle to the same task.
    pub fn as_task_ref(&self) -> TaskRef {
        self.inner.clone()
    }
}

// The handle holds no `T`, only a pointer to the task: it may move freely.
impl<T> Unpin for Task<T> {}

impl<T> Deref for Task<T> {
    type Target = TaskRef;

    fn deref(&self) -> &TaskRef {
        &self.inner
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    /// Awaiting a task inside another task is a cancellation boundary, as in asyncio: if the
    /// awaiting task is cancelled, the awaited one is cancelled too (with the same message),
    /// and the awaiting task waits for it to finish. If it finished cancelled, the awaiting
    /// task's own cancellation then proceeds; if it declined (returned normally), the request
    /// is absorbed and its value returned.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let blocked = current::with(|cur| {
            let cur = cur?;
            if !cur.cancel_requested() {
                if !this.inner.done() {
                    cur.arm();
                }
                return None;
            }
            if !this.forwarded {
                if this.inner.done() {
                    // The awaited task had finished before the request came: the awaiting task
                    // is cancelled here (asyncio's `_must_cancel`), its result stays unread.
                    return Some(());
                }
                this.forwarded = true;
                this.inner.request_cancel(cur.cancel_message());
            }
            if !this.inner.done() {
                cur.arm();
                return None;
            }
            if this.cancelled() {
                // Leave the request pending and do not arm: the harness (or a boundary above)
                // delivers it now. The output stays in the task for a later poll.
                return Some(());
            }
            // The awaited task declined the cancellation it was passed: so does this one
            // (asyncio leaves the `cancelling()` count as it is in that case, and so does
            // ringloop).
            cur.take_cancel();
            None
        });
        if blocked.is_some() {
            return Poll::Pending;
        }
        this.poll_output(cx)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if self.inner.raw.state().unset_join_interested().is_err() {
            // The task completed before we let go: the output is ours to drop.
            self.inner.raw.drop_output();
        }
        // `inner` then drops the handle's reference.
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("done", &self.done())
            .finish()
    }
}
