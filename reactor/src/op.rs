//! Owned operations for the completion path (io_uring).
//!
//! # Why the operation owns its buffers
//!
//! With readiness (epoll) the kernel says "you may read now" and the *caller* copies, into a
//! buffer it holds only for the length of the `read(2)` call. With completions (io_uring) the
//! caller says "read into this buffer" and the kernel writes into it *later*, from another
//! context, until it posts the completion. If the caller freed the buffer in between (because
//! a future was dropped, say), the kernel would write into freed memory.
//!
//! So an [`Op`] owns everything the kernel may touch: the buffer (a `Vec<u8>`), the socket
//! address, and the descriptor itself (an `Arc<OwnedFd>`, so closing the caller's copy cannot
//! recycle the fd number under an in-flight operation). [`Reactor::submit`](crate::Reactor::submit)
//! takes the `Op` by value and keeps it until the kernel's completion arrives; then it comes
//! back in [`Event::Completed`](crate::Event::Completed), and the caller takes the buffer out.
//! A submitter that loses interest calls [`Reactor::cancel`](crate::Reactor::cancel) (or does
//! nothing): the op stays with the reactor until its completion, never freed early.
//!
//! Buffer conventions: `recv`/`read` fill the vector's *spare capacity* (from `len()` up to
//! `capacity()`) and the completion advances `len()` by the bytes received, so `into_buf()`
//! returns exactly the valid bytes. `send`/`write` send the vector's contents (`..len()`).
//! A transfer is capped at `u32::MAX` bytes (io_uring's length field); it is then partial,
//! as a short `write(2)` would be.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

/// Identifies a submitted operation until its completion: pass it to
/// [`cancel`](crate::Reactor::cancel). Ids are not reused while the operation is in flight.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub(crate) u64);

/// An operation the kernel performs on our behalf (io_uring only).
#[derive(Debug)]
pub enum Op {
    /// Accept a connection on a listening socket.
    Accept(Accept),
    /// Connect a socket to an address.
    Connect(Connect),
    /// Receive from a socket into the buffer's spare capacity.
    Recv(Recv),
    /// Send the buffer's contents on a socket.
    Send(Send),
    /// Read from a file (or pipe) at an offset into the buffer's spare capacity.
    Read(Read),
    /// Write the buffer's contents to a file (or pipe) at an offset.
    Write(Write),
    /// Close a descriptor.
    Close(Close),
    /// Complete at a deadline (result `Ok(0)`; `ECANCELED` if cancelled first).
    Timeout(Timeout),
    /// Receive from a stream socket, again and again, into buffers the reactor provides
    /// (a multishot receive from the ring's provided-buffer ring: see [`Op::recv_multishot`]).
    RecvMulti(RecvMulti),

    // --- Datagram operations (`sendmsg(2)` / `recvmsg(2)`) ---
    /// Send the buffer's contents as one message, to an address or to the connected peer.
    SendMsg(Msg),
    /// Receive one message into the buffer's spare capacity, with its source address.
    RecvMsg(Msg),
}

/// State of an [`Op::Accept`].
#[derive(Debug)]
pub struct Accept {
    pub(crate) fd: Arc<OwnedFd>,
    /// Filled by the kernel: the peer's address and its length (single-shot accepts only).
    pub(crate) addr: Box<(libc::sockaddr_storage, libc::socklen_t)>,
    pub(crate) accepted: Option<OwnedFd>,
    /// A multishot accept ([`Op::accept_multishot`]).
    pub(crate) multishot: bool,
    /// Set on the completions of a multishot accept that did not end it.
    pub(crate) more: bool,
}

impl Accept {
    /// Takes the accepted socket (non-blocking, close-on-exec) out of a completed accept.
    /// If nobody takes it, dropping the op closes it: an accepted connection never leaks.
    pub fn take_socket(&mut self) -> Option<OwnedFd> {
        self.accepted.take()
    }

    /// The peer's address, once a single-shot accept completed successfully (a multishot
    /// accept gets no address from the kernel: ask the socket, `getpeername(2)`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.accepted.as_ref()?;
        if self.multishot {
            return None;
        }
        sockaddr_to_std(&self.addr.0, self.addr.1)
    }
}

/// State of an [`Op::Connect`].
#[derive(Debug)]
pub struct Connect {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) addr: Box<(libc::sockaddr_storage, libc::socklen_t)>,
}

/// State of an [`Op::Recv`].
#[derive(Debug)]
pub struct Recv {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
}

/// State of an [`Op::RecvMulti`].
#[derive(Debug)]
pub struct RecvMulti {
    pub(crate) fd: Arc<OwnedFd>,
    /// The bytes of one completion, copied out of the provided buffer the kernel filled
    /// (which goes straight back to the buffer ring).
    pub(crate) data: Vec<u8>,
    /// Set on the completions that did not end the receive.
    pub(crate) more: bool,
}

/// State of an [`Op::Send`].
#[derive(Debug)]
pub struct Send {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
}

/// State of an [`Op::Read`].
#[derive(Debug)]
pub struct Read {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
    pub(crate) offset: u64,
}

/// State of an [`Op::Write`].
#[derive(Debug)]
pub struct Write {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
    pub(crate) offset: u64,
}

/// State of an [`Op::Close`].
#[derive(Debug)]
pub struct Close {
    /// `Some` until submission; then the kernel owns (and closes) the descriptor.
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) raw: RawFd,
}

/// State of an [`Op::Timeout`].
#[derive(Debug)]
pub struct Timeout {
    pub(crate) deadline: Instant,
    /// The relative time handed to the kernel, computed at submission.
    pub(crate) spec: Box<io_uring::types::Timespec>,
}

/// State of an [`Op::SendMsg`] or an [`Op::RecvMsg`]: the data buffer, and in a box (whose
/// address stays put while the op moves) the `msghdr`, its one `iovec` and the address.
#[derive(Debug)]
pub struct Msg {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
    pub(crate) parts: Box<MsgParts>,
}

/// The parts of a message the kernel reads (and, for a receive, writes back) through
/// pointers: built at submission (`uring/prep.rs`) to point into this box and the buffer.
pub(crate) struct MsgParts {
    pub(crate) hdr: libc::msghdr,
    pub(crate) iov: libc::iovec,
    /// The destination (send; `len == 0`: the connected peer) or the source (receive).
    pub(crate) addr: libc::sockaddr_storage,
    pub(crate) addr_len: libc::socklen_t,
}

// SAFETY: the raw pointers in `hdr` and `iov` point only into this box and into the buffer
// of the same `Msg`, which the op owns and moves with it; nothing else aliases them, so
// handing the op to another thread hands over everything they point to.
unsafe impl std::marker::Send for MsgParts {}
// SAFETY: through a shared reference the pointers are only copied or compared, never
// followed (`Msg` reads the address and the flags, plain data), so sharing is harmless.
unsafe impl Sync for MsgParts {}

impl std::fmt::Debug for MsgParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgParts")
            .field("addr_len", &self.addr_len)
            .field("msg_flags", &self.hdr.msg_flags)
            .finish()
    }
}

impl MsgParts {
    fn new(addr: Option<(libc::sockaddr_storage, libc::socklen_t)>) -> Box<MsgParts> {
        // SAFETY: msghdr, iovec and sockaddr_storage are plain old data; all-zero (null
        // pointers, zero lengths) is a valid value of each.
        let (hdr, iov, zero) = unsafe {
            (
                std::mem::zeroed::<libc::msghdr>(),
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed::<libc::sockaddr_storage>(),
            )
        };
        let (addr, addr_len) = addr.unwrap_or((zero, 0));
        Box::new(MsgParts {
            hdr,
            iov,
            addr,
            addr_len,
        })
    }
}

impl Msg {
    /// After a completed receive: the sender's address in the kernel's layout, and its
    /// length as the kernel set it (an unnamed Unix-domain sender has no path: the length
    /// then covers at most the family field).
    pub fn source(&self) -> (&libc::sockaddr_storage, libc::socklen_t) {
        (&self.parts.addr, self.parts.hdr.msg_namelen)
    }

    /// After a completed receive: the sender's address, when it is an IPv4 or IPv6 one.
    pub fn source_inet(&self) -> Option<SocketAddr> {
        sockaddr_to_std(&self.parts.addr, self.parts.hdr.msg_namelen)
    }

    /// After a completed receive: whether the message was longer than the buffer and its
    /// tail was discarded (`MSG_TRUNC` in the returned flags), as `recvfrom(2)` does.
    pub fn truncated(&self) -> bool {
        self.parts.hdr.msg_flags & libc::MSG_TRUNC != 0
    }
}

impl Op {
    /// Accepts a connection on the listening socket `fd`.
    pub fn accept(fd: Arc<OwnedFd>) -> Op {
        Op::Accept(Accept {
            fd,
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
            addr: Box::new((unsafe { std::mem::zeroed() }, 0)),
            accepted: None,
            multishot: false,
            more: false,
        })
    }

    /// Accepts connections on the listening socket `fd` until cancelled or ended by the
    /// kernel (io_uring's multishot accept, Linux 5.19+; an older kernel answers `EINVAL`).
    ///
    /// One submission, many completions, all under the same [`OpId`]: each accepted
    /// connection comes back as an [`Event::Completed`](crate::Event::Completed) holding a
    /// fresh `Op::Accept` with the socket in it and [`more`](Op::more) set. The completion
    /// without `more` is the last one (the kernel ended the accept: an error such as
    /// `EMFILE`, a cancel, or an overflowing completion queue); it gives the submitted op
    /// back. Submit again to go on accepting.
    pub fn accept_multishot(fd: Arc<OwnedFd>) -> Op {
        let mut op = Op::accept(fd);
        if let Op::Accept(a) = &mut op {
            a.multishot = true;
        }
        op
    }

    /// Whether more completions follow under this op's id (a multishot operation that the
    /// kernel has not ended). `false` for every single-shot op.
    pub fn more(&self) -> bool {
        matches!(
            self,
            Op::Accept(Accept { more: true, .. }) | Op::RecvMulti(RecvMulti { more: true, .. })
        )
    }

    /// Receives from the stream socket `fd` until cancelled or ended by the kernel (io_uring's
    /// multishot receive with a provided-buffer ring, Linux 6.0+; where the reactor has no
    /// buffer ring, submitting it fails with `Unsupported` and a plain [`Op::recv`] is the
    /// way).
    ///
    /// One submission, many completions under the same [`OpId`], as
    /// [`accept_multishot`](Op::accept_multishot): each completion with [`more`](Op::more)
    /// set is a fresh `Op::RecvMulti` whose [`into_buf`](Op::into_buf) holds the bytes
    /// received (result `Ok(n)`, `n` bytes). The kernel picks a buffer from the ring's
    /// provided buffers for each; the reactor copies the bytes out and gives the buffer back
    /// at once, so one slow reader cannot hold the ring's buffers. The last completion (no
    /// `more`) may carry bytes too; its result is `Ok(0)` at end of stream, or the error
    /// that ended it: `ENOBUFS` when the ring ran out of buffers (submit again), `ECANCELED`
    /// after a cancel.
    pub fn recv_multishot(fd: Arc<OwnedFd>) -> Op {
        Op::RecvMulti(RecvMulti {
            fd,
            data: Vec::new(),
            more: false,
        })
    }

    /// Connects the socket `fd` (of `addr`'s family) to `addr`.
    pub fn connect(fd: Arc<OwnedFd>, addr: SocketAddr) -> Op {
        Op::Connect(Connect {
            fd,
            addr: Box::new(std_to_sockaddr(addr)),
        })
    }

    /// Receives into `buf`'s spare capacity (reserve room first; an op with no spare
    /// capacity is refused at submission with `InvalidInput`).
    pub fn recv(fd: Arc<OwnedFd>, buf: Vec<u8>) -> Op {
        Op::Recv(Recv { fd, buf })
    }

    /// Sends `buf[..]`; the result says how many bytes went (possibly fewer).
    pub fn send(fd: Arc<OwnedFd>, buf: Vec<u8>) -> Op {
        Op::Send(Send { fd, buf })
    }

    /// Reads at `offset` into `buf`'s spare capacity (offset `u64::MAX` means "the current
    /// file position", which is what pipes and sockets need).
    pub fn read(fd: Arc<OwnedFd>, buf: Vec<u8>, offset: u64) -> Op {
        Op::Read(Read { fd, buf, offset })
    }

    /// Writes `buf[..]` at `offset` (`u64::MAX`: the current file position).
    pub fn write(fd: Arc<OwnedFd>, buf: Vec<u8>, offset: u64) -> Op {
        Op::Write(Write { fd, buf, offset })
    }

    /// Closes `fd` in the kernel, without a blocking `close(2)` on this thread.
    pub fn close(fd: OwnedFd) -> Op {
        let raw = fd.as_raw_fd();
        Op::Close(Close { fd: Some(fd), raw })
    }

    /// Completes at `deadline` (never before; at once if it has passed).
    pub fn timeout(deadline: Instant) -> Op {
        Op::Timeout(Timeout {
            deadline,
            spec: Box::new(io_uring::types::Timespec::new()),
        })
    }

    // --- Datagram operations ---

    /// Sends `buf[..]` as one message (`sendmsg(2)`, with `MSG_NOSIGNAL`): to `to` (an
    /// address in the kernel's layout, with its length), or to the connected peer if `None`.
    /// On a datagram socket the message goes whole or not at all.
    pub fn send_msg(
        fd: Arc<OwnedFd>,
        buf: Vec<u8>,
        to: Option<(libc::sockaddr_storage, libc::socklen_t)>,
    ) -> Op {
        Op::SendMsg(Msg {
            fd,
            buf,
            parts: MsgParts::new(to),
        })
    }

    /// Like [`send_msg`](Self::send_msg) to an IP address.
    pub fn send_to(fd: Arc<OwnedFd>, buf: Vec<u8>, to: SocketAddr) -> Op {
        Op::send_msg(fd, buf, Some(std_to_sockaddr(to)))
    }

    /// Receives one message into `buf`'s spare capacity (`recvmsg(2)`), with its source
    /// address ([`Msg::source`]). A message longer than the spare capacity is cut to it and
    /// the rest discarded ([`Msg::truncated`]), as `recvfrom(2)` does; no spare capacity at
    /// all is allowed and consumes one message.
    pub fn recv_msg(fd: Arc<OwnedFd>, buf: Vec<u8>) -> Op {
        Op::RecvMsg(Msg {
            fd,
            buf,
            parts: MsgParts::new(None),
        })
    }

    /// For a send or receive of a message: its state ([`Msg::source`], [`Msg::truncated`]).
    pub fn msg(&self) -> Option<&Msg> {
        match self {
            Op::SendMsg(m) | Op::RecvMsg(m) => Some(m),
            _ => None,
        }
    }

    /// The operation's name, for messages: `"recv"`, `"accept"`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Op::Accept(_) => "accept",
            Op::Connect(_) => "connect",
            Op::Recv(_) => "recv",
            Op::Send(_) => "send",
            Op::Read(_) => "read",
            Op::Write(_) => "write",
            Op::Close(_) => "close",
            Op::Timeout(_) => "timeout",
            Op::RecvMulti(_) => "recv_multishot",
            // Datagram operations.
            Op::SendMsg(_) => "sendmsg",
            Op::RecvMsg(_) => "recvmsg",
        }
    }

    /// The data buffer, if the op has one. After a completed recv/read its `len()` counts
    /// exactly the valid bytes.
    pub fn buf(&self) -> Option<&Vec<u8>> {
        match self {
            Op::Recv(o) => Some(&o.buf),
            Op::Send(o) => Some(&o.buf),
            Op::Read(o) => Some(&o.buf),
            Op::Write(o) => Some(&o.buf),
            Op::RecvMulti(o) => Some(&o.data),
            // Datagram operations.
            Op::SendMsg(o) | Op::RecvMsg(o) => Some(&o.buf),
            _ => None,
        }
    }

    /// Takes the buffer back (see [`buf`](Self::buf)).
    pub fn into_buf(self) -> Option<Vec<u8>> {
        match self {
            Op::Recv(o) => Some(o.buf),
            Op::Send(o) => Some(o.buf),
            Op::Read(o) => Some(o.buf),
            Op::Write(o) => Some(o.buf),
            Op::RecvMulti(o) => Some(o.data),
            // Datagram operations.
            Op::SendMsg(o) | Op::RecvMsg(o) => Some(o.buf),
            _ => None,
        }
    }

    /// The descriptor the op works on (for close: the number being closed).
    pub fn raw_fd(&self) -> RawFd {
        match self {
            Op::Accept(o) => o.fd.as_raw_fd(),
            Op::Connect(o) => o.fd.as_raw_fd(),
            Op::Recv(o) => o.fd.as_raw_fd(),
            Op::Send(o) => o.fd.as_raw_fd(),
            Op::Read(o) => o.fd.as_raw_fd(),
            Op::Write(o) => o.fd.as_raw_fd(),
            Op::Close(o) => o.raw,
            Op::Timeout(_) => -1,
            Op::RecvMulti(o) => o.fd.as_raw_fd(),
            // Datagram operations.
            Op::SendMsg(o) | Op::RecvMsg(o) => o.fd.as_raw_fd(),
        }
    }

    /// For an accept: the accepted socket (see [`Accept::take_socket`]).
    pub fn take_socket(&mut self) -> Option<OwnedFd> {
        match self {
            Op::Accept(a) => a.take_socket(),
            _ => None,
        }
    }
}

/// Converts a std address into the C form the kernel reads.
pub(crate) fn std_to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for every sockaddr type.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, storage is large and aligned enough for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Converts a kernel-filled address back; `None` for families other than IPv4/IPv6.
pub(crate) fn sockaddr_to_std(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    match storage.ss_family as libc::c_int {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and it is large and
            // aligned enough to be read as one.
            let sin: &libc::sockaddr_in = unsafe { &*(storage as *const _ as *const _) };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*(storage as *const _ as *const _) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
