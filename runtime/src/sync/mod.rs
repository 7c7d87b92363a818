//! asyncio's synchronization primitives and queues: [`Event`], [`Lock`], [`Semaphore`],
//! [`BoundedSemaphore`], [`Condition`], [`Barrier`], [`Queue`], [`LifoQueue`],
//! [`PriorityQueue`].
//!
//! # The asyncio map
//!
//! | asyncio | ringloop |
//! |---|---|
//! | `Event()`: `set`, `clear`, `is_set`, `await wait()` | [`Event`]: the same |
//! | `Lock()`: `async with lock:`, `locked()` | [`Lock`]: `let _g = lock.acquire().await;` ([`LockGuard`]), [`Lock::locked`] |
//! | `Semaphore(n)`, `BoundedSemaphore(n)`: `async with`, `release()` | [`Semaphore`], [`BoundedSemaphore`]: `acquire().await` ([`SemaphorePermit`]), `release()` |
//! | `ValueError` on over-release | [`ReleaseError`] |
//! | `Condition(lock)`: `wait`, `wait_for`, `notify(n)`, `notify_all` | [`Condition`]: the same, on its [`ConditionGuard`] |
//! | `Barrier(n)`: `wait`, `abort`, `reset`, `broken`, `BrokenBarrierError` | [`Barrier`], [`BrokenBarrierError`] |
//! | `Queue(maxsize)`, `LifoQueue`, `PriorityQueue` | [`Queue`], [`LifoQueue`], [`PriorityQueue`] |
//! | `put`, `get`, `put_nowait`, `get_nowait`, `qsize`, `empty`, `full`, `task_done`, `join`, `shutdown` | the same |
//! | `QueueFull`, `QueueEmpty`, `QueueShutDown` | [`TryPutError::Full`], [`TryGetError::Empty`], [`QueueShutDown`] |
//!
//! # Design
//!
//! Every primitive is the same shape: its state and one or more wait lists (`wait_list.rs`) behind one
//! `parking_lot::Mutex`, and futures that park a [`Waker`](std::task::Waker) in the wait list
//! when they must wait. Three rules hold throughout:
//!
//! 1. **Only wakers.** Nothing here knows about ringloop's scheduler or reactor: a waiter
//!    stores the waker its `poll` was given and a releaser calls it. So the primitives work
//!    under any executor (the tests drive some with a ten-line `block_on`), and across the
//!    multi-thread runtime's workers: all are `Send + Sync`; share them with an `Arc`.
//! 2. **Collect under the lock, wake after it.** A releaser takes the wakers out of the wait
//!    list while holding the mutex and calls them after releasing it, so a woken task on
//!    another worker does not immediately block on the mutex its waker still holds.
//! 3. **Cancellation loses nothing.** In Rust a task is cancelled by dropping its future, at
//!    its current `.await`. Every waiting future's `Drop` leaves the wait list, and if it had
//!    already been handed something (the lock, a permit) or told something (an item is ready,
//!    a condition was notified), it passes that on to the next waiter. asyncio does the same
//!    in `except CancelledError:` branches; here it is one `Drop` per future, and the tests
//!    cancel waiters at each of those moments.
//!
//! Uncontended operations take the mutex once and allocate nothing; a wait takes it once more
//! on wake-up; wait-list slots are reused, so steady state allocates nothing at all. There is
//! no `unsafe` in this module.
//!
//! Read `wait_list.rs` first, then `lock.rs` (hand-off), [`queue`], and the rest in any order.
//!
//! # Differences from asyncio, in general
//!
//! - `async with x:` becomes an RAII guard; asyncio's `RuntimeError`s for releasing what you
//!   do not hold become compile errors.
//! - Errors asyncio raises are returned as `Result`s; nothing here panics on bad input.
//! - Each file's doc lists its own differences.

mod barrier;
mod condition;
mod event;
mod lock;
pub mod queue;
mod semaphore;
mod wait_list;

pub use barrier::{Barrier, BarrierWait, BrokenBarrierError, ZeroPartiesError};
pub use condition::{Condition, ConditionAcquire, ConditionGuard, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Acquire, Lock, LockGuard};
pub use queue::{
    GenericQueue, LifoQueue, PriorityQueue, Queue, QueueShutDown, TaskDoneError, TryGetError,
    TryPutError,
};
pub use semaphore::{BoundedSemaphore, ReleaseError, Semaphore, SemaphoreAcquire, SemaphorePermit};

/// Compile-time proof that every primitive, guard and future is `Send + Sync` where its
/// contents are.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Event>();
    send_sync::<Lock>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<Condition>();
    send_sync::<Barrier>();
    send_sync::<Queue<String>>();
    send_sync::<LifoQueue<String>>();
    send_sync::<PriorityQueue<String>>();
    send_sync::<LockGuard<'static>>();
    send_sync::<SemaphorePermit<'static>>();
    send_sync::<ConditionGuard<'static>>();
    send::<EventWait<'static>>();
    send::<Acquire<'static>>();
    send::<SemaphoreAcquire<'static>>();
    send::<ConditionWait<'static>>();
    send::<BarrierWait<'static>>();
    send::<queue::Put<'static, String, queue::Fifo<String>>>();
    send::<queue::Get<'static, String, queue::Fifo<String>>>();
    send::<queue::Join<'static, String, queue::Fifo<String>>>();
}
