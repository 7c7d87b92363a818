//! `sleep` and `sleep_until`: asyncio's `asyncio.sleep`.

use super::TimeCore;
use crate::context;
use ringloop_timers::TimerKey;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Waits until `duration` has passed: asyncio's `await asyncio.sleep(delay)`.
///
/// - The sleep never completes early: begun at `t`, it completes at or after `t + duration`,
///   rounded up to the runtime's timer resolution (see `Builder::timer_resolution`).
/// - `sleep(Duration::ZERO)` yields to the loop once, as `asyncio.sleep(0)` does: every other
///   ready task gets a turn before this one continues.
/// - `Duration::MAX` (or any deadline centuries away) waits forever, without overflow, panic or
///   spinning.
///
/// The clock is read when `sleep` is called, on the runtime's clock (virtual or real). Outside a
/// runtime the real clock is used; the returned future must still be polled inside one.
///
/// `sleep(Duration::ZERO)` (and so [`yield_now`](crate::yield_now)) does not read the clock on
/// a runtime thread: it only yields, and its [`deadline`](Sleep::deadline) is the time the
/// thread's current loop turn started (at or before the true now), which saves a clock read
/// (some 40 ns here) per yield. asyncio's `sleep(0)` does not read the clock either.
pub fn sleep(duration: Duration) -> Sleep {
    if duration.is_zero() {
        let deadline = context::with_time(|tc| tc.now_instant()).unwrap_or_else(Instant::now);
        return Sleep {
            deadline,
            entry: None,
            zero: Zero::Yield,
        };
    }
    let now = context::now_instant();
    let deadline = now.checked_add(duration).unwrap_or_else(|| far_future(now));
    Sleep {
        deadline,
        entry: None,
        zero: Zero::No,
    }
}

/// Waits until `deadline`: asyncio's `loop.call_at`-style absolute sleep. A deadline in the
/// past completes at once, without yielding.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        entry: None,
        zero: Zero::No,
    }
}

/// An instant far enough to never come (136 years), yet representable.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(u32::MAX as u64)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It is `Unpin`, so it can be polled by `&mut` and kept in a struct; [`reset`](Sleep::reset)
/// moves its deadline (asyncio's `Timeout.reschedule` is built on it).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    /// Where this sleep's waker sits: which thread's wheel (by core id), under which key.
    entry: Option<Entry>,
    /// Whether this is a zero sleep, and where it is in its one yield.
    zero: Zero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zero {
    /// Not a zero sleep.
    No,
    /// A zero sleep that has not yielded yet.
    Yield,
    /// A zero sleep that has yielded: ready at its next poll.
    Yielded,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    core: u64,
    key: TimerKey,
}

impl Sleep {
    /// The instant this sleep completes at (asyncio's `when()`).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed on the runtime's clock.
    pub fn is_elapsed(&self) -> bool {
        context::now_instant() >= self.deadline
    }

    /// Moves the deadline, earlier or later. The sleep re-arms at its next poll.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.zero = Zero::No;
        self.deregister();
    }

    fn deregister(&mut self) {
        if let Some(entry) = self.entry.take() {
            // Outside any runtime thread there is no wheel to reach; the stale entry then fires
            // harmlessly later, or goes with its runtime.
            context::with_time(|tc| cancel(tc, entry));
        }
    }

    /// A zero sleep's poll: no timer, no clock.
    #[inline]
    fn poll_zero(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.zero {
            // asyncio.sleep(0): let every other ready task run first, once.
            Zero::Yield => {
                self.zero = Zero::Yielded;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            // The yield was the whole sleep: do not compare its deadline with anything.
            Zero::Yielded | Zero::No => Poll::Ready(()),
        }
    }

    /// A nonzero sleep's poll (`self.zero` is `Zero::No`).
    fn poll_with(&mut self, tc: &TimeCore, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = tc.shared.clock.since_origin(self.deadline);
        // `tc.now()` was read at the start of this loop turn, so it is at or before the true
        // time: comparing against it can make a sleep late by one turn, never early.
        if deadline <= tc.now() {
            if let Some(entry) = self.entry.take() {
                cancel(tc, entry);
            }
            return Poll::Ready(());
        }
        let waker = match self.entry.take() {
            // Still in this thread's wheel: keep the stored waker if it wakes the same task
            // (the common case: a re-poll after an unrelated wake), else replace it.
            Some(entry) if entry.core == tc.id => {
                let still_armed = tc.with_payload(entry.key, |stored| {
                    if !stored.will_wake(cx.waker()) {
                        *stored = cx.waker().clone();
                    }
                });
                if still_armed {
                    self.entry = Some(entry);
                    return Poll::Pending;
                }
                cx.waker().clone()
            }
            // Registered on another thread (the task migrated): move the timer here.
            Some(entry) => {
                cancel(tc, entry);
                cx.waker().clone()
            }
            None => cx.waker().clone(),
        };
        // By returning Pending we promise to wake the task: the wheel holds its waker and fires
        // it at the first turn at or after the deadline.
        let key = tc.insert(deadline, waker);
        self.entry = Some(Entry { core: tc.id, key });
        Poll::Pending
    }
}

fn cancel(tc: &TimeCore, entry: Entry) {
    if entry.core == tc.id {
        tc.cancel(entry.key);
    } else {
        tc.shared.cancel_remote(entry.core, entry.key);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // Zero sleeps (yields) first, without the timer code's frame: they are the hot path of
        // `yield_now`. They still need a runtime thread, as every sleep does.
        let poll = context::with_time(|tc| {
            if this.zero == Zero::No {
                this.poll_with(tc, cx)
            } else {
                this.poll_zero(cx)
            }
        });
        match poll {
            Some(poll) => poll,
            None => panic!(
                "ringloop::sleep polled outside a ringloop runtime: await it inside \
                 `ringloop::run`, `Runtime::block_on` or a task"
            ),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}
