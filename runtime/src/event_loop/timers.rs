//! The loop's timed callbacks (`call_later`, `call_at`): a heap and one task that waits for it.
//!
//! asyncio keeps its `TimerHandle`s in a binary heap ordered by deadline (`loop._scheduled`);
//! each turn, `_run_once` moves the due ones, in heap order, to the end of the ready queue.
//! ringloop does the same with its own heap, keyed by `(deadline, sequence number)` so that
//! callbacks with equal deadlines run in the order they were scheduled.
//!
//! Why not one runtime timer per callback? The timer wheel fires every timer of one tick
//! together, in no promised order, and rounds deadlines to its tick: two `call_later`s a
//! nanosecond apart could swap. The heap decides the order; the wheel only decides *when* to
//! look at the heap again.
//!
//! The one task that looks (the *timer hand*, named `event loop timers`) loops:
//!
//! ```text
//! pop every due entry (cancelled ones are dropped on the way) and push it on the ready queue
//! if the heap is empty: exit (the next call_later spawns a new hand)
//! else: sleep_until(earliest deadline), or until woken by an earlier call_at or a cancel
//! ```
//!
//! Simplified: a due callback takes two hops, the hand's wake-up and then the callback's own
//! task (`ready.rs`), where asyncio's `_run_once` runs it in the turn that found it due. So on
//! the real clock a busy loop can let a task whose sleep ends a little *later* than a callback's
//! deadline run before that callback; never the reverse (a callback never runs early), and on a
//! virtual clock the order is exact.
//!
//! A cancelled timer stays in the heap until it reaches the top or until cancelled entries are
//! more than half of the heap, when they are purged: asyncio's own rule
//! (`_MIN_CANCELLED_TIMER_HANDLES_FRACTION`). Cancelling wakes the hand, so a cancelled head
//! never holds a wake-up (or, on a virtual clock, a jump of time) for nothing.

use super::callback::{set_in_heap, BoxedCallback, Entry};
use super::handle::LoopShared;
use super::ready::ReadyQueue;
use super::LoopError;
use crate::time::{sleep_until, Sleep};
use parking_lot::Mutex;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Purge cancelled entries only from heaps at least this big (asyncio: 100).
const MIN_PURGE: usize = 64;

/// The timer heap and the state of its hand.
pub(crate) struct TimerQueue {
    inner: Mutex<Timers>,
}

struct Timers {
    heap: BinaryHeap<Reverse<Timed>>,
    /// The sequence number of the next entry: the tie-break between equal deadlines.
    next_seq: u64,
    /// Cancelled entries still in the heap.
    cancelled: usize,
    /// A hand task exists (spawned and not yet exited).
    hand_alive: bool,
    /// The hand's waker while it sleeps.
    waker: Option<Waker>,
    /// Closed: no more entries.
    closed: bool,
}

/// A heap entry, ordered by `(when, seq)`.
struct Timed {
    when: Instant,
    seq: u64,
    entry: Arc<Entry>,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Timed) -> bool {
        (self.when, self.seq) == (other.when, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Timed) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Timed) -> Ordering {
        (self.when, self.seq).cmp(&(other.when, other.seq))
    }
}

impl TimerQueue {
    pub(crate) fn new() -> TimerQueue {
        TimerQueue {
            inner: Mutex::new(Timers {
                heap: BinaryHeap::new(),
                next_seq: 0,
                cancelled: 0,
                hand_alive: false,
                waker: None,
                closed: false,
            }),
        }
    }

    /// Schedules `entry` (which has a deadline) on `shared`'s loop.
    pub(crate) fn push(shared: &Arc<LoopShared>, entry: Arc<Entry>) -> Result<(), LoopError> {
        let when = entry.when.expect("a timer entry has a deadline");
        let (spawn, waker) = {
            let mut timers = shared.timers.inner.lock();
            if timers.closed {
                return Err(LoopError::Closed);
            }
            let seq = timers.next_seq;
            timers.next_seq += 1;
            let new_head = timers
                .heap
                .peek()
                .is_none_or(|Reverse(head)| (when, seq) < (head.when, head.seq));
            set_in_heap(&entry, true);
            timers.heap.push(Reverse(Timed { when, seq, entry }));
            if !timers.hand_alive {
                timers.hand_alive = true;
                (true, None)
            } else if new_head {
                // The hand sleeps until a later deadline: wake it to re-arm.
                (false, timers.waker.take())
            } else {
                (false, None)
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        if spawn {
            let hand = TimerHand {
                shared: shared.clone(),
                sleep: None,
            };
            if shared
                .rt
                .try_create_named_task("event loop timers", hand)
                .is_err()
            {
                shared.timers.inner.lock().hand_alive = false;
                return Err(LoopError::Closed);
            }
        }
        Ok(())
    }

    /// Cancels a timer entry; returns its closure for the caller to drop outside the locks.
    pub(crate) fn cancel(&self, entry: &Entry) -> Option<BoxedCallback> {
        let (taken, waker) = {
            // Lock order: the queue, then the entry's slot (as the hand does).
            let mut timers = self.inner.lock();
            let taken = entry.cancel();
            if taken.is_some() && entry.in_heap.load(Relaxed) {
                timers.cancelled += 1;
            }
            (taken, timers.waker.take())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        taken
    }

    /// Closes the queue and empties the heap; the caller discards the entries outside the lock.
    pub(crate) fn close(&self) -> Vec<Arc<Entry>> {
        let mut timers = self.inner.lock();
        timers.closed = true;
        timers.cancelled = 0;
        let heap = std::mem::take(&mut timers.heap);
        heap.into_iter().map(|Reverse(t)| t.entry).collect()
    }
}

/// The timer hand: the task that moves due timers to the ready queue.
struct TimerHand {
    shared: Arc<LoopShared>,
    /// The runtime timer it sleeps on, re-armed to each new earliest deadline.
    sleep: Option<Sleep>,
}

impl Future for TimerHand {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let now = this.shared.rt.now();
            let mut due = Vec::new();
            let next = {
                let mut timers = this.shared.timers.inner.lock();
                while let Some(Reverse(head)) = timers.heap.peek() {
                    let cancelled = !head.entry.is_pending();
                    if !cancelled && head.when > now {
                        break;
                    }
                    let Some(Reverse(head)) = timers.heap.pop() else {
                        unreachable!("peeked")
                    };
                    set_in_heap(&head.entry, false);
                    if cancelled {
                        timers.cancelled = timers.cancelled.saturating_sub(1);
                    } else {
                        due.push(head.entry);
                    }
                }
                if timers.heap.len() >= MIN_PURGE && timers.cancelled * 2 > timers.heap.len() {
                    timers.heap.retain(|Reverse(t)| {
                        let keep = t.entry.is_pending();
                        if !keep {
                            set_in_heap(&t.entry, false);
                        }
                        keep
                    });
                    timers.cancelled = 0;
                }
                match timers.heap.peek().map(|Reverse(head)| head.when) {
                    Some(when) => {
                        timers.waker = Some(cx.waker().clone());
                        Some(when)
                    }
                    None => {
                        // Exit under the lock, so a concurrent `push` either sees the hand
                        // alive (and its entry is seen by this poll) or spawns a new one.
                        timers.hand_alive = false;
                        timers.waker = None;
                        None
                    }
                }
            };
            // Heap order: by deadline, then by when they were scheduled.
            for entry in due {
                // Only fails once the runtime shut down, when nothing runs anyway.
                let _ = ReadyQueue::push(&this.shared, entry);
            }
            let Some(when) = next else {
                return Poll::Ready(());
            };
            let sleep = match &mut this.sleep {
                Some(sleep) => {
                    if sleep.deadline() != when {
                        sleep.reset(when);
                    }
                    sleep
                }
                None => this.sleep.insert(sleep_until(when)),
            };
            // Pending: the runtime timer (or a push/cancel, through `waker`) wakes us.
            if Pin::new(sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The earliest deadline passed while we looked: go round again.
        }
    }
}
