//! `Async<T>`: any non-blocking file descriptor, made awaitable through readiness.
//!
//! The building block for sockets, pipes and anything else with an fd: `read_with` and
//! `write_with` run a non-blocking syscall, and on `WouldBlock` wait for the next readiness edge
//! and try again (smol's `Async` has the same shape).
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! ringloop::run(async {
//!     let (a, b) = UnixStream::pair().unwrap();
//!     a.set_nonblocking(true).unwrap();
//!     b.set_nonblocking(true).unwrap();
//!     let (a, b) = (ringloop::io::Async::new(a).unwrap(), ringloop::io::Async::new(b).unwrap());
//!     a.write_with(|mut s| s.write(b"ping")).await.unwrap();
//!     let mut buf = [0u8; 4];
//!     let n = b.read_with(|mut s| s.read(&mut buf)).await.unwrap();
//!     assert_eq!(&buf[..n], b"ping");
//! });
//! ```

use super::{Direction, Registration};
use parking_lot::Mutex;
use ringloop_reactor::Interest;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::task::{Context, Poll};

/// What every descriptor is registered for: both directions, and urgent data, whose
/// readiness bit tells a TCP read that stopped short whether the socket is drained
/// (`Registration::clear_after_short`).
const INTEREST: Interest = Interest::READABLE
    .add(Interest::WRITABLE)
    .add(Interest::PRIORITY);

/// A non-blocking I/O object registered with the current runtime's reactor.
pub struct Async<T: AsRawFd> {
    // Dropped before `inner`, so the fd is deregistered before it is closed.
    registration: OnceLock<Registration>,
    /// Serialises a lazy registration (`new_lazy`): two first users racing must not register
    /// the descriptor twice (dropping the loser's registration would deregister the fd).
    init: Mutex<()>,
    inner: T,
}

impl<T: AsRawFd> Async<T> {
    /// Registers `inner` for read and write readiness. `inner` must already be in
    /// non-blocking mode (a blocking fd would block the runtime thread in `read_with`).
    pub fn new(inner: T) -> io::Result<Async<T>> {
        let registration = Registration::new(inner.as_raw_fd(), INTEREST)?;
        Ok(Async {
            registration: OnceLock::from(registration),
            init: Mutex::new(()),
            inner,
        })
    }

    /// Wraps `inner` without registering it: the registration is made by the first wait for
    /// readiness. For the io_uring completion path (`net/`), whose sockets rarely wait for
    /// readiness: an armed readiness poll would post a completion for every arrival that
    /// nobody waits for. Registered late, the first poll still reports the readiness the
    /// descriptor already has, so no edge is missed.
    pub(crate) fn new_lazy(inner: T) -> Async<T> {
        Async {
            registration: OnceLock::new(),
            init: Mutex::new(()),
            inner,
        }
    }

    /// [`new_lazy`](Self::new_lazy) if `lazy` (a socket on the io_uring completion path),
    /// else [`new`](Self::new).
    pub(crate) fn new_lazy_if(inner: T, lazy: bool) -> io::Result<Async<T>> {
        if lazy {
            Ok(Async::new_lazy(inner))
        } else {
            Async::new(inner)
        }
    }

    /// The registration, made now if it is lazy and not made yet.
    fn registration(&self) -> io::Result<&Registration> {
        if let Some(r) = self.registration.get() {
            return Ok(r);
        }
        let _init = self.init.lock();
        if let Some(r) = self.registration.get() {
            return Ok(r);
        }
        let r = Registration::new(self.inner.as_raw_fd(), INTEREST)?;
        Ok(self.registration.get_or_init(|| r))
    }

    /// `Registration::poll_ready`, registering first if needed. A registration that cannot be
    /// made (the reactor refused it) reports "ready", so the caller's next syscall says why.
    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<()> {
        match self.registration() {
            Ok(r) => r.poll_ready(cx, dir).map(|_| ()),
            Err(_) => Poll::Ready(()),
        }
    }

    /// The wrapped object.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Deregisters and returns the wrapped object.
    pub fn into_inner(self) -> T {
        let Async {
            registration,
            inner,
            ..
        } = self;
        drop(registration);
        inner
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for read readiness in between.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_with(cx, Direction::Read, &mut op)).await
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for write readiness in between.
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_with(cx, Direction::Write, &mut op)).await
    }

    /// Waits until the object is readable (or closed, or failed).
    pub async fn readable(&self) {
        std::future::poll_fn(|cx| self.poll_ready(cx, Direction::Read)).await
    }

    /// Waits until the object is writable (or closed, or failed).
    pub async fn writable(&self) {
        std::future::poll_fn(|cx| self.poll_ready(cx, Direction::Write)).await
    }

    /// Runs `op` (a non-blocking syscall) once, without waiting; on `WouldBlock`, forgets the
    /// readiness seen before it (unless a newer edge arrived meanwhile), so the next
    /// [`readable`](Self::readable) or [`writable`](Self::writable) waits for a new edge
    /// instead of returning at once (tokio's `try_io`).
    pub(crate) fn try_with<R>(
        &self,
        dir: Direction,
        op: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let seen = self.registration.get().map(|r| (r, r.snapshot()));
        let result = op(&self.inner);
        if let (Err(e), Some((r, event))) = (&result, seen) {
            if e.kind() == io::ErrorKind::WouldBlock {
                r.clear_readiness(event, dir);
            }
        }
        result
    }

    /// [`poll_with`](Self::poll_with) for a TCP read of `len` bytes: a count below `len`
    /// shows the socket drained (unless urgent data stopped it), so READABLE is cleared then
    /// and the `WouldBlock` read that would follow is skipped
    /// (`Registration::clear_after_short`).
    pub(crate) fn poll_tcp_read(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        match self.registration() {
            Ok(r) => r.poll_tcp_read(cx, len, || op(&self.inner)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// One poll of `op` under the edge-triggered contract (for the net layer's `poll_*`
    /// methods, which cannot hold a future).
    pub(crate) fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match self.registration() {
            Ok(r) => r.poll_io(cx, dir, || op(&self.inner)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<T: AsRawFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}
