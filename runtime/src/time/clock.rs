//! The runtime's clock: real (`Instant::now()`) or virtual.
//!
//! All times inside the runtime are `Duration`s since the runtime's origin instant, which is what
//! the timer wheel works in. A virtual clock stands still while tasks run and is moved forward
//! by the schedulers only when every thread is idle, straight to the next deadline: tests of
//! long sleeps then finish at once, deterministically (tokio calls this a paused clock).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Real or virtual time since an origin.
pub(crate) struct Clock {
    origin: Instant,
    /// `Some` on a virtual clock: nanoseconds since the origin.
    virtual_ns: Option<AtomicU64>,
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        Clock {
            origin: Instant::now(),
            virtual_ns: virtual_time.then(|| AtomicU64::new(0)),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.virtual_ns.is_some()
    }

    /// Time since the origin.
    pub(crate) fn now(&self) -> Duration {
        match &self.virtual_ns {
            None => self.origin.elapsed(),
            Some(ns) => Duration::from_nanos(ns.load(Ordering::Acquire)),
        }
    }

    /// The clock's current time as an `Instant` (on a virtual clock: origin plus virtual time).
    pub(crate) fn now_instant(&self) -> Instant {
        match &self.virtual_ns {
            // `origin + (now - origin)` is `now`: skip the round trip through a `Duration` (a
            // subtraction and an addition of timespecs, about 60 instructions per `sleep`).
            None => Instant::now(),
            Some(_) => self.instant_at(self.now()),
        }
    }

    /// The instant `since` after the origin, saturating far in the future.
    pub(crate) fn instant_at(&self, since: Duration) -> Instant {
        self.origin
            .checked_add(since)
            .unwrap_or_else(|| self.origin + Duration::from_secs(u32::MAX as u64))
    }

    /// The time since the origin of `instant` (zero for instants before the origin).
    pub(crate) fn since_origin(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.origin)
    }

    /// Moves a virtual clock forward to `to` (never backwards). No effect on a real clock.
    pub(crate) fn advance_virtual(&self, to: Duration) {
        if let Some(ns) = &self.virtual_ns {
            let to = u64::try_from(to.as_nanos()).unwrap_or(u64::MAX);
            ns.fetch_max(to, Ordering::AcqRel);
        }
    }

    /// For the reactor: the real instant to wake at for a deadline, `None` if it is too far to
    /// matter (beyond a century) or the clock is virtual.
    pub(crate) fn real_deadline(&self, deadline: Duration) -> Option<Instant> {
        if self.is_virtual() || deadline > Duration::from_secs(100 * 365 * 24 * 3600) {
            return None;
        }
        self.origin.checked_add(deadline)
    }
}
