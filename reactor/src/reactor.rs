//! The [`Reactor`]: one API over the two backends, and its builder.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

use crate::backend::{is_fallback_error, ENV_VAR};
use crate::epoll::Epoll;
use crate::uring::Uring;
use crate::waker::WakeState;
use crate::{Backend, BackendChoice, Events, Interest, Op, OpId, ReactorWaker, Token};

/// Default submission queue size (the completion queue is twice that).
const DEFAULT_RING_ENTRIES: u32 = 256;
/// Default size of the epoll backend's internal event buffer.
const DEFAULT_EVENTS: usize = 1024;

enum Inner {
    Epoll(Epoll),
    // Boxed: the ring is several times larger than the epoll backend.
    Uring(Box<Uring>),
}

/// The layer that talks to the kernel: readiness, completions, deadlines and wake-ups.
///
/// `Send + Sync`; every method takes `&self`, so the runtime can share it in an `Arc`.
/// One thread polls at a time (a second concurrent `poll` waits on an internal lock);
/// `register`, `submit`, `cancel` and wakes are fine from any thread meanwhile. A
/// [`single_issuer`](ReactorBuilder::single_issuer) reactor is polled by its owner only.
pub struct Reactor {
    inner: Inner,
    wake: Arc<WakeState>,
    fallback: Option<String>,
}

/// Configures a [`Reactor`]: `Reactor::builder().backend(BackendChoice::Epoll).build()`.
#[derive(Clone, Debug)]
pub struct ReactorBuilder {
    choice: BackendChoice,
    ring_entries: u32,
    events: usize,
    single_issuer: bool,
}

impl Default for ReactorBuilder {
    fn default() -> Self {
        ReactorBuilder {
            choice: BackendChoice::Auto,
            ring_entries: DEFAULT_RING_ENTRIES,
            events: DEFAULT_EVENTS,
            single_issuer: false,
        }
    }
}

impl ReactorBuilder {
    /// Which backend (default [`BackendChoice::Auto`]).
    pub fn backend(mut self, choice: BackendChoice) -> Self {
        self.choice = choice;
        self
    }

    /// io_uring submission queue entries (default 256; the kernel rounds up to a power of
    /// two and clamps to its maximum). Zero is refused by `build`.
    pub fn ring_entries(mut self, n: u32) -> Self {
        self.ring_entries = n;
        self
    }

    /// io_uring: one thread will drive the ring (default false). That thread calls
    /// [`Reactor::claim`] before anything else and is then the only one that polls; other
    /// threads still register, submit and cancel, their entries reaching the kernel with the
    /// owner's next poll (a blocked owner is woken for them). In exchange the kernel runs
    /// completion work only when the owner asks for completions (`IORING_SETUP_SINGLE_ISSUER`
    /// and `DEFER_TASKRUN`): a busy owner is never interrupted for it. The owner calls
    /// [`Reactor::retire`] before it exits. Ignored on epoll and on kernels before 6.1.
    pub fn single_issuer(mut self, yes: bool) -> Self {
        self.single_issuer = yes;
        self
    }

    /// Size of the epoll backend's internal event buffer (default 1024).
    pub fn epoll_events(mut self, n: usize) -> Self {
        self.events = n.max(1);
        self
    }

    /// Creates the reactor (see [`BackendChoice`] for the fallback rules).
    pub fn build(self) -> io::Result<Reactor> {
        if self.ring_entries == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring_entries must be at least 1",
            ));
        }
        let choice = match self.choice {
            BackendChoice::Auto => BackendChoice::from_env()?.unwrap_or(BackendChoice::Auto),
            forced => forced,
        };
        let wake = WakeState::new()?;
        let (inner, fallback) = match choice {
            BackendChoice::Epoll => (Inner::Epoll(Epoll::new(&wake, self.events)?), None),
            BackendChoice::IoUring => {
                match Uring::new(self.ring_entries, wake.clone(), self.single_issuer) {
                    Ok(u) => (Inner::Uring(Box::new(u)), None),
                    Err(e) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!(
                                "the io_uring backend was forced (BackendChoice::IoUring or \
                             {ENV_VAR}=io_uring) but cannot start: {e}"
                            ),
                        ))
                    }
                }
            }
            BackendChoice::Auto => {
                match Uring::new(self.ring_entries, wake.clone(), self.single_issuer) {
                    Ok(u) => (Inner::Uring(Box::new(u)), None),
                    Err(e) if is_fallback_error(&e) => (
                        Inner::Epoll(Epoll::new(&wake, self.events)?),
                        Some(format!("io_uring unavailable ({e}); using epoll")),
                    ),
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Reactor {
            inner,
            wake,
            fallback,
        })
    }
}

fn check_token(token: Token) -> io::Result<()> {
    if token.is_reserved() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{token:?} is reserved by the reactor (usize::MAX and usize::MAX - 1)"),
        ));
    }
    Ok(())
}

impl Reactor {
    /// A reactor on `choice` with default settings.
    pub fn new(choice: BackendChoice) -> io::Result<Reactor> {
        Reactor::builder().backend(choice).build()
    }

    /// A builder, for ring size and the rest.
    pub fn builder() -> ReactorBuilder {
        ReactorBuilder::default()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Epoll(_) => Backend::Epoll,
            Inner::Uring(_) => Backend::IoUring,
        }
    }

    /// Why `Auto` fell back to epoll, if it did (for the runtime to report).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Watches `fd` for `interest`, edge-triggered, reporting under `token`.
    ///
    /// Contract: call [`deregister`](Self::deregister) *before* closing `fd`. (epoll forgets
    /// a closed descriptor by itself, but an io_uring poll holds a reference to the file: a
    /// registered-then-closed socket stays open in the kernel, and its fd number cannot be
    /// registered again, until deregistered.) Errors: `EEXIST` if `fd` is already
    /// registered, `EBADF` for a closed descriptor, `InvalidInput` for a reserved token.
    pub fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_token(token)?;
        match &self.inner {
            Inner::Epoll(e) => e.register(fd, token, interest),
            Inner::Uring(u) => u.register(fd, token, interest),
        }
    }

    /// Changes a registration's token or interest. Like epoll's `EPOLL_CTL_MOD`, readiness
    /// that already holds is reported again at the next poll.
    pub fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_token(token)?;
        match &self.inner {
            Inner::Epoll(e) => e.reregister(fd, token, interest),
            Inner::Uring(u) => u.reregister(fd, token, interest),
        }
    }

    /// Stops watching `fd`; after it returns the caller may close `fd`. `ENOENT` if `fd` is
    /// not registered.
    pub fn deregister(&self, fd: RawFd) -> io::Result<()> {
        match &self.inner {
            Inner::Epoll(e) => e.deregister(fd),
            Inner::Uring(u) => u.deregister(fd),
        }
    }

    /// Makes the calling thread the owner of a [`single_issuer`](ReactorBuilder::single_issuer)
    /// reactor: from now on only this thread polls it. Does nothing on other reactors;
    /// `AlreadyExists` if the reactor already has an owner.
    pub fn claim(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Epoll(_) => Ok(()),
            Inner::Uring(u) => u.claim(),
        }
    }

    /// The owner's farewell, before its thread exits: cancels every operation and waits for
    /// their completions (which are dropped, not delivered). The reactor then takes no more
    /// work (`submit` and `register` fail), and any thread may drop it. Does nothing on other
    /// reactors or threads. Without it, a single-issuer reactor dropped by a thread other
    /// than its owner leaks its ring and buffers rather than free memory the kernel may
    /// still use.
    pub fn retire(&self) {
        if let Inner::Uring(u) = &self.inner {
            u.retire();
        }
    }

    /// A handle to wake this reactor from any thread.
    pub fn waker(&self) -> ReactorWaker {
        ReactorWaker::new(self.wake.clone())
    }

    /// Waits for readiness, completions, a wake or the deadline, whichever comes first, and
    /// fills `events` (clearing it first).
    ///
    /// `None` waits without a deadline; a deadline at or before now does not block. Never
    /// returns before the deadline *because of the deadline* (nanosecond precision: a timerfd
    /// on epoll, the wait's own timeout on io_uring), though a wake or an event may end it
    /// early, and rarely a spurious return with no events (a wake racing the end of a
    /// previous poll). Signals (`EINTR`) are retried, not returned.
    pub fn poll(&self, events: &mut Events, deadline: Option<Instant>) -> io::Result<()> {
        events.clear();
        match &self.inner {
            Inner::Epoll(e) => e.poll(&self.wake, events, deadline),
            Inner::Uring(u) => u.poll(events, deadline),
        }
    }

    /// Submits a completion-based operation (io_uring). The reactor owns `op` (buffers, fd)
    /// until its [`Event::Completed`](crate::Event::Completed), even if the caller cancels or
    /// forgets it.
    ///
    /// On epoll this returns an `Unsupported` error (and drops `op`), so callers check
    /// [`backend`](Self::backend) and use the readiness path there.
    pub fn submit(&self, op: Op, token: Token) -> io::Result<OpId> {
        match &self.inner {
            Inner::Epoll(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{} operation: the epoll backend has no completion path; use readiness",
                    op.name()
                ),
            )),
            Inner::Uring(u) => u.submit(op, token),
        }
    }

    /// Asks the kernel to cancel an operation. Its completion still arrives later, carrying
    /// the op and its buffers back, with `ECANCELED` or the real result if it finished first
    /// (a cancelled recv may still have received bytes: the caller decides what to keep).
    /// Cancelling an operation that already completed does nothing.
    pub fn cancel(&self, id: OpId) -> io::Result<()> {
        match &self.inner {
            Inner::Epoll(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the epoll backend has no completion path",
            )),
            Inner::Uring(u) => u.cancel(id),
        }
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("backend", &self.backend())
            .field("fallback", &self.fallback)
            .finish()
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Reactor>();
    is::<ReactorWaker>();
    is::<Op>();
}
