//! The task state word: one `AtomicUsize` that every thread touching a task agrees through.
//!
//! # Bits
//!
//! | bit | name | meaning |
//! |---|---|---|
//! | 0 | `RUNNING` | a thread owns the future and is polling (or cancelling) it. At most one thread sets it. |
//! | 1 | `COMPLETE` | the future is gone; the stage holds the output (or the error) or nothing. Never cleared. |
//! | 2 | `NOTIFIED` | a [`Notified`](super::Notified) for the task sits in a run queue, or the task was woken while `RUNNING` and must be run again. |
//! | 3 | `CANCELLED` | a cancellation was requested and not yet delivered. |
//! | 4 | `JOIN_INTEREST` | the [`Task`](super::Task) handle is alive; without it the output is dropped at completion. |
//! | 5 | `JOIN_WAKER` | the join waker slot is written and belongs to the completing side; without it, to the handle. |
//! | 6.. | reference count | one per waker, per handle, per queued notification, and one held by the runtime's task list. |
//!
//! # Invariants
//!
//! - `NOTIFIED` can be set on an idle task only by the thread that then submits a `Notified`
//!   to the scheduler, so a task is in at most one run queue at a time.
//! - `NOTIFIED` set while `RUNNING` is not a queue entry: the polling thread sees it when it
//!   clears `RUNNING` and reschedules the task once, however many wakes came in.
//! - Once `COMPLETE` is set, no transition sets `RUNNING` again: a completed task is never
//!   polled again, and wakes of a completed task do nothing.
//! - The thread that takes the reference count to zero frees the task.
//!
//! Every transition is a named method returning what the caller must do next, as in tokio's
//! `runtime/task/state.rs`. The orderings: transitions that hand the future or the output from
//! one thread to another use `AcqRel` so the writes to the stage made before the transition are
//! visible after it.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::fmt;

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const NOTIFIED: usize = 1 << 2;
const CANCELLED: usize = 1 << 3;
const JOIN_INTEREST: usize = 1 << 4;
const JOIN_WAKER: usize = 1 << 5;
const REF_SHIFT: u32 = 6;
const REF_ONE: usize = 1 << REF_SHIFT;

/// A new task: one reference for the runtime's task list, one for the first notification, one
/// for the `Task` handle. It starts `NOTIFIED` because it is submitted at once.
const INITIAL: usize = (3 * REF_ONE) | JOIN_INTEREST | NOTIFIED;

/// The atomic state word of one task.
pub(crate) struct State {
    val: AtomicUsize,
}

/// A copy of the state word at one moment, with named accessors.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

/// What the scheduler must do with a notification it took from a run queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// The caller now owns the future: poll it.
    Success,
    /// The caller now owns the future, and a cancellation is pending.
    Cancelled,
    /// The task completed (or another thread runs it); the notification's reference was dropped.
    Failed,
    /// As `Failed`, and that was the last reference: free the task.
    Dealloc,
}

/// What the polling thread must do after the future returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToIdle {
    /// Nothing: a future wake will schedule the task. The poller's reference was dropped.
    Ok,
    /// As `Ok`, and it was the last reference: free the task.
    OkDealloc,
    /// The task was woken while it ran: submit it again (the poller's reference goes with it).
    OkNotified,
    /// A cancellation arrived while it ran; the caller still owns the future.
    Cancelled,
}

/// What a waker must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToNotified {
    /// Nothing: the task is queued, running (it will be rescheduled), or complete.
    DoNothing,
    /// Submit a `Notified` to the scheduler; it owns one reference.
    Submit,
    /// Nothing to submit, and the waker's reference was the last: free the task.
    Dealloc,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            val: AtomicUsize::new(INITIAL),
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.val.load(Ordering::Acquire))
    }

    /// Applies `f` in a compare-and-swap loop. `f` returns the value to hand back and the new
    /// state, or `None` to leave the state unchanged.
    fn fetch_update_action<T>(&self, mut f: impl FnMut(Snapshot) -> (T, Option<Snapshot>)) -> T {
        let mut curr = self.load();
        loop {
            let (output, next) = f(curr);
            let Some(next) = next else { return output };
            match self.val.compare_exchange_weak(
                curr.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return output,
                Err(actual) => curr = Snapshot(actual),
            }
        }
    }

    /// A scheduler took a notification from a queue and wants to run the task.
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        self.fetch_update_action(|mut s| {
            debug_assert!(s.is_notified() || s.is_complete(), "{s:?}");
            if s.is_running() || s.is_complete() || !s.is_notified() {
                // Shutdown completed the task while this notification sat in a queue.
                s.ref_dec();
                let action = if s.ref_count() == 0 {
                    TransitionToRunning::Dealloc
                } else {
                    TransitionToRunning::Failed
                };
                return (action, Some(s));
            }
            s.set_running();
            s.unset_notified();
            let action = if s.is_cancelled() {
                TransitionToRunning::Cancelled
            } else {
                TransitionToRunning::Success
            };
            (action, Some(s))
        })
    }

    /// The future returned `Pending`; give it up unless a wake or a cancel came meanwhile.
    ///
    /// The poller came in holding the notification's reference. Idle: that reference is
    /// dropped here. Notified: it passes to the new queue entry. Cancelled: the poller keeps it
    /// (and drops it when it completes the task).
    ///
    /// `armed` says a cancellation boundary (`catch_cancel`, `wait_for` after its deadline, an
    /// awaited `Task`) was pending in this poll: then a pending request belongs to it, and the
    /// task goes idle as usual instead of being cancelled here.
    pub(crate) fn transition_to_idle(&self, armed: bool) -> TransitionToIdle {
        self.fetch_update_action(|mut s| {
            debug_assert!(s.is_running());
            if s.is_cancelled() && !armed {
                return (TransitionToIdle::Cancelled, None);
            }
            s.unset_running();
            let action = if s.is_notified() {
                TransitionToIdle::OkNotified
            } else {
                s.ref_dec();
                if s.ref_count() == 0 {
                    TransitionToIdle::OkDealloc
                } else {
                    TransitionToIdle::Ok
                }
            };
            (action, Some(s))
        })
    }

    /// A cancellation boundary takes the pending request (it is delivered). Returns true if
    /// there was one.
    pub(crate) fn take_cancel(&self) -> bool {
        let prev = Snapshot(self.val.fetch_and(!CANCELLED, Ordering::AcqRel));
        prev.is_cancelled()
    }

    /// The future finished (or was dropped by cancellation): set `COMPLETE`, clear `RUNNING`.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.val.fetch_xor(RUNNING | COMPLETE, Ordering::AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete(), "{prev:?}");
        Snapshot(prev.0 ^ (RUNNING | COMPLETE))
    }

    /// After completion, drop `count` references at once. Returns true if they were the last.
    pub(crate) fn transition_to_terminal(&self, count: usize) -> bool {
        let prev = Snapshot(self.val.fetch_sub(count * REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= count, "{prev:?} - {count}");
        prev.ref_count() == count
    }

    /// A waker that keeps its reference (`wake_by_ref`).
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.fetch_update_action(|mut s| {
            if s.is_complete() || s.is_notified() {
                (TransitionToNotified::DoNothing, None)
            } else if s.is_running() {
                s.set_notified();
                (TransitionToNotified::DoNothing, Some(s))
            } else {
                s.set_notified();
                s.ref_inc();
                (TransitionToNotified::Submit, Some(s))
            }
        })
    }

    /// A waker that gives its reference away (`wake`): it becomes the queue entry's reference,
    /// or is dropped.
    pub(crate) fn transition_to_notified_by_val(&self) -> TransitionToNotified {
        self.fetch_update_action(|mut s| {
            if s.is_running() {
                s.set_notified();
                s.ref_dec();
                debug_assert!(s.ref_count() > 0, "the polling thread holds a reference");
                (TransitionToNotified::DoNothing, Some(s))
            } else if s.is_complete() || s.is_notified() {
                s.ref_dec();
                let action = if s.ref_count() == 0 {
                    TransitionToNotified::Dealloc
                } else {
                    TransitionToNotified::DoNothing
                };
                (action, Some(s))
            } else {
                s.set_notified();
                (TransitionToNotified::Submit, Some(s))
            }
        })
    }

    /// Requests cancellation. Returns true if the caller must submit a `Notified` (a reference
    /// was added for it): the task was idle and is now scheduled so that it sees the request.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.fetch_update_action(|mut s| {
            if s.is_complete() || s.is_cancelled() {
                (false, None)
            } else if s.is_running() || s.is_notified() {
                // The polling thread (or the queued run) will see CANCELLED.
                s.set_notified();
                s.set_cancelled();
                (false, Some(s))
            } else {
                s.set_notified();
                s.set_cancelled();
                s.ref_inc();
                (true, Some(s))
            }
        })
    }

    /// Runtime shutdown: marks the task cancelled, and if it is idle, claims it (sets `RUNNING`)
    /// so the caller can drop its future. Returns true if the caller claimed it.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update_action(|mut s| {
            let claim = !s.is_running() && !s.is_complete();
            if claim {
                s.set_running();
            }
            s.set_cancelled();
            (claim, Some(s))
        })
    }

    /// The handle is dropped. Fails if the task completed: then the handle must drop the output.
    pub(crate) fn unset_join_interested(&self) -> Result<(), Snapshot> {
        self.fetch_update_action(|mut s| {
            debug_assert!(s.is_join_interested());
            if s.is_complete() {
                return (Err(s), None);
            }
            s.0 &= !(JOIN_INTEREST | JOIN_WAKER);
            (Ok(()), Some(s))
        })
    }

    /// The handle wrote the join waker and hands the slot to the completing side. Fails if the
    /// task completed meanwhile (the handle keeps the slot and reads the output).
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update_action(|mut s| {
            debug_assert!(s.is_join_interested() && !s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            s.0 |= JOIN_WAKER;
            (Ok(s), Some(s))
        })
    }

    /// The handle takes the join waker slot back to replace the waker. Fails if the task
    /// completed (the completing side may be reading the slot).
    pub(crate) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update_action(|mut s| {
            debug_assert!(s.is_join_interested() && s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            s.0 &= !JOIN_WAKER;
            (Ok(s), Some(s))
        })
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self.val.fetch_add(REF_ONE, Ordering::Relaxed);
        // A task referenced 2^57 times means references are being leaked in a loop; abort
        // rather than wrap into a use-after-free (as `Arc` does).
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops one reference. Returns true if it was the last: the caller frees the task.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.val.fetch_sub(REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= 1);
        prev.ref_count() == 1
    }
}

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    fn set_running(&mut self) {
        self.0 |= RUNNING;
    }
    fn unset_running(&mut self) {
        self.0 &= !RUNNING;
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    fn set_notified(&mut self) {
        self.0 |= NOTIFIED;
    }
    fn unset_notified(&mut self) {
        self.0 &= !NOTIFIED;
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    fn set_cancelled(&mut self) {
        self.0 |= CANCELLED;
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
    fn ref_inc(&mut self) {
        self.0 += REF_ONE;
    }
    fn ref_dec(&mut self) {
        self.0 -= REF_ONE;
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("refs", &self.ref_count())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn new_task_is_notified_with_three_references() {
        let s = State::new().load();
        assert!(s.is_notified() && s.is_join_interested());
        assert!(!s.is_running() && !s.is_complete() && !s.is_cancelled());
        assert_eq!(s.ref_count(), 3);
    }

    #[test]
    fn wake_while_running_reschedules_once() {
        let state = State::new();
        assert_eq!(state.transition_to_running(), TransitionToRunning::Success);
        // Three wakes during the poll: none of them submits.
        for _ in 0..3 {
            assert_eq!(
                state.transition_to_notified_by_ref(),
                TransitionToNotified::DoNothing
            );
        }
        assert_eq!(
            state.transition_to_idle(false),
            TransitionToIdle::OkNotified
        );
        // The poller's reference passed to the new queue entry: still 3.
        assert_eq!(state.load().ref_count(), 3);
        assert!(state.load().is_notified() && !state.load().is_running());
    }

    #[test]
    fn wake_of_completed_task_does_nothing() {
        let state = State::new();
        state.transition_to_running();
        state.transition_to_complete();
        assert_eq!(
            state.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
        let refs = state.load().ref_count();
        state.ref_inc(); // a waker's reference
        assert_eq!(
            state.transition_to_notified_by_val(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(state.load().ref_count(), refs);
    }

    #[test]
    fn cancel_of_idle_task_submits_once() {
        let state = State::new();
        state.transition_to_running();
        assert_eq!(state.transition_to_idle(false), TransitionToIdle::Ok);
        // The poller's reference went with the idle transition.
        assert_eq!(state.load().ref_count(), 2);
        assert!(state.transition_to_notified_and_cancel());
        assert!(!state.transition_to_notified_and_cancel());
        assert_eq!(
            state.transition_to_running(),
            TransitionToRunning::Cancelled
        );
    }

    #[test]
    fn cancel_while_running_is_seen_at_idle() {
        let state = State::new();
        state.transition_to_running();
        assert!(!state.transition_to_notified_and_cancel());
        assert_eq!(state.transition_to_idle(false), TransitionToIdle::Cancelled);
        assert!(state.load().is_running());
    }

    #[test]
    fn armed_task_goes_idle_with_a_pending_cancel() {
        let state = State::new();
        state.transition_to_running();
        assert!(!state.transition_to_notified_and_cancel());
        // The request came during the poll: NOTIFIED is set too, so the boundary gets a poll.
        assert_eq!(state.transition_to_idle(true), TransitionToIdle::OkNotified);
        assert_eq!(
            state.transition_to_running(),
            TransitionToRunning::Cancelled
        );
        assert!(state.take_cancel());
        assert_eq!(state.transition_to_idle(true), TransitionToIdle::Ok);
        assert!(!state.load().is_cancelled());
    }

    #[test]
    fn join_interest_cannot_be_dropped_after_completion() {
        let state = State::new();
        state.transition_to_running();
        state.transition_to_complete();
        assert!(state.unset_join_interested().is_err());
        assert!(state.set_join_waker().is_err());
    }

    #[test]
    fn last_reference_reports_dealloc() {
        let state = State::new();
        assert!(!state.ref_dec());
        assert!(!state.ref_dec());
        assert!(state.ref_dec());
    }

    #[test]
    fn shutdown_claims_only_idle_tasks() {
        let idle = State::new();
        assert!(idle.transition_to_shutdown());
        let running = State::new();
        running.transition_to_running();
        assert!(!running.transition_to_shutdown());
        assert!(running.load().is_cancelled());
    }
}
