//! The io_uring completion path for stream reads: the kernel receives into a buffer the
//! runtime owns, and nothing received is ever lost, even by a cancelled read.
//!
//! With readiness (epoll) a read is "wait until readable, then `read(2)` into the caller's
//! buffer". With completions the kernel copies into a buffer *while the caller waits*, so
//! the buffer cannot be the caller's `&mut [u8]` (a dropped future would leave the kernel
//! writing into freed memory). Instead each receive owns a `Vec<u8>` (given to the reactor
//! with the operation, `reactor/src/op.rs`), and the bytes are copied out when it completes.
//! What the caller's buffer cannot hold waits in the *stash* for the next read.
//!
//! # A read dropped mid-operation
//!
//! [`UringReader::read`] owns its receive. Dropping it cancels the receive, but the kernel may
//! have received bytes already: the completion still comes, with them, and the operation's
//! `on_orphan` callback appends them to the stash. Until that completion arrives, the next
//! read *waits* instead of submitting a new receive: two receives in flight on one socket
//! could complete in either order and reorder the stream. So the next read returns the
//! orphan's bytes first, then what follows. (`io/ops.rs` has the operation's states.)
//!
//! [`UringReader::poll_read`], for futures-io's `AsyncRead` (which has no future to own the
//! operation), parks its receive in the reader instead: a poller that goes away leaves it in
//! flight and the next poll picks up its result.
//!
//! ringloop simplifies here: one receive at a time into a fresh `Vec` per receive; no
//! provided-buffer rings and no multishot receive.

use crate::io::{submit, OpFuture};
use ringloop_reactor::Op;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The most one receive asks for.
const MAX_RECV: usize = 64 * 1024;
/// The least one receive asks for (a 1-byte read still receives a useful amount).
const MIN_RECV: usize = 4 * 1024;

/// A stream socket's completion-path read state.
pub(crate) struct UringReader {
    /// The socket, shared with in-flight operations so the descriptor outlives them.
    fd: Arc<OwnedFd>,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    /// Received and not yet returned: `stash[pos..]`.
    stash: Vec<u8>,
    pos: usize,
    eof: bool,
    error: Option<io::Error>,
    /// Cancelled receives whose completion has not arrived yet.
    orphans: usize,
    /// Who waits for the orphans to land.
    waiter: Option<Waker>,
    /// The receive of `poll_read`, kept across polls.
    parked: Option<OpFuture>,
}

impl Shared {
    /// Answers from the stash (or the recorded end of stream / error), if it can.
    fn take(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if self.pos < self.stash.len() {
            let n = buf.len().min(self.stash.len() - self.pos);
            buf[..n].copy_from_slice(&self.stash[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.stash.len() {
                self.stash.clear();
                self.pos = 0;
            }
            return Some(Ok(n));
        }
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        if self.eof {
            return Some(Ok(0));
        }
        None
    }

    /// Files a completed receive: into `buf` as far as it fits, the rest into the stash.
    fn deliver(&mut self, result: io::Result<u32>, op: Op, buf: &mut [u8]) -> io::Result<usize> {
        match result {
            Ok(0) => {
                self.eof = true;
                Ok(0)
            }
            Ok(_) => {
                let data = op.into_buf().unwrap_or_default();
                let n = buf.len().min(data.len());
                buf[..n].copy_from_slice(&data[..n]);
                self.stash.extend_from_slice(&data[n..]);
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl UringReader {
    /// The read state for the socket `fd` (shared with the stream: see `shared_fd.rs`).
    pub(crate) fn new(fd: Arc<OwnedFd>) -> UringReader {
        UringReader {
            fd,
            shared: Arc::default(),
        }
    }

    fn submit(&self, want: usize) -> io::Result<OpFuture> {
        let size = want.clamp(MIN_RECV, MAX_RECV);
        submit(Op::recv(self.fd.clone(), Vec::with_capacity(size)))
    }

    /// Returns stashed bytes without waiting; `WouldBlock` if there are none (the
    /// completion path never reads the socket directly: it would jump the queue).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        lock(&self.shared)
            .take(buf)
            .unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
    }

    /// The poll-style read: parks its receive in the reader between polls.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut sh = lock(&self.shared);
        if let Some(r) = sh.take(buf) {
            return Poll::Ready(r);
        }
        if sh.orphans > 0 {
            sh.waiter = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if sh.parked.is_none() {
            match self.submit(buf.len()) {
                Ok(op) => sh.parked = Some(op),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let parked = sh.parked.as_mut().expect("parked above");
        match Pin::new(parked).poll(cx) {
            Poll::Ready((result, op)) => {
                sh.parked = None;
                Poll::Ready(sh.deliver(result, op, buf))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Reads into `buf`; the receive is cancelled if this future is dropped, and whatever it
    /// still received is kept for the next read.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut op: Option<Pin<Box<OpFuture>>> = None;
        let mut guard = OrphanGuard {
            shared: &self.shared,
            in_flight: false,
        };
        std::future::poll_fn(|cx| {
            let mut sh = lock(&self.shared);
            if op.is_none() {
                if let Some(r) = sh.take(buf) {
                    return Poll::Ready(r);
                }
                if sh.orphans > 0 || sh.parked.is_some() {
                    // An earlier receive is still in flight: its bytes come first.
                    drop(sh);
                    return self.poll_read(cx, buf);
                }
                let shared = self.shared.clone();
                match self.submit(buf.len()) {
                    Ok(fut) => {
                        op = Some(Box::pin(fut.on_orphan(Box::new(move |result, op| {
                            stash_orphan(&shared, result, op)
                        }))));
                        guard.in_flight = true;
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            drop(sh);
            let fut = op.as_mut().expect("submitted above");
            match fut.as_mut().poll(cx) {
                Poll::Ready((result, done)) => {
                    guard.in_flight = false;
                    op = None;
                    Poll::Ready(lock(&self.shared).deliver(result, done, buf))
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

/// Counts a receive as orphaned when the read future holding it is dropped. It is declared
/// after the operation in `read`, so it drops first: the count goes up before the
/// operation's drop can run the orphan callback that brings it down.
struct OrphanGuard<'a> {
    shared: &'a Arc<Mutex<Shared>>,
    in_flight: bool,
}

impl Drop for OrphanGuard<'_> {
    fn drop(&mut self) {
        if self.in_flight {
            lock(self.shared).orphans += 1;
        }
    }
}

/// The orphan callback: keep what a cancelled receive got, and let the next read go on.
fn stash_orphan(shared: &Mutex<Shared>, result: io::Result<u32>, op: Op) {
    let waiter = {
        let mut sh = lock(shared);
        match result {
            Ok(0) => sh.eof = true,
            Ok(_) => {
                let data = op.into_buf().unwrap_or_default();
                sh.stash.extend_from_slice(&data);
            }
            // Cancelled before anything arrived: nothing to keep.
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
            Err(e) => sh.error = Some(e),
        }
        sh.orphans = sh.orphans.saturating_sub(1);
        sh.waiter.take()
    };
    if let Some(w) = waiter {
        w.wake();
    }
}
