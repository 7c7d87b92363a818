//! The blocking pool: asyncio's `asyncio.to_thread(f)` and `loop.run_in_executor(None, f)`.
//!
//! A task must never block its thread: while it sits in a blocking `read(2)` on a file, a
//! `getaddrinfo`, a long computation or a mutex, every other task of that worker waits too (on
//! the current-thread flavour, every task of the runtime). The cure is asyncio's: hand the call
//! to a pool of ordinary threads and await its result.
//!
//! ```
//! ringloop::run(async {
//!     let len = ringloop::to_thread(|| std::fs::read("Cargo.toml").map(|b| b.len()))
//!         .await
//!         .expect("the closure did not panic")
//!         .expect("the file is readable");
//!     assert!(len > 0);
//! });
//! ```
//!
//! # How the pool works
//!
//! One pool per runtime. A job is a boxed closure in a FIFO queue guarded by a mutex; threads
//! wait on a condition variable for work.
//!
//! - **Threads start on demand**: a job that finds no idle thread starts a new one, up to
//!   [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads) (default
//!   [`DEFAULT_MAX_THREADS`]); beyond that, jobs wait in the queue for a thread to free up.
//! - **Idle threads go away**: a thread with no work for
//!   [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive) (default
//!   [`DEFAULT_KEEP_ALIVE`]) exits, so an idle runtime holds no pool threads.
//! - **Results**: each job has a [`Blocking`] future, completed by the thread that ran the job
//!   (the closure's value, or the panic it raised, caught there: the runtime goes on). A
//!   completion is one mutex section and one `Waker::wake`.
//! - **Shutdown** (dropping the runtime): queued jobs that no thread has started are dropped
//!   unrun (their `Blocking` gives a cancelled [`TaskError`]); the drop then waits for the jobs
//!   that are running, as tokio does and as `asyncio.run` waits for its default executor.
//!   [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) bounds that wait.
//!
//! # Differences from asyncio and tokio
//!
//! - Cancelling the awaiting task, or dropping the [`Blocking`] future, does not stop the
//!   closure: no thread can be interrupted safely, in Rust or in Python. It runs to its end and
//!   its result is dropped (a panic nobody will read is reported to the exception handler, as
//!   asyncio logs "Future exception was never retrieved").
//! - asyncio's default executor has `min(32, cores + 4)` threads; ringloop follows tokio's
//!   larger default, because blocking jobs mostly wait (on disks, DNS, locks) rather than
//!   compute.
//! - A pool thread is not a runtime thread: inside the closure, [`crate::create_task`] and
//!   [`crate::sleep`] find no runtime. Move a [`Handle`] into the closure to
//!   spawn from it.
//! - On a virtual clock, a job runs in real time, like I/O: if every runtime thread is idle
//!   while it runs, virtual time may jump past pending timers.

use crate::hooks::ExceptionContext;
use crate::runtime::Handle;
use crate::task::{SpawnError, TaskError};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The default limit on pool threads (tokio's).
pub const DEFAULT_MAX_THREADS: usize = 512;

/// How long an idle pool thread waits for work before it exits, by default (tokio's).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Runs `f` on the current runtime's blocking pool and returns a future of its result:
/// asyncio's `await asyncio.to_thread(f)`.
///
/// The future gives `Ok` with the closure's value, or a panicked [`TaskError`] with the payload
/// if it panicked (or a cancelled one if the runtime shut down before the job started).
///
/// Panics outside a runtime or after it shut down; [`try_to_thread`] returns the error.
pub fn to_thread<F, R>(f: F) -> Blocking<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    try_to_thread(f).unwrap_or_else(|e| panic!("ringloop::to_thread: {e}"))
}

/// Like [`to_thread`], or says why the job cannot be queued: no runtime on this thread, or it
/// shut down.
pub fn try_to_thread<F, R>(f: F) -> Result<Blocking<R>, SpawnError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::context::handle()
        .ok_or(SpawnError::NoRuntime)?
        .try_spawn_blocking(f)
}

/// A job's result, as a future: `Ok` with the closure's value, or the [`TaskError`] of a panic
/// (or of a shutdown that dropped the job unrun). Returned by [`to_thread`],
/// [`Handle::spawn_blocking`] and [`LoopHandle::run_in_executor`](crate::LoopHandle::run_in_executor).
///
/// Dropping it does not stop the job (see the module docs).
#[must_use = "futures do nothing unless awaited; the job runs anyway"]
pub struct Blocking<R> {
    slot: Arc<Slot<R>>,
}

/// Where a job's result meets its future.
struct Slot<R> {
    state: Mutex<SlotState<R>>,
}

enum SlotState<R> {
    /// Not finished; the waker of whoever awaits it.
    Waiting(Option<Waker>),
    /// Finished, result not taken yet.
    Done(Result<R, TaskError>),
    /// The result was taken, or the future was dropped.
    Gone,
}

impl<R> Future for Blocking<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state.lock();
        match std::mem::replace(&mut *state, SlotState::Gone) {
            SlotState::Done(result) => Poll::Ready(result),
            SlotState::Waiting(_) => {
                // By returning Pending we promise a wake: the completer wakes this waker.
                *state = SlotState::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            SlotState::Gone => panic!("a Blocking future polled after it returned its result"),
        }
    }
}

impl<R> Drop for Blocking<R> {
    fn drop(&mut self) {
        // Tells the completer nobody will read the result (and drops one already there).
        let old = std::mem::replace(&mut *self.slot.state.lock(), SlotState::Gone);
        drop(old);
    }
}

/// The job's side of the slot. Completes it exactly once: with the closure's result, or (if
/// the job is dropped unrun, at shutdown) as cancelled.
struct Completer<R> {
    slot: Option<Arc<Slot<R>>>,
    /// To report a panic nobody will read.
    handle: Handle,
}

impl<R> Completer<R> {
    fn complete(&mut self, result: Result<R, TaskError>) {
        let Some(slot) = self.slot.take() else { return };
        let mut state = slot.state.lock();
        match std::mem::replace(&mut *state, SlotState::Gone) {
            SlotState::Waiting(waker) => {
                *state = SlotState::Done(result);
                drop(state);
                // Wake after releasing the lock: the woken task may poll at once.
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            // The future was dropped: the result goes nowhere.
            _ => {
                drop(state);
                if let Err(error) = result {
                    if error.is_panic() {
                        self.handle.call_exception_handler(ExceptionContext {
                            message: "Blocking job exception was never retrieved".into(),
                            task_id: None,
                            task_name: None,
                            error: Some(error),
                        });
                    }
                }
            }
        }
    }
}

impl<R> Drop for Completer<R> {
    fn drop(&mut self) {
        self.complete(Err(TaskError::cancelled(Some(
            "the runtime shut down before the blocking job started".into(),
        ))));
    }
}

/// Wraps `f` into a job for the pool and the future of its result.
pub(crate) fn job<F, R>(f: F, handle: Handle) -> (Job, Blocking<R>)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState::Waiting(None)),
    });
    let mut completer = Completer {
        slot: Some(slot.clone()),
        handle,
    };
    let job: Job = Box::new(move |failure: Option<String>| {
        let result = match failure {
            None => catch_unwind(AssertUnwindSafe(f)).map_err(TaskError::panicked),
            Some(why) => Err(TaskError::cancelled(Some(why))),
        };
        completer.complete(result);
    });
    (job, Blocking { slot })
}

/// A queued closure: called with `None` it runs the job; with `Some(why)` it fails the job's
/// future as cancelled with that message instead. Dropping it uncalled (at shutdown) fails it
/// as cancelled too.
pub(crate) type Job = Box<dyn FnOnce(Option<String>) + Send + 'static>;

/// A runtime's pool of blocking threads.
pub(crate) struct BlockingPool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    state: Mutex<PoolState>,
    /// Idle threads wait here for work (or shutdown).
    work: Condvar,
    /// Shutdown waits here for the last thread to exit.
    exited: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    /// Live pool threads.
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Wake-ups sent to idle threads and not yet taken: a job only wakes a thread that no
    /// earlier job has already claimed, else it starts a new one.
    notified: usize,
    shutdown: bool,
    /// Threads started so far, to number their names.
    started: usize,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> BlockingPool {
        BlockingPool {
            shared: Arc::new(PoolShared {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
                exited: Condvar::new(),
                max_threads: max_threads.max(1),
                keep_alive,
            }),
        }
    }

    /// Queues `job`, waking an idle thread or starting one. After shutdown the job is handed
    /// back with the error, so the caller drops it (and its future reports cancelled).
    pub(crate) fn spawn(&self, job: Job) -> Result<(), (Job, SpawnError)> {
        let mut st = self.shared.state.lock();
        if st.shutdown {
            return Err((job, SpawnError::Shutdown));
        }
        st.queue.push_back(job);
        if st.idle > st.notified {
            st.notified += 1;
            self.shared.work.notify_one();
        } else if st.threads < self.shared.max_threads {
            st.threads += 1;
            st.started += 1;
            let name = format!("ringloop-blocking-{}", st.started);
            let shared = self.shared.clone();
            // Starting a thread while holding the lock keeps `threads` exact; it is rare (the
            // pool grows only when every thread is busy) and takes tens of microseconds.
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || shared.run());
            if let Err(e) = spawned {
                st.threads -= 1;
                if st.threads == 0 {
                    // No thread will ever take the job: fail it now rather than leave it
                    // queued forever. (With threads alive, it waits for one of them.)
                    let job = st.queue.pop_back().expect("pushed above");
                    drop(st);
                    job(Some(format!(
                        "no thread could be started for the blocking job: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Stops the pool: drops the jobs no thread started, lets idle threads exit, and waits for
    /// running jobs to finish, at most `timeout` (forever if `None`). Returns false if some were
    /// still running when the time ran out (their threads are left to finish alone). Only the
    /// first call waits: a later one (the runtime's drop after `shutdown_timeout`) returns at
    /// once.
    pub(crate) fn shutdown(&self, timeout: Option<Duration>) -> bool {
        let unstarted: Vec<Job> = {
            let mut st = self.shared.state.lock();
            if std::mem::replace(&mut st.shutdown, true) {
                return st.threads == 0;
            }
            st.queue.drain(..).collect()
        };
        // Outside the lock: dropping a job completes its future, which may wake a task.
        drop(unstarted);
        self.shared.work.notify_all();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.shared.state.lock();
        // A pool thread that drops the runtime must not wait for itself.
        let own = usize::from(ON_POOL_THREAD.with(|p| p.get()));
        while st.threads > own {
            match deadline {
                None => self.shared.exited.wait(&mut st),
                Some(d) => {
                    if self.shared.exited.wait_until(&mut st, d).timed_out() {
                        return st.threads <= own;
                    }
                }
            }
        }
        true
    }
}

thread_local! {
    static ON_POOL_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl PoolShared {
    /// A pool thread: runs jobs until shutdown, or until idle for `keep_alive`.
    fn run(&self) {
        ON_POOL_THREAD.with(|p| p.set(true));
        let mut st = self.state.lock();
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                // The job catches the closure's panic itself; only a panicking waker or
                // exception handler could unwind here, and the thread count must survive it.
                let _ = catch_unwind(AssertUnwindSafe(|| job(None)));
                st = self.state.lock();
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let timed_out = self.work.wait_for(&mut st, self.keep_alive).timed_out();
            st.idle -= 1;
            if st.notified > 0 {
                // Claimed by a job (possibly just as the wait timed out): go and take it.
                st.notified -= 1;
            } else if timed_out && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
        drop(st);
        self.exited.notify_all();
    }
}
