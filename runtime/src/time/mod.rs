//! Time: how `sleep` meets the timer wheel and the reactor.
//!
//! Every thread that polls futures for a runtime (the current-thread loop, each worker, a
//! `block_on` caller of the multi-thread runtime) owns a [`TimeCore`]: its own timer wheel from
//! `ringloop-timers`, plus the time it read at the start of its current loop turn. There is no
//! global timer lock (tokio tried sharding its global wheel and reverted it, tokio #7226; here
//! each wheel has one owner and needs no lock at all).
//!
//! One loop turn, on each thread:
//!
//! 1. read the clock once ([`TimeCore::turn`]) and fire every timer due at or before it; the
//!    wakers are collected first and woken after the wheel is released;
//! 2. run tasks; a `sleep` polled there compares its deadline with the time read in step 1 and,
//!    if not due, inserts a waker into this thread's wheel;
//! 3. with nothing left to run, park until the wheel's next expiration: the reactor arms its
//!    timerfd (epoll) or timeout (io_uring) to it, with nanosecond precision.
//!
//! A sleep registered on one thread may be dropped or polled on another (its task was stolen).
//! Then the owner cannot be touched directly: the key is posted to the owner's small cancel
//! inbox ([`TimeShared::cancel_remote`]), which the owner empties at its next turn. Until then
//! the stale entry may fire and wake the task once more, which is harmless.

mod clock;
mod sleep;

pub(crate) use clock::Clock;
pub use sleep::{sleep, sleep_until, Sleep};

use parking_lot::Mutex;
use ringloop_timers::{TimerKey, Wheel};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// The time state shared by all threads of one runtime.
pub(crate) struct TimeShared {
    pub(crate) clock: Clock,
    resolution: Duration,
    /// The cancel inboxes of the live time cores, by core id.
    inboxes: Mutex<Vec<(u64, Arc<Inbox>)>>,
}

/// Keys cancelled by other threads, for one core.
struct Inbox {
    pending: AtomicBool,
    keys: Mutex<Vec<TimerKey>>,
    /// Virtual clock: the owner's next expiration in nanoseconds (`u64::MAX`: none), published
    /// before it parks.
    next_ns: AtomicU64,
}

impl Default for Inbox {
    fn default() -> Inbox {
        Inbox {
            pending: AtomicBool::new(false),
            keys: Mutex::new(Vec::new()),
            next_ns: AtomicU64::new(u64::MAX),
        }
    }
}

impl TimeShared {
    pub(crate) fn new(virtual_time: bool, resolution: Duration) -> TimeShared {
        TimeShared {
            clock: Clock::new(virtual_time),
            resolution,
            inboxes: Mutex::new(Vec::new()),
        }
    }

    /// Cancels `key` in the wheel of core `core`, which belongs to another thread.
    fn cancel_remote(&self, core: u64, key: TimerKey) {
        let inboxes = self.inboxes.lock();
        if let Some((_, inbox)) = inboxes.iter().find(|(id, _)| *id == core) {
            inbox.keys.lock().push(key);
            inbox.pending.store(true, Ordering::Release);
        }
        // Not found: that core is gone, and its wheel with it.
    }

    /// Virtual clock: the earliest next expiration any core published.
    pub(crate) fn earliest_published_expiration(&self) -> Option<Duration> {
        let inboxes = self.inboxes.lock();
        let min = inboxes
            .iter()
            .map(|(_, inbox)| inbox.next_ns.load(Ordering::Acquire))
            .min()?;
        (min != u64::MAX).then(|| Duration::from_nanos(min))
    }
}

/// One thread's timers. Lives on that thread (it is `!Sync`).
pub(crate) struct TimeCore {
    id: u64,
    pub(crate) shared: Arc<TimeShared>,
    wheel: RefCell<Wheel<Waker>>,
    /// The time read at the start of this loop turn.
    now: Cell<Duration>,
    /// The same, as an `Instant` on the runtime's clock (the deadline of a `sleep(0)`).
    now_instant: Cell<Instant>,
    inbox: Arc<Inbox>,
    /// Wakers of fired timers, woken after the wheel is released (reused buffer).
    fired: RefCell<Vec<Waker>>,
}

impl TimeCore {
    pub(crate) fn new(shared: Arc<TimeShared>) -> TimeCore {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let inbox = Arc::new(Inbox::default());
        shared.inboxes.lock().push((id, inbox.clone()));
        let now = shared.clock.now();
        TimeCore {
            id,
            wheel: RefCell::new(Wheel::with_resolution(shared.resolution)),
            now_instant: Cell::new(shared.clock.instant_at(now)),
            shared,
            now: Cell::new(now),
            inbox,
            fired: RefCell::new(Vec::new()),
        }
    }

    /// The time read at the start of this turn.
    pub(crate) fn now(&self) -> Duration {
        self.now.get()
    }

    /// The time read at the start of this turn, as an `Instant` on the runtime's clock.
    pub(crate) fn now_instant(&self) -> Instant {
        self.now_instant.get()
    }

    /// Starts a loop turn: reads the clock, applies remote cancels, and wakes every timer due.
    /// Returns how many timers fired.
    pub(crate) fn turn(&self) -> usize {
        let now = self.shared.clock.now();
        self.now.set(now);
        self.now_instant.set(self.shared.clock.instant_at(now));
        if self.inbox.pending.swap(false, Ordering::Acquire) {
            let keys = std::mem::take(&mut *self.inbox.keys.lock());
            let mut wheel = self.wheel.borrow_mut();
            for key in keys {
                wheel.cancel(key);
            }
        }
        let mut fired = self.fired.borrow_mut();
        let count = self
            .wheel
            .borrow_mut()
            .advance(now, |_, waker| fired.push(waker));
        // The wheel is released: a waker may run arbitrary code (another runtime's waker, a
        // user's), and must not unwind through this loop.
        for waker in fired.drain(..) {
            let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
        }
        count
    }

    /// When this thread must next wake for a timer, as time since the origin.
    pub(crate) fn next_expiration(&self) -> Option<Duration> {
        self.wheel.borrow().next_expiration()
    }

    /// Virtual clock: publishes this core's next expiration for the thread that advances time.
    pub(crate) fn publish_next_expiration(&self) {
        let next = self.next_expiration().map_or(u64::MAX, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
        });
        self.inbox.next_ns.store(next, Ordering::Release);
    }

    fn insert(&self, deadline: Duration, waker: Waker) -> TimerKey {
        self.wheel.borrow_mut().insert(deadline, waker)
    }

    /// Runs `f` on the waker stored under `key`; false if the key is stale (fired or
    /// cancelled).
    fn with_payload(&self, key: TimerKey, f: impl FnOnce(&mut Waker)) -> bool {
        match self.wheel.borrow_mut().payload_mut(key) {
            Some(waker) => {
                f(waker);
                true
            }
            None => false,
        }
    }

    fn cancel(&self, key: TimerKey) -> Option<Waker> {
        self.wheel.borrow_mut().cancel(key)
    }
}

impl Drop for TimeCore {
    fn drop(&mut self) {
        self.shared.inboxes.lock().retain(|(id, _)| *id != self.id);
        // Pending wakers are dropped with the wheel, outside any borrow.
        let wheel = std::mem::take(self.wheel.get_mut());
        let _ = catch_unwind(AssertUnwindSafe(move || drop(wheel)));
    }
}
