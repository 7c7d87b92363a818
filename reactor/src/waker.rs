//! Cross-thread wake-up, coalesced: the reactor's state word and its eventfd.
//!
//! # The problem
//!
//! The poller thread sleeps in `epoll_wait` or `io_uring_enter`. Another thread that just
//! made work for it (spawned a task, fired a channel) must interrupt that sleep. The kernel
//! tool is an eventfd: a counter with a descriptor; writing it makes it readable, which ends
//! the wait because the eventfd is in the reactor's interest set.
//!
//! A naive waker writes the eventfd on every wake. tokio's current-thread runtime does that
//! once per timer registration: 100,000 timers cost 100,000 `write(2)` calls. Here a wake
//! costs a syscall only when it is *needed*: when a poller is actually blocked and nobody
//! has written since it blocked.
//!
//! # The state word
//!
//! One atomic byte, two bits:
//!
//! | bit | set by | cleared by | meaning |
//! |---|---|---|---|
//! | `POLLING`  | the poller, just before it blocks | the poller, right after the wait | a wake must write the eventfd to be noticed |
//! | `NOTIFIED` | [`ReactorWaker::wake`] | the poller, before or after the wait | a wake happened since the poller last looked |
//!
//! Transitions:
//!
//! - **wake**: `fetch_or(NOTIFIED)`. If the old value was exactly `POLLING` (blocked, not yet
//!   notified), this wake is the first since the poller blocked: it writes the eventfd.
//!   Otherwise it returns with no syscall: either nobody is blocked (the next poll will see
//!   `NOTIFIED` and not block), or an earlier wake already wrote.
//! - **begin_poll**: `compare_exchange(0 -> POLLING)`. If it fails, `NOTIFIED` is set: clear
//!   it and poll without blocking. That is the "no lost wake-up" half: a wake that came
//!   before the poller blocked is seen here. A poll that will not block anyway (events in
//!   hand, deadline passed) just clears `NOTIFIED` and never sets `POLLING`.
//! - **end_poll**: `swap(0)`. If the old value was `POLLING | NOTIFIED`, exactly one wake
//!   wrote the eventfd, so the poller drains it (one `read(2)`), keeping the counter and
//!   the next wait clean.
//!
//! A wake racing with end_poll may still write after the drain; the next wait then returns
//! at once, empty. That spurious return is the price of never losing a wake.
//!
//! Only one thread polls at a time (the reactor's poll lock), so `POLLING` has one owner.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::sys;

const POLLING: u8 = 1;
const NOTIFIED: u8 = 2;

/// The shared half of the waker: the state word and the eventfd.
#[derive(Debug)]
pub(crate) struct WakeState {
    state: AtomicU8,
    eventfd: OwnedFd,
}

impl WakeState {
    pub(crate) fn new() -> io::Result<Arc<WakeState>> {
        Ok(Arc::new(WakeState {
            state: AtomicU8::new(0),
            eventfd: sys::eventfd()?,
        }))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// See the module docs, "wake".
    pub(crate) fn wake(&self) {
        let prev = self.state.fetch_or(NOTIFIED, Ordering::AcqRel);
        if prev == POLLING {
            self.write_eventfd();
        }
    }

    fn write_eventfd(&self) {
        match sys::eventfd_write(self.fd()) {
            Ok(()) => {}
            // The counter is at u64::MAX - 1 (it never is in practice: we drain it after
            // every write): reset it and write again, as mio's eventfd waker does.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let _ = sys::eventfd_read(self.fd());
                let _ = sys::eventfd_write(self.fd());
            }
            // EINTR: writing 8 bytes to an eventfd cannot block, but a signal can still
            // interrupt the syscall; try once more.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                let _ = sys::eventfd_write(self.fd());
            }
            // Anything else (EBADF cannot happen: we own the fd) has no one to report to;
            // a waker must not panic in another thread's code.
            Err(_) => {}
        }
    }

    /// See the module docs, "begin_poll". `block` says whether the poller wants to block
    /// at all (no events already in hand, deadline not passed); returns whether it may.
    pub(crate) fn begin_poll(&self, block: bool) -> bool {
        if !block {
            // Not blocking anyway: consume any notification (this poll is the prompt
            // return it asked for) and leave POLLING clear, so concurrent wakes stay free.
            self.state.swap(0, Ordering::AcqRel);
            return false;
        }
        match self
            .state
            .compare_exchange(0, POLLING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED was set while nobody was blocked: consume it, don't block.
                self.state.swap(0, Ordering::AcqRel);
                false
            }
        }
    }

    /// See the module docs, "end_poll". Returns whether a wake arrived during the wait.
    pub(crate) fn end_poll(&self) -> bool {
        let prev = self.state.swap(0, Ordering::AcqRel);
        if prev == POLLING | NOTIFIED {
            // The one wake that saw us blocked wrote the eventfd (or is about to).
            let _ = sys::eventfd_read(self.fd());
        }
        prev & NOTIFIED != 0
    }

    /// Whether a poller is blocked right now (used by io_uring submitters to decide whether
    /// to enter the kernel themselves).
    ///
    /// A read-modify-write (`fetch_or(0)`), not a plain load, on purpose: the io_uring
    /// submitter *stores* the SQ tail and then checks this word, while the poller *sets*
    /// `POLLING` and then reads the tail. With a plain load this is the store-buffer pattern
    /// (x86 may let the load pass the store) and both could miss each other: the poller
    /// blocks without our entry, and we do not enter for it. RMWs on one atomic are totally
    /// ordered: either ours comes after the poller's (we see `POLLING` and enter), or the
    /// poller's comes after ours and acquires our tail store (it submits our entry).
    pub(crate) fn is_polling(&self) -> bool {
        self.state.fetch_or(0, Ordering::AcqRel) & POLLING != 0
    }
}

/// A handle that wakes a reactor from any thread. Cheap to clone.
///
/// [`wake`](Self::wake) makes the current `poll` (if one is blocked) or the next one return
/// promptly. Wakes coalesce: while the reactor is not blocked a wake is one atomic
/// operation and no syscall; while it is blocked, the first wake writes the eventfd once and
/// the rest are free. A waker outliving its reactor is harmless (its wakes go nowhere).
#[derive(Clone, Debug)]
pub struct ReactorWaker {
    shared: Arc<WakeState>,
}

impl ReactorWaker {
    pub(crate) fn new(shared: Arc<WakeState>) -> ReactorWaker {
        ReactorWaker { shared }
    }

    /// Wakes the reactor (see the type docs for the cost).
    pub fn wake(&self) {
        self.shared.wake();
    }

    /// Whether a poller has announced it is about to block or is blocked (the `POLLING`
    /// bit): the next wake will cost one eventfd write. For tests and diagnostics.
    pub fn poller_waiting(&self) -> bool {
        self.shared.is_polling()
    }
}
