//! Parking a thread: on a condition variable, or in the driver (the reactor).
//!
//! The protocol is one atomic word per thread, as in tokio's `park.rs`:
//!
//! ```text
//! EMPTY ──park──▶ PARKED_CONDVAR / PARKED_DRIVER ──unpark──▶ NOTIFIED ──park returns──▶ EMPTY
//! EMPTY ──unpark──▶ NOTIFIED  (a later park returns at once: no lost wake-up)
//! ```
//!
//! `unpark` swaps in NOTIFIED and then knows from the old value how to reach the thread: notify
//! the condition variable (taking the mutex first, so the notification cannot slip between the
//! parker's check and its wait), or wake the reactor.

use crate::driver::Ring;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex};
use crate::time::TimeCore;
use std::time::Instant;

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

/// One thread's parking spot.
pub(crate) struct Parker {
    state: AtomicUsize,
    mutex: Mutex<()>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            mutex: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }

    /// Consumes a pending notification, if any.
    fn take_notification(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Blocks until unparked or `deadline`. Tries to wait in `ring` (so this thread also
    /// serves I/O and its own timers through the reactor); if another thread already does,
    /// waits on the condition variable.
    pub(crate) fn park(&self, ring: Option<&Ring>, tc: &TimeCore, deadline: Option<Instant>) {
        if self.take_notification() {
            return;
        }
        if let Some(guard) = ring.and_then(Ring::try_lock) {
            match self.state.compare_exchange(
                EMPTY,
                PARKED_DRIVER,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {}
                Err(_) => {
                    // NOTIFIED arrived meanwhile.
                    self.state.store(EMPTY, Ordering::Release);
                    return;
                }
            }
            guard.poll(tc, true);
            // Whether unparked or woken by an event or a timer, the notification (if any) is
            // consumed here; the caller looks for work after every park.
            self.state.swap(EMPTY, Ordering::AcqRel);
            return;
        }
        self.park_condvar(deadline);
    }

    /// Blocks on the condition variable until unparked or `deadline`.
    pub(crate) fn park_condvar(&self, deadline: Option<Instant>) {
        if self.take_notification() {
            return;
        }
        let mut guard = self.mutex.lock();
        match self.state.compare_exchange(
            EMPTY,
            PARKED_CONDVAR,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(_) => {
                self.state.store(EMPTY, Ordering::Release);
                return;
            }
        }
        loop {
            let timed_out;
            (guard, timed_out) = match deadline {
                Some(deadline) => self.condvar.wait_until(guard, deadline),
                None => (self.condvar.wait(guard), false),
            };
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
            if timed_out {
                // Leave PARKED_CONDVAR. An unpark racing with this swap is consumed here; the
                // caller looks for work after every park, so nothing it announced is missed.
                self.state.swap(EMPTY, Ordering::AcqRel);
                return;
            }
            // Spurious wake-up: wait again.
        }
    }

    /// Wakes the thread (which parks in `ring`, if in any), or makes its next park return at
    /// once.
    pub(crate) fn unpark(&self, ring: &Ring) {
        self.unpark_with(|| ring.waker.wake());
    }

    /// `unpark`, with the way to wake a thread blocked in the driver passed in.
    pub(crate) fn unpark_with(&self, wake_driver: impl FnOnce()) {
        match self.state.swap(NOTIFIED, Ordering::AcqRel) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders this notify after the parker's wait began.
                drop(self.mutex.lock());
                self.condvar.notify_one();
            }
            PARKED_DRIVER => wake_driver(),
            actual => unreachable!("parker state {actual}"),
        }
    }
}
