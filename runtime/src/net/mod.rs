//! Networking: TCP, UDP and Unix-domain sockets, and asyncio's transports and protocols.
//!
//! # The layers, bottom up
//!
//! - `sys.rs`: the few socket syscalls `std` cannot make for us (a socket born non-blocking
//!   and close-on-exec, a non-blocking `connect`, `accept4`, the options `std` lacks).
//! - `addr.rs`: [`ToSocketAddrs`] and [`lookup_host`]; host names resolve on the blocking
//!   pool, never on a worker.
//! - `tcp.rs`, `tcp_socket.rs`, `udp.rs`, `unix.rs`: the socket types. Each wraps the `std`
//!   socket in an [`Async`](crate::io::Async), the runtime's readiness registration. Every
//!   operation is "try the syscall; on `WouldBlock`, wait for the next readiness edge, retry"
//!   (`io/registration.rs` explains why the wait is edge-triggered and how a racing edge is
//!   not lost). The readiness path works on both backends: io_uring implements readiness with
//!   its poll operations.
//! - `uring_read.rs`, `uring_write.rs`, `uring_accept.rs`: on io_uring, TCP and Unix-domain
//!   stream reads, writes and accepts are completion-based instead (the kernel receives into
//!   and sends from runtime-owned buffers; one multishot accept per listener), on both
//!   flavours. `uring_dgram.rs` does the same for UDP and Unix-domain datagrams (`sendmsg` and
//!   `recvmsg` operations).
//! - `stream_io.rs`: the byte-stream surface [`TcpStream`] and [`UnixStream`] share, with
//!   futures-io's `AsyncRead` and `AsyncWrite`, so the futures ecosystem's combinators work.
//! - `transport.rs`, `protocol.rs`: asyncio's low-level API, a [`Protocol`] driven by a
//!   [`Transport`] ([`create_server`], [`create_connection`]).
//!
//! The high-level asyncio streams (`open_connection`, `start_server`) are in
//! [`streams`](crate::streams).
//!
//! # Errors
//!
//! Every error is the OS's, as an `io::Error` whose `kind()` says what happened:
//! `ConnectionRefused` from a connect nobody listens for, `ConnectionReset` when the peer
//! aborted (closed with unread data, or `SO_LINGER` 0), `BrokenPipe` when writing after the
//! peer is gone (ringloop sends with `MSG_NOSIGNAL` semantics: Rust ignores `SIGPIPE`),
//! `AddrInUse` from a bind to a taken port.
//!
//! # Differences from asyncio
//!
//! asyncio has no socket types of its own (it uses Python's `socket` plus `loop.sock_*`);
//! ringloop's sockets follow Rust's `std::net` names and add `async` to what would block.

mod addr;
pub(crate) mod conn;
mod protocol;
mod server;
mod shared_fd;
mod stream_io;
mod sys;
mod tcp;
mod tcp_socket;
mod transport;
mod udp;
mod unix;
mod uring_accept;
mod uring_dgram;
mod uring_read;
mod uring_write;
pub(crate) mod write_queue;

#[doc(hidden)]
pub use addr::Target;
pub use addr::{lookup_host, ToSocketAddrs};
pub use conn::PeerAddr;
pub use protocol::Protocol;
pub use server::Server;
pub use tcp::{TcpListener, TcpStream};
pub use tcp_socket::TcpSocket;
pub use transport::{create_connection, create_server, Transport};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
