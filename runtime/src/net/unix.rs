//! Unix-domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].
//!
//! The same machinery as TCP and UDP (readiness; on io_uring, completion-based accepts, stream
//! reads and writes, and datagram sends and receives), on `AF_UNIX` sockets named by filesystem paths (or
//! unnamed, from [`UnixStream::pair`] and [`UnixDatagram::pair`]). Connecting never waits for
//! a network; it can still return `EAGAIN` when the listener's backlog is full, and then the
//! task sleeps briefly and tries again (see [`UnixStream::connect`]). Binding does not remove a stale socket file:
//! `bind` on an existing path fails with `AddrInUse`, as in `std` and asyncio.

use super::shared_fd::{SharedStream, UringStream};
use super::stream_io::stream_io;
use super::sys;
use crate::io::{Async, Direction};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};
use std::time::Duration;

/// The longest sleep between two `connect(2)` attempts on a full backlog (about two seconds
/// in all before giving up with `WouldBlock`).
const CONNECT_PATIENCE: Duration = Duration::from_secs(1);

/// A Unix-domain socket listening for connections (asyncio's `start_unix_server` socket).
pub struct UnixListener {
    io: Async<SharedStream<std::os::unix::net::UnixListener>>,
    /// Accepts through io_uring completions (multishot), when the backend is io_uring.
    uring: Option<super::uring_accept::UringAcceptor>,
}

impl UnixListener {
    /// Binds to `path` and listens (the socket file is created; remove it when done).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Takes over a `std` listener (switched to non-blocking mode here).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        let listener = SharedStream::new(listener);
        let uring = super::uring_accept::UringAcceptor::for_current(listener.fd());
        // On the completion path accepts are ring operations: no readiness poll armed.
        let io = Async::new_lazy_if(listener, uring.is_some())?;
        Ok(UnixListener { io, uring })
    }

    /// Deregisters and gives back the `std` listener, switched back to blocking mode (on
    /// io_uring, connections accepted and not yet returned are closed).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        drop(self.uring);
        let listener = self.io.into_inner().into_std()?;
        listener.set_nonblocking(false)?;
        Ok(listener)
    }

    /// Waits for a connection.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        // On io_uring, as one identified waiter: woken one per connection (a poller of
        // `poll_accept` is woken by every connection).
        let waiter = self.uring.as_ref().map(|u| u.waiter());
        std::future::poll_fn(|cx| self.poll_accept_as(cx, waiter.as_ref())).await
    }

    /// Polls for a connection (on io_uring through a multishot accept, as
    /// [`TcpListener::poll_accept`](super::TcpListener::poll_accept)).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.poll_accept_as(cx, None)
    }

    fn poll_accept_as(
        &self,
        cx: &mut Context<'_>,
        waiter: Option<&super::uring_accept::AcceptWaiter<'_>>,
    ) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        if let Some(uring) = &self.uring {
            return uring.poll_accept(cx, waiter).map(|r| {
                let stream = std::os::unix::net::UnixStream::from(r?);
                let peer = stream
                    .peer_addr()
                    .map_err(super::uring_accept::peer_error)?;
                Ok((UnixStream::wrap(stream)?, peer))
            });
        }
        let fd = self.io.as_raw_fd();
        match self.io.poll_with(cx, Direction::Read, |_| sys::accept(fd)) {
            Poll::Ready(Ok((fd, _))) => {
                let stream = std::os::unix::net::UnixStream::from(fd);
                Poll::Ready(
                    stream
                        .peer_addr()
                        .and_then(|peer| Ok((UnixStream::wrap(stream)?, peer))),
                )
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address (path) this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

impl std::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix-domain stream connection: the same surface as [`TcpStream`](super::TcpStream).
pub struct UnixStream {
    io: Async<SharedStream<std::os::unix::net::UnixStream>>,
    /// Reads and writes through io_uring completions, when the runtime's backend is io_uring.
    uring: Option<UringStream>,
}

stream_io!(UnixStream, tcp = false);

impl UnixStream {
    fn uring(&self) -> Option<&UringStream> {
        self.uring.as_ref()
    }

    /// Registers a connected non-blocking stream; on io_uring, reads and writes take the
    /// completion path.
    fn wrap(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        let stream = SharedStream::new(stream);
        let uring = UringStream::for_current(stream.fd());
        // On the completion path readiness is only for `readable`/`writable`: register then.
        let io = Async::new_lazy_if(stream, uring.is_some())?;
        Ok(UnixStream { io, uring })
    }

    /// Connects to the listener at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let raw = sys::RawAddr::from_path(path.as_ref())?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        // A Unix-domain connect completes at once, or fails with `EAGAIN` when the listener's
        // backlog is full; the socket is then still unconnected, and nothing will signal when
        // the backlog has room (an unconnected stream socket polls as `POLLHUP`, at once).
        // So retry after a short sleep, with a bound. (asyncio retries on writability, which
        // here would be a busy loop.) The socket is registered only once connected, for the
        // reason given in `TcpSocket::connect`.
        let mut delay = Duration::from_micros(100);
        loop {
            if sys::connect(fd.as_raw_fd(), &raw)? {
                return UnixStream::wrap(std::os::unix::net::UnixStream::from(fd));
            }
            if delay > CONNECT_PATIENCE {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the Unix-domain listener's backlog stayed full",
                ));
            }
            crate::sleep(delay).await;
            delay *= 2;
        }
    }

    /// A connected pair of unnamed sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Takes over a `std` stream (switched to non-blocking mode here).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::wrap(stream)
    }

    /// Deregisters and gives back the `std` stream, switched back to blocking mode.
    ///
    /// On io_uring, bytes already received into the runtime's buffers and not yet read are
    /// not in the `std` stream (see [`TcpStream::into_std`](super::TcpStream::into_std)).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        drop(self.uring);
        let stream = self.io.into_inner().into_std()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// `SO_SNDBUF`.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        sys::get_opt(self, libc::SOL_SOCKET, libc::SO_SNDBUF).map(|v| v as u32)
    }

    /// Sets `SO_SNDBUF`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        sys::set_opt(
            self,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            super::tcp::clamp(size),
        )
    }
}

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.io.as_raw_fd())
            .finish()
    }
}

/// A Unix-domain datagram socket.
///
/// On io_uring, sends and receives are `sendmsg`/`recvmsg` operations owning their buffers
/// (`uring_dgram.rs`, which also says what a dropped send or receive does).
pub struct UnixDatagram {
    io: Async<SharedStream<std::os::unix::net::UnixDatagram>>,
    /// Sends and receives through io_uring completions, when the backend is io_uring.
    uring: Option<super::uring_dgram::UringDgram>,
}

impl UnixDatagram {
    /// Binds to `path`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// An unbound socket (it can send, and receive once connected or through a pair).
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A connected pair of unnamed sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Takes over a `std` socket (switched to non-blocking mode here).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        let socket = SharedStream::new(socket);
        let uring = super::uring_dgram::UringDgram::for_current(socket.fd());
        // As `UdpSocket::from_std`: readiness registered on first use.
        let io = Async::new_lazy_if(socket, uring.is_some())?;
        Ok(UnixDatagram { io, uring })
    }

    /// Deregisters and gives back the `std` socket, switched back to blocking mode.
    ///
    /// On io_uring, datagrams kept from cancelled receives (and not yet returned) are not in
    /// the `std` socket: they are dropped here.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        drop(self.uring);
        let socket = self.io.into_inner().into_std()?;
        socket.set_nonblocking(false)?;
        Ok(socket)
    }

    /// Sets the default destination.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends one datagram to the socket at `path`.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        if let Some(uring) = &self.uring {
            let to = sys::RawAddr::from_path(path)?;
            return uring.send(buf, Some(&to)).await;
        }
        self.io.write_with(|s| s.send_to(buf, path)).await
    }

    /// Receives one datagram and its sender's address.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if let Some(uring) = &self.uring {
            let (n, raw) = uring.recv_from(buf).await?;
            return Ok((n, raw.to_unix()?));
        }
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        if let Some(uring) = &self.uring {
            return uring.send(buf, None).await;
        }
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(uring) = &self.uring {
            return Ok(uring.recv_from(buf).await?.0);
        }
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// Shuts down one direction.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// This socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl std::fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
