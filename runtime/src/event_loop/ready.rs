//! The ready queue: how `call_soon` callbacks run in FIFO order, interleaved with tasks.
//!
//! # asyncio's model
//!
//! asyncio's loop has one ready queue (`loop._ready`) holding both kinds of work: a task's next
//! step is itself a callback (`Task.__step`) put there by `call_soon`. Each turn runs the
//! callbacks that were ready when the turn began, in FIFO order, so a callback scheduled between
//! two `create_task` calls runs between the first steps of those two tasks.
//!
//! # ringloop's model
//!
//! ringloop's run queue holds tasks, not callbacks, so **each callback becomes a small task**,
//! spawned by `call_soon` (and named `callback <its type>` if it ran long enough for debug mode
//! to report it). On the current-thread flavour the run
//! queue is FIFO, so callbacks and tasks interleave exactly as they do in asyncio.
//!
//! Two things the run queue alone does not give, and that the *turn tickets* below add:
//!
//! - A callback scheduled from another thread (`call_soon_threadsafe`) enters the run queue
//!   through the runtime's injector, later than a callback scheduled a moment after it on the
//!   loop's thread. Ordering by the run queue would swap them.
//! - On the multi-thread flavour, two callback tasks could run at the same time on two workers,
//!   and in either order.
//!
//! So every callback takes a ticket (0, 1, 2, ...) when it is scheduled, and runs only when the
//! queue's `turn` equals its ticket; finishing (or being dropped unrun) passes the turn on and
//! wakes the next ticket's task if it is already waiting. Hence, on **every** flavour, callbacks
//! run one at a time, in the order they were scheduled (asyncio's guarantee). What the
//! multi-thread flavour does not promise is the exact interleaving with *tasks*, which run in
//! parallel with the callbacks on other workers.
//!
//! On the current-thread flavour a ticket is almost always the turn when its task is polled,
//! so the tickets cost one uncontended lock per callback.

use super::callback::Entry;
use super::handle::LoopShared;
use super::LoopError;
use crate::hooks::ExceptionContext;
use crate::task::{Task, TaskError};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A callback that ran at least this long gets its task named `callback <its type>`, so that a
/// debug-mode slow-poll report (`Builder::debug`) names it. Naming every callback task up front
/// would allocate the name each time: that tripled the cost of a `call_soon`.
const NAME_SLOW_CALLBACKS: Duration = Duration::from_micros(100);

/// The FIFO of callbacks ready to run, as turn tickets.
pub(crate) struct ReadyQueue {
    turns: Mutex<Turns>,
}

struct Turns {
    /// The ticket the next scheduled callback gets.
    next_ticket: u64,
    /// The ticket whose callback may run now.
    turn: u64,
    /// Tasks polled before their turn, by ticket.
    waiting: HashMap<u64, Waker>,
    /// Tickets whose task was dropped before its turn: the turn skips them.
    skipped: BTreeSet<u64>,
}

impl ReadyQueue {
    pub(crate) fn new() -> ReadyQueue {
        ReadyQueue {
            turns: Mutex::new(Turns {
                next_ticket: 0,
                turn: 0,
                waiting: HashMap::new(),
                skipped: BTreeSet::new(),
            }),
        }
    }

    /// Schedules `entry` to run after every callback scheduled before it.
    /// Returns the callback's task, which completes once the callback ran (or was skipped).
    pub(crate) fn push(shared: &Arc<LoopShared>, entry: Arc<Entry>) -> Result<Task<()>, LoopError> {
        let ticket = {
            let mut turns = shared.ready.turns.lock();
            let ticket = turns.next_ticket;
            turns.next_ticket += 1;
            ticket
        };
        let task = CallbackTask {
            ticket,
            entry,
            shared: shared.clone(),
            finished: false,
        };
        // The lock is not held here: if the spawn fails, the dropped `task` passes its turn on,
        // which takes the lock.
        shared
            .rt
            .try_create_task(task)
            .map_err(|_| LoopError::Closed)
    }

    /// Ends `ticket`'s turn (it must be the current one) and wakes the next ticket's task.
    fn finish(&self, ticket: u64) {
        let waker = {
            let mut turns = self.turns.lock();
            debug_assert_eq!(turns.turn, ticket);
            turns.advance_from(ticket)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// `ticket`'s task was dropped before it ran its callback.
    fn skip(&self, ticket: u64) {
        let waker = {
            let mut turns = self.turns.lock();
            turns.waiting.remove(&ticket);
            if turns.turn == ticket {
                turns.advance_from(ticket)
            } else {
                turns.skipped.insert(ticket);
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Turns {
    /// Moves the turn past `ticket` and past any skipped tickets after it; returns the waker of
    /// the task whose turn it now is, if that task is already waiting.
    fn advance_from(&mut self, ticket: u64) -> Option<Waker> {
        self.turn = ticket + 1;
        while self.skipped.remove(&self.turn) {
            self.turn += 1;
        }
        self.waiting.remove(&self.turn)
    }
}

/// The task that runs one callback when its turn comes.
struct CallbackTask {
    ticket: u64,
    entry: Arc<Entry>,
    shared: Arc<LoopShared>,
    /// Set once the turn was taken: `Drop` must not pass it on a second time.
    finished: bool,
}

impl Future for CallbackTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let mut turns = this.shared.ready.turns.lock();
            if turns.turn != this.ticket {
                // By returning Pending we promise a wake-up: the task whose ticket precedes
                // ours wakes us when it passes the turn on (`advance_from`), under this lock.
                turns.waiting.insert(this.ticket, cx.waker().clone());
                return Poll::Pending;
            }
        }
        this.finished = true;
        if let Some(callback) = this.entry.take_for_run() {
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(callback));
            if started.elapsed() >= NAME_SLOW_CALLBACKS {
                // Named after the fact, before the runtime's debug-mode check (which runs when
                // this poll returns) reads the name.
                if let Some(task) = crate::current_task() {
                    task.set_name(format!("callback {}", this.entry.desc));
                }
            }
            if let Err(payload) = outcome {
                // asyncio: "Exception in callback ..." goes to the exception handler, and the
                // loop goes on.
                this.shared.rt.call_exception_handler(ExceptionContext {
                    message: format!("Exception in callback {}", this.entry.desc),
                    task_id: None,
                    task_name: None,
                    error: Some(TaskError::panicked(payload)),
                });
            }
        }
        this.shared.ready.finish(this.ticket);
        Poll::Ready(())
    }
}

impl Drop for CallbackTask {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped unrun (the loop closed, or the spawn failed): release the closure now,
            // as asyncio's `close()` clears its ready queue, and let the next ticket run.
            drop(self.entry.discard());
            self.shared.ready.skip(self.ticket);
        }
    }
}
