//! The io_uring completion path for stream reads: the kernel receives into buffers the
//! runtime owns, and nothing received is ever lost, even by a cancelled read.
//!
//! With readiness (epoll) a read is "wait until readable, then `read(2)` into the caller's
//! buffer". With completions the kernel copies into a buffer *while the caller waits*, so
//! the buffer cannot be the caller's `&mut [u8]` (a dropped future would leave the kernel
//! writing into freed memory). The bytes land in runtime-owned memory and are copied out;
//! what the caller's buffer cannot hold waits in the *stash* for the next read.
//!
//! # Multishot receive (Linux 6.0+): the usual path
//!
//! The first read arms one **multishot receive** (`Op::recv_multishot`): it stays armed, and
//! each time data arrives the kernel fills a buffer from the ring's provided-buffer ring
//! (`reactor/src/uring/bufring.rs`) and posts a completion; the reactor copies the bytes out
//! and recycles the buffer. Completions queue in the operation's `MultiOp` until a read takes
//! them, one at a time, when the stash is empty. So a stream costs one submission, not one per
//! read, and an idle stream pins no buffer.
//!
//! A dropped read loses nothing trivially: no operation belongs to it; the bytes stay queued.
//!
//! **Read-ahead is bounded.** The receive keeps taking data whether or not anyone reads;
//! once [`READ_AHEAD`] bytes are queued and not taken, the driver cancels it (`io/ops.rs`,
//! `submit_multishot_bounded`), the kernel's socket buffer fills, and TCP's flow control
//! slows the peer, as with a reader that stops calling `read(2)`. The next read that finds
//! nothing queued arms it again, as after `ENOBUFS` (the buffer ring ran dry) or any other end.
//! A read takes queued completions only when the stash is empty, so stash and queue together
//! stay within about twice that bound.
//!
//! # Single-shot receives: older kernels
//!
//! Where the ring has no provided buffers (the first arming fails with `Unsupported`), each
//! read submits one receive into a fresh `Vec` of its own. Dropping that read cancels the
//! receive, but the kernel may have received bytes already: the completion still comes, with
//! them, and the operation's `on_orphan` callback appends them to the stash. Until that
//! completion arrives, the next read *waits* instead of submitting a new receive: two receives
//! in flight on one socket could complete in either order and reorder the stream. So the next
//! read returns the orphan's bytes first, then what follows. (`io/ops.rs` has the operation's
//! states.) [`UringReader::poll_read`], for futures-io's `AsyncRead` (which has no future to
//! own the operation), parks its receive in the reader instead: a poller that goes away
//! leaves it in flight and the next poll picks up its result.
//!
//! ringloop simplifies: the provided buffers are copied out as they complete (one copy more
//! than a receive into the caller's memory would need; no buffer is ever lent to the caller),
//! and there is no zero-copy receive.

use crate::io::{poll_parked, submit, submit_multishot_bounded, KeptOp, MultiOp, OpFuture};
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
/// Bytes a multishot receive may queue, not yet read, before it is stopped (see the module
/// docs): tokio's and asyncio's stream readers keep a similar amount (asyncio's default
/// `limit` is 64 KiB per reader buffer, plus the socket's own buffer).
pub(crate) const READ_AHEAD: usize = 256 * 1024;

/// How a reader receives: decided by its first read.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Mode {
    #[default]
    Unknown,
    /// One multishot receive with provided buffers.
    Multishot,
    /// One receive per read (no provided-buffer ring on this kernel).
    Single,
}

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
    /// Who wait for the orphans to land (a read, a `poll_read`, a `readable()`).
    waiters: Vec<Waker>,
    /// The receive of `poll_read`, kept across polls (single-shot mode).
    parked: Option<OpFuture>,
    /// The waker `parked` is polled with (see [`ParkedWake`]).
    parked_wake: Arc<ParkedWake>,
    mode: Mode,
    /// The multishot receive, from its arming until its last completion is taken.
    multi: Option<MultiOp>,
}

/// The waker a parked receive is polled with. Two may wait on that receive: the `poll_read`
/// that parked it and a `readable()` (another task's, say). The operation keeps one waker,
/// so each registers here and the completion wakes both: neither takes the other's wake-up.
#[derive(Default)]
struct ParkedWake(Mutex<[Option<Waker>; 2]>);

/// [`ParkedWake`]'s slot for the `poll_read` that parked the receive.
const PARKED_READER: usize = 0;
/// [`ParkedWake`]'s slot for a `readable()`.
const PARKED_READABLE: usize = 1;

impl ParkedWake {
    fn register(&self, slot: usize, waker: &Waker) {
        let mut slots = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &mut slots[slot] {
            Some(w) if w.will_wake(waker) => {}
            other => *other = Some(waker.clone()),
        }
    }

    /// Registers `cx`'s waker in `slot` and returns the waker to poll the parked receive with.
    fn waker(self: &Arc<Self>, slot: usize, cx: &Context<'_>) -> Waker {
        self.register(slot, cx.waker());
        Waker::from(self.clone())
    }
}

impl std::task::Wake for ParkedWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken under the lock, woken after it.
        let slots = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for w in slots.into_iter().flatten() {
            w.wake();
        }
    }
}

impl Shared {
    /// Waits (with `cx`) for the cancelled receives in flight to land.
    fn wait_for_orphans(&mut self, cx: &Context<'_>) {
        crate::io::add_waker(&mut self.waiters, cx.waker());
    }

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

impl Shared {
    /// [`UringReader::poll_readable`] on a single-shot ring.
    fn poll_single_readable(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        loop {
            if self.pos < self.stash.len() || self.eof || self.error.is_some() {
                return Poll::Ready(true);
            }
            if let Some(parked) = self.parked.as_mut() {
                let waker = self.parked_wake.waker(PARKED_READABLE, cx);
                let done = Pin::new(parked).poll(&mut Context::from_waker(&waker));
                let (result, op) = std::task::ready!(done);
                self.parked = None;
                // Everything it got goes to the stash (`deliver` into no buffer).
                if let Err(e) = self.deliver(result, op, &mut []) {
                    self.error = Some(e);
                }
                continue;
            }
            if self.orphans > 0 {
                self.wait_for_orphans(cx);
                return Poll::Pending;
            }
            return Poll::Ready(false);
        }
    }

    /// Files one completion of the multishot receive: its bytes into the stash (taking the
    /// buffer over when the stash is empty: no copy), end of stream or an error as state.
    fn file(&mut self, result: io::Result<u32>, op: Op) {
        let data = op.into_buf().unwrap_or_default();
        if !data.is_empty() {
            if self.pos == self.stash.len() {
                self.stash = data;
                self.pos = 0;
            } else {
                self.stash.extend_from_slice(&data);
            }
        }
        match result {
            // The receive ended at end of stream (a multishot receive ends there).
            Ok(0) => self.eof = true,
            Ok(_) => {}
            // Ended by the read-ahead bound's cancel, or the buffer ring ran dry: the next
            // read that needs bytes arms it again.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ECANCELED | libc::ENOBUFS)) => {}
            Err(e) => self.error = Some(e),
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

    /// Returns received bytes without waiting: stashed, or (multishot) already taken by the
    /// receive, which is armed if it is not. `WouldBlock` if there are none; then
    /// [`poll_readable`](Self::poll_readable) waits for them. On single-shot rings, `direct`
    /// (one non-blocking `recv(2)`) reads the socket, but only while no receive is in flight:
    /// it would jump the queue.
    pub(crate) fn try_read(
        &self,
        buf: &mut [u8],
        direct: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut sh = lock(&self.shared);
        if sh.mode != Mode::Single {
            let mut cx = Context::from_waker(Waker::noop());
            match self.poll_multi(&mut sh, &mut cx, buf) {
                Some(Poll::Ready(r)) => return r,
                Some(Poll::Pending) => return Err(io::ErrorKind::WouldBlock.into()),
                None => {}
            }
        }
        if let Some(r) = sh.take(buf) {
            return r;
        }
        // A receive `poll_read` parked and nobody polled since: its bytes come first.
        if let Some((result, op)) = sh.parked.as_mut().and_then(OpFuture::try_take) {
            sh.parked = None;
            return sh.deliver(result, op, buf);
        }
        if sh.orphans > 0 || sh.parked.is_some() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // Under the lock: no receive can be submitted meanwhile and overtake these bytes.
        direct(buf)
    }

    /// Arms the multishot receive. `Ok(false)` if this kernel has none (no provided-buffer
    /// ring): the reader switches to single-shot receives for good.
    fn arm(&self, sh: &mut Shared) -> io::Result<bool> {
        match submit_multishot_bounded(Op::recv_multishot(self.fd.clone()), READ_AHEAD) {
            Ok(multi) => {
                sh.mode = Mode::Multishot;
                sh.multi = Some(multi);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::Unsupported && sh.mode == Mode::Unknown => {
                sh.mode = Mode::Single;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Ready(true) once a read would not wait (bytes, end of stream or an error are there),
    /// arming the multishot receive if needed.
    ///
    /// On single-shot rings: Ready(true) for what the stash holds; else it waits for a
    /// receive still in flight (one `poll_read` parked, or cancelled ones), since those take
    /// the socket's next bytes; else Ready(false), and the caller waits for socket readiness.
    /// A task waiting here and one in `poll_read` are both woken when the parked receive
    /// completes ([`ParkedWake`]); whichever polls first takes its bytes (into the stash
    /// from here, where the other then finds them).
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut sh = lock(&self.shared);
        if sh.mode == Mode::Single {
            return sh.poll_single_readable(cx);
        }
        match self.poll_filled(&mut sh, cx) {
            None => Poll::Ready(false),
            Some(Poll::Pending) => Poll::Pending,
            Some(Poll::Ready(Ok(()))) => Poll::Ready(true),
            Some(Poll::Ready(Err(e))) => {
                // Arming failed: the next read reports it.
                sh.error = Some(e);
                Poll::Ready(true)
            }
        }
    }

    /// The multishot read: from the stash, else the next queued completion, else arm the
    /// receive and wait. `None` if this kernel has no multishot receive (the reader switches
    /// to single-shot receives for good).
    fn poll_multi(
        &self,
        sh: &mut Shared,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Option<Poll<io::Result<usize>>> {
        Some(match self.poll_filled(sh, cx)? {
            Poll::Ready(Ok(())) => Poll::Ready(sh.take(buf).expect("the stash has an answer")),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        })
    }

    /// Ready(Ok) once the stash has an answer (bytes, end of stream or an error), filing the
    /// multishot receive's queued completions into it and arming the receive if it is not.
    /// Ready(Err) if arming failed; `None` if this kernel has no multishot receive (the reader
    /// switches to single-shot receives for good).
    fn poll_filled(&self, sh: &mut Shared, cx: &mut Context<'_>) -> Option<Poll<io::Result<()>>> {
        loop {
            if sh.pos < sh.stash.len() || sh.eof || sh.error.is_some() {
                return Some(Poll::Ready(Ok(())));
            }
            match sh.multi.as_mut().map(|m| m.poll_next(cx)) {
                Some(Poll::Ready(Some((result, op, last)))) => {
                    if last {
                        sh.multi = None;
                    }
                    sh.file(result, op);
                }
                Some(Poll::Ready(None)) => sh.multi = None,
                Some(Poll::Pending) => return Some(Poll::Pending),
                None => match self.arm(sh) {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(Poll::Ready(Err(e))),
                },
            }
        }
    }

    /// The poll-style read: parks its receive in the reader between polls.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut sh = lock(&self.shared);
        if sh.mode != Mode::Single {
            if let Some(p) = self.poll_multi(&mut sh, cx, buf) {
                return p;
            }
        }
        if let Some(r) = sh.take(buf) {
            return Poll::Ready(r);
        }
        if sh.orphans > 0 {
            sh.wait_for_orphans(cx);
            return Poll::Pending;
        }
        let waker = sh.parked_wake.waker(PARKED_READER, cx);
        let parked = poll_parked(&mut sh.parked, &mut Context::from_waker(&waker), || {
            self.submit(buf.len())
        });
        match parked {
            Poll::Ready(Ok((result, op))) => Poll::Ready(sh.deliver(result, op, buf)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Reads into `buf`; the receive is cancelled if this future is dropped, and whatever it
    /// still received is kept for the next read.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if lock(&self.shared).mode != Mode::Single {
            // Multishot: no operation belongs to this future, so dropping it loses nothing.
            let multi = std::future::poll_fn(|cx| {
                let mut sh = lock(&self.shared);
                match self.poll_multi(&mut sh, cx, buf) {
                    Some(p) => p.map(Some),
                    None => Poll::Ready(None),
                }
            })
            .await;
            if let Some(r) = multi {
                return r;
            }
        }
        let mut in_flight = KeptOp::new(|| lock(&self.shared).orphans += 1);
        std::future::poll_fn(|cx| {
            let mut sh = lock(&self.shared);
            if in_flight.is_idle() {
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
                    Ok(fut) => in_flight.start(fut.on_orphan(Box::new(move |result, op| {
                        stash_orphan(&shared, result, op)
                    }))),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            drop(sh);
            in_flight
                .poll(cx)
                .map(|(result, done)| lock(&self.shared).deliver(result, done, buf))
        })
        .await
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
        std::mem::take(&mut sh.waiters)
    };
    for w in waiter {
        w.wake();
    }
}
