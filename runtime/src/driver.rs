//! The driver: the reactor plus the time state, shared by every thread of a runtime.
//!
//! Whoever parks "in the driver" blocks in `Reactor::poll` with a deadline taken from its timer
//! wheel; any thread can cut that short with the reactor's waker, which costs no syscall when
//! nobody is blocked (the reactor coalesces wakes).

use crate::blocking::BlockingPool;
use crate::io::IoDriver;
use crate::time::{TimeCore, TimeShared};
use parking_lot::{Mutex, MutexGuard};
use ringloop_reactor::{Backend, Events, Reactor, ReactorWaker};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The reactor and the clock of one runtime.
pub(crate) struct Driver {
    pub(crate) reactor: Reactor,
    pub(crate) waker: ReactorWaker,
    pub(crate) time: Arc<TimeShared>,
    /// Registrations and in-flight operations, by token.
    pub(crate) io: IoDriver,
    /// The event buffer of whichever thread polls the reactor (one at a time).
    events: Mutex<Events>,
    /// The threads that run `to_thread` jobs.
    pub(crate) blocking: BlockingPool,
}

impl Driver {
    pub(crate) fn new(reactor: Reactor, time: Arc<TimeShared>, blocking: BlockingPool) -> Driver {
        Driver {
            waker: reactor.waker(),
            reactor,
            time,
            io: IoDriver::default(),
            events: Mutex::new(Events::with_capacity(1024)),
            blocking,
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        self.reactor.backend()
    }

    /// Becomes the thread that polls the reactor, if no other thread is.
    pub(crate) fn try_lock(&self) -> Option<DriverGuard<'_>> {
        self.events.try_lock().map(|events| DriverGuard {
            driver: self,
            events,
        })
    }

    /// Polls the reactor if no other thread is: see [`DriverGuard::poll`]. Returns false if
    /// another thread holds the driver.
    pub(crate) fn park(&self, tc: &TimeCore, block: bool) -> bool {
        match self.try_lock() {
            Some(guard) => {
                guard.poll(tc, block);
                true
            }
            None => false,
        }
    }
}

/// The right to poll the reactor, held by one thread at a time.
pub(crate) struct DriverGuard<'a> {
    driver: &'a Driver,
    events: MutexGuard<'a, Events>,
}

impl DriverGuard<'_> {
    /// Waits in the reactor until an event, a wake, or `tc`'s next timer (or does not wait, if
    /// `block` is false), then dispatches what came.
    pub(crate) fn poll(mut self, tc: &TimeCore, block: bool) {
        let clock = &self.driver.time.clock;
        let deadline = if !block {
            // The *real* now: on a virtual clock, `clock.now_instant()` is origin plus virtual
            // time, which would make the reactor block in real time until it.
            Some(Instant::now())
        } else {
            tc.next_expiration()
                .and_then(|next| clock.real_deadline(next))
        };
        self.events.clear();
        if let Err(e) = self.driver.reactor.poll(&mut self.events, deadline) {
            // EINTR and friends are handled inside the reactor; anything left is not something
            // a loop turn can fix, so report it and carry on rather than spin or die.
            report_poll_error(&e);
        }
        for event in self.events.drain() {
            self.driver.io.dispatch(event);
        }
    }
}

fn report_poll_error(e: &io::Error) {
    eprintln!("ringloop: reactor poll failed: {e}");
    // Back off a little so a persistent error cannot become a busy loop.
    std::thread::sleep(Duration::from_millis(1));
}
