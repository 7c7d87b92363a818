//! Schedulers: who runs which task when.
//!
//! Two flavours behind one `Runtime`:
//!
//! - `current_thread`: asyncio's model, everything on the thread that calls `block_on`;
//! - `multi_thread`: N workers with work stealing (the default, as in tokio).
//!
//! Both implement `task::Schedule` (where a woken task goes) and own a `TaskList` (every live
//! task, for shutdown). `park.rs` is the thread parking protocol the multi-thread flavour uses.

pub(crate) mod current_thread;
pub(crate) mod multi_thread;
pub(crate) mod park;

/// The scheduler-specific part of a thread's context.
pub(crate) enum LocalCore {
    /// The thread running the current-thread scheduler.
    CurrentThread(current_thread::Core),
    /// A worker of the multi-thread scheduler.
    Worker(multi_thread::WorkerCore),
    /// A thread in `block_on` of the multi-thread scheduler: it polls the main future only.
    BlockOn,
}
