//! Which workers sleep, and which one to wake.
//!
//! Waking every parked worker for every new task would cost a futex call per spawn and a
//! thundering herd; waking none would strand work. The rule, from tokio's `idle.rs`:
//!
//! - a worker with nothing to do first *searches* (steals); while any worker searches, new work
//!   wakes nobody, because the searcher will find it;
//! - otherwise new work wakes exactly one parked worker, which starts out searching;
//! - a searcher that finds work stops searching, and if it was the last searcher it wakes one
//!   more worker, so the wave of stealing spreads as far as the work does.
//!
//! No lost wake-ups: a parking worker registers as a sleeper *before* its last look at the
//! queues, and a notifier publishes its task *before* it reads the sleeper count, with a
//! `SeqCst` fence on both sides: at least one of them sees the other.

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering};
use crate::loom::sync::Mutex;

pub(super) struct Idle {
    num_searching: AtomicUsize,
    num_sleeping: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

impl Idle {
    pub(super) fn new(num_workers: usize) -> Idle {
        Idle {
            num_searching: AtomicUsize::new(0),
            num_sleeping: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    /// New work was published: returns the worker to unpark, if one should be (it is counted
    /// as searching already).
    pub(super) fn worker_to_notify(&self) -> Option<usize> {
        fence(Ordering::SeqCst);
        if self.num_searching.load(Ordering::SeqCst) != 0
            || self.num_sleeping.load(Ordering::SeqCst) == 0
        {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        // Re-check under the lock: another notifier may have woken a searcher meanwhile.
        if self.num_searching.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let worker = sleepers.pop()?;
        self.num_sleeping.fetch_sub(1, Ordering::SeqCst);
        self.num_searching.fetch_add(1, Ordering::SeqCst);
        Some(worker)
    }

    /// A worker with an empty queue wants to steal. Limits searchers to half the workers, so
    /// stealing does not turn into contention. Returns false if it should not search.
    pub(super) fn try_start_searching(&self) -> bool {
        let searching = self.num_searching.load(Ordering::SeqCst);
        if 2 * searching >= self.num_workers {
            return false;
        }
        self.num_searching.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searcher stops (found work, or goes to park). Returns true if it was the last one: a
    /// searcher that found work then wakes another worker.
    pub(super) fn stop_searching(&self) -> bool {
        self.num_searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// The worker is about to park: register it. The caller then looks at the queues once more.
    pub(super) fn register_sleeper(&self, worker: usize) {
        let mut sleepers = self.sleepers.lock();
        sleepers.push(worker);
        self.num_sleeping.fetch_add(1, Ordering::SeqCst);
        drop(sleepers);
        fence(Ordering::SeqCst);
    }

    /// The worker is awake again. Returns true if it removed itself (a timeout, or it found work
    /// before sleeping); false if a notifier had removed it, which counted it as searching.
    pub(super) fn unregister_sleeper(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.num_sleeping.fetch_sub(1, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}
