//! `LoopHandle`: what `get_running_loop()` returns, usable from any thread.
//!
//! asyncio has one loop object that tasks reach with `asyncio.get_running_loop()`. ringloop
//! splits it the Rust way: the [`EventLoop`](super::EventLoop) owns the runtime (and closes it
//! on drop), and any number of cheap [`LoopHandle`]s share the loop's state ([`LoopShared`]):
//! its ready queue, its timer heap and its stop flag.

use super::callback::{CallbackHandle, Entry};
use super::ready::ReadyQueue;
use super::stop::StopFlag;
use super::timers::TimerQueue;
use super::LoopError;
use crate::hooks::{ExceptionContext, ExceptionHandler};
use crate::runtime::Handle;
use crate::task::{Task, TaskRef};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The state of one loop, shared by its `EventLoop`, its handles and its own tasks.
pub(crate) struct LoopShared {
    /// The runtime the loop's callbacks and tasks run on.
    pub(crate) rt: Handle,
    pub(crate) closed: AtomicBool,
    pub(crate) running: AtomicBool,
    pub(crate) stop: StopFlag,
    pub(crate) ready: ReadyQueue,
    pub(crate) timers: TimerQueue,
    /// The task that runs each signal's handler (`add_signal_handler`), by signal number.
    pub(crate) signal_handlers: parking_lot::Mutex<HashMap<i32, TaskRef>>,
}

impl LoopShared {
    pub(crate) fn new(rt: Handle) -> Arc<LoopShared> {
        Arc::new(LoopShared {
            rt,
            closed: AtomicBool::new(false),
            running: AtomicBool::new(false),
            stop: StopFlag::new(),
            ready: ReadyQueue::new(),
            timers: TimerQueue::new(),
            signal_handlers: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    fn check_open(&self) -> Result<(), LoopError> {
        if self.closed.load(Ordering::Acquire) {
            Err(LoopError::Closed)
        } else {
            Ok(())
        }
    }
}

/// A handle to an event loop: schedule callbacks, spawn tasks, read the clock, stop it.
///
/// Get one with [`get_running_loop`](super::get_running_loop) inside a task or a callback, or
/// with [`EventLoop::handle`](super::EventLoop::handle). It is `Clone + Send + Sync`; every
/// method works from any thread. Once the loop is closed, scheduling returns
/// [`LoopError::Closed`].
#[derive(Clone)]
pub struct LoopHandle {
    pub(crate) shared: Arc<LoopShared>,
}

impl LoopHandle {
    /// Schedules `callback` to run at the loop's next turn (asyncio's `loop.call_soon`).
    ///
    /// Callbacks run in the order they were scheduled, one at a time, interleaved with tasks
    /// (see the [module doc](super) for what holds on each flavour). A panic in the callback is
    /// reported to the exception handler as "Exception in callback ..." and the loop goes on.
    ///
    /// Differences from asyncio: arguments are captured by the closure instead of passed after
    /// it (`loop.call_soon(cb, a, b)` is `call_soon(move || cb(a, b))`), and the closure must be
    /// `Send` because the loop's tasks may run on any worker thread.
    pub fn call_soon<F>(&self, callback: F) -> Result<CallbackHandle, LoopError>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.check_open()?;
        let entry = Entry::new(callback, None);
        drop(ReadyQueue::push(&self.shared, entry.clone())?);
        Ok(CallbackHandle::new(entry, None))
    }

    /// `call_soon` from another thread (asyncio's `loop.call_soon_threadsafe`); it wakes the
    /// loop if it is blocked waiting for I/O or timers.
    ///
    /// In ringloop this is the same as [`call_soon`](LoopHandle::call_soon): every handle
    /// method is thread-safe, and scheduling from a foreign thread always wakes the reactor
    /// (asyncio's `call_soon` is not thread-safe and only the `_threadsafe` variant writes to
    /// the self-pipe). The name is kept so asyncio code ports line for line.
    pub fn call_soon_threadsafe<F>(&self, callback: F) -> Result<CallbackHandle, LoopError>
    where
        F: FnOnce() + Send + 'static,
    {
        self.call_soon(callback)
    }

    /// Schedules `callback` to run `delay` from now on the loop's clock (asyncio's
    /// `loop.call_later`, with a `Duration` instead of float seconds).
    ///
    /// Never early: it runs at a turn at or after the deadline. Callbacks with the same deadline
    /// run in the order they were scheduled. `Duration::MAX` (or any delay too big for an
    /// `Instant`) is clamped to 136 years from now: it never runs, and never overflows.
    pub fn call_later<F>(&self, delay: Duration, callback: F) -> Result<CallbackHandle, LoopError>
    where
        F: FnOnce() + Send + 'static,
    {
        let now = self.time();
        let when = now
            .checked_add(delay)
            .unwrap_or_else(|| now + Duration::from_secs(u32::MAX as u64));
        self.call_at(when, callback)
    }

    /// Schedules `callback` to run at `when` on the loop's clock (asyncio's `loop.call_at`,
    /// with an `Instant` from [`time`](LoopHandle::time) instead of float seconds). A deadline
    /// in the past runs at the next turn.
    pub fn call_at<F>(&self, when: Instant, callback: F) -> Result<CallbackHandle, LoopError>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.check_open()?;
        let entry = Entry::new(callback, Some(when));
        TimerQueue::push(&self.shared, entry.clone())?;
        Ok(CallbackHandle::new(
            entry,
            Some(Arc::downgrade(&self.shared)),
        ))
    }

    /// The loop's monotonic clock (asyncio's `loop.time()`): virtual on a virtual-time loop.
    ///
    /// asyncio returns float seconds from an unspecified origin; ringloop returns an `Instant`,
    /// the Rust idiom for a monotonic time point. Differences between two of them are what
    /// matters (`t1 - t0` is a `Duration`; `.as_secs_f64()` gives asyncio's float).
    pub fn time(&self) -> Instant {
        self.shared.rt.now()
    }

    /// Spawns `future` as a task on the loop (asyncio's `loop.create_task`).
    pub fn create_task<F>(&self, future: F) -> Result<Task<F::Output>, LoopError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.check_open()?;
        self.shared
            .rt
            .try_create_task(future)
            .map_err(|_| LoopError::Closed)
    }

    /// Spawns a named task on the loop (asyncio's `loop.create_task(coro, name=...)`).
    pub fn create_named_task<F>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> Result<Task<F::Output>, LoopError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.check_open()?;
        self.shared
            .rt
            .try_create_named_task(name, future)
            .map_err(|_| LoopError::Closed)
    }

    /// Listens on `host:port` and drives a new protocol from `factory` on every connection:
    /// asyncio's `loop.create_server(protocol_factory, host, port)`, the same as
    /// [`net::create_server`](crate::net::create_server) on this loop.
    ///
    /// As in asyncio, await it inside the loop (in a task or callback of its runtime):
    /// anywhere else it fails with an `io::Error` saying so, and on a closed loop too.
    pub async fn create_server<P, F>(
        &self,
        factory: F,
        host: &str,
        port: u16,
    ) -> std::io::Result<crate::net::Server>
    where
        P: crate::net::Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.check_in_loop("create_server")?;
        crate::net::create_server(factory, host, port).await
    }

    /// Connects to `host:port` and drives `factory()`'s protocol on the connection: asyncio's
    /// `loop.create_connection(protocol_factory, host, port)`, the same as
    /// [`net::create_connection`](crate::net::create_connection) on this loop. Await it
    /// inside the loop, as [`create_server`](LoopHandle::create_server).
    pub async fn create_connection<P, F>(
        &self,
        factory: F,
        host: &str,
        port: u16,
    ) -> std::io::Result<(crate::net::Transport, Arc<std::sync::Mutex<P>>)>
    where
        P: crate::net::Protocol,
        F: FnOnce() -> P,
    {
        self.check_in_loop("create_connection")?;
        crate::net::create_connection(factory, host, port).await
    }

    /// The loop's network methods run on the caller's runtime, which must be the loop's.
    fn check_in_loop(&self, what: &str) -> std::io::Result<()> {
        self.shared.check_open().map_err(std::io::Error::other)?;
        match Handle::try_current() {
            Some(current) if super::registry::same_runtime(&current, &self.shared.rt) => Ok(()),
            _ => Err(std::io::Error::other(format!(
                "LoopHandle::{what} must be awaited inside its loop (a task or callback of the \
                 loop's runtime)"
            ))),
        }
    }

    /// Runs `f` on the runtime's blocking pool and returns a future of its result (asyncio's
    /// `loop.run_in_executor(None, f)`; see [`to_thread`](crate::to_thread)).
    ///
    /// Difference from asyncio: there is one executor, the runtime's blocking pool, so there
    /// is no executor argument.
    pub fn run_in_executor<F, R>(&self, f: F) -> Result<crate::Blocking<R>, LoopError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.check_open()?;
        self.shared
            .rt
            .try_spawn_blocking(f)
            .map_err(|_| LoopError::Closed)
    }

    /// Runs `callback` on the loop each time the process receives signal `signum` (asyncio's
    /// `loop.add_signal_handler`), replacing the loop's earlier handler of that signal.
    ///
    /// Deliveries that arrive before the callback ran are coalesced into one call (see
    /// [`crate::signal`] for how signals reach the loop). Errors: `InvalidInput` for a signal
    /// that cannot be handled (SIGKILL, SIGSTOP, the fault signals), or a closed loop.
    ///
    /// Differences from asyncio: it works on any thread's loop (asyncio requires the main
    /// thread's), and arguments are captured by the closure.
    pub fn add_signal_handler<F>(&self, signum: i32, callback: F) -> std::io::Result<()>
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.shared.check_open().map_err(std::io::Error::other)?;
        let mut signal = crate::signal::signal(signum)?;
        let callback = Arc::new(callback);
        let handle = self.clone();
        let task = self
            .create_named_task(format!("signal handler ({signum})"), async move {
                loop {
                    signal.recv().await;
                    let callback = callback.clone();
                    if handle.call_soon(move || callback()).is_err() {
                        return; // The loop closed.
                    }
                }
            })
            .map_err(std::io::Error::other)?;
        let old = self
            .shared
            .signal_handlers
            .lock()
            .insert(signum, task.as_task_ref());
        if let Some(old) = old {
            old.cancel();
        }
        Ok(())
    }

    /// Removes the loop's handler of `signum` (asyncio's `loop.remove_signal_handler`).
    /// Returns true if there was one. The signal stays caught by ringloop (see
    /// [`crate::signal`]): it is ignored rather than given back its default action.
    pub fn remove_signal_handler(&self, signum: i32) -> bool {
        let old = self.shared.signal_handlers.lock().remove(&signum);
        old.map(|task| task.cancel()).is_some()
    }

    /// Asks the loop to stop (asyncio's `loop.stop()`), from a callback, a task or another
    /// thread: [`EventLoop::run_forever`](super::EventLoop::run_forever) returns after the
    /// current turn; a running `run_until_complete` returns [`LoopError::Stopped`]. Called
    /// while the loop is not running, it makes the next `run_forever` turn once and return.
    ///
    /// On a loop that [`get_running_loop`](super::get_running_loop) made for a plain runtime
    /// (`ringloop::run`), there is no `run_forever` to stop and this does nothing.
    pub fn stop(&self) {
        self.shared.stop.request();
    }

    /// True while `run_forever` or `run_until_complete` runs (asyncio's `is_running()`).
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::Acquire)
    }

    /// True once the loop was closed (asyncio's `is_closed()`).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Sets the handler of errors nobody retrieved (a panicking callback, a panicked task never
    /// awaited) and of debug-mode slow-poll reports (asyncio's `loop.set_exception_handler`);
    /// `None` restores the default, which prints to stderr.
    pub fn set_exception_handler(&self, handler: Option<ExceptionHandler>) {
        self.shared.rt.set_exception_handler(handler);
    }

    /// Reports to the exception handler (asyncio's `loop.call_exception_handler`).
    pub fn call_exception_handler(&self, context: ExceptionContext) {
        self.shared.rt.call_exception_handler(context);
    }

    /// The runtime the loop runs on.
    pub fn runtime(&self) -> &Handle {
        &self.shared.rt
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("flavor", &self.shared.rt.flavor())
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .finish()
    }
}
