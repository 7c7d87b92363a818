//! [`TcpSocket`]: a TCP socket before it is a listener or a stream, for the options that must
//! be set before `bind` or `connect` (`SO_REUSEADDR`, `SO_REUSEPORT`, buffer sizes).

use super::sys;
use super::tcp::clamp;
use super::{TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// An unconnected TCP socket (Python's `socket.socket()` before `listen`/`connect`).
///
/// ```
/// ringloop::run(async {
///     let socket = ringloop::net::TcpSocket::new_v4().unwrap();
///     socket.set_reuseport(true).unwrap();
///     socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let listener = socket.listen(128).unwrap();
///     assert_ne!(listener.local_addr().unwrap().port(), 0);
/// });
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// An IPv4 TCP socket (non-blocking, close-on-exec).
    pub fn new_v4() -> io::Result<TcpSocket> {
        Self::new(libc::AF_INET)
    }

    /// An IPv6 TCP socket (non-blocking, close-on-exec).
    pub fn new_v6() -> io::Result<TcpSocket> {
        Self::new(libc::AF_INET6)
    }

    pub(crate) fn for_addr(addr: &SocketAddr) -> io::Result<TcpSocket> {
        Self::new(sys::domain_of(addr))
    }

    fn new(domain: libc::c_int) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: sys::socket(domain, libc::SOCK_STREAM)?,
        })
    }

    /// Sets `SO_REUSEADDR` (rebind a port whose old connections are in `TIME_WAIT`).
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        sys::set_opt(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            on as libc::c_int,
        )
    }

    /// `SO_REUSEADDR`.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        sys::get_opt(&self.fd, libc::SOL_SOCKET, libc::SO_REUSEADDR).map(|v| v != 0)
    }

    /// Sets `SO_REUSEPORT` (several listeners on one port; the kernel spreads connections).
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        sys::set_opt(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            on as libc::c_int,
        )
    }

    /// `SO_REUSEPORT`.
    pub fn reuseport(&self) -> io::Result<bool> {
        sys::get_opt(&self.fd, libc::SOL_SOCKET, libc::SO_REUSEPORT).map(|v| v != 0)
    }

    /// Sets `SO_SNDBUF`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        sys::set_opt(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUF, clamp(size))
    }

    /// Sets `SO_RCVBUF` (set it before `listen` for it to apply to accepted sockets' window).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        sys::set_opt(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUF, clamp(size))
    }

    /// Binds to `addr`; an address already taken is an error of kind `AddrInUse`.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        sys::bind(self.fd.as_raw_fd(), &sys::RawAddr::from_inet(&addr))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd.as_raw_fd())?
            .to_inet()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket"))
    }

    /// Starts listening, with room for `backlog` connections not yet accepted.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        sys::listen(self.fd.as_raw_fd(), backlog)?;
        TcpListener::from_owned(self.fd)
    }

    /// Connects to `addr` (the connect is non-blocking; the task waits for its outcome).
    ///
    /// On io_uring the connect is a completion-based operation (`Op::connect`): the kernel
    /// owns the socket until the handshake's outcome, and the stream is registered only
    /// then. Dropping this future cancels the connect, and the socket closes when the
    /// cancelled operation completes.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        if super::shared_fd::uring_backend() {
            let fd = std::sync::Arc::new(self.fd);
            let (result, op) =
                crate::io::submit(ringloop_reactor::Op::connect(fd.clone(), addr))?.await;
            // The op held the other reference: now the socket is ours alone again.
            drop(op);
            result?;
            let fd = std::sync::Arc::try_unwrap(fd)
                .map_err(|_| io::Error::other("the connected socket is still shared"))?;
            return TcpStream::from_owned(fd);
        }
        let raw = sys::RawAddr::from_inet(&addr);
        // connect(2) first, register second (as mio and tokio do). A socket registered before
        // it connects is polled while unconnected, which TCP reports as `POLLHUP | POLLOUT`:
        // io_uring delivers that stale mask as it was (and epoll does too, when a waiting
        // thread harvests it before the connect), and the stream would start life "closed".
        // Registering after loses nothing: both backends report the state a descriptor is
        // already in when it is registered. (Regression test:
        // `stale_hangup_from_registering_a_socket_before_connect` in tests/net_regressions.rs.)
        let connected = sys::connect(self.fd.as_raw_fd(), &raw)?;
        let stream = TcpStream::from_owned(self.fd)?;
        if connected {
            return Ok(stream);
        }
        stream.finish_connect().await
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
