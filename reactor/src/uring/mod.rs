//! The io_uring backend: readiness through multishot polls, and completion-based operations.
//!
//! # How io_uring works (for a student)
//!
//! `io_uring_setup` creates two ring buffers shared between the process and the kernel,
//! mapped into our memory:
//!
//! - the **submission queue** (SQ): we write entries ("receive into this buffer from that
//!   socket, call it #42") and advance its tail;
//! - the **completion queue** (CQ): the kernel writes results ("#42: 1,024 bytes") and
//!   advances its tail; we read them and advance its head.
//!
//! One syscall, `io_uring_enter`, tells the kernel "I queued *n* entries" and optionally
//! "sleep until *m* completions are ready, or until this timeout". Many operations can go in
//! one `enter`, and completions are read from shared memory with no syscall at all: that is
//! the batching advantage over epoll, which needs a syscall per `read`/`write` on top of
//! each `epoll_wait`.
//!
//! The price is ownership: the kernel uses our buffers *after* `enter` returns, until the
//! completion. See [`crate::op`] for why an [`Op`] owns its buffers, and [`slots`] for the
//! state machine that keeps every in-flight op alive until its completion.
//!
//! # How this backend uses it
//!
//! - **Readiness** (`register`): one multishot `POLL_ADD` per descriptor. It posts a
//!   completion (with `IORING_CQE_F_MORE`) each time the descriptor's readiness changes and
//!   stays armed: edge-triggered by default for multishot polls, the same contract as epoll.
//! - **Operations** (`submit`): accept, connect, recv, send, read, write, close, timeout;
//!   `cancel` queues an `ASYNC_CANCEL`. Entries are queued in the SQ and go to the kernel with
//!   the next `enter`: the poller's, or the submitter's own when a poller is blocked (it
//!   would not see them until it woke).
//! - **Deadlines**: the wait's own timeout (`IORING_ENTER_EXT_ARG` with a timespec, kernel
//!   5.11+), nanosecond precision, no extra entry.
//! - **The waker**: a multishot poll on the waker's eventfd ends a blocked wait.
//!
//! # Under pressure
//!
//! - **Full SQ**: flush it with `enter` and push again.
//! - **CQ overflow**: with `IORING_FEAT_NODROP` (required) the kernel keeps completions that
//!   did not fit on an internal list, but moves them back into the CQ only during an `enter`
//!   with `GETEVENTS` (io-uring #302, tokio-uring PR #153). After draining the CQ, if the
//!   overflow flag is set, we enter again to flush, and drain again.
//! - **`EBUSY`** from `enter` (older kernels, when overflowed completions cannot be flushed):
//!   drain the CQ into a backlog we process first, then retry. **`EINTR`**: retry.
//!
//! # One owner thread
//!
//! By default any thread may enter the kernel for the ring, and the kernel runs completion
//! work (a receive's copy, posting its completion) as *task work* on the thread that
//! submitted the operation, interrupting it if it is running (an inter-processor interrupt
//! when it runs on another CPU). A ring built with
//! [`single_issuer`](crate::ReactorBuilder::single_issuer) is driven by one thread instead
//! (`IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN`, Linux 6.1+): the kernel runs its completion
//! work only when that thread asks for completions, in batches, and never interrupts it.
//! The multi-thread runtime gives each worker such a ring.
//!
//! - The ring is set up disabled; the thread that calls `claim` enables it and becomes the
//!   owner, the only thread that enters the kernel for it (the kernel refuses others with
//!   `EEXIST`). `poll` is the owner's only.
//! - Other threads still register, submit and cancel: their entries go into the SQ (shared
//!   memory, under the state lock) and reach the kernel with the owner's next `enter`; a
//!   blocked owner is woken for them. When the SQ is full they queue in `pending`, which
//!   the owner moves into the SQ, in order, at its next poll (every later push queues
//!   behind them, so an operation and its cancel keep their order).
//! - Completions wait as deferred task work until the owner enters with `GETEVENTS`; the
//!   kernel flags that with `IORING_SQ_TASKRUN` (`TASKRUN_FLAG`), which `needs_enter` reads,
//!   so a non-blocking poll enters only when there is work.
//! - Before its thread exits the owner *retires* the ring: it cancels everything and waits
//!   for the final completions, since nobody else may. A ring dropped by another thread
//!   afterwards is freed at once; one whose owner never retired is leaked, not freed under
//!   the kernel's feet.
//!
//! # Locks
//!
//! `state` guards the SQ, the CQ and the slab; it is held for short, non-blocking sections.
//! The blocking wait runs *without* it (the kernel allows `enter` from several threads), so
//! other threads can submit, register and cancel while the poller sleeps. The poll lock makes
//! pollers take turns.

mod bufring;
mod prep;
mod reap;
mod slots;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};

use crate::sys::{self, Syscall};
use crate::waker::WakeState;
use crate::{Events, Interest, Op, OpId, Token};
use slots::{Slot, Slots, CANCEL_POLL, INTERNAL, WAKER};

/// The opcodes this backend uses; a kernel lacking any of them gets epoll instead.
const NEEDED: [(u8, &str); 10] = [
    (opcode::PollAdd::CODE, "POLL_ADD"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Timeout::CODE, "TIMEOUT"),
];

/// How long dropping the reactor waits for the kernel to finish cancelled operations before
/// it gives up and leaks their buffers (never frees memory the kernel may still write).
const DROP_PATIENCE: Duration = Duration::from_secs(10);

/// The io_uring backend.
pub(crate) struct Uring {
    ring: ManuallyDrop<IoUring>,
    state: Mutex<State>,
    poll_lock: Mutex<()>,
    wake: Arc<WakeState>,
    owner: Owner,
}

/// Who may enter the kernel for a ring: any thread, or (a single-issuer ring) its owner only.
/// See "One owner thread" in the module documentation.
struct Owner {
    /// Set up with `SINGLE_ISSUER | DEFER_TASKRUN` (and disabled until claimed).
    single: bool,
    /// The owner's [`thread_identity`], 0 until [`Uring::claim`].
    thread: AtomicUsize,
    /// The owner has retired ([`Uring::retire`]): nothing enters the kernel any more, and
    /// every operation the kernel was given has completed.
    retired: AtomicBool,
}

/// A number that identifies the calling thread while it lives (the address of one of its
/// thread-locals): cheaper than `std::thread::current().id()`, which clones a handle.
fn thread_identity() -> usize {
    thread_local!(static ID: u8 = const { 0 });
    ID.with(|id| id as *const u8 as usize)
}

struct State {
    slots: Slots,
    /// Registered descriptors and the `user_data` of their poll.
    regs: HashMap<RawFd, u64>,
    /// Completions taken off the CQ by a submitter (to make room) and not yet delivered.
    backlog: VecDeque<(u64, i32, u32)>,
    /// Entries whose final completion has not arrived (ops, polls, internal requests).
    inflight: usize,
    /// Polls whose multishot ended while still wanted: re-armed after the drain.
    rearm: Vec<u64>,
    /// Deregistered polls whose cancel the kernel refused for now: cancelled again after the
    /// drain.
    recancel: Vec<u64>,
    /// The waker's poll ended: re-arm it.
    rearm_waker: bool,
    /// Counts polls, to merge one token's completions within a poll.
    turn: u64,
    /// Set by drop (and retire): stop re-arming.
    closing: bool,
    /// Entries that did not fit in a full SQ, pushed by a thread that may not enter the
    /// kernel to make room (a single-issuer ring's non-owner); the owner moves them into the
    /// SQ, in order, at its next poll. Counted in `inflight` already.
    pending: VecDeque<squeue::Entry>,
    /// The provided-buffer ring of multishot receives, where the kernel has them.
    bufs: Option<bufring::BufRing>,
}

fn poll_mask(i: Interest) -> u32 {
    let mut m = 0;
    if i.is_readable() {
        m |= (libc::POLLIN | libc::POLLRDHUP) as u16 as u32;
    }
    if i.is_writable() {
        m |= libc::POLLOUT as u16 as u32;
    }
    if i.is_priority() {
        m |= libc::POLLPRI as u16 as u32;
    }
    m
}

impl State {
    /// Nothing registered, in flight or queued.
    fn new(bufs: Option<bufring::BufRing>) -> State {
        State {
            slots: Slots::new(),
            regs: HashMap::new(),
            backlog: VecDeque::new(),
            inflight: 0,
            rearm: Vec::new(),
            recancel: Vec::new(),
            rearm_waker: false,
            turn: 0,
            closing: false,
            pending: VecDeque::new(),
            bufs,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the ring inconsistent (every section
    // re-reads the shared head and tail), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Uring {
    /// Sets up a ring of `entries` submission entries, probes the kernel and arms the waker.
    /// Errors are meant for the fallback decision in [`crate::backend`].
    ///
    /// `single_issuer`: one thread will drive the ring, from [`claim`](Self::claim) on (see
    /// "One owner thread" in the module documentation); ignored before Linux 6.1.
    pub(crate) fn new(
        entries: u32,
        wake: Arc<WakeState>,
        single_issuer: bool,
    ) -> io::Result<Uring> {
        let setup = |single: bool| {
            sys::call(Syscall::IoUringSetup, || {
                let mut builder = IoUring::builder();
                builder.setup_clamp();
                if single {
                    builder
                        .setup_single_issuer()
                        .setup_defer_taskrun()
                        .setup_taskrun_flag()
                        .setup_r_disabled();
                }
                builder.build(entries)
            })
        };
        let mut single = single_issuer && sys::kernel_at_least(6, 1);
        let ring = match setup(single) {
            // A kernel (or a filter) that refuses the flags: a plain ring does the same work.
            Err(e) if single && e.raw_os_error() == Some(libc::EINVAL) => {
                single = false;
                setup(false)?
            }
            other => other?,
        };
        let params = ring.params();
        if !params.is_feature_nodrop() || !params.is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG (kernel < 5.11)",
            ));
        }
        let mut probe = io_uring::Probe::new();
        sys::call(Syscall::IoUringRegister, || {
            ring.submitter().register_probe(&mut probe)
        })
        .map_err(|e| {
            // A kernel that cannot even answer the probe (IORING_REGISTER_PROBE is 5.6+)
            // lacks what we need: treat it as "unsupported", which falls back.
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring opcode probe failed: {e}"),
            )
        })?;
        for (code, name) in NEEDED {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("io_uring lacks the {name} opcode"),
                ));
            }
        }
        // Multishot receive is Linux 6.0; the buffer ring it draws from, 5.19. Without them,
        // streams receive with one plain receive per read.
        let bufs = if sys::kernel_at_least(6, 0) {
            bufring::BufRing::new(&ring).ok()
        } else {
            None
        };
        let uring = Uring {
            ring: ManuallyDrop::new(ring),
            state: Mutex::new(State::new(bufs)),
            poll_lock: Mutex::new(()),
            wake,
            owner: Owner {
                single,
                thread: AtomicUsize::new(0),
                retired: AtomicBool::new(false),
            },
        };
        {
            let mut st = lock(&uring.state);
            uring.arm_waker(&mut st)?;
            // A single-issuer ring is disabled until its owner claims it: the waker's poll
            // goes to the kernel then.
            if !single {
                uring.flush(&mut st)?;
            }
        }
        Ok(uring)
    }

    /// Makes the calling thread the ring's owner, the only one that enters the kernel for it
    /// from now on, and enables the ring (`IORING_REGISTER_ENABLE_RINGS`: the kernel takes
    /// the enabling thread as the single issuer). Does nothing on a ring set up without a
    /// single issuer.
    pub(crate) fn claim(&self) -> io::Result<()> {
        if !self.owner.single {
            return Ok(());
        }
        if self
            .owner
            .thread
            .compare_exchange(0, thread_identity(), Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "this io_uring ring already has an owner thread",
            ));
        }
        sys::call(Syscall::IoUringRegister, || {
            self.ring.submitter().register_enable_rings()
        })?;
        let mut st = lock(&self.state);
        self.move_pending(&mut st)?;
        self.flush(&mut st)
    }

    /// The owner's farewell, called by the owner thread before it exits: cancels every
    /// operation and poll and waits for their final completions, after which the ring takes
    /// no more work (submissions fail; nothing enters the kernel). Afterwards any thread may
    /// drop the reactor without waiting. Does nothing on a ring without a single issuer, or
    /// on another thread.
    pub(crate) fn retire(&self) {
        if !self.owner.single || !self.can_enter() {
            return;
        }
        let mut st = lock(&self.state);
        st.closing = true;
        if self.cancel_all_and_wait(&mut st) {
            self.owner.retired.store(true, Ordering::Release);
        }
    }

    /// Whether the calling thread may enter the kernel for this ring: any thread may, unless
    /// it has a single issuer, which only its owner may (and nobody once retired).
    fn can_enter(&self) -> bool {
        !self.owner.single
            || (!self.owner.retired.load(Ordering::Acquire)
                && self.owner.thread.load(Ordering::Acquire) == thread_identity())
    }

    /// An error for work given to a ring whose owner has retired (the runtime shut down).
    fn check_open(&self) -> io::Result<()> {
        if self.owner.retired.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "this io_uring ring's owner thread has exited (the runtime is shutting down)",
            ));
        }
        Ok(())
    }

    /// Moves the entries queued in `pending` into the SQ, in order, flushing as it fills.
    /// The owner's (or any thread's, without a single issuer).
    fn move_pending(&self, st: &mut State) -> io::Result<()> {
        while let Some(e) = st.pending.front() {
            if self.push_sq(e) {
                st.pending.pop_front();
            } else {
                self.flush(st)?;
            }
        }
        Ok(())
    }

    /// Puts one entry in the SQ if it has room. Needs the state lock (see the SAFETY comment).
    fn push_sq(&self, e: &squeue::Entry) -> bool {
        // SAFETY: the SQ is only touched under the state lock, which every caller holds (they
        // have `&mut State`), so there is one producer. Dropping `sq` publishes the new tail.
        let mut sq = unsafe { self.ring.submission_shared() };
        // SAFETY: every pointer in `e` refers to memory owned by a slot (or to the reactor
        // itself), which outlives the entry's completion (see `slots`).
        unsafe { sq.push(e) }.is_ok()
    }

    fn arm_waker(&self, st: &mut State) -> io::Result<()> {
        let e = opcode::PollAdd::new(types::Fd(self.wake.fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKER);
        self.push(st, &e)
    }

    /// Queues one entry, flushing the SQ to the kernel when it is full. A thread that may not
    /// enter the kernel (a single-issuer ring's non-owner) queues it in `pending` instead,
    /// for the owner; so does every push while `pending` is not empty, to keep the order.
    fn push(&self, st: &mut State, e: &squeue::Entry) -> io::Result<()> {
        if st.pending.is_empty() && self.push_sq(e) {
            st.inflight += 1;
            return Ok(());
        }
        if self.can_enter() {
            self.move_pending(st)?;
            // Full: hand what is queued to the kernel, then there is room.
            while !self.push_sq(e) {
                self.flush(st)?;
            }
            st.inflight += 1;
            return Ok(());
        }
        st.pending.push_back(e.clone());
        st.inflight += 1;
        // The owner may be blocked with a full SQ in front of it: it must come and take these.
        self.wake.wake();
        Ok(())
    }

    /// Hands every queued entry to the kernel (`io_uring_enter` without waiting).
    fn flush(&self, st: &mut State) -> io::Result<()> {
        let mut busy = 0;
        loop {
            match sys::call(Syscall::IoUringEnter, || self.ring.submitter().submit()) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The CQ is overflowing and the kernel wants room before taking more work
                // (EBUSY), or is short of request memory (EAGAIN): move completions to our
                // backlog and try again. Bounded, so a kernel that never yields room gives an
                // error rather than a spin.
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EAGAIN))
                        && busy < 64 =>
                {
                    busy += 1;
                    let moved = self.to_backlog(st);
                    if moved == 0 && busy > 8 {
                        std::thread::yield_now();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves every completion in the CQ to the backlog; returns how many.
    fn to_backlog(&self, st: &mut State) -> usize {
        // SAFETY: the CQ is only touched under the state lock (held: `st`).
        let cq = unsafe { self.ring.completion_shared() };
        let before = st.backlog.len();
        for c in cq {
            st.backlog.push_back((c.user_data(), c.result(), c.flags()));
        }
        st.backlog.len() - before
    }

    /// Whether entries are queued but not yet handed to the kernel, or overflowed completions
    /// wait in the kernel. Takes the state lock's proof: see the SAFETY comment.
    fn needs_enter(&self, st: &mut State) -> bool {
        // SAFETY: the SQ is only touched under the state lock, which `st` proves we hold.
        // Even a look needs it: a `SubmissionQueue` view writes its tail back when dropped, so
        // a view taken without the lock, dropped after another thread pushed, would move the
        // tail back and the next push would overwrite the entry, which then never reaches the
        // kernel (`submissions_racing_a_non_blocking_poll_are_never_lost`).
        let sq = unsafe { self.ring.submission_shared() };
        // `taskrun`: a single-issuer ring's completions wait as deferred task work, which
        // only an enter (with GETEVENTS, which `submit` then sets) runs.
        !sq.is_empty() || sq.cq_overflow() || sq.taskrun() || !st.pending.is_empty()
    }

    pub(crate) fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        // epoll_ctl rejects a bad descriptor at once; io_uring would only say so in a
        // completion. Check now so both backends fail the same way.
        sys::check_fd(fd)?;
        self.check_open()?;
        let mut st = lock(&self.state);
        if st.regs.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.arm_poll(&mut st, fd, token, interest)?;
        self.kick(&mut st)
    }

    fn arm_poll(
        &self,
        st: &mut State,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let ud = st.slots.insert(Slot::Poll {
            fd,
            token,
            interest,
            armed: true,
            active: true,
            last: None,
        });
        let e = opcode::PollAdd::new(types::Fd(fd), poll_mask(interest))
            .multi(true)
            .build()
            .user_data(ud);
        if let Err(err) = self.push(st, &e) {
            st.slots.remove(ud);
            return Err(err);
        }
        st.regs.insert(fd, ud);
        Ok(())
    }

    /// Stops a registration: events for it are dropped from now on, and the kernel is asked
    /// to cancel the poll.
    ///
    /// Why `ASYNC_CANCEL` and not `POLL_REMOVE`: a poll whose wake-up is being processed (its
    /// task_work is queued, as happens at once for a descriptor that is ready when the poll is
    /// armed) cannot be disarmed by `POLL_REMOVE`, which then fails with `EALREADY` and leaves
    /// the multishot poll armed for good, holding a reference to the file: closing the
    /// descriptor would not close the socket, and the peer would never see end of stream or a
    /// reset. `ASYNC_CANCEL` marks the poll cancelled and lets its task_work end it. If the
    /// kernel still answers `EALREADY` or `ENOENT` while no final completion came, the cancel
    /// is sent again after the next drain (`reap.rs`), never in a loop.
    fn disarm(&self, st: &mut State, fd: RawFd) -> io::Result<()> {
        let ud = st
            .regs
            .remove(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let armed = match st.slots.get_mut(ud) {
            Some(Slot::Poll { armed, active, .. }) => {
                *active = false;
                *armed
            }
            _ => false,
        };
        if armed {
            self.push_cancel_poll(st, ud)?;
        } else {
            st.slots.remove(ud);
        }
        Ok(())
    }

    /// Queues the cancel of the readiness poll `ud`.
    fn push_cancel_poll(&self, st: &mut State, ud: u64) -> io::Result<()> {
        let e = opcode::AsyncCancel::new(ud)
            .build()
            .user_data(CANCEL_POLL | ud);
        self.push(st, &e)
    }

    pub(crate) fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut st = lock(&self.state);
        self.disarm(&mut st, fd)?;
        self.arm_poll(&mut st, fd, token, interest)?;
        self.kick(&mut st)
    }

    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let mut st = lock(&self.state);
        self.disarm(&mut st, fd)?;
        // Submit the cancel now, not at the next poll: the kernel's poll holds a reference
        // to the file, so until it is removed, closing `fd` would not really close the socket
        // (the peer would not see EOF). On a single-issuer ring another thread asks the
        // owner, which submits it at its next poll (at once, if it is blocked).
        if self.can_enter() {
            self.flush(&mut st)
        } else {
            self.wake.wake();
            Ok(())
        }
    }

    /// After queueing: if a poller is blocked in the kernel it will not look at the SQ until
    /// it wakes, so enter the kernel ourselves. Otherwise the next poll submits the batch.
    fn kick(&self, st: &mut State) -> io::Result<()> {
        if !self.wake.is_polling() {
            Ok(())
        } else if self.can_enter() {
            self.flush(st)
        } else {
            // A single-issuer ring's blocked owner: wake it, its next wait submits.
            self.wake.wake();
            Ok(())
        }
    }

    pub(crate) fn submit(&self, op: Op, token: Token) -> io::Result<OpId> {
        prep::validate(&op)?;
        self.check_open()?;
        let mut st = lock(&self.state);
        if matches!(op, Op::RecvMulti(_)) && st.bufs.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "multishot receive needs a provided-buffer ring (Linux 6.0+)",
            ));
        }
        let ud = st.slots.insert(Slot::Op {
            token,
            op,
            cancel_requested: false,
        });
        let e = match st.slots.get_mut(ud) {
            Some(Slot::Op { op, .. }) => prep::entry(op, ud),
            _ => unreachable!("slot {ud:#x} was just inserted"),
        };
        if let Err(err) = self.push(&mut st, &e) {
            // Never reached the kernel: the op is simply dropped.
            st.slots.remove(ud);
            return Err(err);
        }
        if let Some(Slot::Op { op, .. }) = st.slots.get_mut(ud) {
            prep::pushed(op);
        }
        self.kick(&mut st)?;
        Ok(OpId(ud))
    }

    pub(crate) fn cancel(&self, id: OpId) -> io::Result<()> {
        let mut st = lock(&self.state);
        match st.slots.get_mut(id.0) {
            Some(Slot::Op {
                cancel_requested, ..
            }) if !*cancel_requested => {
                *cancel_requested = true;
            }
            // Already completed (its event is delivered or about to be), or already asked.
            _ => return Ok(()),
        }
        let e = opcode::AsyncCancel::new(id.0).build().user_data(INTERNAL);
        self.push(&mut st, &e)?;
        self.kick(&mut st)
    }

    pub(crate) fn poll(&self, events: &mut Events, deadline: Option<Instant>) -> io::Result<()> {
        if !self.can_enter() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "only its owner thread polls a single-issuer io_uring ring",
            ));
        }
        let _turn = lock(&self.poll_lock);
        {
            let mut st = lock(&self.state);
            st.turn += 1;
            if !st.pending.is_empty() {
                self.move_pending(&mut st)?;
            }
            self.drain(&mut st, events)?;
        }
        let block = events.is_empty() && deadline.is_none_or(|d| d > Instant::now());
        let wait = self.wake.begin_poll(block).then_some(deadline);
        let result = match wait {
            Some(deadline) => self.wait(deadline),
            None => {
                let mut st = lock(&self.state);
                if self.needs_enter(&mut st) {
                    self.flush(&mut st)
                } else {
                    Ok(())
                }
            }
        };
        self.wake.end_poll();
        result?;
        let mut st = lock(&self.state);
        self.drain(&mut st, events)
    }

    /// Submits what is queued and sleeps until a completion or `deadline`, without the state
    /// lock. Returns early on a signal only once the deadline has passed.
    fn wait(&self, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            let r = match deadline {
                None => sys::call(Syscall::IoUringEnter, || {
                    self.ring.submitter().submit_and_wait(1)
                }),
                Some(d) => {
                    // Relative to a fresh now, so the kernel's timer cannot end early.
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(());
                    }
                    let ts = types::Timespec::from(left);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    sys::call(Syscall::IoUringEnter, || {
                        self.ring.submitter().submit_with_args(1, &args)
                    })
                }
            };
            match r {
                Ok(_) => return Ok(()),
                Err(e) => match e.raw_os_error() {
                    // The deadline passed.
                    Some(libc::ETIME) => return Ok(()),
                    // A signal: wait again for the rest of the time.
                    Some(libc::EINTR) => continue,
                    // The CQ needs room first; the drain after the wait makes it.
                    Some(libc::EBUSY) => {
                        self.to_backlog(&mut lock(&self.state));
                        return Ok(());
                    }
                    _ => return Err(e),
                },
            }
        }
    }
}
