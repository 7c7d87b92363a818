//! The io_uring completion path for stream writes: the kernel sends from a buffer the runtime
//! owns, one send at a time, so a cancelled write never leaves the kernel reading freed memory
//! and never reorders the stream.
//!
//! A write copies the caller's bytes (at most [`MAX_SEND`]; a vectored write concatenates its
//! slices) into a `Vec` handed to the reactor with the send operation (`reactor/src/op.rs`).
//! A short send is followed by a send of the rest of that `Vec` before the write resolves:
//! the write reports every byte it copied (or fewer after an error). Only one send is in
//! flight per socket: a second write waits for the first to finish, since two sends in
//! flight could complete in either order and interleave their bytes.
//!
//! # A write dropped mid-operation (what the caller is told)
//!
//! Dropping [`UringWriter::write`] while its send is in flight cancels the send. The kernel's
//! completion still comes (the buffer lives until then), and says exactly how much went:
//! either the whole send (the cancel came too late), a prefix, or nothing (`ECANCELED`). The
//! rest of the copied bytes is discarded, never sent later. Since the dropped future cannot
//! report the count, the writer keeps it: **the next write on the stream (`write`,
//! `write_vectored`, `poll_write`, `try_write`) returns `Ok(k)`, the `k > 0` bytes of the
//! dropped write that were sent, without sending anything**; a send error is kept the same way.
//! That is `poll_write`'s contract for `Pending` ("offer the same bytes again"): a caller that
//! retries with the bytes it had not seen acknowledged learns that their first `k` went, so
//! the peer receives each byte once, in order. If the cancel won, nothing went and nothing is
//! reported: the retry sends normally. (tokio-uring leaves the count of a dropped write
//! unknown; monoio's cancellable writes return it from the cancelled future itself. ringloop
//! differs from tokio's readiness `write`, whose dropped future never sent anything.)
//!
//! [`UringWriter::poll_write`] (futures-io's `AsyncWrite`) parks its send in the writer, like
//! the read side's `poll_read`: a poller that goes away leaves the send in flight, not
//! cancelled, and the next write reports its count.
//!
//! # Shutdown and close
//!
//! `shutdown(Write)` while a send is in flight would cut the stream before bytes the caller
//! already handed over. So it is deferred: the send in flight is left to finish (not
//! cancelled), a short send is followed by the rest of its write, and the shutdown runs right
//! after the last completion; `shutdown` itself returns at
//! once (a deferred shutdown's error is not reported: the socket is then reset or gone, and the
//! next read or write says so). `poll_flush` and `poll_close` wait for the send in flight.
//!
//! # try_write
//!
//! [`UringWriter::try_write`] is a plain non-blocking `send(2)` when no send is in flight
//! (order is safe: nothing else is queued), and `WouldBlock` while one is. That keeps asyncio's
//! write fast path (`write_queue.rs`) one syscall, as on epoll.
//!
//! ringloop simplifies: one send at a time, a fresh `Vec` per write, no registered buffers and
//! no zero-copy send.

use super::sys;
use crate::io::{submit, OpFuture};
use ringloop_reactor::Op;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The most one write copies (and sends); a larger write is short, as `write(2)` may be.
pub(crate) const MAX_SEND: usize = 256 * 1024;

/// The owner tag of sends parked by `poll_write` (futures-io), which has no future of its own.
const POLLER: u64 = 0;

/// A stream socket's completion-path write state.
pub(crate) struct UringWriter {
    /// The socket, shared with in-flight operations so the descriptor outlives them.
    fd: Arc<OwnedFd>,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    /// The send in flight that a caller still polls.
    parked: Option<Parked>,
    /// A send in flight nobody polls (its write was dropped, or a shutdown detached it): its
    /// completion calls `finish_detached`.
    detached: bool,
    /// The outcome of a send that finished without its caller: returned by the next write.
    unreported: Option<io::Result<usize>>,
    /// A shutdown asked for while a send was in flight: done right after its completion.
    shutdown: Option<Shutdown>,
    /// Writers (and flushers) waiting for the send in flight to finish.
    waiters: Vec<Waker>,
    /// Hands out owner tags to `write` futures (0 is `POLLER`).
    next_owner: u64,
}

/// A send in flight, with the part of its write that earlier (short) sends already sent.
struct Parked {
    op: OpFuture,
    owner: u64,
    sent: usize,
}

impl Shared {
    fn busy(&self) -> bool {
        self.parked.is_some() || self.detached
    }

    fn wait(&mut self, cx: &Context<'_>) {
        crate::io::add_waker(&mut self.waiters, cx.waker());
    }

    fn take_waiters(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.waiters)
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // No invariant spans a call that could unwind while this lock is held.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

/// Copies the slices into one owned buffer, at most `MAX_SEND` bytes.
fn gather(bufs: &[IoSlice<'_>]) -> Vec<u8> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let mut v = Vec::with_capacity(total.min(MAX_SEND));
    for b in bufs {
        let room = MAX_SEND - v.len();
        if room == 0 {
            break;
        }
        v.extend_from_slice(&b[..b.len().min(room)]);
    }
    v
}

/// Joins two requested shutdowns into the one that does both.
fn merge(a: Option<Shutdown>, b: Shutdown) -> Shutdown {
    match (a, b) {
        (None, b) => b,
        (Some(a), b) if a == b => b,
        _ => Shutdown::Both,
    }
}

impl UringWriter {
    /// The write state for the socket `fd` (shared with the stream: see `shared_fd.rs`).
    pub(crate) fn new(fd: Arc<OwnedFd>) -> UringWriter {
        UringWriter {
            fd,
            shared: Arc::new(Mutex::new(Shared {
                next_owner: POLLER + 1,
                ..Shared::default()
            })),
        }
    }

    /// Sends `data` for `owner`, or goes on with its parked send. Returns the bytes sent.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        owner: u64,
        data: &dyn Fn() -> Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        let mut guard = lock(&self.shared);
        let sh = &mut *guard;
        if let Some(r) = sh.unreported.take() {
            return Poll::Ready(r);
        }
        if sh.detached {
            sh.wait(cx);
            return Poll::Pending;
        }
        match &sh.parked {
            Some(p) if p.owner != owner => {
                // Another writer's send is in flight: its bytes go first.
                sh.wait(cx);
                return Poll::Pending;
            }
            Some(_) => {}
            None => {
                let buf = data();
                if buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                match submit(Op::send(self.fd.clone(), buf)) {
                    Ok(op) => sh.parked = Some(Parked { op, owner, sent: 0 }),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        loop {
            let parked = sh.parked.as_mut().expect("parked above");
            let (result, op) = match Pin::new(&mut parked.op).poll(cx) {
                Poll::Ready(done) => done,
                Poll::Pending => return Poll::Pending,
            };
            let sent = parked.sent;
            let outcome = match result {
                Ok(k) if k > 0 => {
                    let mut rest = op.into_buf().unwrap_or_default();
                    let k = (k as usize).min(rest.len());
                    if k < rest.len() {
                        // A short send: send the rest before this write resolves.
                        rest.drain(..k);
                        match submit(Op::send(self.fd.clone(), rest)) {
                            Ok(next) => {
                                parked.op = next;
                                parked.sent = sent + k;
                                continue;
                            }
                            Err(e) => {
                                sh.unreported = Some(Err(e));
                                Ok(sent + k)
                            }
                        }
                    } else {
                        Ok(sent + k)
                    }
                }
                Ok(_) => Ok(sent),
                // Part of the write went: report that now, the error with the next write.
                Err(e) if sent > 0 => {
                    sh.unreported = Some(Err(e));
                    Ok(sent)
                }
                Err(e) => Err(e),
            };
            sh.parked = None;
            let waiters = sh.take_waiters();
            drop(guard);
            wake_all(waiters);
            return Poll::Ready(outcome);
        }
    }

    /// Writes up to `MAX_SEND` bytes of `buf`; see the module docs for a dropped write.
    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)]).await
    }

    /// Writes the slices, concatenated (up to `MAX_SEND` bytes), as one send.
    pub(crate) async fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let owner = {
            let mut sh = lock(&self.shared);
            let o = sh.next_owner;
            sh.next_owner = sh.next_owner.wrapping_add(1).max(POLLER + 1);
            o
        };
        let _cancel = CancelOnDrop {
            writer: self,
            owner,
        };
        std::future::poll_fn(|cx| self.poll_send(cx, owner, &|| gather(bufs))).await
    }

    /// The poll-style write (futures-io): parks its send in the writer between polls.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_send(cx, POLLER, &|| buf[..buf.len().min(MAX_SEND)].to_vec())
    }

    /// The vectored form of [`poll_write`](Self::poll_write).
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, POLLER, &|| gather(bufs))
    }

    /// One non-blocking `send(2)` when no send is in flight; `WouldBlock` while one is. `send`
    /// is the syscall on the stream's descriptor (passed in: it is the stream's `std` view).
    pub(crate) fn try_write(&self, send: impl FnOnce() -> io::Result<usize>) -> io::Result<usize> {
        let mut sh = lock(&self.shared);
        if let Some(r) = sh.unreported.take() {
            return r;
        }
        if sh.busy() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // Under the lock: no send can be submitted meanwhile and overtake these bytes.
        send()
    }

    /// Ready when no send is in flight (everything handed over is with the kernel).
    pub(crate) fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut sh = lock(&self.shared);
        if sh.detached {
            sh.wait(cx);
            return Poll::Pending;
        }
        if let Some(p) = sh.parked.as_mut() {
            // Drive a parked send that nobody else polls (a poller that went away).
            if p.owner == POLLER {
                drop(sh);
                return match self.poll_send(cx, POLLER, &Vec::new) {
                    Poll::Ready(r) => {
                        let mut sh = lock(&self.shared);
                        // Keep the count for the next write: the flush did not send it.
                        if sh.unreported.is_none() && !matches!(r, Ok(0)) {
                            sh.unreported = Some(r);
                        }
                        Poll::Ready(())
                    }
                    Poll::Pending => Poll::Pending,
                };
            }
            sh.wait(cx);
            return Poll::Pending;
        }
        Poll::Ready(())
    }

    /// Waits for the send in flight, if any.
    pub(crate) async fn idle(&self) {
        std::future::poll_fn(|cx| self.poll_idle(cx)).await
    }

    /// Shuts down now, or (for the write side) right after the send in flight.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut sh = lock(&self.shared);
        if how == Shutdown::Read || !sh.busy() {
            drop(sh);
            return sys::shutdown(&self.fd, how);
        }
        sh.shutdown = Some(merge(sh.shutdown, how));
        if let Some(p) = sh.parked.take() {
            sh.detached = true;
            drop(sh);
            let (shared, fd, sent) = (self.shared.clone(), self.fd.clone(), p.sent);
            p.op.detach(Box::new(move |result, op| {
                finish_before_shutdown(shared, fd, sent, result, op)
            }));
        }
        Ok(())
    }
}

/// The completion of a send a shutdown detached. Its write was handed over whole (the caller
/// was not told otherwise), so a short send is followed by a send of the rest, as the write
/// itself would have done, and the deferred shutdown runs after the last of them.
fn finish_before_shutdown(
    shared: Arc<Mutex<Shared>>,
    fd: Arc<OwnedFd>,
    sent: usize,
    result: io::Result<u32>,
    op: Op,
) {
    if let Ok(k) = result {
        let mut rest = op.into_buf().unwrap_or_default();
        let k = (k as usize).min(rest.len());
        if k > 0 && k < rest.len() {
            rest.drain(..k);
            // Runs where the completion is dispatched, on a thread of the runtime; if the
            // send cannot be submitted (the runtime is going away), the count so far stands.
            if let Ok(next) = submit(Op::send(fd.clone(), rest)) {
                let sent = sent + k;
                next.detach(Box::new(move |result, op| {
                    finish_before_shutdown(shared, fd, sent, result, op)
                }));
                return;
            }
        }
    }
    finish_detached(&shared, &fd, sent, result)
}

/// Cancels its `write`'s send if the future is dropped while the send is in flight.
struct CancelOnDrop<'a> {
    writer: &'a UringWriter,
    owner: u64,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let parked = {
            let mut sh = lock(&self.writer.shared);
            match &sh.parked {
                Some(p) if p.owner == self.owner => {
                    sh.detached = true;
                    sh.parked.take()
                }
                _ => None,
            }
        };
        if let Some(p) = parked {
            let (shared, fd, sent) = (self.writer.shared.clone(), self.writer.fd.clone(), p.sent);
            // Dropping the op cancels the send; the callback gets its completion. Outside the
            // lock: the callback takes it, and runs at once if the send already completed.
            drop(p.op.on_orphan(Box::new(move |result, _op| {
                finish_detached(&shared, &fd, sent, result)
            })));
        }
    }
}

/// The completion of a send nobody polls: keep its count for the next write, run a deferred
/// shutdown, let waiting writers go on.
fn finish_detached(shared: &Mutex<Shared>, fd: &OwnedFd, sent: usize, result: io::Result<u32>) {
    let (shutdown, waiters) = {
        let mut sh = lock(shared);
        sh.detached = false;
        let total = sent + result.as_ref().map_or(0, |&k| k as usize);
        sh.unreported = match result {
            Err(e) if total == 0 && e.raw_os_error() != Some(libc::ECANCELED) => Some(Err(e)),
            _ if total > 0 => Some(Ok(total)),
            _ => None,
        };
        (sh.shutdown.take(), sh.take_waiters())
    };
    if let Some(how) = shutdown {
        // Not reported (see the module docs): the next read or write sees the socket's state.
        let _ = sys::shutdown(fd, how);
    }
    wake_all(waiters);
}
