//! io_uring operations as futures.
//!
//! An operation's life (tokio-uring's `Lifecycle`):
//!
//! ```text
//! Waiting(waker) ──completion──▶ Done(result, op) ──future polled──▶ taken
//!       │
//!       └──future dropped──▶ Orphaned(on_orphan) ──completion──▶ on_orphan(result, op)
//! ```
//!
//! The reactor owns the op (its buffers and its fd) from `submit` until the completion, so a
//! dropped future never frees memory the kernel still writes into. Dropping also asks the
//! kernel to cancel; the completion still comes (with the data, if it won the race, or
//! `ECANCELED`), and `on_orphan` decides what to keep: a socket's read path stashes the bytes
//! so the next read returns them.

use super::{current_handle, Entry};
use crate::runtime::Handle;
use parking_lot::Mutex;
use ringloop_reactor::{Op, OpId};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// What to do with a completion nobody waits for any more.
pub(crate) type OnOrphan = Box<dyn FnOnce(io::Result<u32>, Op) + Send>;

/// The driver's side of one operation.
pub(crate) struct OpSlot {
    state: Mutex<State>,
}

enum State {
    Waiting(Option<Waker>),
    Done(io::Result<u32>, Op),
    Orphaned(Option<OnOrphan>),
    Taken,
}

impl OpSlot {
    /// The completion arrived.
    pub(super) fn complete(&self, result: io::Result<u32>, op: Op) {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(waker) => {
                *state = State::Done(result, op);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            State::Orphaned(on_orphan) => {
                drop(state);
                if let Some(f) = on_orphan {
                    f(result, op);
                }
                // Otherwise the op, and its buffers, are dropped here: the kernel is done.
            }
            State::Done(..) | State::Taken => unreachable!("an operation completed twice"),
        }
    }
}

/// Submits `op` to the current runtime's io_uring. On epoll this is an `Unsupported` error
/// (callers use the readiness path there) and the op is dropped.
pub(crate) fn submit(op: Op) -> io::Result<OpFuture> {
    let handle = current_handle()?;
    let slot = Arc::new(OpSlot {
        state: Mutex::new(State::Waiting(None)),
    });
    let (ring, id) = submit_with(&handle, Entry::Op(slot.clone()), op)?;
    Ok(OpFuture {
        handle,
        ring,
        slot,
        id,
        on_orphan: None,
        done: false,
    })
}

/// Puts `entry` in the table of this thread's ring and submits `op` there under its token; on
/// a refused submission the entry is taken out again. Returns the ring's index with the op.
fn submit_with(handle: &Handle, entry: Entry, op: Op) -> io::Result<(usize, OpId)> {
    let index = handle.current_ring();
    let ring = handle.driver().ring(index);
    let token = ring.io.insert(entry);
    let id = ring.reactor.submit(op, token).inspect_err(|_| {
        ring.io.remove(token);
    })?;
    Ok((index, id))
}

/// Polls the operation parked in `slot`, submitting one with `submit` first if there is
/// none: for `poll_*` methods, which have no future of their own to keep it in (a poller
/// that goes away leaves it in flight, and the next poll picks up its completion). Ready with
/// the completion, the slot emptied; `submit`'s error is returned as it is.
pub(crate) fn poll_parked(
    slot: &mut Option<OpFuture>,
    cx: &mut Context<'_>,
    submit: impl FnOnce() -> io::Result<OpFuture>,
) -> Poll<io::Result<(io::Result<u32>, Op)>> {
    if slot.is_none() {
        *slot = Some(submit()?);
    }
    let op = slot.as_mut().expect("parked above");
    match Pin::new(op).poll(cx) {
        Poll::Ready(done) => {
            *slot = None;
            Poll::Ready(Ok(done))
        }
        Poll::Pending => Poll::Pending,
    }
}

/// The operation of a receive future that keeps what its cancelled operation still gets
/// (streams' and datagram sockets' single-shot receives): dropped while the operation is in
/// flight, it first calls `count_orphan` (which counts the operation as an orphan, so later
/// receives wait for its bytes), *then* drops the operation, which cancels it. The order
/// matters: the drop may run the operation's orphan callback at once, and that callback
/// brings the count back down.
pub(crate) struct KeptOp<F: Fn()> {
    op: Option<OpFuture>,
    count_orphan: F,
}

impl<F: Fn()> KeptOp<F> {
    /// No operation yet; `count_orphan` as above.
    pub(crate) fn new(count_orphan: F) -> KeptOp<F> {
        KeptOp {
            op: None,
            count_orphan,
        }
    }

    /// Whether no operation is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.op.is_none()
    }

    /// Holds `op` (submitted with its orphan callback) until it completes.
    pub(crate) fn start(&mut self, op: OpFuture) {
        debug_assert!(self.op.is_none(), "one operation at a time");
        self.op = Some(op);
    }

    /// Polls the operation started last: ready with its completion, after which it is idle.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<(io::Result<u32>, Op)> {
        let op = self.op.as_mut().expect("KeptOp polled with no operation");
        let done = std::task::ready!(Pin::new(op).poll(cx));
        self.op = None;
        Poll::Ready(done)
    }
}

impl<F: Fn()> Drop for KeptOp<F> {
    fn drop(&mut self) {
        if let Some(op) = self.op.take() {
            (self.count_orphan)();
            drop(op);
        }
    }
}

/// A submitted operation: resolves to its result and the op (buffers included) back.
pub(crate) struct OpFuture {
    handle: Handle,
    /// The ring it was submitted to (`Driver::ring`): a cancel must go to the same one.
    ring: usize,
    slot: Arc<OpSlot>,
    id: OpId,
    on_orphan: Option<OnOrphan>,
    done: bool,
}

impl OpFuture {
    /// What to do with the completion if this future is dropped first.
    pub(crate) fn on_orphan(mut self, f: OnOrphan) -> OpFuture {
        self.on_orphan = Some(f);
        self
    }

    /// Stops waiting for the operation *without* cancelling it: it runs to its completion,
    /// which is then handed to `f` (at once, here, if it already completed). The send path
    /// uses this when a shutdown must wait for a send nobody polls (`net/uring_write.rs`).
    ///
    /// `f` may run on this thread before `detach` returns: do not hold a lock `f` takes.
    pub(crate) fn detach(mut self, f: OnOrphan) {
        // The work is handed to `f` below; `Drop` must neither cancel nor run `on_orphan`.
        self.done = true;
        self.on_orphan = None;
        let mut state = self.slot.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(_) => *state = State::Orphaned(Some(f)),
            State::Done(result, op) => {
                drop(state);
                f(result, op);
            }
            State::Orphaned(_) | State::Taken => {}
        }
    }
}

impl OpFuture {
    /// The completion, if it has arrived; otherwise `None`, and the waker of the last poll
    /// stays the one woken (a non-blocking look that steals no wake-up).
    pub(crate) fn try_take(&mut self) -> Option<(io::Result<u32>, Op)> {
        if self.done {
            return None;
        }
        let mut state = self.slot.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Done(result, op) => {
                self.done = true;
                Some((result, op))
            }
            other => {
                *state = other;
                None
            }
        }
    }
}

impl Future for OpFuture {
    type Output = (io::Result<u32>, Op);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.slot.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Done(result, op) => {
                this.done = true;
                Poll::Ready((result, op))
            }
            State::Waiting(_) => {
                *state = State::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            State::Orphaned(_) | State::Taken => panic!("OpFuture polled after completion"),
        }
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.slot.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(_) => {
                *state = State::Orphaned(self.on_orphan.take());
                drop(state);
                // The completion still comes; the reactor keeps the buffers until then.
                let _ = self.handle.driver().ring(self.ring).reactor.cancel(self.id);
            }
            State::Done(result, op) => {
                drop(state);
                if let Some(f) = self.on_orphan.take() {
                    f(result, op);
                }
            }
            State::Orphaned(_) | State::Taken => {}
        }
    }
}

/// The driver's side of a multishot operation: its completions queue here until taken.
pub(crate) struct MultiSlot {
    state: Mutex<MultiState>,
}

struct MultiState {
    /// Completions not yet taken, each with "is it the last".
    queue: std::collections::VecDeque<(io::Result<u32>, Op, bool)>,
    /// The last completion has arrived (it may still be queued).
    ended: bool,
    /// Pollers without an identity (`poll_next`): every completion wakes them all, since
    /// nothing tells us when one of them goes away.
    waiters: Vec<Waker>,
    /// Waiters with an identity (`poll_next_as`), oldest first: a completion wakes one.
    queued: std::collections::VecDeque<(WaiterId, Waker)>,
    /// Identified waiters woken and not yet back: if one goes away instead
    /// (`MultiOp::forget`), it passes its wake-up on to the next.
    notified: Vec<WaiterId>,
    /// The `MultiOp` was dropped: completions are dropped as they come (an accepted socket
    /// in one is closed).
    orphaned: bool,
    /// At this queued weight the operation is cancelled (`submit_multishot_bounded`;
    /// `usize::MAX`: never).
    limit: usize,
    /// The weight of `queue`: one per completion without a buffer (an accepted socket), the
    /// bytes of one with a buffer (a multishot receive's data; at least one).
    weight: usize,
    /// The ring and id the operation was submitted under, for that cancel (`None` until
    /// `submit_multishot_bounded` has them).
    submitted: Option<(usize, OpId)>,
    /// The cancel for the limit was sent: the `ECANCELED` completion that ends the operation
    /// is ours, not an error for the taker, and is not queued.
    paused: bool,
}

/// Identifies a waiter of [`MultiOp::poll_next_as`] (unique in the process).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct WaiterId(u64);

impl WaiterId {
    pub(crate) fn new() -> WaiterId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        WaiterId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// What one queued completion counts towards a bounded operation's limit.
fn weight(op: &Op) -> usize {
    op.buf().map_or(1, |b| b.len().max(1))
}

impl MultiState {
    fn push(&mut self, item: (io::Result<u32>, Op, bool)) {
        self.weight += weight(&item.1);
        self.queue.push_back(item);
    }

    fn pop(&mut self) -> Option<(io::Result<u32>, Op, bool)> {
        let item = self.queue.pop_front()?;
        self.weight -= weight(&item.1);
        Some(item)
    }

    /// Takes the oldest identified waiter out of the queue, marked notified.
    fn notify_one(&mut self) -> Option<Waker> {
        let (id, waker) = self.queued.pop_front()?;
        self.notified.push(id);
        Some(waker)
    }

    /// Every waiter, for the end of the operation (each must see it and arm a new one).
    fn take_all(&mut self) -> Vec<Waker> {
        let mut all = std::mem::take(&mut self.waiters);
        all.extend(self.queued.drain(..).map(|(_, w)| w));
        self.notified.clear();
        all
    }

    /// Whether the queue has reached the limit and the operation should be cancelled now;
    /// marks it paused if so.
    fn pause_now(&mut self) -> Option<(usize, OpId)> {
        if self.weight < self.limit || self.paused || self.ended || self.orphaned {
            return None;
        }
        let submitted = self.submitted?;
        self.paused = true;
        Some(submitted)
    }
}

impl MultiSlot {
    /// One completion arrived; `last` if the kernel ended the operation with it.
    pub(super) fn complete(&self, result: io::Result<u32>, op: Op, last: bool) {
        let mut st = self.state.lock();
        st.ended |= last;
        if st.orphaned {
            drop(st);
            // Nobody will take it: dropping the op closes an accepted socket, so nothing leaks.
            drop(op);
            return;
        }
        let ours = last
            && st.paused
            && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::ECANCELED));
        if !ours {
            st.push((result, op, last));
        }
        let pause = st.pause_now();
        // One identified waiter per completion (plus the unidentified ones); everybody when
        // the operation ended, since each must see that and one of them arms the next.
        let waiters = if last {
            st.take_all()
        } else {
            let mut w = std::mem::take(&mut st.waiters);
            w.extend(st.notify_one());
            w
        };
        drop(st);
        if let Some((ring, id)) = pause {
            // The completing thread is one of the runtime's (it polls the op's ring).
            match crate::context::handle() {
                Some(handle) => {
                    let _ = handle.driver().ring(ring).reactor.cancel(id);
                }
                // Not expected; then the operation simply runs on, unbounded, as before.
                None => self.state.lock().paused = false,
            }
        }
        for w in waiters {
            w.wake();
        }
    }
}

/// Submits a multishot `op` (`Op::accept_multishot`, `Op::recv_multishot`) to the current
/// runtime's io_uring. The operation is cancelled once what is queued and not taken weighs
/// `limit`: completions without a buffer (accepted sockets) weigh one each, a
/// multishot receive's weigh their bytes. It then ends with the completions queued so far
/// (the last one, the cancel's `ECANCELED`, is not queued), and the caller submits again
/// when it has taken them. Completions the kernel posted before the cancel took effect are
/// queued too, so the queue can exceed `limit` by what the kernel produced meanwhile. (A
/// listener's accept queue stops at `ACCEPT_QUEUE_LIMIT` sockets; a stream's receive at
/// `READ_AHEAD` bytes, and the kernel's socket buffer then applies TCP's flow control.)
pub(crate) fn submit_multishot_bounded(op: Op, limit: usize) -> io::Result<MultiOp> {
    let handle = current_handle()?;
    let slot = Arc::new(MultiSlot {
        state: Mutex::new(MultiState {
            queue: Default::default(),
            ended: false,
            waiters: Vec::new(),
            queued: Default::default(),
            notified: Vec::new(),
            orphaned: false,
            limit,
            weight: 0,
            submitted: None,
            paused: false,
        }),
    });
    let (ring, id) = submit_with(&handle, Entry::Multi(slot.clone()), op)?;
    let pause = {
        let mut st = slot.state.lock();
        st.submitted = Some((ring, id));
        // Completions may have come (on another thread) before we knew the id.
        st.pause_now()
    };
    if pause.is_some() {
        let _ = handle.driver().ring(ring).reactor.cancel(id);
    }
    Ok(MultiOp {
        handle,
        ring,
        slot,
        id,
    })
}

/// A submitted multishot operation: a stream of completions. Dropping it cancels the
/// operation and drops (closes) whatever it produced that was not taken, now and later.
pub(crate) struct MultiOp {
    handle: Handle,
    /// The ring it was submitted to.
    ring: usize,
    slot: Arc<MultiSlot>,
    id: OpId,
}

impl MultiOp {
    /// The next completion and whether it is the last; `None` once the last was taken.
    /// Several tasks may wait; a poller without an identity is woken by every completion
    /// (use [`poll_next_as`](Self::poll_next_as) where the waiter can say when it leaves).
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(io::Result<u32>, Op, bool)>> {
        let mut st = self.slot.state.lock();
        if let Some(item) = st.pop() {
            return Poll::Ready(Some(item));
        }
        if st.ended {
            return Poll::Ready(None);
        }
        super::add_waker(&mut st.waiters, cx.waker());
        Poll::Pending
    }

    /// [`poll_next`](Self::poll_next) for the waiter `id`, which must call
    /// [`forget`](Self::forget) if it goes away without getting `Ready`. Identified waiters
    /// are woken one per completion, oldest first; one woken that goes away instead passes
    /// the wake-up on, so no completion is left waiting while a waiter sleeps.
    pub(crate) fn poll_next_as(
        &mut self,
        cx: &mut Context<'_>,
        id: WaiterId,
    ) -> Poll<Option<(io::Result<u32>, Op, bool)>> {
        let mut st = self.slot.state.lock();
        st.notified.retain(|n| *n != id);
        let ready = match st.pop() {
            Some(item) => Some(Some(item)),
            None if st.ended => Some(None),
            None => None,
        };
        match ready {
            Some(out) => {
                st.queued.retain(|(n, _)| *n != id);
                Poll::Ready(out)
            }
            None => {
                match st.queued.iter_mut().find(|(n, _)| *n == id) {
                    Some((_, w)) => w.clone_from(cx.waker()),
                    None => st.queued.push_back((id, cx.waker().clone())),
                }
                Poll::Pending
            }
        }
    }

    /// The waiter `id` goes away (its future was dropped): it is no longer woken, and a
    /// wake-up it got and did not use goes to the next waiter.
    /// Returns that next waiter's waker, to wake once the caller's locks are released.
    #[must_use]
    pub(crate) fn forget(&self, id: WaiterId) -> Option<Waker> {
        {
            let mut st = self.slot.state.lock();
            st.queued.retain(|(n, _)| *n != id);
            let was_notified = st.notified.contains(&id);
            st.notified.retain(|n| *n != id);
            if was_notified && !st.queue.is_empty() {
                st.notify_one()
            } else {
                None
            }
        }
    }
}

impl Drop for MultiOp {
    fn drop(&mut self) {
        let (queued, ended, waiters) = {
            let mut st = self.slot.state.lock();
            st.orphaned = true;
            let waiters = st.take_all();
            st.weight = 0;
            (std::mem::take(&mut st.queue), st.ended, waiters)
        };
        // Closes the sockets accepted and never handed out (outside the lock).
        drop(queued);
        // Whoever still waits on this operation must look again (at its successor).
        for w in waiters {
            w.wake();
        }
        if !ended {
            // The last completion still comes; the reactor keeps the op until then.
            let _ = self.handle.driver().ring(self.ring).reactor.cancel(self.id);
        }
    }
}
