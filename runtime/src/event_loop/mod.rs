//! asyncio's event loop object: `EventLoop`, `get_running_loop()`, and loop callbacks.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! // asyncio.new_event_loop(), here on a virtual clock: the sleeps below take no real time.
//! let builder = ringloop::Builder::new_current_thread().virtual_time(true);
//! let mut event_loop = ringloop::EventLoop::with_builder(&builder).unwrap();
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let (l1, l2) = (log.clone(), log.clone());
//! event_loop.run_until_complete(async move {
//!     let lp = ringloop::get_running_loop().unwrap();            // asyncio.get_running_loop()
//!     lp.call_later(Duration::from_millis(5), move || l1.lock().unwrap().push("later")).unwrap();
//!     lp.call_soon(move || l2.lock().unwrap().push("soon")).unwrap();
//!     ringloop::sleep(Duration::from_millis(10)).await;
//! }).unwrap();
//! event_loop.close();
//! assert_eq!(*log.lock().unwrap(), ["soon", "later"]);
//! assert!(event_loop.run_until_complete(async {}).is_err());      // "Event loop is closed"
//! ```
//!
//! # What asyncio's loop is, and where each part lives here
//!
//! asyncio's `BaseEventLoop` is a scheduler (a ready queue of callbacks, a heap of timed
//! callbacks, a selector for I/O) plus the API on top of it. In ringloop the scheduler, the
//! timers and the reactor are the [`Runtime`]; this module adds the *object* asyncio programs
//! hold, and the callback API:
//!
//! | asyncio | ringloop | file |
//! |---|---|---|
//! | `new_event_loop()`, `run_until_complete`, `run_forever`, `close` | [`EventLoop`] | this one |
//! | `get_running_loop()` | [`get_running_loop`] giving a [`LoopHandle`] | this one, `handle.rs` |
//! | `call_soon`, `call_soon_threadsafe` | [`LoopHandle::call_soon`] | `ready.rs` |
//! | `call_later`, `call_at` | [`LoopHandle::call_later`], [`LoopHandle::call_at`] | `timers.rs` |
//! | `Handle.cancel()`, `TimerHandle.when()` | [`CallbackHandle`] | `callback.rs` |
//! | `stop()` | [`LoopHandle::stop`] | `stop.rs` |
//! | `loop.time()` | [`LoopHandle::time`], an `Instant` | `handle.rs` |
//! | `set_exception_handler` | [`LoopHandle::set_exception_handler`] | `hooks.rs` (the runtime's) |
//!
//! # The ordering guarantees
//!
//! - `call_soon` callbacks run in the order they were scheduled, one at a time, on every
//!   flavour (`ready.rs` explains the turn tickets that make it so).
//! - `call_later` / `call_at` callbacks run at or after their deadline (never early), in order
//!   of deadline, and in scheduling order between equal deadlines (`timers.rs`: the loop keeps
//!   its own heap and does not rely on the timer wheel's order within one tick).
//! - A cancelled [`CallbackHandle`] never runs, even if cancelled from another thread at the
//!   moment the loop reaches it.
//! - Each callback is a small task, so callbacks and tasks share one run queue. On the
//!   **current-thread** flavour (the default, asyncio's own model) that queue is FIFO and the
//!   interleaving of callbacks and tasks is exactly asyncio's. On the **multi-thread** flavour
//!   callbacks still run one at a time in order, but tasks run in parallel with them.
//!
//! # Errors instead of raising
//!
//! Using a closed loop, running a loop from inside a runtime, calling `get_running_loop` outside
//! one: each is a [`LoopError`] (asyncio raises `RuntimeError`), never a panic. A panicking
//! callback, and a panicked task nobody awaited, go to the exception handler and the loop goes
//! on. Debug mode ([`Builder::debug`]) reports polls slower than 100 ms with the task's name;
//! a callback that ran longer than 100 µs has its task named `callback <its type>`, so a slow
//! callback is named too.
//!
//! # Where ringloop differs from asyncio
//!
//! - Callbacks are closures (`FnOnce() + Send`): arguments are captured, not passed.
//! - `time()` is an `Instant`, `call_later` takes a `Duration`, `call_at` an `Instant`.
//! - Inside a callback, [`current_task`](crate::current_task) is the callback's own small task
//!   (asyncio: `None`).
//! - [`get_running_loop`] also works in a plain runtime (`ringloop::run`, `Runtime::block_on`):
//!   it then makes a loop object for that runtime, whose `stop()` has nothing to stop.

mod callback;
mod handle;
mod ready;
mod stop;
mod timers;

pub use callback::CallbackHandle;
pub use handle::LoopHandle;

use crate::runtime::{Builder, Handle, Runtime};
use crate::task::Task;
use handle::LoopShared;
use std::fmt;
use std::future::Future;
use std::io;
use std::ops::Deref;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

/// Why an event-loop operation could not be done (asyncio raises `RuntimeError` for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopError {
    /// The loop was closed ("Event loop is closed").
    Closed,
    /// `get_running_loop()` outside a task, a callback or a `run_*` call ("no running event
    /// loop").
    NoRunningLoop,
    /// `run_until_complete` / `run_forever` on a thread that already runs a ringloop runtime
    /// ("Cannot run the event loop while another loop is running").
    NestedRun,
    /// `stop()` was called before the future given to `run_until_complete` completed ("Event
    /// loop stopped before Future completed."); the future was dropped.
    Stopped,
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoopError::Closed => "event loop is closed",
            LoopError::NoRunningLoop => "no running event loop",
            LoopError::NestedRun => {
                "cannot run the event loop while another loop is running on this thread"
            }
            LoopError::Stopped => "event loop stopped before the future completed",
        })
    }
}

impl std::error::Error for LoopError {}

/// An event loop: asyncio's loop object, owning a ringloop [`Runtime`].
///
/// It dereferences to its [`LoopHandle`], so `call_soon`, `call_later`, `call_at`,
/// `create_task`, `time`, `stop` and the rest are called on it directly, as on an asyncio loop.
///
/// Tasks and pending callbacks persist between `run_*` calls (the runtime keeps them). On the
/// current-thread flavour they only make progress while a `run_*` call is running, as in
/// asyncio. On the multi-thread flavour the workers run them at any time, between runs too (and
/// a virtual clock jumps ahead whenever the workers are idle, run or no run): schedule from
/// inside a run when the timing between scheduling calls matters. Dropping the loop closes it.
pub struct EventLoop {
    /// `None` once closed.
    rt: Option<Runtime>,
    handle: LoopHandle,
}

impl EventLoop {
    /// A new loop on a current-thread runtime (asyncio's `new_event_loop()`; asyncio's loop is
    /// single-threaded too).
    pub fn new() -> io::Result<EventLoop> {
        EventLoop::with_builder(&Builder::new_current_thread())
    }

    /// A new loop on the runtime `builder` describes: pick the flavour, the backend, the
    /// virtual clock, debug mode.
    pub fn with_builder(builder: &Builder) -> io::Result<EventLoop> {
        let rt = builder.build()?;
        let shared = LoopShared::new(rt.handle().clone());
        registry::register(&shared);
        Ok(EventLoop {
            rt: Some(rt),
            handle: LoopHandle { shared },
        })
    }

    /// A handle to this loop, for other threads or to move into tasks.
    pub fn handle(&self) -> LoopHandle {
        self.handle.clone()
    }

    /// Runs the loop until `future` completes and returns its output (asyncio's
    /// `loop.run_until_complete`). Tasks spawned before or during the call keep running on
    /// the loop after it returns.
    ///
    /// Errors: [`LoopError::Closed`]; [`LoopError::NestedRun`] if this thread already runs a
    /// ringloop runtime (from inside a task: await instead); [`LoopError::Stopped`] if `stop()`
    /// came first: the future is then dropped (asyncio's would keep running as a task: pass a
    /// [`Task`] to get that).
    pub fn run_until_complete<F: Future>(&mut self, future: F) -> Result<F::Output, LoopError> {
        let rt = self.enter_run()?;
        let _running = Running::new(&self.handle.shared);
        let future = pin!(future);
        rt.block_on(stop::RunUntil {
            future,
            stop: &self.handle.shared.stop,
            first: true,
        })
    }

    /// Runs the loop until [`stop`](LoopHandle::stop) is called (asyncio's `run_forever`):
    /// from a callback, a task, or another thread through a [`LoopHandle`]. It returns once
    /// the callbacks scheduled before `stop()` have run (asyncio: once the turn in progress
    /// ends); a `stop()` made before the call makes it run those callbacks and return.
    pub fn run_forever(&mut self) -> Result<(), LoopError> {
        let rt = self.enter_run()?;
        let _running = Running::new(&self.handle.shared);
        rt.block_on(stop::RunForever {
            shared: &self.handle.shared,
            marker: None,
        });
        Ok(())
    }

    fn enter_run(&self) -> Result<&Runtime, LoopError> {
        let rt = self.rt.as_ref().ok_or(LoopError::Closed)?;
        if Handle::try_current().is_some() {
            return Err(LoopError::NestedRun);
        }
        Ok(rt)
    }

    /// Closes the loop (asyncio's `close()`): pending callbacks are dropped unrun, every task
    /// still alive is cancelled (its future dropped), the runtime shuts down. Closing twice does
    /// nothing; any later use returns [`LoopError::Closed`].
    ///
    /// asyncio refuses to close a running loop; here `close` takes `&mut self`, which a running
    /// `run_*` call holds, so that cannot happen.
    pub fn close(&mut self) {
        let Some(rt) = self.rt.take() else {
            return;
        };
        let shared = &self.handle.shared;
        shared.closed.store(true, Ordering::Release);
        registry::unregister(shared);
        let pending = shared.timers.close();
        let closures: Vec<_> = pending.iter().filter_map(|e| e.discard()).collect();
        drop(closures);
        // Drops the callback tasks (which discard their closures) and every other task.
        shut_down(rt, shared);
    }

    /// Spawns a task on the loop (asyncio's `loop.create_task`); the same as the handle's.
    pub fn create_task<F>(&self, future: F) -> Result<Task<F::Output>, LoopError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.create_task(future)
    }
}

impl Deref for EventLoop {
    type Target = LoopHandle;

    fn deref(&self) -> &LoopHandle {
        &self.handle
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("handle", &self.handle)
            .finish()
    }
}

/// Shuts `rt` down: here, or, if this thread is running a runtime (the loop is closed from
/// inside a task of another loop), on a helper thread, because a runtime cannot shut down on a
/// thread that drives another one (its tasks' destructors would find the wrong runtime).
///
/// The helper is joined, so `close` returns after the shutdown, except when the thread runs
/// *this* loop's own runtime (the loop was moved into one of its own tasks): that shutdown
/// must wait for the current task to return, so the helper is left to finish it.
fn shut_down(rt: Runtime, shared: &Arc<LoopShared>) {
    let Some(current) = Handle::try_current() else {
        drop(rt);
        return;
    };
    let own = registry::same_runtime(&current, &shared.rt);
    let helper = std::thread::Builder::new()
        .name("ringloop-loop-close".into())
        .spawn(move || drop(rt));
    match helper {
        Ok(helper) if !own => {
            // The helper catches nothing: a panic in a destructor surfaces here, as it would
            // have on this thread.
            if let Err(panic) = helper.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Ok(_) => {}
        // No thread to spare: the runtime is leaked rather than shut down on the wrong thread.
        Err(_) => {}
    }
}

/// Marks the loop running for the duration of a `run_*` call, and consumes the stop request
/// when it ends (even by a panic).
struct Running<'a>(&'a LoopShared);

impl<'a> Running<'a> {
    fn new(shared: &'a LoopShared) -> Running<'a> {
        shared.running.store(true, Ordering::Release);
        Running(shared)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.stop.clear();
        self.0.running.store(false, Ordering::Release);
    }
}

/// The loop of the runtime this thread is running (asyncio's `asyncio.get_running_loop()`):
/// inside a task, a loop callback, or the future given to a `run_*` / `block_on` call.
///
/// In a runtime built by an [`EventLoop`], that loop; in a plain runtime (`ringloop::run`), a
/// loop object made for it on first use, shared by later calls while any handle to it lives.
/// Outside any runtime: [`LoopError::NoRunningLoop`].
pub fn get_running_loop() -> Result<LoopHandle, LoopError> {
    let rt = Handle::try_current().ok_or(LoopError::NoRunningLoop)?;
    Ok(LoopHandle {
        shared: registry::find_or_create(rt),
    })
}

/// Which loop object belongs to which runtime.
///
/// The runtime does not know about loop objects (it is the layer below), so the map lives here:
/// a short list of `(runtime identity, weak loop)`. A runtime's identity is the address of its
/// task list, which stays put while anything holds a handle to the runtime, and every
/// `LoopShared` holds one: an address cannot be reused while its entry can still be upgraded.
mod registry {
    use super::{Arc, Handle, LoopShared, Mutex, Weak};

    static LOOPS: Mutex<Vec<(usize, Weak<LoopShared>)>> = Mutex::new(Vec::new());

    fn key(rt: &Handle) -> usize {
        rt.task_list() as *const crate::task::TaskList as usize
    }

    fn lock() -> std::sync::MutexGuard<'static, Vec<(usize, Weak<LoopShared>)>> {
        // A panic while holding this lock cannot leave the list inconsistent: take it anyway.
        LOOPS.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn register(shared: &Arc<LoopShared>) {
        let mut loops = lock();
        loops.retain(|(_, weak)| weak.strong_count() > 0);
        loops.push((key(&shared.rt), Arc::downgrade(shared)));
    }

    pub(super) fn unregister(shared: &Arc<LoopShared>) {
        lock().retain(|(_, weak)| weak.strong_count() > 0 && !weak.ptr_eq(&Arc::downgrade(shared)));
    }

    pub(super) fn same_runtime(a: &Handle, b: &Handle) -> bool {
        key(a) == key(b)
    }

    pub(super) fn find_or_create(rt: Handle) -> Arc<LoopShared> {
        let key = key(&rt);
        let mut loops = lock();
        if let Some(shared) = loops
            .iter()
            .filter(|(k, _)| *k == key)
            .find_map(|(_, weak)| weak.upgrade())
        {
            return shared;
        }
        loops.retain(|(_, weak)| weak.strong_count() > 0);
        let shared = LoopShared::new(rt);
        loops.push((key, Arc::downgrade(&shared)));
        shared
    }
}
