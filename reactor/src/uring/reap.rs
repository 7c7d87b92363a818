//! Reaping completions: from the CQ (and the kernel's overflow list) into [`Events`], and
//! the reactor's last act, reaping everything before it frees anything.
//!
//! Each completion is matched to its slot by `user_data` and moved along the state machine
//! documented in [`super::slots`]: an operation's slot is removed and its `Op` handed back in
//! [`Event::Completed`]; a poll's completion becomes an [`Event::Ready`] (merged per token
//! within one poll), and a multishot poll the kernel ended is queued for re-arming.

use std::io;
use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, types};

use super::prep;
use super::slots::{Slot, CANCEL_POLL, INTERNAL, WAKER};
use super::{poll_mask, State, Uring, DROP_PATIENCE};
use crate::sys::{self, Syscall};
use crate::{Event, Events, OpId, Readiness, Token};

impl Uring {
    /// Delivers backlog and CQ completions into `events` (up to its capacity), flushing
    /// overflowed completions from the kernel, then re-arms ended multishot polls.
    pub(super) fn drain(&self, st: &mut State, events: &mut Events) -> io::Result<()> {
        while events.room() > 0 {
            let Some((ud, res, flags)) = st.backlog.pop_front() else {
                break;
            };
            self.process(st, ud, res, flags, events);
        }
        loop {
            {
                // SAFETY: the CQ is only touched under the state lock (held: `st`).
                let mut cq = unsafe { self.ring.completion_shared() };
                while events.room() > 0 {
                    let Some(c) = cq.next() else { break };
                    self.process(st, c.user_data(), c.result(), c.flags(), events);
                }
            }
            if events.room() == 0 {
                break;
            }
            // SAFETY: as in `needs_enter`: the state lock is held (`st`), so this view of the
            // SQ cannot write back a stale tail over another thread's push.
            let overflow = unsafe { self.ring.submission_shared() }.cq_overflow();
            if !overflow {
                break;
            }
            // The kernel holds completions that did not fit; only an enter with GETEVENTS
            // moves them into the CQ (io-uring #302). submit_and_wait(0) sets that flag
            // when the overflow bit is up.
            match sys::call(Syscall::IoUringEnter, || {
                self.ring.submitter().submit_and_wait(0)
            }) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        self.rearm(st)
    }

    fn rearm(&self, st: &mut State) -> io::Result<()> {
        if st.closing {
            st.rearm.clear();
            st.recancel.clear();
            st.rearm_waker = false;
            return Ok(());
        }
        if std::mem::take(&mut st.rearm_waker) {
            self.arm_waker(st)?;
        }
        for ud in std::mem::take(&mut st.recancel) {
            // Only while the poll is still armed: its final completion may have come since.
            if let Some(Slot::Poll {
                armed: true,
                active: false,
                ..
            }) = st.slots.get_mut(ud)
            {
                self.push_cancel_poll(st, ud)?;
            }
        }
        for ud in std::mem::take(&mut st.rearm) {
            let e = match st.slots.get_mut(ud) {
                Some(Slot::Poll {
                    fd,
                    interest,
                    armed,
                    active: true,
                    ..
                }) => {
                    *armed = true;
                    opcode::PollAdd::new(types::Fd(*fd), poll_mask(*interest))
                        .multi(true)
                        .build()
                        .user_data(ud)
                }
                _ => continue,
            };
            self.push(st, &e)?;
        }
        Ok(())
    }

    /// Handles one completion (see the state diagrams in [`slots`]).
    fn process(&self, st: &mut State, ud: u64, res: i32, flags: u32, events: &mut Events) {
        let last = !cqueue::more(flags);
        match ud {
            WAKER => {
                if last {
                    st.inflight -= 1;
                    st.rearm_waker = true;
                }
            }
            INTERNAL => st.inflight -= 1,
            _ if ud & CANCEL_POLL != 0 => {
                st.inflight -= 1;
                // The kernel could not cancel the poll now (its wake-up was being processed:
                // EALREADY; or it was not found where cancels look: ENOENT). If its final
                // completion has not come, it is still armed: cancel it again after this drain.
                if matches!(-res, libc::EALREADY | libc::ENOENT) {
                    let target = ud & !CANCEL_POLL;
                    if let Some(Slot::Poll {
                        armed: true,
                        active: false,
                        ..
                    }) = st.slots.get_mut(target)
                    {
                        st.recancel.push(target);
                    }
                }
            }
            _ => {
                let turn = st.turn;
                // A completion naming a provided buffer: copy its bytes out and give the
                // buffer back at once (`bufring.rs`), whoever the completion is for.
                let data = match (cqueue::buffer_select(flags), st.bufs.as_mut()) {
                    (Some(bid), Some(bufs)) => Some(bufs.take(bid, res.max(0) as usize)),
                    _ => None,
                };
                match st.slots.get_mut(ud) {
                    Some(Slot::Op { token, op, .. }) if !last => {
                        // A multishot op goes on: hand out this completion, keep the slot.
                        let (result, op) = prep::intermediate(op, res, data);
                        events.push(Event::Completed {
                            token: *token,
                            id: OpId(ud),
                            result,
                            op,
                        });
                    }
                    Some(Slot::Op { .. }) => {
                        st.inflight -= 1;
                        if let Some(Slot::Op { token, mut op, .. }) = st.slots.remove(ud) {
                            let result = prep::complete(&mut op, res);
                            prep::attach(&mut op, data);
                            events.push(Event::Completed {
                                token,
                                id: OpId(ud),
                                result,
                                op,
                            });
                        }
                    }
                    Some(Slot::Poll {
                        token,
                        armed,
                        active,
                        last: merged,
                        ..
                    }) => {
                        if *active && (res >= 0 || last) {
                            let r = if res >= 0 {
                                Readiness::from_poll_mask(res as u32)
                            } else {
                                Readiness::from_bits(Readiness::ERROR)
                            };
                            push_ready(events, *token, r, merged, turn);
                        }
                        if last {
                            st.inflight -= 1;
                            *armed = false;
                            if !*active {
                                st.slots.remove(ud);
                            } else if res >= 0 {
                                st.rearm.push(ud);
                            }
                        }
                    }
                    Some(Slot::Free { .. }) | None => {
                        debug_assert!(false, "completion for unknown user_data {ud:#x}");
                    }
                }
            }
        }
    }
}

/// Adds readiness for `token`, merging with its event from the same poll if there is one,
/// so a descriptor appears at most once per poll (as with epoll).
fn push_ready(
    events: &mut Events,
    token: Token,
    r: Readiness,
    merged: &mut Option<(u64, usize)>,
    turn: u64,
) {
    if let Some((t, i)) = *merged {
        if t == turn {
            if let Some(Event::Ready {
                token: tk,
                readiness,
            }) = events.get_mut(i)
            {
                if *tk == token {
                    *readiness = *readiness | r;
                    return;
                }
            }
        }
    }
    *merged = Some((turn, events.len()));
    events.push(Event::Ready {
        token,
        readiness: r,
    });
}

impl Uring {
    /// Cancels every in-flight entry and waits (up to [`DROP_PATIENCE`]) for each one's final
    /// completion; completions are dropped with what they carry. Returns whether every entry
    /// completed. Only for a thread that may enter the kernel.
    pub(super) fn cancel_all_and_wait(&self, st: &mut State) -> bool {
        let mut targets = st.slots.keys();
        targets.push(WAKER);
        for ud in targets {
            let e = opcode::AsyncCancel::new(ud).build().user_data(INTERNAL);
            if self.push(st, &e).is_err() {
                break;
            }
        }
        let _ = self.move_pending(st);
        let _ = self.flush(st);
        let start = Instant::now();
        let mut scratch = Events::with_capacity(1024);
        while st.inflight > 0 && start.elapsed() < DROP_PATIENCE {
            scratch.clear();
            let _ = self.drain(st, &mut scratch);
            if st.inflight == 0 {
                break;
            }
            let ts = types::Timespec::from(Duration::from_millis(100));
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = sys::call(Syscall::IoUringEnter, || {
                self.ring.submitter().submit_with_args(1, &args)
            });
        }
        st.inflight == 0
    }
}

impl Drop for Uring {
    /// Cancels every in-flight entry and waits for each one's final completion before
    /// anything (buffers, fds, the ring's memory) is freed.
    ///
    /// A single-issuer ring dropped by a thread other than its owner cannot enter the kernel.
    /// If the owner retired (or never claimed the ring, so the kernel never saw an entry),
    /// nothing the kernel was given is in flight, and entries queued since never reached it:
    /// the ring is freed at once. Otherwise its memory is leaked, never freed under the
    /// kernel's feet.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        st.closing = true;
        let mut st = std::mem::replace(
            st,
            State {
                closing: true,
                ..State::new(None)
            },
        );
        // Freed only after the ring is closed (below), never while the kernel may use it.
        let bufs = st.bufs.take();
        let done = if self.can_enter() {
            self.cancel_all_and_wait(&mut st)
        } else {
            self.owner.retired.load(Ordering::Acquire)
                || self.owner.thread.load(Ordering::Acquire) == 0
        };
        if done {
            drop(st);
            // SAFETY: every entry the kernel was given has its final completion (or the
            // kernel was never given any: see above), so it holds no pointer into our
            // memory, and the ring can be unmapped and closed. `ring` is not used again.
            unsafe { ManuallyDrop::drop(&mut self.ring) };
            drop(bufs);
        } else {
            // The kernel did not finish within DROP_PATIENCE (an operation that ignores
            // cancellation), or a non-owner drops a live single-issuer ring. Freeing the
            // buffers now could let the kernel write into freed memory: leak them, and the
            // ring, instead. Never expected; documented in the crate docs.
            std::mem::forget(st);
            std::mem::forget(bufs);
        }
    }
}
