//! `wait_for`: asyncio's `asyncio.wait_for(aw, timeout)`.
//!
//! The inner future is polled first, on every poll, so a future that is ready completes even
//! with a zero timeout (as asyncio promises). The timer is armed only when the inner future
//! first returns `Pending`: a `wait_for` around a ready future never touches the timer wheel.
//!
//! On expiry the inner future is dropped: its destructors run, then `TimeoutError` is
//! returned. Difference from asyncio: asyncio cancels the inner task and lets it run async
//! cleanup (`except CancelledError:` blocks that await) before raising; a plain Rust future
//! cannot be resumed to clean up, so dropping it is ringloop's fallback.

use crate::time::{sleep_until, Sleep};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The error of a [`wait_for`] whose deadline passed first (asyncio's `TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeoutError(());

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for TimeoutError {}

/// Waits for `future` for at most `timeout`: `Ok` with its output, or `Err(TimeoutError)` after
/// dropping it. `Duration::MAX` means no timeout.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let slow = ringloop::sleep(Duration::from_secs(10));
///     assert!(ringloop::wait_for(slow, Duration::from_millis(5)).await.is_err());
///     assert_eq!(ringloop::wait_for(async { 7 }, Duration::ZERO).await, Ok(7));
/// });
/// ```
pub fn wait_for<F: IntoFuture>(future: F, timeout: Duration) -> WaitFor<F::IntoFuture> {
    WaitFor {
        future: Some(future.into_future()),
        timeout,
        timer: None,
    }
}

/// The future returned by [`wait_for`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFor<F> {
    /// `None` once it completed or was dropped on expiry.
    future: Option<F>,
    timeout: Duration,
    /// Armed at the first `Pending` of the inner future.
    timer: Option<Sleep>,
}

impl<F: Future> Future for WaitFor<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out while it is `Some`
        // (only dropped in place by assigning `None`), and `WaitFor` has no `Drop` impl that
        // could move it. `timer` is `Unpin` and treated as unpinned.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(future) = this.future.as_mut() else {
            panic!("WaitFor polled after completion");
        };
        // SAFETY: see above; the inner future stays in place until dropped.
        let future = unsafe { Pin::new_unchecked(future) };
        if let Poll::Ready(out) = future.poll(cx) {
            this.future = None;
            return Poll::Ready(Ok(out));
        }
        if this.timeout == Duration::MAX {
            return Poll::Pending;
        }
        let timeout = this.timeout;
        let timer = this.timer.get_or_insert_with(|| {
            let now = crate::now();
            sleep_until(
                now.checked_add(timeout)
                    .unwrap_or_else(|| now + Duration::from_secs(u32::MAX as u64)),
            )
        });
        match Pin::new(timer).poll(cx) {
            Poll::Ready(()) => {
                // Cancel the inner work (drop it, running its destructors) before reporting.
                this.future = None;
                Poll::Ready(Err(TimeoutError(())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
