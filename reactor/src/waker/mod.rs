//! Cross-thread wake-up, coalesced: an eventfd, written only when it must be.
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
//! has written since it blocked. The decision is a small state machine over one atomic byte,
//! in [`state`] (with a loom model of its "no lost wake-up" promise); this file adds the
//! eventfd and the public handle.

mod state;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::sys;
use state::WakeWord;

/// The shared half of the waker: the state word and the eventfd.
#[derive(Debug)]
pub(crate) struct WakeState {
    word: WakeWord,
    eventfd: OwnedFd,
}

impl WakeState {
    pub(crate) fn new() -> io::Result<Arc<WakeState>> {
        Ok(Arc::new(WakeState {
            word: WakeWord::new(),
            eventfd: sys::eventfd()?,
        }))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Notes a wake; writes the eventfd if a blocked poller needs it (see [`state`]).
    pub(crate) fn wake(&self) {
        if self.word.wake() {
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

    /// Before waiting: whether the poller may block (see [`WakeWord::begin_poll`]).
    pub(crate) fn begin_poll(&self, block: bool) -> bool {
        self.word.begin_poll(block)
    }

    /// After waiting: clears the word and drains the eventfd if a wake wrote it. Returns
    /// whether a wake arrived.
    pub(crate) fn end_poll(&self) -> bool {
        let end = self.word.end_poll();
        if end.drain {
            let _ = sys::eventfd_read(self.fd());
        }
        end.notified
    }

    /// Whether a poller is blocked right now (see [`WakeWord::is_polling`]).
    pub(crate) fn is_polling(&self) -> bool {
        self.word.is_polling()
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
