//! Cancellation, asyncio's way, on Rust futures.
//!
//! # The model
//!
//! `task.cancel()` (or `cancel_with(msg)`) records a *request* on the task and schedules it.
//! The request is delivered at the task's current await point, in one of two ways:
//!
//! 1. **By dropping the future** (the default). The task stops where it is, every destructor
//!    runs, and awaiting the task gives a cancelled [`TaskError`](crate::TaskError) with the
//!    message. This is what happens to a task that does nothing special.
//! 2. **By a boundary.** Some await points handle cancellation themselves, as an
//!    `except asyncio.CancelledError:` block does:
//!    - [`catch_cancel`]`(fut)` takes the request: the inner future is dropped and the
//!      `catch_cancel` returns `Err(Cancelled)`; the task goes on from there, and may await
//!      more to clean up (the tutorial's printers `break` out of their loop this way). It can
//!      also simply carry on: that declines the cancellation ([`crate::TaskRef::uncancel`] adjusts
//!      the count asyncio's `cancelling()` reports).
//!    - awaiting a [`crate::Task`] inside a task passes the request on to the awaited
//!      task and waits for it to finish, as asyncio does;
//!    - [`wait_for`](crate::wait_for) at its deadline requests cancellation of the work it
//!      waits for, lets any boundary inside clean up, then returns `TimeoutError`.
//!
//! A boundary marks itself ("arms") whenever it is pending in a poll; the harness then delivers
//! a request by polling the task instead of dropping its future, and the boundary takes it.
//!
//! # What Rust cannot do, and what ringloop does instead
//!
//! asyncio raises `CancelledError` *inside* the innermost coroutine, so every `try/finally`
//! and `except` on the way up runs, awaiting if it likes. Rust cannot inject an error into a
//! third-party future. So a future that is not a boundary is dropped: its destructors run
//! (synchronously), but it cannot await during cleanup. Put a [`catch_cancel`] where the
//! cleanup must await. A task whose future catches a cancellation and then returns normally
//! is not cancelled (its `cancelled()` is false), as in asyncio.

use crate::task::{current, Task};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A cancellation delivered to a [`catch_cancel`] boundary: asyncio's `CancelledError`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cancelled {
    msg: Option<String>,
}

impl Cancelled {
    /// The message given to `cancel_with`, if any.
    pub fn message(&self) -> Option<&str> {
        self.msg.as_deref()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.msg {
            Some(msg) => write!(f, "cancelled: {msg}"),
            None => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Cancelled {}

/// Runs `future`, catching a cancellation of the current task at this await point:
/// `try: await future except asyncio.CancelledError:`.
///
/// Returns `Ok` with the future's output, or `Err(Cancelled)` if the task was cancelled while
/// waiting here; the inner future is then dropped (after any cancellation it passed on to
/// tasks it awaits has finished), and the task continues after this point.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let task = ringloop::create_task(async {
///         let mut ticks = 0;
///         loop {
///             ticks += 1;
///             if ringloop::catch_cancel(ringloop::sleep(Duration::from_millis(10))).await.is_err() {
///                 break ticks; // clean exit on cancellation, as the tutorial's printers do
///             }
///         }
///     });
///     ringloop::sleep(Duration::from_millis(35)).await;
///     task.cancel();
///     let ticks = task.await.expect("the task caught the cancellation and returned");
///     assert!(ticks >= 1); // about 4 on an idle machine; fewer when the machine is loaded
/// });
/// ```
pub fn catch_cancel<F: IntoFuture>(future: F) -> CatchCancel<F::IntoFuture> {
    CatchCancel {
        future: Some(future.into_future()),
    }
}

/// The future returned by [`catch_cancel`].
#[must_use = "futures do nothing unless awaited"]
pub struct CatchCancel<F> {
    future: Option<F>,
}

impl<F: Future> Future for CatchCancel<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: never moved while `Some`, only dropped in
        // place by assigning `None`; CatchCancel has no Drop impl.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(future) = this.future.as_mut() else {
            panic!("CatchCancel polled after completion");
        };
        // SAFETY: see above.
        let future = unsafe { Pin::new_unchecked(future) };
        let step = current::with(|cur| {
            let Some(cur) = cur else {
                // Not in a task (block_on's own future): nothing can cancel it.
                return future.poll(cx).map(Ok);
            };
            let (poll, inner_armed) = cur.scoped(|| future.poll(cx));
            if inner_armed {
                // Something inside handles the request first (an awaited task finishing its
                // own cancellation): wait for it.
                cur.arm();
                return Poll::Pending;
            }
            // A pending request wins even over an inner future that just completed, as in
            // asyncio: a task resumed with a cancellation pending gets `CancelledError` at
            // its await point whatever the awaited future did (its `_must_cancel` rule).
            if let Some(msg) = cur.take_cancel() {
                return Poll::Ready(Err(Cancelled { msg }));
            }
            match poll {
                Poll::Ready(out) => Poll::Ready(Ok(out)),
                Poll::Pending => {
                    cur.arm();
                    Poll::Pending
                }
            }
        });
        if step.is_ready() {
            // Completed, or cancelled here: drop the inner future now, in place.
            this.future = None;
        }
        step
    }
}

/// Protects `future` from cancellation: asyncio's `asyncio.shield`.
///
/// The future runs as its own task. Cancelling the task that awaits the shield cancels the
/// await (the awaiting task stops there) but not the shielded work, which runs to the end.
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Shield {
        task: crate::create_task(future),
    }
}

/// The future returned by [`shield`].
#[must_use = "futures do nothing unless awaited"]
pub struct Shield<T> {
    task: Task<T>,
}

impl<T> Future for Shield<T> {
    type Output = Result<T, crate::TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // A pending request is not passed on: return Pending without arming, so the harness
        // delivers it to the awaiting task, which drops this shield (detaching the task).
        if current::with(|cur| cur.is_some_and(|c| c.cancel_requested())) {
            return Poll::Pending;
        }
        Pin::new(&mut this.task).poll(cx)
    }
}
