//! The epoll backend (through mio), with a timerfd for deadlines.
//!
//! # How epoll works (for a student)
//!
//! `epoll_create1` makes a kernel object holding an *interest list*: descriptors with the
//! events we care about. `epoll_ctl(ADD | MOD | DEL)` edits the list. `epoll_wait` sleeps
//! until some descriptors on the list are ready and returns them, each with the 64-bit
//! cookie we attached (here, the caller's [`Token`]).
//!
//! We register everything **edge-triggered** (`EPOLLET`, which is all mio offers): an event
//! is reported when readiness *changes* (new data arrived), not as long as it *holds*. The
//! contract for callers, identical on the io_uring backend: after a readable event, read
//! until `WouldBlock`; only then is waiting again guaranteed to report the next arrival.
//! Stop early and the data left behind produces no new event until more arrives.
//!
//! # Deadlines: a timerfd in the set
//!
//! `epoll_wait`'s own timeout is in *milliseconds*. A 100 µs deadline would have to round to
//! 0 ms (return at once: a busy loop, mio #1614) or to 1 ms (900 µs late). Instead a timerfd,
//! a timer with nanosecond resolution that becomes readable when it expires, sits in the
//! epoll set; we arm it to the deadline and wait with no timeout. The timer is armed
//! *relative* to a fresh `Instant::now()`, so it cannot fire early. It is re-armed only when
//! the deadline changes, so a runtime polling repeatedly toward the same deadline pays no
//! `timerfd_settime`. (The only epoll timeouts used are "no timeout" and zero, for a deadline
//! already passed: nothing to round.)
//!
//! # The waker
//!
//! The waker's eventfd is in the set too; see [`crate::waker`] for when it is written.
//!
//! Simplification: an event for a descriptor deregistered by *another thread while a poll is
//! in progress* may still be delivered once; deregistering from the polling thread between
//! polls never produces a stale event.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;

use crate::sys::{self, Syscall};
use crate::waker::WakeState;
use crate::{Event, Events, Interest, Readiness, Token};

/// The epoll backend: mio's `Poll` (behind the poll lock) and a cloned `Registry` (usable
/// from any thread without that lock).
pub(crate) struct Epoll {
    registry: mio::Registry,
    timer: OwnedFd,
    polled: Mutex<Polled>,
}

/// What only the polling thread touches.
struct Polled {
    poll: mio::Poll,
    events: mio::Events,
    /// The deadline the timerfd is armed for, if any.
    armed: Option<Instant>,
}

fn mio_interest(i: Interest) -> mio::Interest {
    let base = match (i.is_readable(), i.is_writable()) {
        (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
        (false, true) => mio::Interest::WRITABLE,
        _ => mio::Interest::READABLE,
    };
    match i.is_priority() {
        true => base | mio::Interest::PRIORITY,
        false => base,
    }
}

impl Epoll {
    pub(crate) fn new(wake: &Arc<WakeState>, capacity: usize) -> io::Result<Epoll> {
        let poll = sys::call(Syscall::EpollCreate, mio::Poll::new)?;
        let registry = sys::call(Syscall::EpollCreate, || poll.registry().try_clone())?;
        let timer = sys::timerfd()?;
        let fd = wake.fd();
        sys::call(Syscall::EpollCtl, || {
            registry.register(
                &mut SourceFd(&fd),
                mio::Token(Token::WAKER.0),
                mio::Interest::READABLE,
            )
        })?;
        let tfd = timer.as_raw_fd();
        sys::call(Syscall::EpollCtl, || {
            registry.register(
                &mut SourceFd(&tfd),
                mio::Token(Token::TIMER.0),
                mio::Interest::READABLE,
            )
        })?;
        Ok(Epoll {
            registry,
            timer,
            polled: Mutex::new(Polled {
                poll,
                events: mio::Events::with_capacity(capacity.max(16)),
                armed: None,
            }),
        })
    }

    pub(crate) fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        sys::call(Syscall::EpollCtl, || {
            self.registry.register(
                &mut SourceFd(&fd),
                mio::Token(token.0),
                mio_interest(interest),
            )
        })
    }

    pub(crate) fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        sys::call(Syscall::EpollCtl, || {
            self.registry.reregister(
                &mut SourceFd(&fd),
                mio::Token(token.0),
                mio_interest(interest),
            )
        })
    }

    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        sys::call(Syscall::EpollCtl, || {
            self.registry.deregister(&mut SourceFd(&fd))
        })
    }

    pub(crate) fn poll(
        &self,
        wake: &WakeState,
        events: &mut Events,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let mut guard = self.polled.lock().unwrap_or_else(|e| e.into_inner());
        let p = &mut *guard;
        let block = deadline.is_none_or(|d| d > Instant::now());
        let may_block = wake.begin_poll(block);
        let timeout = if !may_block {
            Some(Duration::ZERO)
        } else {
            match self.arm(p, deadline) {
                Ok(t) => t,
                Err(e) => {
                    wake.end_poll();
                    return Err(e);
                }
            }
        };
        let result = loop {
            match sys::call(Syscall::EpollWait, || p.poll.poll(&mut p.events, timeout)) {
                // A signal interrupted the wait. The timerfd is still armed for the same
                // deadline, so waiting again cannot overshoot it; EINTR is not an error.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        wake.end_poll();
        result?;
        for e in p.events.iter() {
            match Token(e.token().0) {
                // Drained in end_poll.
                Token::WAKER => {}
                Token::TIMER => p.armed = None,
                // The reactor's mio buffer may exceed `events`' capacity by a few: an
                // edge-triggered event cannot be left for later, so it is delivered anyway.
                token => events.push(Event::Ready {
                    token,
                    readiness: readiness(e),
                }),
            }
        }
        Ok(())
    }

    /// Arms (or disarms) the timerfd for `deadline` and returns epoll_wait's timeout.
    fn arm(&self, p: &mut Polled, deadline: Option<Instant>) -> io::Result<Option<Duration>> {
        match deadline {
            None => {
                if p.armed.take().is_some() {
                    sys::timerfd_settime(self.timer.as_raw_fd(), None)?;
                }
                Ok(None)
            }
            Some(d) => {
                let now = Instant::now();
                if d <= now {
                    return Ok(Some(Duration::ZERO));
                }
                if p.armed != Some(d) {
                    // Relative to `now`, read before this call: the timer starts counting
                    // later than `now`, so it expires at or after `d`, never before.
                    sys::timerfd_settime(self.timer.as_raw_fd(), Some(d - now))?;
                    p.armed = Some(d);
                }
                Ok(None)
            }
        }
    }
}

fn readiness(e: &mio::event::Event) -> Readiness {
    let mut bits = 0;
    if e.is_readable() {
        bits |= Readiness::READABLE;
    }
    if e.is_writable() {
        bits |= Readiness::WRITABLE;
    }
    if e.is_read_closed() {
        bits |= Readiness::READ_CLOSED;
    }
    if e.is_write_closed() {
        bits |= Readiness::WRITE_CLOSED;
    }
    if e.is_error() {
        bits |= Readiness::ERROR;
    }
    if e.is_priority() {
        bits |= Readiness::PRIORITY;
    }
    Readiness::from_bits(bits)
}
