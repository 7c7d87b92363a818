//! The driver: the reactors plus the time state, shared by every thread of a runtime.
//!
//! Whoever parks "in a ring" blocks in `Reactor::poll` with a deadline taken from its timer
//! wheel; any thread can cut that short with the reactor's waker, which costs no syscall when
//! nobody is blocked (the reactor coalesces wakes).
//!
//! # One reactor, or one per worker
//!
//! A [`Ring`] is one reactor with its token table. Most runtimes have one: the current-thread
//! runtime, and the multi-thread runtime on epoll, where at most one parked worker waits in it
//! and the others wait on condition variables.
//!
//! The multi-thread runtime on io_uring has **one ring per worker** (thread-per-core submission,
//! as monoio and glommio, but keeping work stealing). A task submits its operations to the ring
//! of the worker it runs on, and that worker reaps them: the completion wakes the task on the
//! worker that reaps it, into its local queue, with no cross-thread wake-up and no shared lock
//! on the way. Each worker parks in its own ring, with its own timers as the deadline, so the
//! kernel itself wakes it for its completions. With one shared ring (the first design), every
//! completion reaped by one worker for a task of the other was a futex wake-up, and both
//! workers contended for the ring's lock: multi-thread io_uring ran at half the speed of
//! current-thread. The price: a ring's completions are only reaped by its worker, so a task
//! that blocks its worker's thread also holds up the I/O submitted there (fairness still
//! reaps every ring every `EVENT_INTERVAL` polls). Threads that are not workers (`block_on`
//! callers, blocking-pool threads) submit to worker 0's ring.
//!
//! Each worker *owns* its ring (`ReactorBuilder::single_issuer`, explained in the reactor's
//! `uring` module): only that worker enters the kernel for it, so the kernel runs the ring's
//! completion work when the worker asks for completions, in batches, instead of
//! interrupting whichever CPU the worker is running on for each one. Other threads' entries
//! wait in the ring for the worker's next poll (it is woken for them if it is parked).
//! Before a worker exits it retires its ring: it cancels and finishes every operation
//! there, which no other thread may do.

use crate::blocking::BlockingPool;
use crate::io::IoDriver;
use crate::time::{TimeCore, TimeShared};
use parking_lot::{Mutex, MutexGuard};
use ringloop_reactor::{Backend, Events, Reactor, ReactorWaker};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The reactors and the clock of one runtime.
pub(crate) struct Driver {
    /// One ring, or one per worker (see the module documentation); never empty.
    rings: Box<[Ring]>,
    pub(crate) time: Arc<TimeShared>,
    /// The threads that run `to_thread` jobs.
    pub(crate) blocking: BlockingPool,
}

/// One reactor, the registrations and operations it serves, and its event buffer.
pub(crate) struct Ring {
    pub(crate) reactor: Reactor,
    pub(crate) waker: ReactorWaker,
    /// Registrations and in-flight operations, by token.
    pub(crate) io: IoDriver,
    /// The event buffer of whichever thread polls the reactor (one at a time).
    events: Mutex<Events>,
}

impl Driver {
    /// A driver over `reactors` (at least one).
    pub(crate) fn new(
        reactors: Vec<Reactor>,
        time: Arc<TimeShared>,
        blocking: BlockingPool,
    ) -> Driver {
        assert!(!reactors.is_empty(), "a driver needs a reactor");
        let rings = reactors
            .into_iter()
            .map(|reactor| Ring {
                waker: reactor.waker(),
                reactor,
                io: IoDriver::default(),
                events: Mutex::new(Events::with_capacity(1024)),
            })
            .collect();
        Driver {
            rings,
            time,
            blocking,
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        self.rings[0].reactor.backend()
    }

    /// Ring `index`: a worker's own ring when there is one per worker, else the one ring.
    pub(crate) fn ring(&self, index: usize) -> &Ring {
        &self.rings[index % self.rings.len()]
    }

    /// How many rings (1, or the number of workers).
    pub(crate) fn ring_count(&self) -> usize {
        self.rings.len()
    }
}

impl Ring {
    /// Becomes the thread that polls the reactor, if no other thread is.
    pub(crate) fn try_lock(&self) -> Option<RingGuard<'_>> {
        self.events
            .try_lock()
            .map(|events| RingGuard { ring: self, events })
    }

    /// Polls the reactor if no other thread is: see [`RingGuard::poll`]. Returns false if
    /// another thread holds it.
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

/// The right to poll a ring's reactor, held by one thread at a time.
pub(crate) struct RingGuard<'a> {
    ring: &'a Ring,
    events: MutexGuard<'a, Events>,
}

impl RingGuard<'_> {
    /// Waits in the reactor until an event, a wake, or `tc`'s next timer (or does not wait, if
    /// `block` is false), then dispatches what came.
    pub(crate) fn poll(mut self, tc: &TimeCore, block: bool) {
        let clock = &tc.shared.clock;
        let deadline = if !block {
            // The *real* now: on a virtual clock, `clock.now_instant()` is origin plus virtual
            // time, which would make the reactor block in real time until it.
            Some(Instant::now())
        } else {
            tc.next_expiration()
                .and_then(|next| clock.real_deadline(next))
        };
        self.events.clear();
        if let Err(e) = self.ring.reactor.poll(&mut self.events, deadline) {
            // EINTR and friends are handled inside the reactor; anything left is not something
            // a loop turn can fix, so report it and carry on rather than spin or die.
            report_poll_error(&e);
        }
        for event in self.events.drain() {
            self.ring.io.dispatch(event);
        }
    }
}

fn report_poll_error(e: &io::Error) {
    eprintln!("ringloop: reactor poll failed: {e}");
    // Back off a little so a persistent error cannot become a busy loop.
    std::thread::sleep(Duration::from_millis(1));
}
