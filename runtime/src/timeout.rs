//! Deadlines: asyncio's `asyncio.timeout(d)`, `asyncio.timeout_at(when)` and
//! `asyncio.wait_for(aw, timeout)`, as one future.
//!
//! ```text
//! let t = ringloop::timeout(d, work());        async with asyncio.timeout(d) as cm:
//! let cm = t.handle();                             cm.reschedule(loop.time() + 5)
//! cm.reschedule(Some(ringloop::now() + 5s));       await work()
//! t.await                                      # TimeoutError if the deadline passed
//! ```
//!
//! # How a timeout runs
//!
//! The inner future is polled first, on every poll, so a future that is ready completes even
//! with a zero timeout (as asyncio promises). The timer (a [`Sleep`]) is armed only when the
//! inner future first returns `Pending`: a timeout around a ready future never touches the timer
//! wheel.
//!
//! On expiry, as asyncio does, the inner work is cancelled and its cleanup finishes before
//! `TimeoutError` is returned: the timeout requests cancellation of the current task (see
//! [`crate::cancel`]) and polls the inner future once more. If a boundary inside handles it
//! (a [`catch_cancel`](crate::catch_cancel) that then awaits its cleanup, an awaited task
//! that is being cancelled), the timeout waits until the inner future completes; if nothing
//! inside does, the inner future is dropped at once. Either way it takes its own request back,
//! so the task itself is not cancelled.
//!
//! # The three phases of a timeout
//!
//! ```text
//!  Waiting --deadline passes--> Expired (cleanup of the inner work) --> Err(TimeoutError)
//!     |
//!     +--inner future completes--> Finished: Ok(output)
//! ```
//!
//! Only a `Waiting` timeout can be rescheduled. [`TimeoutHandle::reschedule`] writes the new
//! deadline into the state shared with the handle and wakes the timeout, which re-reads it at
//! its next poll and moves (or drops) its timer; a deadline already in the past expires at
//! that poll. [`wait_for`] is the same future without a handle: it allocates nothing.
//!
//! # Differences from asyncio
//!
//! - If the inner future completes normally after the deadline (it declined the
//!   cancellation), asyncio's `timeout` and `wait_for` return its value; ringloop returns
//!   `TimeoutError`, because a Rust output does not say whether it came from a cancellation.
//! - Outside a task (in `block_on`'s own future) there is nothing to request cancellation of,
//!   and the inner future is simply dropped at the deadline.

use crate::task::current;
use crate::time::{sleep_until, Sleep};
use parking_lot::Mutex;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The error of a [`timeout`] or [`wait_for`] whose deadline passed first (asyncio's
/// `TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeoutError(());

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for TimeoutError {}

/// Runs `future` with a deadline `duration` from now that can be moved: asyncio's
/// `async with asyncio.timeout(delay) as cm:`.
///
/// Gives `Ok` with the future's output, or `Err(TimeoutError)` once the deadline passed and
/// the inner work finished its cancellation. `Duration::MAX` (asyncio's `timeout(None)`) means
/// no deadline. The clock is read now, when `timeout` is called, as [`sleep`](crate::sleep)
/// does (asyncio reads it when the `async with` block is entered); take a
/// [`handle`](Timeout::handle) to read or move the deadline.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let t = ringloop::timeout(Duration::from_millis(5), async {
///         ringloop::sleep(Duration::from_millis(20)).await;
///         "done"
///     });
///     let cm = t.handle();
///     // Not enough time after all: give it 100 ms from now.
///     assert!(cm.reschedule(Some(ringloop::now() + Duration::from_millis(100))));
///     assert_eq!(t.await, Ok("done"));
///     assert!(!cm.expired());
/// });
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    let deadline = crate::now()
        .checked_add(duration)
        .filter(|_| duration != Duration::MAX);
    timeout_inner(deadline, future)
}

/// Runs `future` until the instant `deadline`: asyncio's `async with asyncio.timeout_at(when)`.
/// A deadline already past expires at the first poll at which the future is not ready.
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    timeout_inner(Some(deadline), future)
}

fn timeout_inner<F: IntoFuture>(deadline: Option<Instant>, future: F) -> Timeout<F::IntoFuture> {
    let shared = Arc::new(Shared {
        state: Mutex::new(SharedState {
            deadline,
            phase: Phase::Waiting,
            waker: None,
        }),
    });
    Timeout {
        core: Core::new(future.into_future(), Deadline::Shared(shared)),
    }
}

/// Waits for `future` for at most `timeout`: `Ok` with its output, or `Err(TimeoutError)` after
/// cancelling it. `Duration::MAX` means no timeout. asyncio's `asyncio.wait_for(aw, timeout)`.
///
/// The same future as [`timeout`], without a handle: the deadline cannot be moved, the clock
/// is read only if the future is not ready at its first poll, and nothing is allocated.
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
    let deadline = if timeout == Duration::MAX {
        Deadline::Never
    } else {
        Deadline::After(timeout)
    };
    WaitFor {
        core: Core::new(future.into_future(), deadline),
    }
}

/// The future returned by [`timeout`] and [`timeout_at`].
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    core: Core<F>,
}

impl<F> Timeout<F> {
    /// A handle to read and move this timeout's deadline (asyncio's `cm` in
    /// `async with asyncio.timeout(d) as cm:`). Take it before awaiting; it can be moved into
    /// the timed future itself or sent to another task.
    pub fn handle(&self) -> TimeoutHandle {
        let Deadline::Shared(shared) = &self.core.deadline else {
            unreachable!("a Timeout always has a shared deadline")
        };
        TimeoutHandle {
            shared: shared.clone(),
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `core` is structurally pinned: Timeout never moves it and has no Drop impl.
        unsafe { self.map_unchecked_mut(|t| &mut t.core) }.poll(cx)
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handle = self.handle();
        f.debug_struct("Timeout")
            .field("when", &handle.when())
            .field("expired", &handle.expired())
            .finish()
    }
}

/// The future returned by [`wait_for`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFor<F> {
    core: Core<F>,
}

impl<F: Future> Future for WaitFor<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `core` is structurally pinned: WaitFor never moves it and has no Drop impl.
        unsafe { self.map_unchecked_mut(|t| &mut t.core) }.poll(cx)
    }
}

/// Reads and moves the deadline of a [`Timeout`]: asyncio's `Timeout` context manager object.
/// Clonable, `Send` and `Sync`.
#[derive(Clone)]
pub struct TimeoutHandle {
    shared: Arc<Shared>,
}

impl TimeoutHandle {
    /// Moves the deadline (asyncio's `reschedule(when)`): `Some(instant)` on the runtime's
    /// clock ([`crate::now`]), or `None` for no deadline. Takes effect at once, from any task or
    /// thread: the timeout is woken and re-arms its timer; a deadline already past expires it.
    ///
    /// Returns false, changing nothing, if the timeout already expired or its future
    /// completed. (asyncio raises `RuntimeError` there; ringloop reports it as
    /// [`TaskRef::cancel`](crate::TaskRef::cancel) reports a finished task. asyncio also
    /// refuses a timeout not yet entered; a ringloop timeout can be moved before it is
    /// awaited, since its deadline exists from the moment it is made.)
    pub fn reschedule(&self, when: Option<Instant>) -> bool {
        let waker = {
            let mut state = self.shared.state.lock();
            if state.phase != Phase::Waiting {
                return false;
            }
            state.deadline = when;
            state.waker.take()
        };
        // Woken after the lock is released: the timeout's poll takes the same lock.
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// The current deadline (asyncio's `when()`); `None` if there is none.
    pub fn when(&self) -> Option<Instant> {
        self.shared.state.lock().deadline
    }

    /// True once the deadline passed and the timeout started cancelling the inner work
    /// (asyncio's `expired()`); it stays true after the timeout returned `TimeoutError`.
    pub fn expired(&self) -> bool {
        self.shared.state.lock().phase == Phase::Expired
    }
}

impl fmt::Debug for TimeoutHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("TimeoutHandle")
            .field("when", &state.deadline)
            .field("phase", &state.phase)
            .finish()
    }
}

/// The state a [`Timeout`] shares with its handles.
struct Shared {
    state: Mutex<SharedState>,
}

struct SharedState {
    deadline: Option<Instant>,
    phase: Phase,
    /// The waker of the timeout's last poll, for `reschedule` to wake.
    waker: Option<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The inner future runs; the deadline may move.
    Waiting,
    /// The deadline passed: the inner work is being cancelled, then `TimeoutError`.
    Expired,
    /// The inner future completed in time.
    Finished,
}

/// Where the core reads its deadline.
enum Deadline {
    /// `wait_for`: this long after the first poll at which the inner future is pending.
    After(Duration),
    /// `wait_for`'s deadline, once computed.
    At(Instant),
    /// No deadline (`Duration::MAX`, or a deadline beyond what `Instant` represents).
    Never,
    /// `timeout`: in the state shared with the handles, which may move it.
    Shared(Arc<Shared>),
}

/// The machinery of [`Timeout`] and [`WaitFor`].
struct Core<F> {
    /// `None` once it completed or was dropped on expiry.
    future: Option<F>,
    deadline: Deadline,
    /// Armed at the first `Pending` of the inner future, at the deadline then in force.
    timer: Option<Sleep>,
    /// The deadline passed and cancellation of the inner work was requested.
    expired: bool,
}

impl<F> Core<F> {
    fn new(future: F, deadline: Deadline) -> Core<F> {
        Core {
            future: Some(future),
            deadline,
            timer: None,
            expired: false,
        }
    }

    /// The deadline in force now. For a shared deadline, the waker is stored first, so a
    /// `reschedule` after this read wakes the timeout again.
    fn current_deadline(&mut self, waker: &Waker) -> Option<Instant> {
        match &self.deadline {
            Deadline::Never => None,
            Deadline::At(at) => Some(*at),
            Deadline::After(after) => {
                let now = crate::now();
                match now.checked_add(*after) {
                    Some(at) => {
                        self.deadline = Deadline::At(at);
                        Some(at)
                    }
                    None => {
                        self.deadline = Deadline::Never;
                        None
                    }
                }
            }
            Deadline::Shared(shared) => {
                let mut state = shared.state.lock();
                if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    state.waker = Some(waker.clone());
                }
                state.deadline
            }
        }
    }

    /// The timer fired for `fired`: enter `Expired`, unless a `reschedule` moved the deadline
    /// since it was read (then the caller goes round again with the new one).
    fn try_expire(&mut self, fired: Instant) -> bool {
        let Deadline::Shared(shared) = &self.deadline else {
            return true;
        };
        let mut state = shared.state.lock();
        if state.deadline != Some(fired) {
            return false;
        }
        state.phase = Phase::Expired;
        state.waker = None;
        true
    }

    fn set_finished(&self) {
        if let Deadline::Shared(shared) = &self.deadline {
            let mut state = shared.state.lock();
            state.phase = Phase::Finished;
            state.waker = None;
        }
    }
}

impl<F: Future> Core<F> {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<F::Output, TimeoutError>> {
        // SAFETY: `future` is structurally pinned: it is never moved out while it is `Some`
        // (only dropped in place by assigning `None`), and `Core` has no `Drop` impl that
        // could move it. The other fields are `Unpin` and treated as unpinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.expired {
            return this.poll_expired(cx);
        }
        let Some(future) = this.future.as_mut() else {
            panic!("a timeout polled after completion");
        };
        // SAFETY: see above; the inner future stays in place until dropped.
        let future = unsafe { Pin::new_unchecked(future) };
        if let Poll::Ready(out) = future.poll(cx) {
            this.future = None;
            this.set_finished();
            return Poll::Ready(Ok(out));
        }
        loop {
            let Some(deadline) = this.current_deadline(cx.waker()) else {
                // No deadline (or it was removed): nothing to arm.
                this.timer = None;
                return Poll::Pending;
            };
            let due = match &mut this.timer {
                Some(timer) if timer.deadline() == deadline => Pin::new(timer).poll(cx).is_ready(),
                Some(timer) => {
                    // Rescheduled. A deadline moved into the past expires now rather than at
                    // the next turn of the loop (the turn's cached time may be older than it).
                    if deadline <= crate::now() {
                        true
                    } else {
                        timer.reset(deadline);
                        Pin::new(timer).poll(cx).is_ready()
                    }
                }
                None => Pin::new(this.timer.insert(sleep_until(deadline)))
                    .poll(cx)
                    .is_ready(),
            };
            if !due {
                return Poll::Pending;
            }
            if this.try_expire(deadline) {
                break;
            }
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

    /// After the deadline: let the inner work finish its cancellation, then report the timeout.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Result<F::Output, TimeoutError>> {
        let Some(future) = self.future.as_mut() else {
            panic!("a timeout polled after completion");
        };
        // SAFETY: as in `poll`: the inner future is structurally pinned.
        let future = unsafe { Pin::new_unchecked(future) };
        let done = current::with(|cur| {
            let cur = cur.expect("an expired timeout is polled inside its task");
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
