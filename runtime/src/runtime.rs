//! `Runtime`, its `Builder` and its `Handle`: asyncio's event loop object, split the Rust way
//! into an owner (which shuts down on drop) and cheap clonable handles.

use crate::blocking::{self, Blocking, BlockingPool};
use crate::context;
use crate::driver::Driver;
use crate::hooks::{ExceptionHandler, Hooks};
use crate::scheduler::current_thread::{self, CurrentThread};
use crate::scheduler::multi_thread::{self, MultiThread};
use crate::scheduler::LocalCore;
use crate::task::{SpawnError, Task};
use crate::time::TimeShared;
use ringloop_reactor::{Backend, BackendChoice, Reactor};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which scheduler a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Everything on the thread that calls `block_on`: asyncio's own model.
    CurrentThread,
    /// Worker threads with work stealing (the default).
    MultiThread,
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// use std::time::Duration;
/// let rt = ringloop::Runtime::builder()
///     .flavor(ringloop::Flavor::CurrentThread)
///     .timer_resolution(Duration::from_micros(50))
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 6 * 7 }), 42);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    flavor: Flavor,
    workers: Option<usize>,
    backend: BackendChoice,
    resolution: Duration,
    virtual_time: bool,
    slow_poll: Option<Duration>,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            flavor: Flavor::MultiThread,
            workers: None,
            backend: BackendChoice::Auto,
            resolution: ringloop_timers::DEFAULT_RESOLUTION,
            virtual_time: false,
            slow_poll: None,
            max_blocking_threads: blocking::DEFAULT_MAX_THREADS,
            blocking_keep_alive: blocking::DEFAULT_KEEP_ALIVE,
        }
    }
}

impl Builder {
    /// A builder for the multi-thread runtime (the default).
    pub fn new_multi_thread() -> Builder {
        Builder::default()
    }

    /// A builder for the current-thread runtime.
    pub fn new_current_thread() -> Builder {
        Builder::default().flavor(Flavor::CurrentThread)
    }

    /// Chooses the scheduler.
    pub fn flavor(mut self, flavor: Flavor) -> Builder {
        self.flavor = flavor;
        self
    }

    /// Number of worker threads of the multi-thread flavour (default: one per core). Zero is
    /// taken as one.
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.workers = Some(n.max(1));
        self
    }

    /// Chooses the reactor backend. `Auto` (the default) tries io_uring and falls back to epoll,
    /// and honours `RINGLOOP_BACKEND=epoll|io_uring`; forcing `IoUring` where it cannot start
    /// makes `build` fail. [`Runtime::backend`] says which one the runtime got.
    pub fn backend(mut self, backend: BackendChoice) -> Builder {
        self.backend = backend;
        self
    }

    /// The timer wheel's tick: deadlines round up to it, never down. Default:
    /// [`ringloop_timers::DEFAULT_RESOLUTION`]. Zero is taken as one nanosecond.
    pub fn timer_resolution(mut self, resolution: Duration) -> Builder {
        self.resolution = resolution.max(Duration::from_nanos(1));
        self
    }

    /// Runs on a virtual clock: time stands still while tasks run and jumps to the next timer
    /// when every thread is idle, so long sleeps finish at once and tests are deterministic.
    ///
    /// Use [`now`](crate::now) (not `Instant::now`) to read it. I/O still happens in real
    /// time; when all threads wait, time jumps even if a socket read is pending.
    pub fn virtual_time(mut self, enabled: bool) -> Builder {
        self.virtual_time = enabled;
        self
    }

    /// Debug mode (asyncio's `loop.set_debug(True)`): every poll of a task that takes longer
    /// than 100 ms is reported to the exception handler with the task's name.
    pub fn debug(mut self, enabled: bool) -> Builder {
        self.slow_poll = enabled.then_some(Duration::from_millis(100));
        self
    }

    /// Debug mode with another threshold (asyncio's `slow_callback_duration`).
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll = Some(threshold);
        self
    }

    /// The most threads the blocking pool ([`to_thread`](crate::to_thread)) starts; more jobs
    /// wait in its queue. Default [`blocking::DEFAULT_MAX_THREADS`]; zero is taken as one.
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits. Default
    /// [`blocking::DEFAULT_KEEP_ALIVE`].
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// Builds the runtime: creates the reactor, the clock, and (multi-thread) the workers.
    pub fn build(&self) -> io::Result<Runtime> {
        // Multi-thread on io_uring: each ring is its worker's alone (single issuer, `driver.rs`);
        // on epoll the option does nothing.
        let per_worker = self.flavor == Flavor::MultiThread;
        let reactor = Reactor::builder()
            .backend(self.backend)
            .single_issuer(per_worker)
            .build()?;
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let mut reactors = vec![reactor];
        if self.flavor == Flavor::MultiThread && reactors[0].backend() == Backend::IoUring {
            // One ring per worker (`driver.rs` says why); the first one proved io_uring works
            // here, so the others are forced to it: a failure is an error, not a mixed runtime.
            for _ in 1..workers {
                reactors.push(
                    Reactor::builder()
                        .backend(BackendChoice::IoUring)
                        .single_issuer(true)
                        .build()?,
                );
            }
        }
        let time = Arc::new(TimeShared::new(self.virtual_time, self.resolution));
        let pool = BlockingPool::new(self.max_blocking_threads, self.blocking_keep_alive);
        let driver = Driver::new(reactors, time, pool);
        match self.flavor {
            Flavor::CurrentThread => {
                let (ct, shared) = CurrentThread::new(driver, Hooks::new(self.slow_poll));
                let handle = Handle {
                    kind: Kind::CurrentThread(shared),
                };
                ct.init(handle.clone());
                Ok(Runtime {
                    scheduler: Scheduler::CurrentThread(ct),
                    handle,
                })
            }
            Flavor::MultiThread => {
                let (mt, shared) = MultiThread::new(driver, Hooks::new(self.slow_poll), workers);
                let handle = Handle {
                    kind: Kind::MultiThread(shared),
                };
                let runtime = Runtime {
                    scheduler: Scheduler::MultiThread(mt),
                    handle: handle.clone(),
                };
                if let Scheduler::MultiThread(mt) = &runtime.scheduler {
                    mt.init(handle)?;
                }
                Ok(runtime)
            }
        }
    }
}

/// A ringloop runtime: the scheduler, the reactor and the timers. asyncio's event loop.
///
/// Dropping it shuts it down: every task still alive is cancelled (its future dropped exactly
/// once), the worker threads stop, and nothing leaks.
pub struct Runtime {
    scheduler: Scheduler,
    handle: Handle,
}

enum Scheduler {
    CurrentThread(CurrentThread),
    MultiThread(MultiThread),
}

impl Runtime {
    /// The default runtime: multi-thread, one worker per core, automatic backend.
    pub fn new() -> io::Result<Runtime> {
        Builder::default().build()
    }

    /// A builder to configure a runtime.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Runs `future` to completion on the calling thread and returns its output (asyncio's
    /// `loop.run_until_complete`). Tasks keep running while it waits; tasks still running
    /// when it returns stay in the runtime for the next `block_on`.
    ///
    /// Panics if called from a thread that already runs a ringloop runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.scheduler {
            Scheduler::CurrentThread(ct) => ct.block_on(future),
            Scheduler::MultiThread(mt) => mt.block_on(&self.handle, future),
        }
    }

    /// A handle to this runtime, usable from any thread.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns a task on this runtime (see [`create_task`](crate::create_task)).
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.create_task(future)
    }

    /// Which reactor backend this runtime got.
    pub fn backend(&self) -> Backend {
        self.handle.backend()
    }

    /// Shuts the runtime down now (dropping it does the same): the tasks are cancelled, and
    /// the blocking jobs that are running are waited for (see [`to_thread`](crate::to_thread)).
    pub fn shutdown(self) {
        drop(self);
    }

    /// Shuts the runtime down, waiting at most `timeout` for running blocking jobs: those still
    /// running then are left to finish on their own threads. Returns false if any were.
    pub fn shutdown_timeout(self, timeout: Duration) -> bool {
        self.shutdown_scheduler();
        let all_done = self.handle.driver().blocking.shutdown(Some(timeout));
        drop(self);
        all_done
    }

    fn shutdown_scheduler(&self) {
        match &self.scheduler {
            Scheduler::CurrentThread(ct) => ct.shutdown(),
            Scheduler::MultiThread(mt) => mt.shutdown(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown_scheduler();
        // After the tasks: a task cancelled at shutdown may not queue new jobs, and the jobs
        // already running are waited for (at once, if `shutdown_timeout` did it).
        self.handle.driver().blocking.shutdown(None);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("flavor", &self.handle.flavor())
            .field("backend", &self.backend())
            .finish()
    }
}

/// A clonable handle to a runtime, usable from any thread: spawn onto it, read its clock.
#[derive(Clone)]
pub struct Handle {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    CurrentThread(Arc<current_thread::Shared>),
    MultiThread(Arc<multi_thread::Shared>),
}

impl Handle {
    /// The handle of the runtime this thread runs in, if any (inside a task or `block_on`).
    pub fn try_current() -> Option<Handle> {
        crate::context::handle()
    }

    /// Spawns a task, or says why it cannot: the runtime has shut down.
    pub fn try_create_task<F>(&self, future: F) -> Result<Task<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None)
    }

    /// Spawns a task with a name (asyncio's `create_task(coro, name=...)`).
    pub fn try_create_named_task<F>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> Result<Task<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, Some(name.into()))
    }

    fn spawn_named<F>(&self, future: F, name: Option<String>) -> Result<Task<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.kind {
            Kind::CurrentThread(shared) => shared.spawn(future, name),
            Kind::MultiThread(shared) => shared.spawn(future, name),
        }
    }

    /// Spawns a task. Panics if the runtime has shut down; [`try_create_task`] returns the
    /// error instead.
    ///
    /// [`try_create_task`]: Handle::try_create_task
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_create_task(future)
            .unwrap_or_else(|e| panic!("ringloop::create_task: {e}"))
    }

    /// Runs `f` on the runtime's blocking pool (see [`to_thread`](crate::to_thread)). Panics
    /// if the runtime has shut down; [`try_spawn_blocking`](Handle::try_spawn_blocking)
    /// returns the error instead.
    pub fn spawn_blocking<F, R>(&self, f: F) -> Blocking<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.try_spawn_blocking(f)
            .unwrap_or_else(|e| panic!("ringloop::Handle::spawn_blocking: {e}"))
    }

    /// Runs `f` on the runtime's blocking pool, or says why it cannot: the runtime has shut
    /// down.
    pub fn try_spawn_blocking<F, R>(&self, f: F) -> Result<Blocking<R>, SpawnError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (job, blocking) = blocking::job(f, self.clone());
        match self.driver().blocking.spawn(job) {
            Ok(()) => Ok(blocking),
            Err((job, e)) => {
                drop(job);
                Err(e)
            }
        }
    }

    /// Which reactor backend the runtime got.
    pub fn backend(&self) -> Backend {
        self.driver().backend()
    }

    /// The runtime's flavour.
    pub fn flavor(&self) -> Flavor {
        match &self.kind {
            Kind::CurrentThread(_) => Flavor::CurrentThread,
            Kind::MultiThread(_) => Flavor::MultiThread,
        }
    }

    /// The runtime's clock, as an `Instant` (asyncio's `loop.time()`, virtual if configured).
    pub fn now(&self) -> Instant {
        self.driver().time.clock.now_instant()
    }

    /// Number of live tasks (spawned and not yet complete).
    pub fn num_tasks(&self) -> usize {
        self.task_list().len()
    }

    /// Sets the handler of errors nobody retrieved and of debug-mode reports (asyncio's
    /// `loop.set_exception_handler`); `None` restores the default, which prints to stderr.
    pub fn set_exception_handler(&self, handler: Option<ExceptionHandler>) {
        self.hooks().set_handler(handler);
    }

    /// Reports to the exception handler (asyncio's `loop.call_exception_handler`).
    pub fn call_exception_handler(&self, context: crate::ExceptionContext) {
        self.hooks().report(context);
    }

    fn hooks(&self) -> &Hooks {
        match &self.kind {
            Kind::CurrentThread(shared) => &shared.hooks,
            Kind::MultiThread(shared) => &shared.hooks,
        }
    }

    pub(crate) fn task_list(&self) -> &crate::task::TaskList {
        match &self.kind {
            Kind::CurrentThread(shared) => &shared.tasks,
            Kind::MultiThread(shared) => &shared.tasks,
        }
    }

    pub(crate) fn driver(&self) -> &Driver {
        match &self.kind {
            Kind::CurrentThread(shared) => &shared.driver,
            Kind::MultiThread(shared) => &shared.driver,
        }
    }

    /// The ring this thread submits I/O to, as an index for `Driver::ring`: on a runtime with a
    /// ring per worker, the ring of the worker running this code; otherwise (one ring, or a
    /// thread that is not one of this runtime's workers) ring 0.
    pub(crate) fn current_ring(&self) -> usize {
        match &self.kind {
            Kind::CurrentThread(_) => 0,
            Kind::MultiThread(shared) if shared.driver.ring_count() == 1 => 0,
            Kind::MultiThread(shared) => context::with_opt(|ctx| match ctx.map(|c| &c.local) {
                Some(LocalCore::Worker(core)) if Arc::ptr_eq(core.shared(), shared) => core.index(),
                _ => 0,
            }),
        }
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("flavor", &self.flavor())
            .finish()
    }
}
