//! `TaskGroup`: asyncio's `async with asyncio.TaskGroup() as tg:`.
//!
//! ```text
//! task_group(|tg| async move {           async with asyncio.TaskGroup() as tg:
//!     tg.create_task(fetch(1));              tg.create_task(fetch(1))
//!     tg.create_task(fetch(2));              tg.create_task(fetch(2))
//! }).await                               # leaving the block waits for every task
//! ```
//!
//! The rules, as asyncio's:
//! - leaving the body waits for every task of the group; no task outlives the group (if the
//!   group's future is dropped early, its tasks are cancelled);
//! - the first task that fails (panics) cancels the body and every other task, the group waits
//!   for them, and returns every error (cancellations are not errors) in a
//!   [`TaskGroupError`], asyncio's `ExceptionGroup`;
//! - cancelling the task that awaits the group cancels every task in it, waits for them, then
//!   proceeds with the cancellation.
//!
//! Difference from asyncio: the body is a closure returning a future (Rust has no `async with`),
//! and it is dropped, not sent `CancelledError`, when a sibling fails.

use super::GroupCancel;
use crate::task::{SpawnError, Task, TaskError, TaskRef};
use parking_lot::Mutex;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Runs `body` with a new [`TaskGroup`] and waits for every task created in it.
///
/// ```
/// ringloop::run(async {
///     let sum = ringloop::task_group(|tg| async move {
///         let a = tg.create_task(async { 20 });
///         let b = tg.create_task(async { 22 });
///         a.await.unwrap() + b.await.unwrap()
///     })
///     .await
///     .unwrap();
///     assert_eq!(sum, 42);
/// });
/// ```
pub fn task_group<F, Fut>(body: F) -> TaskGroupFuture<Fut::Output>
where
    F: FnOnce(TaskGroup) -> Fut,
    Fut: Future + Send + 'static,
{
    let group = TaskGroup {
        state: Arc::new(Mutex::new(State::default())),
    };
    TaskGroupFuture {
        body: Some(Box::pin(body(group.clone()))),
        output: None,
        group,
        cancel: GroupCancel::default(),
        aborted: false,
    }
}

/// A handle to a task group, for creating tasks in it. Clonable and `Send`, so tasks of the
/// group can add more.
#[derive(Clone)]
pub struct TaskGroup {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    children: Vec<TaskRef>,
    /// Children created and not yet *done* (their task complete, not merely their future
    /// finished): counted down by a done callback, so that when it reaches zero every child's
    /// `done()` is true and no task outlives the group, on any flavour.
    running: usize,
    errors: Vec<TaskError>,
    closed: bool,
    /// `cancel_all` ran: a child created from now on is cancelled at once.
    cancelling: bool,
    waker: Option<Waker>,
}

impl TaskGroup {
    /// Creates a task in the group (asyncio's `tg.create_task`). Panics if the group has
    /// finished; [`try_create_task`](Self::try_create_task) returns the error instead.
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_create_task(future)
            .unwrap_or_else(|e| panic!("TaskGroup::create_task: {e}"))
    }

    /// Creates a task in the group, or says why it cannot: the group finished (reported as
    /// `SpawnError::Shutdown`), or there is no runtime.
    pub fn try_create_task<F>(&self, future: F) -> Result<Task<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        {
            let mut state = self.state.lock();
            if state.closed {
                return Err(SpawnError::Shutdown);
            }
            // Counted before the task exists, so the group cannot finish in between.
            state.running += 1;
        }
        let child_state = self.state.clone();
        let spawned = crate::try_create_task(async move {
            match CatchUnwind(future).await {
                Ok(out) => out,
                Err(payload) => {
                    // Report to the group, which retrieves the error (asyncio's TaskGroup
                    // does not log its children's exceptions as never retrieved), then let
                    // the task itself fail as it would have.
                    let msg = panic_message(&*payload);
                    child_state
                        .lock()
                        .errors
                        .push(TaskError::panicked(Box::new(msg)));
                    if let Some(me) = crate::current_task() {
                        me.mark_retrieved();
                    }
                    resume_unwind(payload)
                }
            }
        });
        let task = match spawned {
            Ok(task) => task,
            Err(e) => {
                self.state.lock().running -= 1;
                return Err(e);
            }
        };
        let child = task.as_task_ref();
        let cancel_now = {
            let mut state = self.state.lock();
            state.children.push(child.clone());
            state.cancelling
        };
        if cancel_now {
            child.cancel();
        }
        // Runs once the task is complete (at once if it already is), outside any lock of ours.
        let done_state = self.state.clone();
        child.add_done_callback(move |_| {
            let waker = {
                let mut state = done_state.lock();
                state.running -= 1;
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        Ok(task)
    }

    fn cancel_all(&self) {
        let children: Vec<TaskRef> = {
            let mut state = self.state.lock();
            state.cancelling = true;
            state.children.clone()
        };
        for child in children {
            child.cancel();
        }
    }
}

/// Polls a future, turning a panic into an `Err` with its payload.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; CatchUnwind has no Drop and never
        // moves it.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&'static str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a task panicked with a non-string payload".to_string())
}

/// Every error of the tasks of a group that failed: asyncio's `ExceptionGroup`.
pub struct TaskGroupError {
    errors: Vec<TaskError>,
}

impl TaskGroupError {
    /// The errors, in the order the tasks failed.
    pub fn errors(&self) -> &[TaskError] {
        &self.errors
    }

    /// Takes the errors.
    pub fn into_errors(self) -> Vec<TaskError> {
        self.errors
    }
}

impl fmt::Debug for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.errors).finish()
    }
}

impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} task(s) of the group failed", self.errors.len())?;
        for e in &self.errors {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TaskGroupError {}

/// The future returned by [`task_group`].
#[must_use = "futures do nothing unless awaited"]
pub struct TaskGroupFuture<T> {
    body: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
    output: Option<T>,
    group: TaskGroup,
    cancel: GroupCancel,
    /// A task failed: the body and the other tasks were cancelled.
    aborted: bool,
}

impl<T> Unpin for TaskGroupFuture<T> {}

impl<T> Future for TaskGroupFuture<T> {
    type Output = Result<T, TaskGroupError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.group.state.lock().waker = Some(cx.waker().clone());
        let group = &this.group;
        if this.cancel.forward(|_| group.cancel_all()) {
            // The awaiting task is cancelled: so is the body.
            this.body = None;
        }
        if let Some(body) = this.body.as_mut() {
            if let Poll::Ready(out) = body.as_mut().poll(cx) {
                this.output = Some(out);
                this.body = None;
            }
        }
        let (running, failed) = {
            let state = this.group.state.lock();
            (state.running, !state.errors.is_empty())
        };
        if failed && !this.aborted {
            this.aborted = true;
            this.body = None;
            this.group.cancel_all();
        }
        if this.body.is_some() || running > 0 {
            this.cancel.arm();
            return Poll::Pending;
        }
        let errors = {
            let mut state = this.group.state.lock();
            state.closed = true;
            std::mem::take(&mut state.errors)
        };
        if this.cancel.must_deliver() {
            return Poll::Pending;
        }
        if !errors.is_empty() {
            return Poll::Ready(Err(TaskGroupError { errors }));
        }
        match this.output.take() {
            Some(out) => Poll::Ready(Ok(out)),
            // The body was dropped by a cancellation that a boundary above has taken back.
            None => Poll::Ready(Err(TaskGroupError { errors: Vec::new() })),
        }
    }
}

impl<T> Drop for TaskGroupFuture<T> {
    fn drop(&mut self) {
        // No task outlives its group.
        self.group.state.lock().closed = true;
        if self.group.state.lock().running > 0 {
            self.group.cancel_all();
        }
    }
}
