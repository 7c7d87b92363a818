//! A file descriptor registered for readiness, and the edge-triggered contract.
//!
//! The readiness word packs the ready bits (low byte) with a tick that every reactor event
//! increments. A task that saw "readable" at tick 7, read until `WouldBlock`, and now clears
//! readiness, clears it only if the tick is still 7: if a new edge arrived meanwhile (tick 8),
//! the bits stay set and the task tries again instead of sleeping through it (the lost-wake-up
//! race of edge-triggered I/O; tokio's `ScheduledIo` does the same).

use super::{current_handle, readiness_bits, Entry};
use crate::runtime::Handle;
use parking_lot::Mutex;
use ringloop_reactor::{Interest, Readiness, Token};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub(crate) const READABLE: usize = 1;
pub(crate) const WRITABLE: usize = 2;
pub(crate) const READ_CLOSED: usize = 4;
pub(crate) const WRITE_CLOSED: usize = 8;
pub(crate) const ERROR: usize = 16;
/// Urgent data pending (TCP out-of-band): not a direction's readiness, only what
/// [`Registration::clear_after_short`] must know.
pub(crate) const PRIORITY: usize = 32;
const BITS: usize = 0xFF;
const TICK_ONE: usize = 0x100;

/// Which way a task waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The bits that make this direction ready: its own, or a closed or failed socket (the
    /// syscall then reports EOF or the error).
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }

    /// The bits a `WouldBlock` in this direction clears: all of them, closed and error
    /// states included.
    ///
    /// A readiness report is a hint; the syscall's `WouldBlock` is the kernel's word that the
    /// direction is, right now, neither ready, nor closed (a read at end of stream returns 0),
    /// nor failed (a pending socket error is returned, and consumed, by the syscall). Keeping
    /// a closed bit past a `WouldBlock` would make every later poll "ready", the syscall
    /// `WouldBlock` again, and the task loop forever. Such stale reports do happen: io_uring's
    /// poll delivers the mask the descriptor had *when the poll fired*, and a socket polled
    /// before its `connect(2)` reports `POLLHUP` (tokio keeps closed bits sticky, and avoids
    /// the case by registering after connecting, as ringloop now does too).
    fn clearable(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR | PRIORITY,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

/// A readiness observation: which bits, at which tick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadyEvent {
    word: usize,
}

/// The driver's record of one registered descriptor.
#[derive(Default)]
pub(crate) struct ScheduledIo {
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

/// Who wait for the descriptor: usually one task per direction (a read, or a `readable()`).
/// But a task in `poll_read` and another in `readable()` can wait at once, and one of them
/// giving up (a timeout) must not take the other's wake-up, so a second waker for a
/// direction joins `more` instead of replacing the first (tokio keeps a list of waiters
/// too). The usual case touches only the two slots and allocates nothing. Everyone is woken
/// at the direction's next edge, those gone included; their wake-ups cost nothing.
/// ringloop simplifies here: a waiter that gives up stays listed (its waker, and so its
/// task's memory, held) until that edge, where tokio's intrusive list unlinks it when its
/// future is dropped.
#[derive(Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
    more: Vec<(Direction, Waker)>,
}

impl Waiters {
    fn register(&mut self, dir: Direction, waker: &Waker) {
        let slot = match dir {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        };
        match slot {
            None => *slot = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => self.register_more(dir, waker),
        }
    }

    #[cold]
    fn register_more(&mut self, dir: Direction, waker: &Waker) {
        if !self
            .more
            .iter()
            .any(|(d, w)| *d == dir && w.will_wake(waker))
        {
            self.more.push((dir, waker.clone()));
        }
    }
}

impl ScheduledIo {
    /// Wakes the listed second waiters of the directions `bits` made ready (out of line: the
    /// list is rarely there, and this keeps the event path small). One listed after the
    /// edge is woken too, needlessly and harmlessly.
    #[cold]
    #[inline(never)]
    fn wake_more(&self, bits: usize) {
        let mut woken = Vec::new();
        self.waiters.lock().more.retain(|(dir, w)| {
            let ready = bits & dir.mask() != 0;
            if ready {
                woken.push(w.clone());
            }
            !ready
        });
        for w in woken {
            w.wake();
        }
    }

    /// The reactor saw an edge: record it and wake whoever waits for it.
    pub(super) fn set_readiness(&self, readiness: Readiness) {
        let bits = readiness_bits(readiness);
        let mut cur = self.readiness.load(Ordering::Acquire);
        loop {
            let next = (cur & !BITS).wrapping_add(TICK_ONE) | (cur & BITS) | bits;
            match self.readiness.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        let (reader, writer, more) = {
            let mut waiters = self.waiters.lock();
            let reader = (bits & Direction::Read.mask() != 0)
                .then(|| waiters.reader.take())
                .flatten();
            let writer = (bits & Direction::Write.mask() != 0)
                .then(|| waiters.writer.take())
                .flatten();
            (reader, writer, !waiters.more.is_empty())
        };
        // Woken after the lock is released.
        if let Some(w) = reader {
            w.wake();
        }
        if let Some(w) = writer {
            w.wake();
        }
        if more {
            self.wake_more(bits);
        }
    }
}

/// A descriptor registered with the current runtime's reactor for as long as this lives.
pub(crate) struct Registration {
    handle: Handle,
    /// The ring it is registered with (`Driver::ring`); that ring's worker delivers its events.
    ring: usize,
    token: Token,
    fd: RawFd,
    io: Arc<ScheduledIo>,
}

impl Registration {
    /// Registers `fd` (which the caller keeps open for the registration's whole life).
    pub(crate) fn new(fd: RawFd, interest: Interest) -> io::Result<Registration> {
        let handle = current_handle()?;
        let io = Arc::new(ScheduledIo::default());
        let index = handle.current_ring();
        let ring = handle.driver().ring(index);
        let token = ring.io.insert(Entry::Io(io.clone()));
        if let Err(e) = ring.reactor.register(fd, token, interest) {
            ring.io.remove(token);
            return Err(e);
        }
        Ok(Registration {
            handle,
            ring: index,
            token,
            fd,
            io,
        })
    }

    /// Ready when the direction is ready (or the descriptor closed or failed); otherwise
    /// stores the waker. By returning Pending we promise the waker is woken at the next edge.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        let word = self.io.readiness.load(Ordering::Acquire);
        if word & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent { word });
        }
        let mut waiters = self.io.waiters.lock();
        waiters.register(dir, cx.waker());
        // An edge between the load above and storing the waker would be missed: look again
        // under the lock (set_readiness takes the waker under the same lock).
        let word = self.io.readiness.load(Ordering::Acquire);
        if word & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent { word });
        }
        Poll::Pending
    }

    /// The readiness recorded now, for [`clear_readiness`](Self::clear_readiness) after a
    /// syscall that was not preceded by [`poll_ready`](Self::poll_ready).
    pub(crate) fn snapshot(&self) -> ReadyEvent {
        ReadyEvent {
            word: self.io.readiness.load(Ordering::Acquire),
        }
    }

    /// The syscall said `WouldBlock`: forget the readiness seen in `event`, unless a newer edge
    /// arrived since.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent, dir: Direction) {
        let _ = self.io.readiness.compare_exchange(
            event.word,
            event.word & !dir.clearable(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// A TCP read returned fewer bytes than it asked for (`0 < n < len`) under the readiness
    /// seen in `event`: the receive queue was empty when it returned, unless the read stopped
    /// at urgent data, which the priority bit shows. Then forget READABLE (unless a newer
    /// edge arrived since), so the next read waits for the next edge instead of spending a
    /// `recv(2)` on the `WouldBlock` that would follow (tokio's shortcut).
    ///
    /// Why no edge is missed: Linux's epoll reports a new edge for every arrival of data after
    /// that moment, and an edge is reported with the mask the socket has when it is
    /// harvested, so urgent data that arrived before the read either raised the priority bit
    /// in `event` or came in an edge after it (a newer tick: the compare-and-swap fails).
    /// Only READABLE goes: a peer's last bytes and its FIN can come in one edge, and the end
    /// of stream, which brings no further edge, must still make the next read return 0.
    pub(crate) fn clear_after_short(&self, event: ReadyEvent) {
        if event.word & PRIORITY != 0 {
            return;
        }
        let _ = self.io.readiness.compare_exchange(
            event.word,
            event.word & !READABLE,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Runs `f` (a non-blocking syscall) when the direction is ready, following the
    /// edge-triggered contract: on `WouldBlock`, clear and wait for the next edge.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_then(cx, dir, f, |_, _| {})
    }

    /// [`poll_io`](Self::poll_io) for a TCP read of `len` bytes: a short count may also
    /// clear READABLE ([`clear_after_short`](Self::clear_after_short)).
    pub(crate) fn poll_tcp_read(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        f: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_then(cx, Direction::Read, f, |event, result| {
            if let Ok(n) = result {
                if 0 < *n && *n < len {
                    self.clear_after_short(event);
                }
            }
        })
    }

    /// The loop of [`poll_io`](Self::poll_io); `done` sees the readiness the final syscall
    /// ran under, and its result.
    fn poll_io_then<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut f: impl FnMut() -> io::Result<R>,
        done: impl FnOnce(ReadyEvent, &io::Result<R>),
    ) -> Poll<io::Result<R>> {
        loop {
            let event = match self.poll_ready(cx, dir) {
                Poll::Ready(event) => event,
                Poll::Pending => return Poll::Pending,
            };
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event, dir),
                result => {
                    done(event, &result);
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let ring = self.handle.driver().ring(self.ring);
        // Deregister before the owner closes the descriptor (io_uring's poll keeps a
        // reference to the file otherwise). A failure here only means it is gone already.
        let _ = ring.reactor.deregister(self.fd);
        ring.io.remove(self.token);
    }
}
