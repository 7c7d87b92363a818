//! TCP: [`TcpListener`] and [`TcpStream`].
//!
//! On epoll everything below is readiness; on io_uring, accepts, reads and writes are
//! completion-based instead (`uring_accept.rs`, `uring_read.rs`, `uring_write.rs`), and the
//! readiness registration stays for `readable()`/`writable()` and connecting.
//!
//! A socket is created non-blocking and close-on-exec in one syscall and wrapped in an
//! [`Async`], which registers it with the runtime's reactor (epoll, or io_uring's poll
//! operations: the readiness path works on both backends). Connecting is asynchronous: the
//! `connect(2)` returns `EINPROGRESS`, the task waits for writability, and `SO_ERROR` then says
//! whether it worked (`ConnectionRefused` and friends come back with the OS's `ErrorKind`).
//!
//! Accepting is where servers die under descriptor exhaustion: `accept` fails with `EMFILE`
//! while the connection stays in the backlog, so the socket stays readable and a naive loop
//! spins at 100% CPU (tokio #3529). [`TcpListener::accept`] returns the error, as `accept(2)`
//! does; the accept loops ringloop runs itself ([`start_server`](crate::streams::start_server),
//! [`create_server`](crate::net::create_server)) back off and retry (see `server.rs`).

use super::addr::{first_ok, lookup_host, ToSocketAddrs};
use super::shared_fd::{SharedStream, UringStream};
use super::stream_io::stream_io;
use super::sys;
use super::uring_accept::UringAcceptor;
use crate::io::{Async, Direction};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::task::{Context, Poll};
use std::time::Duration;

/// The listen backlog of [`TcpListener::bind`] (tokio's and mio's; asyncio's default is 100).
pub(crate) const DEFAULT_BACKLOG: u32 = 1024;

/// A TCP socket listening for connections (asyncio's server socket).
///
/// ```
/// ringloop::run(async {
///     let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = ringloop::net::TcpStream::connect(addr).await.unwrap();
///     let (server_side, peer) = listener.accept().await.unwrap();
///     assert_eq!(peer, client.local_addr().unwrap());
///     client.write_all(b"hi").await.unwrap();
///     let mut buf = [0u8; 2];
///     assert_eq!(server_side.read(&mut buf).await.unwrap(), 2);
/// });
/// ```
pub struct TcpListener {
    io: Async<SharedStream<std::net::TcpListener>>,
    /// Accepts through io_uring completions (multishot), when the backend is io_uring.
    uring: Option<UringAcceptor>,
}

impl TcpListener {
    /// Binds to the first address of `addr` that works, with `SO_REUSEADDR` (as `std`, asyncio
    /// and tokio do) and a backlog of 1024. Port 0 picks a free port: see [`local_addr`].
    ///
    /// [`local_addr`]: TcpListener::local_addr
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = lookup_host(addr).await?;
        first_ok(addrs, |addr| async move {
            let socket = super::TcpSocket::for_addr(&addr)?;
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(DEFAULT_BACKLOG)
        })
        .await
    }

    pub(crate) fn from_owned(fd: OwnedFd) -> io::Result<TcpListener> {
        TcpListener::wrap(std::net::TcpListener::from(fd))
    }

    /// Takes over a `std` listener (switched to non-blocking mode here).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::wrap(listener)
    }

    /// Registers a non-blocking listener; on io_uring, accepting takes the completion path.
    fn wrap(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        let listener = SharedStream::new(listener);
        let uring = UringAcceptor::for_current(listener.fd());
        // On the completion path accepts are ring operations: no readiness poll armed.
        let io = Async::new_lazy_if(listener, uring.is_some())?;
        Ok(TcpListener { io, uring })
    }

    /// Deregisters and gives back the `std` listener, switched back to blocking mode.
    ///
    /// On io_uring, connections the kernel accepted and `accept` did not return yet are
    /// closed (see `net/uring_accept.rs`).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        drop(self.uring);
        let listener = self.io.into_inner().into_std()?;
        listener.set_nonblocking(false)?;
        Ok(listener)
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Errors are `accept(2)`'s. `EMFILE`/`ENFILE` (out of descriptors) leave the connection
    /// in the backlog; retrying at once would spin, so back off first, as the server loops do.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        // On io_uring, as one identified waiter: woken one per connection (a poller of
        // `poll_accept` is woken by every connection).
        let waiter = self.uring.as_ref().map(|u| u.waiter());
        std::future::poll_fn(|cx| self.poll_accept_as(cx, waiter.as_ref())).await
    }

    /// Polls for a connection (the building block for accept loops).
    ///
    /// On io_uring this is the completion path: a multishot accept (Linux 5.19+) accepts
    /// connections as they arrive, and each call returns the next one.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.poll_accept_as(cx, None)
    }

    fn poll_accept_as(
        &self,
        cx: &mut Context<'_>,
        waiter: Option<&super::uring_accept::AcceptWaiter<'_>>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        if let Some(uring) = &self.uring {
            return uring.poll_accept(cx, waiter).map(|r| {
                let stream = std::net::TcpStream::from(r?);
                let peer = stream
                    .peer_addr()
                    .map_err(super::uring_accept::peer_error)?;
                Ok((TcpStream::wrap(stream)?, peer))
            });
        }
        let fd = self.io.as_raw_fd();
        match self.io.poll_with(cx, Direction::Read, |_| sys::accept(fd)) {
            Poll::Ready(Ok((fd, raw))) => {
                let peer = raw.to_inet().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "accept returned a non-IP address",
                    )
                });
                Poll::Ready(peer.and_then(|peer| Ok((TcpStream::from_owned(fd)?, peer))))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address this listener is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// `IP_TTL` of the sockets accepted from here.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .field("fd", &self.io.as_raw_fd())
            .finish()
    }
}

/// A TCP connection: `read`, `write`, futures-io's `AsyncRead`/`AsyncWrite` (on `TcpStream`
/// and on `&TcpStream`, so a reader task and a writer task can share one through an `Arc`).
pub struct TcpStream {
    io: Async<SharedStream<std::net::TcpStream>>,
    /// Reads and writes through io_uring completions, when the runtime's backend is io_uring.
    uring: Option<UringStream>,
}

stream_io!(TcpStream, tcp = true);

impl TcpStream {
    /// Connects to the first address of `addr` that accepts (host names are resolved off the
    /// worker). A refused connection is an `io::Error` of kind `ConnectionRefused`.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = lookup_host(addr).await?;
        first_ok(addrs, |addr| async move {
            super::TcpSocket::for_addr(&addr)?.connect(addr).await
        })
        .await
    }

    pub(crate) fn from_owned(fd: OwnedFd) -> io::Result<TcpStream> {
        TcpStream::wrap(std::net::TcpStream::from(fd))
    }

    /// Registers a non-blocking stream; on io_uring, reads and writes take the completion
    /// path.
    fn wrap(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        let stream = SharedStream::new(stream);
        let uring = UringStream::for_current(stream.fd());
        // On the completion path readiness is only for `readable`/`writable`: register then.
        let io = Async::new_lazy_if(stream, uring.is_some())?;
        Ok(TcpStream { io, uring })
    }

    fn uring(&self) -> Option<&UringStream> {
        self.uring.as_ref()
    }

    /// Waits for an in-progress `connect(2)` to finish, and reports its outcome.
    pub(crate) async fn finish_connect(self) -> io::Result<TcpStream> {
        // Writable with `SO_ERROR` set: the connect failed. Writable, no error, but no peer
        // yet: readiness ran ahead of the handshake (a readiness report is a hint, not a
        // promise), so wait for the next edge as for any `WouldBlock`.
        std::future::poll_fn(|cx| {
            self.io.poll_with(cx, Direction::Write, |s| {
                if let Some(e) = s.take_error()? {
                    return Err(e);
                }
                match s.peer_addr() {
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    r => r.map(drop),
                }
            })
        })
        .await?;
        Ok(self)
    }

    /// Takes over a connected `std` stream (switched to non-blocking mode here).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::wrap(stream)
    }

    /// Deregisters and gives back the `std` stream, switched back to blocking mode.
    ///
    /// On io_uring, bytes already received into the runtime's buffers and not yet read are
    /// not in the `std` stream: read until `WouldBlock` with [`try_read`] first if that
    /// matters. After a first read, the multishot receive reads ahead of the caller (up to
    /// 256 KiB, `net/uring_read.rs`) and is cancelled here, so bytes the peer sends while the
    /// stream is converted may be taken by it and dropped: convert only while the peer is
    /// quiet (tokio's `into_std` on a socket with buffered data has the same caveat). A send
    /// still in flight (from a dropped write) is cancelled.
    ///
    /// [`try_read`]: TcpStream::try_read
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        drop(self.uring);
        let stream = self.io.into_inner().into_std()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address (asyncio's `get_extra_info('peername')`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Whether `TCP_NODELAY` is set (Nagle's algorithm off).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `TCP_NODELAY` (asyncio sets it on every TCP connection; ringloop leaves the OS
    /// default and lets you choose).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes dropping the stream send a reset (RST)
    /// instead of an orderly FIN: the peer's next read fails with `ConnectionReset`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sys::set_linger(self, linger)
    }

    /// `SO_SNDBUF`, the kernel's send buffer size.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        sys::get_opt(self, libc::SOL_SOCKET, libc::SO_SNDBUF).map(|v| v as u32)
    }

    /// Sets `SO_SNDBUF` (the kernel doubles the value and clamps it to its limits).
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        sys::set_opt(self, libc::SOL_SOCKET, libc::SO_SNDBUF, clamp(size))
    }

    /// `SO_RCVBUF`, the kernel's receive buffer size.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        sys::get_opt(self, libc::SOL_SOCKET, libc::SO_RCVBUF).map(|v| v as u32)
    }

    /// Sets `SO_RCVBUF` (the kernel doubles the value and clamps it to its limits).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        sys::set_opt(self, libc::SOL_SOCKET, libc::SO_RCVBUF, clamp(size))
    }
}

/// A buffer size as the `c_int` the kernel takes.
pub(crate) fn clamp(size: u32) -> libc::c_int {
    size.min(libc::c_int::MAX as u32) as libc::c_int
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .field("fd", &self.io.as_raw_fd())
            .finish()
    }
}
