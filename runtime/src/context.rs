//! The thread-local context: which runtime this thread works for, its timer wheel, and its
//! scheduler-specific core.
//!
//! asyncio keeps "the running loop" in a thread-local too (`asyncio.get_running_loop()` reads
//! it). Here a `ThreadContext` lives on the stack of the function that drives the thread (the
//! current-thread loop, a worker's loop, a `block_on` call), and a thread-local pointer points at
//! it while that function runs. Free functions (`create_task`, `sleep`, `current_task`) find
//! their runtime through it.

use crate::runtime::Handle;
use crate::scheduler::LocalCore;
use crate::time::TimeCore;
use std::cell::Cell;
use std::ptr;
use std::time::Instant;

/// What a thread needs while it drives a runtime.
pub(crate) struct ThreadContext {
    pub(crate) handle: Handle,
    pub(crate) time: TimeCore,
    pub(crate) local: LocalCore,
}

thread_local! {
    static CURRENT: Cell<*const ThreadContext> = const { Cell::new(ptr::null()) };
}

/// Installs `ctx` as this thread's context until the guard drops.
///
/// Panics if the thread already drives a runtime: blocking on a runtime from inside one would
/// stall the outer runtime's tasks (tokio panics the same way).
pub(crate) fn enter(ctx: &ThreadContext) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(ctx));
    if !prev.is_null() {
        CURRENT.with(|c| c.set(prev));
        panic!(
            "cannot start or block on a ringloop runtime from a thread that is already running \
             one (a task or `block_on` inside a task): use `create_task` and await the task"
        );
    }
    EnterGuard { _private: () }
}

/// Installs `ctx` unless the thread already drives a runtime (then `None`, nothing changes).
pub(crate) fn try_enter(ctx: &ThreadContext) -> Option<EnterGuard> {
    let installed = CURRENT.with(|c| {
        if c.get().is_null() {
            c.set(ctx);
            true
        } else {
            false
        }
    });
    installed.then_some(EnterGuard { _private: () })
}

/// Clears the thread's context on drop.
pub(crate) struct EnterGuard {
    _private: (),
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(ptr::null()));
    }
}

/// Runs `f` with this thread's context (`None` outside a runtime). `f` always runs.
pub(crate) fn with_opt<R>(f: impl FnOnce(Option<&ThreadContext>) -> R) -> R {
    let ptr = CURRENT.with(|c| c.get());
    // SAFETY: the pointer is set by `enter` to a context that outlives its guard, and the guard
    // clears it before the context goes away; it is only read on this thread.
    f(unsafe { ptr.as_ref() })
}

/// Runs `f` with this thread's context, or returns `None` outside a runtime.
pub(crate) fn with<R>(f: impl FnOnce(&ThreadContext) -> R) -> Option<R> {
    with_opt(|ctx| ctx.map(f))
}

/// Runs `f` with this thread's timer core, or returns `None` outside a runtime.
pub(crate) fn with_time<R>(f: impl FnOnce(&TimeCore) -> R) -> Option<R> {
    with(|ctx| f(&ctx.time))
}

/// The current time on this thread's runtime clock (virtual or real), or the real time outside
/// a runtime.
pub(crate) fn now_instant() -> Instant {
    with_time(|tc| tc.shared.clock.now_instant()).unwrap_or_else(Instant::now)
}

/// A handle to this thread's runtime, if any.
pub(crate) fn handle() -> Option<Handle> {
    with(|ctx| ctx.handle.clone())
}
