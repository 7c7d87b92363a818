//! ringloop: Python asyncio's programming model, in Rust, on an event loop built from the OS up.
//!
//! ```
//! use std::time::Duration;
//!
//! async fn say_after(delay: Duration, what: &str) -> String {
//!     ringloop::sleep(delay).await;
//!     what.to_string()
//! }
//!
//! let out = ringloop::run(async {
//!     let hello = ringloop::create_task(say_after(Duration::from_millis(10), "hello"));
//!     let world = ringloop::create_task(say_after(Duration::from_millis(20), "world"));
//!     (hello.await.unwrap(), world.await.unwrap())
//! });
//! assert_eq!(out, ("hello".to_string(), "world".to_string()));
//! ```
//!
//! # This crate's layer
//!
//! ringloop is three crates, each readable on its own:
//!
//! - `ringloop-timers`: the hierarchical timer wheel, a pure data structure;
//! - `ringloop-reactor`: epoll and io_uring, timerfd, eventfd: the kernel interface;
//! - `ringloop` (this crate): where they are joined into a runtime. Read it in this order:
//!   [`task`] (one allocation per task, its state word), the schedulers (`scheduler/`:
//!   current-thread, then multi-thread work stealing), `time/` (a timer wheel per thread, the
//!   `sleep` future), `driver.rs` (who waits in which reactor: on io_uring, one ring per
//!   worker), and `runtime.rs` (the public `Runtime`, `Builder` and `Handle`).
//!
//! # The asyncio map
//!
//! | asyncio | ringloop |
//! |---|---|
//! | `asyncio.run(main())` | [`run`]`(main())` |
//! | coroutine never awaited (a `RuntimeWarning`) | an unused future is a compile-time `#[must_use]` warning |
//! | `asyncio.sleep(d)`, `sleep(0)` | [`sleep`]`(d)`; zero yields to the loop; [`yield_now`] |
//! | `create_task(coro, name=)` | [`create_task`], [`create_named_task`], returning a [`Task`] |
//! | `Task.cancel(msg)`, `done()`, `cancelled()`, `get_name()`, `set_name()`, `cancelling()` | [`TaskRef::cancel`], [`TaskRef::cancel_with`], [`TaskRef::done`], [`Task::cancelled`], [`TaskRef::name`], [`TaskRef::set_name`], [`TaskRef::cancelling`] |
//! | `await task` | `task.await` gives `Result<T, TaskError>` |
//! | `current_task()`, `all_tasks()` | [`current_task`], [`all_tasks`] |
//! | `loop.time()` | [`now`], [`Handle::now`] |
//! | `except asyncio.CancelledError:` around an await | [`catch_cancel`]`(fut)` giving `Result<T, Cancelled>` |
//! | `asyncio.shield(aw)` | [`shield`] |
//! | `Task.uncancel()` | [`TaskRef::uncancel`] |
//! | `asyncio.wait_for(aw, t)` | [`wait_for`]`(fut, t)` giving `Result<T, TimeoutError>` |
//! | `async with asyncio.timeout(d) as cm:`, `timeout_at(when)`, `cm.reschedule/when/expired` | [`timeout`]`(d, fut)`, [`timeout_at`], [`Timeout::handle`] giving a [`TimeoutHandle`] ([`TimeoutHandle::reschedule`], [`TimeoutHandle::when`], [`TimeoutHandle::expired`]) |
//! | `loop.run_until_complete(f)` | [`Runtime::block_on`] |
//! | `new_event_loop()`, `loop.run_until_complete`, `run_forever`, `stop`, `close` | [`EventLoop`] ([`EventLoop::run_until_complete`], [`EventLoop::run_forever`], [`LoopHandle::stop`], [`EventLoop::close`]) |
//! | `asyncio.get_running_loop()` | [`get_running_loop`], giving a [`LoopHandle`] |
//! | `loop.call_soon`, `call_soon_threadsafe`, `call_later`, `call_at`, `Handle.cancel()` | [`LoopHandle::call_soon`], [`LoopHandle::call_soon_threadsafe`], [`LoopHandle::call_later`], [`LoopHandle::call_at`], [`CallbackHandle::cancel`] |
//! | `loop.set_exception_handler`, `call_exception_handler` | [`LoopHandle::set_exception_handler`], [`Handle::set_exception_handler`], [`LoopHandle::call_exception_handler`] |
//! | `asyncio.open_connection`, `start_server`, `Server.serve_forever/close/wait_closed` | [`streams::open_connection`], [`streams::start_server`], [`net::Server`] |
//! | `StreamReader.read/readline/readexactly/readuntil/at_eof`, `StreamWriter.write/drain/write_eof/close/wait_closed` | [`streams::StreamReader`], [`streams::StreamWriter`] |
//! | `IncompleteReadError`, `LimitOverrunError` | [`streams::IncompleteReadError`], [`streams::LimitOverrunError`] inside `io::Error` |
//! | `loop.create_server`, `loop.create_connection`, `asyncio.Protocol`, `Transport` | [`LoopHandle::create_server`], [`LoopHandle::create_connection`] (or [`net::create_server`], [`net::create_connection`]), [`net::Protocol`], [`net::Transport`] |
//! | `asyncio.to_thread(f)`, `loop.run_in_executor(None, f)` | [`to_thread`], [`LoopHandle::run_in_executor`], [`Handle::spawn_blocking`], giving a [`Blocking`] future |
//! | `asyncio.create_subprocess_exec`, `create_subprocess_shell`, `Process` (`wait`, `communicate`, `send_signal`, `terminate`, `kill`, `returncode`) | [`process::create_subprocess_exec`], [`process::create_subprocess_shell`], [`process::Command`], [`process::Process`] ([`Process::try_wait`](process::Process::try_wait) is `returncode`) |
//! | `loop.add_signal_handler`, `remove_signal_handler` | [`LoopHandle::add_signal_handler`], [`LoopHandle::remove_signal_handler`]; the future form: [`signal::signal`], [`signal::ctrl_c`] |
//! | `socket` + `loop.sock_*`, `loop.getaddrinfo` | [`net::TcpStream`], [`net::TcpListener`], [`net::UdpSocket`], [`net::UnixStream`], ...; [`net::lookup_host`] |
//!
//! # Differences from asyncio
//!
//! - Dropping a [`Task`] detaches it; it keeps running (asyncio may garbage-collect a task
//!   nobody references; ringloop never does).
//! - Cancelling stops a task at its next await point by dropping its future (destructors run),
//!   unless that await point is a boundary: [`catch_cancel`] (asyncio's
//!   `except CancelledError:`), an awaited [`Task`], or [`wait_for`] past its deadline. Rust
//!   cannot raise an exception inside a third-party future, so dropping is the fallback; see
//!   [`cancel`] for the whole model.
//! - The default runtime has worker threads (tasks must be `Send`); asyncio is single-threaded.
//!   The current-thread flavour ([`Flavor::CurrentThread`]) is asyncio's model exactly.

pub mod blocking;
pub mod cancel;
mod combinators;
mod context;
mod driver;
pub mod event_loop;
mod hooks;
pub mod io;
mod loom;
pub mod net;
pub mod process;
mod runtime;
mod scheduler;
pub mod signal;
pub mod streams;
pub mod sync;
pub mod task;
mod time;
mod timeout;

pub use blocking::{to_thread, try_to_thread, Blocking};
pub use cancel::{catch_cancel, shield, Cancelled};
pub use combinators::as_completed::{as_completed, AsCompleted};
pub use combinators::gather::{gather, Gather, GatherAll};
pub use combinators::task_group::{task_group, TaskGroup, TaskGroupError, TaskGroupFuture};
pub use combinators::wait::{wait, ReturnWhen, Wait};

#[doc(hidden)]
pub mod __private {
    pub use crate::combinators::gather::tuple::GatherTuple;
}
pub use event_loop::{get_running_loop, CallbackHandle, EventLoop, LoopError, LoopHandle};
pub use hooks::{ExceptionContext, ExceptionHandler};
pub use ringloop_reactor::{Backend, BackendChoice};
pub use runtime::{Builder, Flavor, Handle, Runtime};
pub use task::{SpawnError, Task, TaskError, TaskId, TaskRef};
pub use time::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, wait_for, Timeout, TimeoutError, TimeoutHandle, WaitFor};

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `main` on a new default runtime and returns its output: asyncio's `asyncio.run`.
///
/// Builds the default (multi-thread) runtime, runs `main` to completion on the calling thread,
/// then cancels the tasks still running, shuts down, and returns. Panics if the runtime cannot
/// be built (the reactor could not be created: see [`Runtime::new`] for the error instead) or
/// if called from inside a runtime.
pub fn run<F: Future>(main: F) -> F::Output {
    let rt =
        Runtime::new().unwrap_or_else(|e| panic!("ringloop::run: cannot build the runtime: {e}"));
    rt.block_on(main)
}

/// Spawns `future` as a task on the current runtime: asyncio's `asyncio.create_task`.
///
/// The task starts running concurrently at once (at the runtime's next turn); await the
/// returned [`Task`] for its result. Dropping the `Task` does not cancel it.
///
/// Panics if called outside a runtime or after it shut down; [`try_create_task`] returns the
/// error instead.
pub fn create_task<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    try_create_task(future).unwrap_or_else(|e| panic!("ringloop::create_task: {e}"))
}

/// Like [`create_task`], with a name (asyncio's `create_task(coro, name=...)`).
pub fn create_named_task<F>(name: impl Into<String>, future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    context::with(|ctx| ctx.handle.try_create_named_task(name, future))
        .unwrap_or(Err(SpawnError::NoRuntime))
        .unwrap_or_else(|e| panic!("ringloop::create_named_task: {e}"))
}

/// Spawns a task, or returns why it cannot: no runtime on this thread, or it shut down.
pub fn try_create_task<F>(future: F) -> Result<Task<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Spawn through the thread's own handle, without cloning it (two atomic operations saved
    // per spawn). Outside a runtime the closure, and with it the future, is dropped unpolled.
    context::with(|ctx| ctx.handle.try_create_task(future)).unwrap_or(Err(SpawnError::NoRuntime))
}

/// Yields to the loop once: every task that is ready runs before this one continues.
/// The same as `sleep(Duration::ZERO)` and asyncio's `await asyncio.sleep(0)`.
pub fn yield_now() -> Sleep {
    sleep(Duration::ZERO)
}

/// The task being run on this thread (asyncio's `asyncio.current_task()`); `None` outside a
/// task (in `block_on`'s own future, for instance).
pub fn current_task() -> Option<TaskRef> {
    task::current::get()
}

/// Every live task of the current runtime (asyncio's `asyncio.all_tasks()`); empty outside a
/// runtime.
pub fn all_tasks() -> Vec<TaskRef> {
    let mut out = Vec::new();
    if let Some(handle) = context::handle() {
        handle
            .task_list()
            .for_each(|raw| out.push(TaskRef::new_counted(raw)));
    }
    out.retain(|t| !t.done());
    out
}

/// The current runtime's clock (asyncio's `loop.time()`): virtual on a virtual-time runtime,
/// `Instant::now()` outside any runtime.
pub fn now() -> Instant {
    context::now_instant()
}
