//! The multi-thread, work-stealing scheduler.
//!
//! N workers (one per core by default). Each has:
//!
//! - a local FIFO queue (crossbeam-deque `Worker`), which other workers steal half of when they
//!   run dry;
//! - a LIFO slot holding the task it woke last: a task that wakes another (a channel send, a
//!   lock release) usually wants it to run next, on the same warm cache;
//! - its own timer wheel (`TimeCore`) and parking spot.
//!
//! Tasks spawned or woken from outside the workers go to one global injector. A worker looks at
//! the injector every `GLOBAL_INTERVAL` polls even when its own queue is full, and at timers and
//! the reactor every `EVENT_INTERVAL` polls: that is the fairness guarantee. On epoll there is one
//! reactor: at most one parked worker waits in it, the others wait on their condition variables
//! with a timeout at their own next timer. On io_uring each worker has its own ring and parks in
//! it (`driver.rs` explains why). `idle.rs` decides whom a new task wakes.
//!
//! The `find_task` loop of crossbeam-deque's documentation is the heart of it; `worker.rs` is
//! that loop plus parking.

mod idle;
#[cfg(all(test, loom))]
mod loom_tests;
mod worker;

use super::park::Parker;
use super::LocalCore;
use crate::context::{self, ThreadContext};
use crate::driver::{Driver, Ring};
use crate::hooks::Hooks;
use crate::runtime::Handle;
use crate::task::{self, Notified, RawTask, Schedule, SpawnError, Task, TaskList};
use crate::time::TimeCore;
use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use idle::Idle;
use parking_lot::Mutex;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;

pub(crate) use worker::WorkerCore;

/// State shared by the workers, the handles and the wakers.
pub(crate) struct Shared {
    pub(crate) driver: Driver,
    pub(crate) tasks: TaskList,
    pub(crate) hooks: Hooks,
    injector: Injector<Notified>,
    remotes: Box<[Remote]>,
    idle: Idle,
    shutdown: AtomicBool,
    /// Virtual clock only: threads (workers and `block_on` callers) not parked.
    busy: AtomicUsize,
    /// Virtual clock only: the parking spots of `block_on` callers.
    block_on_parkers: Mutex<Vec<Arc<Participant>>>,
}

/// What other threads may touch of one worker.
struct Remote {
    stealer: Stealer<Notified>,
    participant: Arc<Participant>,
}

/// A thread that parks: its parker, the ring it parks in (a worker's, `Driver::ring`), and
/// (virtual clock) whether it is counted as parked.
pub(crate) struct Participant {
    parker: Parker,
    ring: usize,
    parked: AtomicBool,
}

/// The multi-thread scheduler: the shared state and the worker threads.
pub(crate) struct MultiThread {
    shared: Arc<Shared>,
    /// Local queues waiting for their threads (taken by `init`).
    pending: Mutex<Vec<Worker<Notified>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl MultiThread {
    pub(crate) fn new(driver: Driver, hooks: Hooks, workers: usize) -> (MultiThread, Arc<Shared>) {
        let workers = workers.max(1);
        let locals: Vec<Worker<Notified>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let remotes = locals
            .iter()
            .enumerate()
            .map(|(index, w)| Remote {
                stealer: w.stealer(),
                participant: Arc::new(Participant::new(index)),
            })
            .collect();
        let shared = Arc::new(Shared {
            driver,
            tasks: TaskList::new(),
            hooks,
            injector: Injector::new(),
            remotes,
            idle: Idle::new(workers),
            shutdown: AtomicBool::new(false),
            busy: AtomicUsize::new(workers),
            block_on_parkers: Mutex::new(Vec::new()),
        });
        let mt = MultiThread {
            shared: shared.clone(),
            pending: Mutex::new(locals),
            threads: Mutex::new(Vec::new()),
        };
        (mt, shared)
    }

    /// Starts the worker threads.
    pub(crate) fn init(&self, handle: Handle) -> std::io::Result<()> {
        let locals = std::mem::take(&mut *self.pending.lock());
        let mut threads = self.threads.lock();
        for (index, local) in locals.into_iter().enumerate() {
            let shared = self.shared.clone();
            let handle = handle.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ringloop-worker-{index}"))
                .spawn(move || worker::run(index, local, shared, handle))?;
            threads.push(thread);
        }
        Ok(())
    }

    /// Runs `future` on the calling thread (which is not a worker) until it completes; tasks run
    /// on the workers meanwhile.
    pub(crate) fn block_on<F: Future>(&self, handle: &Handle, future: F) -> F::Output {
        let shared = &self.shared;
        // Never parks in a ring (`driver` is `None` below), so its ring index is unused.
        let participant = Arc::new(Participant::new(0));
        let virtual_time = shared.driver.time.clock.is_virtual();
        if virtual_time {
            shared.busy.fetch_add(1, Ordering::SeqCst);
            shared.block_on_parkers.lock().push(participant.clone());
        }
        let ctx = ThreadContext {
            handle: handle.clone(),
            time: TimeCore::new(shared.driver.time.clone()),
            local: LocalCore::BlockOn,
        };
        let _enter = context::enter(&ctx);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            participant: participant.clone(),
            shared: shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let out = loop {
            ctx.time.turn();
            if main.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    break out;
                }
                continue;
            }
            let deadline = ctx
                .time
                .next_expiration()
                .and_then(|next| shared.driver.time.clock.real_deadline(next));
            shared.park_participant(&participant, &ctx.time, None, deadline);
        };
        if virtual_time {
            shared
                .block_on_parkers
                .lock()
                .retain(|p| !Arc::ptr_eq(p, &participant));
            if !participant.parked.swap(true, Ordering::SeqCst) {
                shared.busy.fetch_sub(1, Ordering::SeqCst);
            }
        }
        out
    }

    /// Stops the workers, then cancels every remaining task.
    pub(crate) fn shutdown(&self) {
        let shared = &self.shared;
        shared.shutdown.store(true, Ordering::SeqCst);
        for remote in shared.remotes.iter() {
            remote
                .participant
                .parker
                .unpark(shared.driver.ring(remote.participant.ring));
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        let current = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() == current {
                // Dropped from inside a task on a worker: that worker exits by itself.
                continue;
            }
            let _ = thread.join();
        }
        shared.drain_injector();
        task::shutdown_all(&shared.tasks);
        shared.drain_injector();
    }
}

impl Participant {
    fn new(ring: usize) -> Participant {
        Participant {
            parker: Parker::new(),
            ring,
            parked: AtomicBool::new(false),
        }
    }
}

impl Shared {
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        name: Option<String>,
    ) -> Result<Task<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if self.shutdown.load(Ordering::Acquire) {
            return Err(SpawnError::Shutdown);
        }
        let (notified, handle) = task::spawn(future, self.clone(), &self.tasks, name)?;
        self.schedule_task(notified, true);
        Ok(handle)
    }

    /// Queues a task: on this worker's queue when called from one of our workers, else in the
    /// injector; then wakes a worker if one should be.
    fn schedule_task(self: &Arc<Self>, task: Notified, is_yield: bool) {
        let remote = context::with_opt(|ctx| match ctx.map(|c| &c.local) {
            Some(LocalCore::Worker(core)) if Arc::ptr_eq(core.shared(), self) => {
                core.schedule_local(task, is_yield);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = remote {
            self.injector.push(task);
            if self.shutdown.load(Ordering::SeqCst) {
                // Shutdown may have drained the injector already: drain it ourselves, so no
                // queue reference outlives the runtime.
                self.drain_injector();
                return;
            }
            self.notify_parked();
        }
    }

    /// New work was queued: wake one parked worker if nobody is searching.
    fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.unpark(&self.remotes[index].participant);
        }
    }

    fn unpark(&self, participant: &Participant) {
        if self.driver.time.clock.is_virtual() && participant.parked.swap(false, Ordering::SeqCst) {
            self.busy.fetch_add(1, Ordering::SeqCst);
        }
        participant
            .parker
            .unpark(self.driver.ring(participant.ring));
    }

    /// Parks a worker or `block_on` caller. On a virtual clock, the last thread to park moves
    /// the clock to the earliest timer of any thread and wakes everyone to fire it.
    fn park_participant(
        &self,
        participant: &Participant,
        tc: &TimeCore,
        ring: Option<&Ring>,
        deadline: Option<std::time::Instant>,
    ) {
        if !self.driver.time.clock.is_virtual() {
            participant.parker.park(ring, tc, deadline);
            return;
        }
        tc.publish_next_expiration();
        participant.parked.store(true, Ordering::SeqCst);
        if self.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            fence(Ordering::SeqCst);
            if self.injector.is_empty() && self.remotes.iter().all(|r| r.stealer.is_empty()) {
                if let Some(next) = self.driver.time.earliest_published_expiration() {
                    self.driver.time.clock.advance_virtual(next);
                    for remote in self.remotes.iter() {
                        self.unpark(&remote.participant);
                    }
                    for p in self.block_on_parkers.lock().iter() {
                        self.unpark(p);
                    }
                }
            }
        }
        participant.parker.park(ring, tc, None);
        if participant.parked.swap(false, Ordering::SeqCst) {
            self.busy.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }

    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => drop(task),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        self.schedule_task(task, false);
    }

    fn yield_now(&self, task: Notified) {
        self.schedule_task(task, true);
    }

    fn release(&self, task: RawTask) -> bool {
        self.tasks.remove(task)
    }

    fn hooks(&self) -> &crate::hooks::Hooks {
        &self.hooks
    }
}

/// The waker of a `block_on` future: set a flag and unpark the calling thread.
struct MainWaker {
    woken: AtomicBool,
    participant: Arc<Participant>,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.shared.unpark(&self.participant);
    }
}
