//! One worker thread: find a task, run it, and park when there is none.
//!
//! ```text
//! loop {
//!     every EVENT_INTERVAL polls: fire timers, poll the reactor without blocking
//!     task = LIFO slot, else local queue, else injector (injector first every GLOBAL_INTERVAL)
//!         else fire due timers and look again
//!         else steal half of another worker's queue (as a "searcher")
//!         else park until woken or this worker's next timer
//!     run task
//! }
//! ```
//!
//! # Batched notifications
//!
//! A task queued on this worker's local queue may wake a parked worker to come and steal it
//! (`Shared::notify_parked`). While the worker fires its timers or dispatches the reactor's
//! events, one turn can queue hundreds of tasks; notifying for each costs a futex or eventfd
//! write per task when the other worker keeps parking again in between (it wakes, finds the
//! queue drained, parks, and the next push wakes it again). So a batch defers the
//! notification to its end: one wake for the whole batch ([`WorkerCore::batch`]).

use super::{LocalCore, Shared};
use crate::context::{self, ThreadContext};
use crate::runtime::Handle;
use crate::task::Notified;
use crate::time::TimeCore;
use crossbeam_deque::{Steal, Worker};
use ringloop_reactor::Backend;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Polls between two looks at timers and the reactor.
const EVENT_INTERVAL: u32 = 61;
/// Polls between two looks at the injector, however full the local queue is.
const GLOBAL_INTERVAL: u32 = 31;
/// Tasks run in a row from the LIFO slot before it yields to the queue: two tasks waking each
/// other forever must not starve the rest.
const MAX_LIFO_POLLS: usize = 3;

/// The thread-owned part of a worker.
pub(crate) struct WorkerCore {
    index: usize,
    shared: Arc<Shared>,
    local: Worker<Notified>,
    lifo: Cell<Option<Notified>>,
    tick: Cell<u32>,
    searching: Cell<bool>,
    rng: Cell<u32>,
    /// Inside a batch (timers firing, reactor events dispatched): queued tasks do not notify
    /// a parked worker each; the batch notifies once at its end.
    in_batch: Cell<bool>,
    /// A task was queued during the current batch.
    batch_queued: Cell<bool>,
}

/// Ends a batch when dropped (also on unwind, so a panicking waker cannot leave notifications
/// deferred forever): notifies a parked worker once if the batch queued anything.
struct Batch<'a> {
    core: &'a WorkerCore,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.core.in_batch.set(false);
        if self.core.batch_queued.replace(false) {
            self.core.shared.notify_parked();
        }
    }
}

/// The worker thread's body.
pub(super) fn run(index: usize, local: Worker<Notified>, shared: Arc<Shared>, handle: Handle) {
    // On io_uring this worker owns its ring: the only thread that polls it (`driver.rs`).
    let ring = shared.driver.ring(index);
    let owns_ring = shared.driver.backend() == Backend::IoUring;
    if owns_ring {
        if let Err(e) = ring.reactor.claim() {
            // Its polls will fail and be reported (with a pause, never a spin).
            eprintln!("ringloop: worker {index} cannot own its io_uring ring: {e}");
        }
    }
    let ctx = ThreadContext {
        handle,
        time: TimeCore::new(shared.driver.time.clone()),
        local: LocalCore::Worker(WorkerCore {
            index,
            shared,
            local,
            lifo: Cell::new(None),
            tick: Cell::new(0),
            searching: Cell::new(false),
            rng: Cell::new(index as u32 * 0x9E37_79B9 + 1),
            in_batch: Cell::new(false),
            batch_queued: Cell::new(false),
        }),
    };
    let _enter = context::enter(&ctx);
    let LocalCore::Worker(core) = &ctx.local else {
        unreachable!()
    };
    core.run_loop(&ctx.time);
    // Shutdown: drop this worker's queue entries (the tasks themselves are cancelled through
    // the task list afterwards).
    drop(core.lifo.take());
    while core.local.pop().is_some() {}
    if owns_ring {
        // Before the thread goes: only this thread can finish the ring's operations.
        core.shared.driver.ring(index).reactor.retire();
    }
}

impl WorkerCore {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// This worker's index, which is also its ring's (`Driver::ring`).
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    fn run_loop(&self, time: &TimeCore) {
        while !self.shared.shutdown.load(Ordering::Acquire) {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if tick % EVENT_INTERVAL == 0 {
                let _batch = self.batch();
                time.turn();
                self.shared.driver.ring(self.index).park(time, false);
            }
            if let Some(task) = self.next_task(tick) {
                self.run_task(task);
                continue;
            }
            if self.fire_timers(time) > 0 {
                continue;
            }
            if let Some(task) = self.steal() {
                self.run_task(task);
                continue;
            }
            self.park(time);
        }
    }

    fn next_task(&self, tick: u32) -> Option<Notified> {
        if tick % GLOBAL_INTERVAL == 0 {
            if let Some(task) = self.steal_injector() {
                return Some(task);
            }
        }
        self.lifo
            .take()
            .or_else(|| self.local.pop())
            .or_else(|| self.steal_injector())
    }

    fn steal_injector(&self) -> Option<Notified> {
        loop {
            match self.shared.injector.steal_batch_and_pop(&self.local) {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// Steals from other workers, as a searcher. Returns `None` if there is nothing to steal, or
    /// enough workers are searching already.
    fn steal(&self) -> Option<Notified> {
        if !self.searching.get() {
            if !self.shared.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let n = self.shared.remotes.len();
        let start = self.next_random() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            loop {
                match self.shared.remotes[victim]
                    .stealer
                    .steal_batch_and_pop(&self.local)
                {
                    Steal::Success(task) => return Some(task),
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
        }
        self.steal_injector()
    }

    fn run_task(&self, task: Notified) {
        if self.searching.replace(false) && self.shared.idle.stop_searching() {
            // The last searcher found work: there may be more, so wake another worker to look.
            self.shared.notify_parked();
        }
        task.run();
        for _ in 0..MAX_LIFO_POLLS {
            match self.lifo.take() {
                Some(task) => task.run(),
                None => return,
            }
        }
        if let Some(task) = self.lifo.take() {
            self.push_local(task);
        }
    }

    /// Queues a task woken or spawned on this worker.
    pub(super) fn schedule_local(&self, task: Notified, is_yield: bool) {
        if is_yield {
            self.push_local(task);
        } else if let Some(prev) = self.lifo.replace(Some(task)) {
            self.push_local(prev);
        }
    }

    fn push_local(&self, task: Notified) {
        self.local.push(task);
        if self.in_batch.get() {
            self.batch_queued.set(true);
        } else {
            self.shared.notify_parked();
        }
    }

    /// Starts a batch: until the guard drops, queued tasks notify nobody; then one notification
    /// covers them all. Batches do not nest (the inner guard would end the outer batch early),
    /// and none is open while a task runs.
    fn batch(&self) -> Batch<'_> {
        debug_assert!(!self.in_batch.get(), "nested notification batch");
        self.in_batch.set(true);
        Batch { core: self }
    }

    /// Fires this worker's due timers as one batch.
    fn fire_timers(&self, time: &TimeCore) -> usize {
        let _batch = self.batch();
        time.turn()
    }

    fn park(&self, time: &TimeCore) {
        let shared = &self.shared;
        if self.searching.replace(false) {
            shared.idle.stop_searching();
        }
        shared.idle.register_sleeper(self.index);
        // The last look, after registering: a task published before our registration is seen
        // here; one published after it finds us in the sleeper list and unparks us.
        if shared.has_work()
            || self.lifo_has_task()
            || !self.local.is_empty()
            || shared.shutdown.load(Ordering::SeqCst)
        {
            if !shared.idle.unregister_sleeper(self.index) {
                self.searching.set(true);
            }
            return;
        }
        let deadline = time
            .next_expiration()
            .and_then(|next| shared.driver.time.clock.real_deadline(next));
        let participant = &shared.remotes[self.index].participant;
        // Parked in the driver, this thread dispatches the reactor's events: one batch, which
        // ends after it has left the sleeper list, so its notification wakes another worker
        // and not itself.
        let batch = self.batch();
        shared.park_participant(
            participant,
            time,
            Some(shared.driver.ring(self.index)),
            deadline,
        );
        if !shared.idle.unregister_sleeper(self.index) {
            // A notifier picked us and counted us as searching.
            self.searching.set(true);
        }
        time.turn();
        drop(batch);
    }

    fn lifo_has_task(&self) -> bool {
        let task = self.lifo.take();
        let has = task.is_some();
        self.lifo.set(task);
        has
    }

    fn next_random(&self) -> u32 {
        // xorshift32: only spreads the steal start point.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }
}
