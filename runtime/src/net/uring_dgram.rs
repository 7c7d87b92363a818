//! The io_uring completion path for datagram sockets ([`UdpSocket`](super::UdpSocket),
//! [`UnixDatagram`](super::UnixDatagram)): `IORING_OP_SENDMSG` and `IORING_OP_RECVMSG`.
//!
//! Each send is one `sendmsg` operation and each receive one `recvmsg` operation, owning its
//! buffer, its `msghdr`/`iovec` and its address (`reactor/src/op.rs`, `Msg`): the kernel
//! writes into them after the caller's future may be gone, so the caller's slice cannot be
//! the buffer. The datagram is copied into the caller's buffer when the receive completes.
//!
//! # One datagram per call, cut as `recvfrom(2)` cuts
//!
//! A receive asks the kernel for at least [`MIN_RECV`] bytes (more if the caller's buffer is
//! larger), then copies what fits in the caller's buffer and drops the rest, exactly what
//! `recvfrom(2)` returns for a datagram longer than the buffer. The floor is there so that a
//! datagram received by a *cancelled* receive (below) is kept whole, whatever buffer that
//! receive had: the next caller may have a larger one. (A Unix-domain datagram longer than
//! `MIN_RECV` caught by a cancelled receive with a smaller buffer is kept cut to
//! `MIN_RECV` bytes; UDP datagrams never exceed it.) The price: a pending receive holds a
//! 64 KiB buffer even for a small caller's buffer (a stream read holds 4 to 64 KiB), and a
//! datagram is copied once more than with `recvfrom(2)`.
//!
//! # A receive dropped mid-operation
//!
//! Dropping a receive's future cancels its `recvmsg`, but the kernel may have taken a
//! datagram off the socket already: the completion still comes, with it, and the
//! operation's `on_orphan` callback puts it (bytes and source address; or the socket error it
//! got) at the back of a queue of *kept* datagrams. The next receive returns the oldest kept
//! datagram first. Until every cancelled receive's completion has arrived, a new receive
//! waits instead of submitting: a new `recvmsg` could take a later datagram before the
//! cancelled one lands, and datagrams would come out of order.
//!
//! [`UringDgram::poll_recv_from`], for hand-written futures (no future owns the operation),
//! parks its `recvmsg` in the socket's state instead: a poller that goes away leaves it in
//! flight and the next receive, of either kind, gets its datagram.
//!
//! Several tasks receiving on one socket at once each have their own `recvmsg` in flight;
//! which of them gets which datagram is the kernel's choice (as with `recvfrom(2)` from
//! several threads). A datagram kept from a cancelled receive goes to the next receive that
//! *starts*, not to one already waiting on its own operation.
//!
//! # A send dropped mid-operation
//!
//! Dropping a send's future cancels its `sendmsg`. A datagram socket sends a message whole or
//! not at all, so the datagram either went out entire or not at all; the caller, having
//! dropped the future, does not learn which. (A UDP send rarely waits, so it has usually
//! gone; a Unix-domain send waiting for room in the peer's queue usually has not.) Datagrams
//! are unreliable anyway; a caller that must know awaits the send.
//!
//! `peek_from` stays on the readiness path: a peek takes nothing off the socket, so a
//! cancelled peek loses nothing, and it needs no owned buffer. But first it looks at the
//! datagrams kept from cancelled receives, which are no longer in the socket: the oldest of
//! them is what the next receive returns, so that is what a peek shows (and while a cancelled
//! receive's completion is still to come, the peek waits for it, as a receive would). A peek
//! already waiting on readiness when a receive is cancelled is woken when that receive's
//! datagram is kept, and shows it. A receive parked by `poll_recv_from` whose datagram has
//! arrived but was not taken yet is seen too. ringloop simplifies one case: while a parked
//! receive is still waiting in the kernel, a peek does not wait for it; it peeks at the
//! socket, and the datagram it shows may be the one that receive then takes (or the one
//! after, if the receive wins the race).

use super::sys::RawAddr;
use crate::io::{poll_parked, submit, KeptOp, OpFuture};
use ringloop_reactor::Op;
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The least one receive asks the kernel for (the largest UDP payload fits): see the module
/// documentation for why not just the caller's buffer size.
pub(crate) const MIN_RECV: usize = 64 * 1024;

/// A datagram socket's completion-path state.
pub(crate) struct UringDgram {
    /// The socket, shared with in-flight operations so the descriptor outlives them.
    fd: Arc<OwnedFd>,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    /// Completed receives of cancelled (or parked and abandoned) operations, oldest first:
    /// each a datagram or the error its `recvmsg` got.
    kept: VecDeque<(io::Result<u32>, Op)>,
    /// Cancelled receives whose completion has not arrived yet.
    orphans: usize,
    /// Receives waiting for the orphans to land.
    waiters: Vec<Waker>,
    /// The receive of `poll_recv_from`, kept across polls.
    parked: Option<OpFuture>,
    /// The peek that last found nothing kept and waits on the socket's readiness: woken when
    /// a cancelled receive's datagram is kept, since that datagram is now the next one.
    peeker: Option<Waker>,
}

impl Shared {
    /// While cancelled receives' completions are still to come (their datagrams are next),
    /// registers `cx`'s waker to be woken when they land, and returns true.
    fn wait_for_orphans(&mut self, cx: &Context<'_>) -> bool {
        if self.orphans == 0 {
            return false;
        }
        crate::io::add_waker(&mut self.waiters, cx.waker());
        true
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // No invariant spans a call that could unwind while this lock is held.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Copies a completed receive's datagram into `buf` (cut to fit, as `recvfrom(2)` does) and
/// returns its length there and the sender's address.
fn deliver(result: io::Result<u32>, op: Op, buf: &mut [u8]) -> io::Result<(usize, RawAddr)> {
    result?;
    copy_out(&op, buf)
}

/// [`deliver`]'s copy, for a receive that completed with a datagram: leaves `op` as it is.
fn copy_out(op: &Op, buf: &mut [u8]) -> io::Result<(usize, RawAddr)> {
    let source = match op.msg() {
        Some(m) => {
            let (storage, len) = m.source();
            RawAddr::from_parts(*storage, len)
        }
        None => {
            return Err(io::Error::other(
                "a datagram receive completed without a message",
            ))
        }
    };
    let data = op.buf().map_or(&[][..], |b| &b[..]);
    let n = buf.len().min(data.len());
    buf[..n].copy_from_slice(&data[..n]);
    Ok((n, source))
}

impl UringDgram {
    /// The completion path for the datagram socket `fd` when the current runtime runs on
    /// io_uring; `None` on epoll (readiness) or outside a runtime.
    pub(crate) fn for_current(fd: &Arc<OwnedFd>) -> Option<UringDgram> {
        super::shared_fd::uring_backend().then(|| UringDgram {
            fd: fd.clone(),
            shared: Arc::default(),
        })
    }

    fn submit_recv(&self, want: usize) -> io::Result<OpFuture> {
        let size = want.max(MIN_RECV);
        submit(Op::recv_msg(self.fd.clone(), Vec::with_capacity(size)))
    }

    /// Sends `buf` as one datagram, to `to` or (if `None`) to the connected peer.
    pub(crate) async fn send(&self, buf: &[u8], to: Option<&RawAddr>) -> io::Result<usize> {
        let op = Op::send_msg(self.fd.clone(), buf.to_vec(), to.map(RawAddr::to_parts));
        let (result, _) = submit(op)?.await;
        result.map(|n| n as usize)
    }

    /// The poll-style receive: parks its `recvmsg` in the socket between polls.
    pub(crate) fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, RawAddr)>> {
        let mut sh = lock(&self.shared);
        if let Some((result, op)) = sh.kept.pop_front() {
            return Poll::Ready(deliver(result, op, buf));
        }
        if sh.wait_for_orphans(cx) {
            return Poll::Pending;
        }
        match poll_parked(&mut sh.parked, cx, || self.submit_recv(buf.len())) {
            Poll::Ready(Ok((result, op))) => Poll::Ready(deliver(result, op, buf)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The first half of a peek: when the next receive would return a datagram kept from a
    /// cancelled receive, copies it into `buf` and leaves it kept (`Ready(Some)`); waits
    /// while a cancelled receive's completion is still to come, since its datagram, if it
    /// got one, is the next (`Pending`); `Ready(None)` when the next datagram is still in the
    /// socket, to be peeked at there. A kept *error* is returned and taken, as a socket
    /// error is reported once, to whichever call comes first.
    pub(crate) fn poll_peek_kept(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Option<io::Result<(usize, RawAddr)>>> {
        let mut sh = lock(&self.shared);
        if sh.kept.is_empty() {
            // A receive `poll_recv_from` parked got a datagram its poller has not taken yet:
            // that is the next one. (Looked at without polling, so the poller keeps its
            // wake-up.)
            if let Some(done) = sh.parked.as_mut().and_then(OpFuture::try_take) {
                sh.parked = None;
                sh.kept.push_back(done);
            }
        }
        match sh.kept.front() {
            Some((Ok(_), op)) => return Poll::Ready(Some(copy_out(op, buf))),
            Some((Err(_), _)) => {
                let (result, op) = sh.kept.pop_front().expect("front seen above");
                return Poll::Ready(Some(deliver(result, op, buf)));
            }
            None => {}
        }
        if sh.wait_for_orphans(cx) {
            return Poll::Pending;
        }
        if !sh.peeker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            sh.peeker = Some(cx.waker().clone());
        }
        Poll::Ready(None)
    }

    /// Receives one datagram into `buf`; the `recvmsg` is cancelled if this future is
    /// dropped, and a datagram it still received is kept for the next receive.
    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, RawAddr)> {
        let mut in_flight = KeptOp::new(|| lock(&self.shared).orphans += 1);
        std::future::poll_fn(|cx| {
            if in_flight.is_idle() {
                let mut sh = lock(&self.shared);
                if let Some((result, op)) = sh.kept.pop_front() {
                    return Poll::Ready(deliver(result, op, buf));
                }
                if sh.orphans > 0 || sh.parked.is_some() {
                    // An earlier receive is still in flight: its datagram comes first.
                    drop(sh);
                    return self.poll_recv_from(cx, buf);
                }
                drop(sh);
                let shared = self.shared.clone();
                match self.submit_recv(buf.len()) {
                    Ok(fut) => {
                        in_flight.start(fut.on_orphan(Box::new(move |result, op| {
                            keep_orphan(&shared, result, op)
                        })))
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            in_flight
                .poll(cx)
                .map(|(result, op)| deliver(result, op, buf))
        })
        .await
    }
}

/// The orphan callback: keep what a cancelled receive got, and let waiting receives go on.
fn keep_orphan(shared: &Mutex<Shared>, result: io::Result<u32>, op: Op) {
    let waiters = {
        let mut sh = lock(shared);
        match &result {
            // Cancelled before a datagram arrived: nothing to keep.
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
            _ => sh.kept.push_back((result, op)),
        }
        sh.orphans = sh.orphans.saturating_sub(1);
        let mut waiters = std::mem::take(&mut sh.waiters);
        waiters.extend(sh.peeker.take());
        waiters
    };
    for w in waiters {
        w.wake();
    }
}
