//! The io_uring completion path for accepting connections: one multishot accept per
//! listener (Linux 5.19+), single-shot accepts on older kernels.
//!
//! The listener's first `accept` submits a multishot accept; the kernel then accepts every
//! connection that arrives, close-on-exec and non-blocking, and posts each new socket as a
//! completion (already an `OwnedFd` when the runtime sees it: see `io/ops.rs`' `MultiOp`).
//! They queue until `accept` takes them, one per call, in arrival order.
//!
//! When a completion comes without `IORING_CQE_F_MORE` the kernel has ended the multishot
//! accept: after an error (`EMFILE`/`ENFILE` when out of descriptors: the connection stays in
//! the backlog), or when its completion queue overflowed. The error is returned to the caller,
//! exactly as `accept(2)` would return it, and the *next* `accept` call arms a new multishot
//! accept. So descriptor exhaustion behaves as on the readiness path: the accept loops ringloop
//! runs back off before calling again (`server.rs`), nothing spins and nothing dies.
//!
//! (The kernel reads the descriptor limit, `RLIMIT_NOFILE`, when the accept is submitted: a
//! limit lowered later applies from the next re-arm, unlike `accept(2)` which reads it at
//! each call.)
//!
//! Dropping the listener cancels the multishot accept and closes every socket it accepted that
//! was not handed out, including those whose completion comes after the cancel.
//!
//! ringloop simplifies: the peer's address is read with `getpeername(2)` (a multishot accept
//! gets none from the kernel; a peer that reset in between makes that accept fail with
//! `ECONNABORTED`, as `accept(2)` does for a connection aborted in the backlog), and a kernel
//! older than 5.19 gets single-shot accepts, one in flight at a time.
//!
//! # Who is woken
//!
//! Each `accept` call is an identified waiter ([`AcceptWaiter`]): a connection wakes one of
//! them, the one waiting longest, not every task waiting on the listener. A woken waiter that
//! is dropped before taking the connection (a timeout, say) passes the wake-up on to the next,
//! so no connection sits in the queue while a task sleeps. A poller of `poll_accept` (a
//! hand-written future) cannot tell when it goes away, so it is woken by every connection, as
//! before; the end of a multishot accept wakes everybody (each must see it, and one re-arms).
//!
//! # A bounded queue
//!
//! Once armed, the multishot accept takes connections off the backlog as they come, whether
//! or not anyone calls `accept`; they wait, open, in the listener's queue. So that a server
//! which stops accepting does not pile up sockets without bound (nor take connections the
//! kernel's backlog limit would have refused), the queue is bounded: when
//! [`ACCEPT_QUEUE_LIMIT`] accepted sockets wait untaken, the multishot accept is cancelled
//! (`io/ops.rs`' `submit_multishot_bounded`). Later connections then wait in the kernel's
//! backlog, which applies its own limit (`listen(2)`'s backlog), as with readiness. The
//! cancel's own completion (`ECANCELED`) is not an error for `accept`; when `accept` has
//! taken every queued socket, the next call arms a new multishot accept.
//!
//! The bound is soft by what the kernel does before the cancel takes effect: it accepts in
//! batches (everything in the backlog, as long as its completion queue has room), so the
//! queue can overshoot the limit by one batch, at most the completion queue's size (twice
//! the ring's entries). Connections arriving one by one overshoot by a handful.

use crate::io::{submit, submit_multishot_bounded, MultiOp, OpFuture, WaiterId};
use ringloop_reactor::Op;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

/// How many accepted sockets may wait in a listener's queue, not yet returned by `accept`,
/// before the multishot accept is cancelled and new connections are left in the kernel's
/// backlog (see the module documentation). 128 is `std`'s and Python's default `listen(2)`
/// backlog: as many as the kernel would have held for a server that does not accept.
pub(crate) const ACCEPT_QUEUE_LIMIT: usize = 128;

/// A listening socket's completion-path accept state.
pub(crate) struct UringAcceptor {
    /// The listener, shared with the accept in flight so the descriptor outlives it.
    fd: Arc<OwnedFd>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The multishot accept, once armed (re-armed after the kernel ends it).
    multi: Option<MultiOp>,
    /// The single-shot accept in flight (kernels without multishot accept).
    single: Option<OpFuture>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // No invariant spans a call that could unwind while this lock is held.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the kernel has multishot accept (5.19+). An older kernel would fail it with
/// `EINVAL`, which a listener in the wrong state also returns, so the version decides.
fn multishot_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| ringloop_reactor::sys::kernel_at_least(5, 19))
}

impl UringAcceptor {
    /// The accept state for the listening socket `fd` when the current runtime runs on
    /// io_uring; `None` on epoll (readiness) or outside a runtime.
    pub(crate) fn for_current(fd: &Arc<OwnedFd>) -> Option<UringAcceptor> {
        super::shared_fd::uring_backend().then(|| UringAcceptor {
            fd: fd.clone(),
            state: Mutex::default(),
        })
    }

    /// A waiter for [`poll_accept`](Self::poll_accept): woken one per connection, and its
    /// drop passes on a wake-up it did not use.
    pub(crate) fn waiter(&self) -> AcceptWaiter<'_> {
        AcceptWaiter {
            acceptor: self,
            id: WaiterId::new(),
        }
    }

    /// The next accepted socket (close-on-exec, non-blocking), or `accept(2)`'s error.
    /// Without a `waiter` (a hand-written poller, which cannot tell when it goes away) the
    /// task is woken by every connection; with one, waiters are woken one per connection.
    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        waiter: Option<&AcceptWaiter<'_>>,
    ) -> Poll<io::Result<OwnedFd>> {
        let mut st = lock(&self.state);
        if !multishot_supported() {
            return self.poll_single(&mut st, cx);
        }
        // At most two turns: a stream found ended is re-armed once, and the new one is
        // polled (it cannot have ended before being polled).
        for _ in 0..2 {
            if st.multi.is_none() {
                st.multi = Some(submit_multishot_bounded(
                    Op::accept_multishot(self.fd.clone()),
                    ACCEPT_QUEUE_LIMIT,
                )?);
            }
            let multi = st.multi.as_mut().expect("armed above");
            let next = match waiter {
                Some(w) => multi.poll_next_as(cx, w.id),
                None => multi.poll_next(cx),
            };
            match next {
                Poll::Pending => return Poll::Pending,
                // Ended, everything taken: arm again.
                Poll::Ready(None) => st.multi = None,
                Poll::Ready(Some((result, mut op, last))) => {
                    if last {
                        st.multi = None;
                    }
                    return Poll::Ready(match result {
                        Ok(_) => op.take_socket().ok_or_else(|| {
                            io::Error::other("an accept completed without a socket")
                        }),
                        Err(e) => Err(e),
                    });
                }
            }
        }
        // Re-armed twice without a completion or Pending: cannot happen; wake to retry
        // rather than spin here.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_single(&self, st: &mut State, cx: &mut Context<'_>) -> Poll<io::Result<OwnedFd>> {
        if st.single.is_none() {
            st.single = Some(submit(Op::accept(self.fd.clone()))?);
        }
        let single = st.single.as_mut().expect("submitted above");
        match Pin::new(single).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((result, mut op)) => {
                st.single = None;
                Poll::Ready(result.and_then(|_| {
                    op.take_socket()
                        .ok_or_else(|| io::Error::other("an accept completed without a socket"))
                }))
            }
        }
    }
}

/// One `accept` call's identity on the listener's multishot accept (see
/// [`UringAcceptor::waiter`]).
pub(crate) struct AcceptWaiter<'a> {
    acceptor: &'a UringAcceptor,
    id: WaiterId,
}

impl Drop for AcceptWaiter<'_> {
    fn drop(&mut self) {
        // If a connection woke this waiter and it leaves without taking it, the next waiter
        // is woken instead. (A waiter re-armed on a newer multishot accept was woken by the
        // old one's end, with everybody: nothing to pass on there.)
        let next = lock(&self.acceptor.state)
            .multi
            .as_ref()
            .and_then(|m| m.forget(self.id));
        if let Some(w) = next {
            w.wake();
        }
    }
}

/// The error for an accepted connection whose peer address cannot be read: a peer that
/// reset before `getpeername(2)` (`ENOTCONN`) is a connection aborted in the backlog.
pub(crate) fn peer_error(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ENOTCONN) {
        io::Error::from_raw_os_error(libc::ECONNABORTED)
    } else {
        e
    }
}
