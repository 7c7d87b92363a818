//! Translating an [`Op`] into a submission queue entry, and a completion back into a result.
//!
//! The entry holds raw pointers into the op's heap allocations (the `Vec<u8>`'s buffer, the
//! boxed socket address, the boxed timespec). Moving the `Op` value (into the slab, whose
//! vector may grow) does not move those allocations, so the pointers stay valid for as long
//! as the slab owns the op, which is until the completion.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::Instant;

use io_uring::{opcode, squeue, types};

use crate::Op;

/// Refuses operations that cannot mean what the caller wants.
pub(crate) fn validate(op: &Op) -> io::Result<()> {
    match op {
        Op::Recv(crate::op::Recv { buf, .. }) | Op::Read(crate::op::Read { buf, .. })
            if buf.capacity() == buf.len() =>
        {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} buffer has no spare capacity (len == capacity == {}): reserve room first",
                    op.name(),
                    buf.len()
                ),
            ))
        }
        Op::Close(c) if c.fd.is_none() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "close operation was already submitted",
        )),
        _ => Ok(()),
    }
}

fn clamp(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Builds the entry for `op`, tagged with `user_data`.
///
/// The op must then stay where the reactor keeps it (its slot) until the completion.
pub(crate) fn entry(op: &mut Op, user_data: u64) -> squeue::Entry {
    let e = match op {
        Op::Accept(a) if a.multishot => opcode::AcceptMulti::new(types::Fd(a.fd.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build(),
        Op::Accept(a) => {
            a.addr.1 = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let (storage, len) = &mut *a.addr;
            opcode::Accept::new(
                types::Fd(a.fd.as_raw_fd()),
                (storage as *mut libc::sockaddr_storage).cast(),
                len,
            )
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build()
        }
        Op::Connect(c) => opcode::Connect::new(
            types::Fd(c.fd.as_raw_fd()),
            (&c.addr.0 as *const libc::sockaddr_storage).cast(),
            c.addr.1,
        )
        .build(),
        Op::Recv(r) => {
            let spare = r.buf.spare_capacity_mut();
            opcode::Recv::new(
                types::Fd(r.fd.as_raw_fd()),
                spare.as_mut_ptr().cast(),
                clamp(spare.len()),
            )
            .build()
        }
        // MSG_NOSIGNAL: a send to a closed peer returns EPIPE instead of killing the process.
        Op::Send(s) => opcode::Send::new(
            types::Fd(s.fd.as_raw_fd()),
            s.buf.as_ptr(),
            clamp(s.buf.len()),
        )
        .flags(libc::MSG_NOSIGNAL)
        .build(),
        Op::Read(r) => {
            let spare = r.buf.spare_capacity_mut();
            opcode::Read::new(
                types::Fd(r.fd.as_raw_fd()),
                spare.as_mut_ptr().cast(),
                clamp(spare.len()),
            )
            .offset(r.offset)
            .build()
        }
        Op::Write(w) => opcode::Write::new(
            types::Fd(w.fd.as_raw_fd()),
            w.buf.as_ptr(),
            clamp(w.buf.len()),
        )
        .offset(w.offset)
        .build(),
        Op::Close(c) => opcode::Close::new(types::Fd(c.raw)).build(),
        Op::Timeout(t) => {
            // Relative to a fresh now: the kernel starts counting later, never early.
            let left = t.deadline.saturating_duration_since(Instant::now());
            *t.spec = types::Timespec::from(left);
            opcode::Timeout::new(&*t.spec).build()
        }
        // The kernel picks a buffer from the ring's provided buffers (group `BGID`) for each
        // completion; the backend refuses this op where there is no buffer ring.
        Op::RecvMulti(r) => {
            opcode::RecvMulti::new(types::Fd(r.fd.as_raw_fd()), super::bufring::BGID).build()
        }
        // --- Datagram operations ---
        // MSG_NOSIGNAL: a send to a shut-down peer returns EPIPE instead of killing the process.
        Op::SendMsg(m) => {
            let parts = &mut *m.parts;
            parts.iov = libc::iovec {
                iov_base: m.buf.as_mut_ptr().cast(),
                iov_len: m.buf.len(),
            };
            msg_header(parts);
            opcode::SendMsg::new(types::Fd(m.fd.as_raw_fd()), &parts.hdr)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
        }
        Op::RecvMsg(m) => {
            let spare = m.buf.spare_capacity_mut();
            let parts = &mut *m.parts;
            parts.iov = libc::iovec {
                iov_base: spare.as_mut_ptr().cast(),
                iov_len: spare.len(),
            };
            parts.addr_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg_header(parts);
            opcode::RecvMsg::new(types::Fd(m.fd.as_raw_fd()), &mut parts.hdr).build()
        }
    };
    e.user_data(user_data)
}

/// Points a message's header at its own iovec and address (no address if `addr_len` is 0:
/// a send to the connected peer). The parts are boxed, so the pointers stay valid as the op
/// moves, until the completion.
fn msg_header(parts: &mut crate::op::MsgParts) {
    // SAFETY: msghdr is plain old data; all-zero (no control data, no flags) is valid.
    parts.hdr = unsafe { std::mem::zeroed() };
    if parts.addr_len > 0 {
        parts.hdr.msg_name = (&mut parts.addr as *mut libc::sockaddr_storage).cast();
        parts.hdr.msg_namelen = parts.addr_len;
    }
    parts.hdr.msg_iov = &mut parts.iov;
    parts.hdr.msg_iovlen = 1;
}

/// Called once the entry is in the submission queue: a close hands its descriptor to the
/// kernel (which will close it), so our `OwnedFd` must not close it again.
pub(crate) fn pushed(op: &mut Op) {
    if let Op::Close(c) = op {
        if let Some(fd) = c.fd.take() {
            let _ = fd.into_raw_fd();
        }
    }
}

/// A completion of the multishot `op` (an accept or a receive) that did not end it: a fresh
/// op carrying the accepted socket or the bytes received in `data` (or the error), marked
/// [`Op::more`]; `op` stays with the kernel.
pub(crate) fn intermediate(op: &Op, res: i32, data: Option<Vec<u8>>) -> (io::Result<u32>, Op) {
    let mut out = match op {
        Op::Accept(a) => {
            let mut out = Op::accept_multishot(a.fd.clone());
            if let Op::Accept(a) = &mut out {
                a.more = true;
            }
            out
        }
        Op::RecvMulti(r) => {
            let mut out = Op::recv_multishot(r.fd.clone());
            if let Op::RecvMulti(r) = &mut out {
                r.more = true;
            }
            out
        }
        _ => unreachable!("only accepts and receives are multishot"),
    };
    let result = complete(&mut out, res);
    attach(&mut out, data);
    (result, out)
}

/// Gives a multishot receive the bytes its completion's provided buffer held.
pub(crate) fn attach(op: &mut Op, data: Option<Vec<u8>>) {
    if let (Op::RecvMulti(r), Some(data)) = (op, data) {
        r.data = data;
    }
}

/// Turns the kernel's result into ours, updating the op: a recv/read's buffer grows by the
/// bytes received, an accept's new socket is wrapped in an `OwnedFd`.
pub(crate) fn complete(op: &mut Op, res: i32) -> io::Result<u32> {
    if res < 0 {
        return match op {
            // A timeout that expires "fails" with ETIME: for us that is success.
            Op::Timeout(_) if res == -libc::ETIME => Ok(0),
            Op::Close(c) if res == -libc::ECANCELED => {
                // Cancelled before it ran: the descriptor is still open and ours again.
                // SAFETY: the kernel never closed `raw`, and no one else owns it: we gave
                // up our OwnedFd for it at submission.
                drop(unsafe { OwnedFd::from_raw_fd(c.raw) });
                Err(io::Error::from_raw_os_error(-res))
            }
            _ => Err(io::Error::from_raw_os_error(-res)),
        };
    }
    match op {
        Op::Recv(crate::op::Recv { buf, .. }) | Op::Read(crate::op::Read { buf, .. }) => {
            let n = (res as usize).min(buf.capacity() - buf.len());
            // SAFETY: the kernel wrote `res` bytes into the spare capacity starting at
            // `len()` (the entry pointed there and allowed at most the spare length).
            unsafe { buf.set_len(buf.len() + n) };
        }
        Op::Accept(a) => {
            // SAFETY: a successful accept returns a fresh descriptor that nobody owns yet.
            a.accepted = Some(unsafe { OwnedFd::from_raw_fd(res) });
        }
        // --- Datagram operations ---
        // recvmsg returns the bytes copied (a longer datagram is cut, MSG_TRUNC in its flags).
        Op::RecvMsg(crate::op::Msg { buf, .. }) => {
            let n = (res as usize).min(buf.capacity() - buf.len());
            // SAFETY: the kernel wrote `res` bytes into the spare capacity starting at
            // `len()` (the iovec pointed there and allowed at most the spare length).
            unsafe { buf.set_len(buf.len() + n) };
        }
        _ => {}
    }
    Ok(res as u32)
}
