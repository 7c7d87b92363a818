//! `Conn`: what the streams and transports need from a connected byte stream.
//!
//! The asyncio layers above (`StreamReader`, `StreamWriter`, `Transport`) hold a connection
//! as `Arc<dyn Conn>` so one reader and one background writer can share it, whatever the
//! socket type. `try_write` is the syscall alone, without touching the registration's wakers:
//! the synchronous `write()` of asyncio's API uses it for the fast path and must not replace
//! the waker of the task that flushes in the background.

use super::{TcpStream, UnixStream};
use std::io;
use std::net::Shutdown;
use std::task::{Context, Poll};

/// A connected stream socket, as the streams and transports see it.
pub(crate) trait Conn: Send + Sync + 'static {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// The peer's address, printed (`"127.0.0.1:5000"`, or a socket path).
    fn peer_name(&self) -> io::Result<PeerAddr>;
}

/// A connection's peer: an IP address and port, or a Unix-domain address.
#[derive(Debug, Clone)]
pub enum PeerAddr {
    /// A TCP peer.
    Inet(std::net::SocketAddr),
    /// A Unix-domain peer (often unnamed).
    Unix(std::os::unix::net::SocketAddr),
}

impl PeerAddr {
    /// The IP address and port, for a TCP peer.
    pub fn as_inet(&self) -> Option<std::net::SocketAddr> {
        match self {
            PeerAddr::Inet(a) => Some(*a),
            PeerAddr::Unix(_) => None,
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Inet(a) => write!(f, "{a}"),
            PeerAddr::Unix(a) => match a.as_pathname() {
                Some(p) => write!(f, "{}", p.display()),
                None => write!(f, "(unnamed)"),
            },
        }
    }
}

macro_rules! conn_impl {
    ($ty:ty, $peer:expr) => {
        impl Conn for $ty {
            fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.poll_read_priv(cx, buf)
            }
            fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.poll_write_priv(cx, buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$ty>::try_write(self, buf)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$ty>::shutdown(self, how)
            }
            fn peer_name(&self) -> io::Result<PeerAddr> {
                self.peer_addr().map($peer)
            }
        }
    };
}

conn_impl!(TcpStream, PeerAddr::Inet);
conn_impl!(UnixStream, PeerAddr::Unix);
