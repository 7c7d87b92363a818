//! `wait_for`: asyncio's `asyncio.wait_for(aw, timeout)`.
//!
//! The inner future is polled first, on every poll, so a future that is ready completes even
//! with a zero timeout (as asyncio promises). The timer is armed only when the inner future
//! first returns `Pending`: a `wait_for` around a ready future never touches the timer wheel.
//!
//! On expiry, as asyncio does, the inner work is cancelled and its cleanup finishes before
//! `TimeoutError` is returned: `wait_for` requests cancellation of the current task (see
//! [`crate::cancel`]) and polls the inner future once more. If a boundary inside handles it
//! (a [`catch_cancel`](crate::catch_cancel) that then awaits its cleanup, an awaited task
//! that is being cancelled), `wait_for` waits until the inner future completes; if nothing
//! inside does, the inner future is dropped at once. Either way it takes its own request back,
//! so the task itself is not cancelled.
//!
//! Differences from asyncio: if the inner future completes normally after the deadline (it
//! declined the cancellation), asyncio returns its value; `wait_for` still returns
//! `TimeoutError`, because a Rust output does not say whether it came from a cancellation.
//! Outside a task (in `block_on`'s own future) there is nothing to request cancellation of,
//! and the inner future is simply dropped.

use crate::task::current;
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
        expired: false,
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
    /// The deadline passed and cancellation of the inner work was requested.
    expired: bool,
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
        let mut future = unsafe { Pin::new_unchecked(future) };
        if this.expired {
            return this.poll_expired(cx);
        }
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
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
        if Pin::new(timer).poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.timer = None;
        let in_task = current::with(|cur| match cur {
            Some(cur) => {
                cur.request_cancel(None);
                true
            }
            None => false,
        });
        if !in_task {
            this.future = None;
            return Poll::Ready(Err(TimeoutError(())));
        }
        this.expired = true;
        this.poll_expired(cx)
    }
}

impl<F: Future> WaitFor<F> {
    /// After the deadline: let the inner work finish its cancellation, then report the timeout.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Result<F::Output, TimeoutError>> {
        let Some(future) = self.future.as_mut() else {
            panic!("WaitFor polled after completion");
        };
        // SAFETY: as in `poll`: the inner future is structurally pinned.
        let future = unsafe { Pin::new_unchecked(future) };
        let done = current::with(|cur| {
            let cur = cur.expect("an expired wait_for is polled inside its task");
            let (poll, inner_armed) = cur.scoped(|| future.poll(cx));
            if poll.is_pending() && (inner_armed || !cur.cancel_requested()) {
                // A boundary inside is finishing the cancellation, or took the request and
                // the future is cleaning up: wait for it.
                cur.arm();
                return false;
            }
            // Done, or nothing inside handles cancellation: take our request back.
            cur.take_cancel();
            cur.uncancel();
            true
        });
        if !done {
            return Poll::Pending;
        }
        // Drop the inner future (running its destructors) before reporting.
        self.future = None;
        Poll::Ready(Err(TimeoutError(())))
    }
}
