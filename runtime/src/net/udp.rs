//! [`UdpSocket`]: datagrams, on the readiness path (epoll) or the completion path (io_uring).
//!
//! A datagram socket never returns part of a message: each `recv_from` is one datagram (cut
//! to the buffer's size if the buffer is too small, as `recvfrom(2)` does), each `send_to` one
//! datagram or an error. On epoll the edge-triggered contract applies: after a wake-up the
//! socket is read until `WouldBlock`, which each call here does by retrying through the
//! registration. On io_uring, sends and receives are `sendmsg`/`recvmsg` operations owning
//! their buffers (`uring_dgram.rs`, which also says what a dropped send or receive does);
//! `peek_from` stays on readiness there, after a look at datagrams kept from cancelled
//! receives.

use super::addr::{first_ok, lookup_host, ToSocketAddrs};
use super::shared_fd::SharedStream;
use super::sys::RawAddr;
use super::uring_dgram::UringDgram;
use crate::io::{Async, Direction};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::task::Poll;

/// A UDP socket (asyncio's `create_datagram_endpoint`, as a socket you await on).
///
/// ```
/// ringloop::run(async {
///     use ringloop::net::UdpSocket;
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
pub struct UdpSocket {
    io: Async<SharedStream<std::net::UdpSocket>>,
    /// Sends and receives through io_uring completions, when the backend is io_uring.
    uring: Option<UringDgram>,
}

/// The sender of a datagram received on the completion path, as an IP address.
fn inet_source(raw: RawAddr) -> io::Result<SocketAddr> {
    raw.to_inet().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a datagram came from an address that is not IPv4 or IPv6",
        )
    })
}

impl UdpSocket {
    /// Binds to the first address of `addr` that works (port 0 picks a free port).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = lookup_host(addr).await?;
        first_ok(addrs, |addr| async move {
            UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
        })
        .await
    }

    /// Takes over a `std` socket (switched to non-blocking mode here).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        let socket = SharedStream::new(socket);
        let uring = UringDgram::for_current(socket.fd());
        // On the completion path readiness is only for `peek_from` and the like: register
        // then, or every datagram would post a readiness completion nobody waits for.
        let io = Async::new_lazy_if(socket, uring.is_some())?;
        Ok(UdpSocket { io, uring })
    }

    /// Deregisters and gives back the `std` socket, switched back to blocking mode.
    ///
    /// On io_uring, datagrams kept from cancelled receives (and not yet returned) are not in
    /// the `std` socket: they are dropped here.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        drop(self.uring);
        let socket = self.io.into_inner().into_std()?;
        socket.set_nonblocking(false)?;
        Ok(socket)
    }

    /// Sets the default destination (and the only source `recv` accepts).
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = lookup_host(addr).await?;
        first_ok(addrs, |addr| async move { self.io.get_ref().connect(addr) }).await
    }

    /// Sends one datagram to `target`.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = lookup_host(target).await?[0];
        if let Some(uring) = &self.uring {
            return uring.send(buf, Some(&RawAddr::from_inet(&target))).await;
        }
        self.io.write_with(|s| s.send_to(buf, target)).await
    }

    /// Receives one datagram and its sender's address.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if let Some(uring) = &self.uring {
            let (n, raw) = uring.recv_from(buf).await?;
            return Ok((n, inet_source(raw)?));
        }
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Receives one datagram without removing it from the queue: the datagram the next
    /// `recv_from` returns. On io_uring a datagram kept from a cancelled receive comes first
    /// (it is no longer in the socket; see `uring_dgram.rs` for what a peek does not see);
    /// otherwise the socket is peeked at through readiness, on both backends.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::future::poll_fn(|cx| {
            if let Some(uring) = &self.uring {
                match uring.poll_peek_kept(cx, buf) {
                    Poll::Ready(Some(r)) => {
                        return Poll::Ready(r.and_then(|(n, raw)| Ok((n, inet_source(raw)?))))
                    }
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => {}
                }
            }
            self.io.poll_with(cx, Direction::Read, |s| s.peek_from(buf))
        })
        .await
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

    /// Polls for one datagram (for hand-written futures). On io_uring the receive in flight
    /// is kept by the socket between polls: if the poller goes away, the datagram it gets
    /// goes to the next receive.
    pub fn poll_recv_from(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        if let Some(uring) = &self.uring {
            return uring
                .poll_recv_from(cx, buf)
                .map(|r| r.and_then(|(n, raw)| Ok((n, inet_source(raw)?))));
        }
        self.io.poll_with(cx, Direction::Read, |s| s.recv_from(buf))
    }

    /// This socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// `SO_SNDBUF`.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        super::sys::get_opt(self, libc::SOL_SOCKET, libc::SO_SNDBUF).map(|v| v as u32)
    }

    /// Sets `SO_SNDBUF`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        super::sys::set_opt(
            self,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            super::tcp::clamp(size),
        )
    }

    /// `SO_RCVBUF`.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        super::sys::get_opt(self, libc::SOL_SOCKET, libc::SO_RCVBUF).map(|v| v as u32)
    }

    /// Sets `SO_RCVBUF`.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        super::sys::set_opt(
            self,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            super::tcp::clamp(size),
        )
    }

    /// The pending socket error (`SO_ERROR`), if any (an ICMP "port unreachable", say).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .field("fd", &self.io.as_raw_fd())
            .finish()
    }
}
