//! [`Condition`]: asyncio's `asyncio.Condition`, a lock plus a line of tasks waiting to be told
//! that something changed.
//!
//! # How it works
//!
//! A condition owns (or shares) a [`Lock`] and keeps its own [`WaitList`]. `wait()`:
//!
//! 1. joins the condition's line *while still holding the lock*, so a `notify` (which needs
//!    the lock) cannot slip in between and be missed;
//! 2. releases the lock and sleeps until notified;
//! 3. re-acquires the lock (queueing on it like any `acquire`) and returns the guard.
//!
//! The future is a three-state machine, `Start(guard) -> Waiting(key) -> Reacquire(acquire)`,
//! and dropping it in any state leaves nothing behind: in `Waiting`, a notification that had
//! already arrived is passed on to the next waiter (as asyncio does since Python 3.13,
//! gh-112202); in `Reacquire`, the lock's own acquire future hands the lock on.
//!
//! # Differences from asyncio
//!
//! - Methods that need the lock held live on the [`ConditionGuard`] that `acquire()` returns,
//!   so asyncio's `RuntimeError: cannot notify on un-acquired lock` is a compile error:
//!   `let guard = cond.acquire().await; let guard = guard.wait().await; guard.notify(1);`.
//! - `wait()` and `wait_for()` take the guard and give it back (as `std::sync::Condvar` does);
//!   `wait_for` returns the guard, not the predicate's value (which is `true`).
//! - When the waiting task is cancelled, asyncio re-acquires the lock before letting the
//!   `CancelledError` out; a dropped Rust future cannot await, so here the lock simply stays
//!   released.
//! - `notify` returns how many waiters it woke (asyncio returns `None`).

use super::lock::{Acquire, Lock, LockGuard};
use super::wait_list::{Key, WaitList, WakeList};
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A condition variable for tasks: asyncio's `Condition`.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use ringloop::sync::Condition;
///
/// ringloop::run(async {
///     let cond = Arc::new(Condition::new());
///     let ready = Arc::new(AtomicBool::new(false));
///     let waiter = ringloop::create_task({
///         let (cond, ready) = (cond.clone(), ready.clone());
///         async move {
///             let guard = cond.acquire().await;
///             let _guard = guard.wait_for(|| ready.load(Ordering::SeqCst)).await;
///         }
///     });
///     ringloop::yield_now().await;
///     let guard = cond.acquire().await;
///     ready.store(true, Ordering::SeqCst);
///     guard.notify_all();
///     drop(guard);
///     waiter.await.unwrap();
/// });
/// ```
///
/// Notifying needs the lock held, as in asyncio, but checked at compile time: `notify` is a
/// method of the guard, not of the condition.
///
/// ```compile_fail
/// let cond = ringloop::sync::Condition::new();
/// cond.notify(1); // asyncio: RuntimeError: cannot notify on un-acquired lock
/// ```
#[derive(Debug)]
pub struct Condition {
    lock: Arc<Lock>,
    waiters: Mutex<WaitList>,
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl Condition {
    /// A condition with a lock of its own (asyncio's `Condition()`).
    pub fn new() -> Condition {
        Condition::with_lock(Arc::new(Lock::new()))
    }

    /// A condition over a shared lock (asyncio's `Condition(lock)`); several conditions may
    /// share one lock.
    pub fn with_lock(lock: Arc<Lock>) -> Condition {
        Condition {
            lock,
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// The underlying lock.
    pub fn lock(&self) -> &Arc<Lock> {
        &self.lock
    }

    /// Whether the underlying lock is held (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Acquires the underlying lock (FIFO, cancellation-safe, as [`Lock::acquire`]).
    pub fn acquire(&self) -> ConditionAcquire<'_> {
        ConditionAcquire {
            cond: self,
            inner: self.lock.acquire(),
        }
    }

    /// Turns a guard of the underlying lock (taken through [`Lock::acquire`] or through another
    /// condition sharing the lock) into a guard of this condition; gives it back unchanged if
    /// it holds a different lock.
    pub fn adopt<'a>(&'a self, guard: LockGuard<'a>) -> Result<ConditionGuard<'a>, LockGuard<'a>> {
        if std::ptr::eq(guard.lock(), &*self.lock) {
            Ok(ConditionGuard { cond: self, guard })
        } else {
            Err(guard)
        }
    }

    /// Wakes up to `n` waiters, in the order they began waiting.
    fn notify(&self, n: usize) -> usize {
        let mut wakers = WakeList::new();
        let mut woken = 0;
        {
            let mut list = self.waiters.lock();
            while woken < n {
                match list.notify_one(0) {
                    Some(w) => wakers.push(w),
                    None => break,
                }
                woken += 1;
            }
        }
        wakers.wake_all();
        woken
    }
}

/// The future of [`Condition::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionAcquire<'a> {
    cond: &'a Condition,
    inner: Acquire<'a>,
}

impl<'a> Future for ConditionAcquire<'a> {
    type Output = ConditionGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConditionGuard<'a>> {
        let cond = self.cond;
        Pin::new(&mut self.inner)
            .poll(cx)
            .map(|guard| ConditionGuard { cond, guard })
    }
}

/// Holds a [`Condition`]'s lock; the lock is released when it is dropped.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    guard: LockGuard<'a>,
}

impl<'a> ConditionGuard<'a> {
    /// The condition whose lock this guard holds.
    pub fn condition(&self) -> &'a Condition {
        self.cond
    }

    /// Gives back the plain lock guard (to [`Condition::adopt`] it into another condition
    /// that shares the lock).
    pub fn into_lock_guard(self) -> LockGuard<'a> {
        self.guard
    }

    /// Releases the lock, waits to be notified, re-acquires the lock and returns the guard.
    ///
    /// As with every condition variable, being woken does not mean the condition holds: check
    /// your state again, or use [`wait_for`](ConditionGuard::wait_for).
    pub fn wait(self) -> ConditionWait<'a> {
        ConditionWait {
            cond: self.cond,
            state: WaitState::Start(self.guard),
        }
    }

    /// Waits until `predicate()` is true, checking it under the lock first and after every
    /// wake-up (asyncio's `wait_for`).
    pub async fn wait_for<F: FnMut() -> bool>(mut self, mut predicate: F) -> ConditionGuard<'a> {
        while !predicate() {
            self = self.wait().await;
        }
        self
    }

    /// Wakes up to `n` tasks waiting on this condition; returns how many were woken.
    pub fn notify(&self, n: usize) -> usize {
        self.cond.notify(n)
    }

    /// Wakes every task waiting on this condition; returns how many were woken.
    pub fn notify_all(&self) -> usize {
        self.cond.notify(usize::MAX)
    }
}

/// The future of [`ConditionGuard::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    state: WaitState<'a>,
}

#[derive(Debug)]
enum WaitState<'a> {
    /// Not polled yet: we still hold the lock.
    Start(LockGuard<'a>),
    /// In the condition's line, lock released.
    Waiting(Key),
    /// Notified; queueing for the lock again.
    Reacquire(Acquire<'a>),
    /// Returned the guard.
    Done,
}

impl<'a> Future for ConditionWait<'a> {
    type Output = ConditionGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConditionGuard<'a>> {
        let cond = self.cond;
        loop {
            match std::mem::replace(&mut self.state, WaitState::Done) {
                WaitState::Start(guard) => {
                    // Join the line before letting go of the lock: see the module doc.
                    let key = cond.waiters.lock().push_back(cx.waker());
                    self.state = WaitState::Waiting(key);
                    drop(guard);
                    return Poll::Pending;
                }
                WaitState::Waiting(key) => {
                    if cond.waiters.lock().poll(key, cx.waker()).is_none() {
                        self.state = WaitState::Waiting(key);
                        return Poll::Pending;
                    }
                    self.state = WaitState::Reacquire(cond.lock.acquire());
                }
                WaitState::Reacquire(mut acquire) => {
                    return match Pin::new(&mut acquire).poll(cx) {
                        Poll::Ready(guard) => Poll::Ready(ConditionGuard { cond, guard }),
                        Poll::Pending => {
                            self.state = WaitState::Reacquire(acquire);
                            Poll::Pending
                        }
                    };
                }
                WaitState::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        if let WaitState::Waiting(key) = self.state {
            self.state = WaitState::Done;
            let notified = self.cond.waiters.lock().remove(key).is_some();
            if notified {
                // Someone meant to wake one task; do not let our cancellation swallow it.
                self.cond.notify(1);
            }
        }
        // `Start` drops its guard (releasing the lock); `Reacquire` drops its `Acquire`,
        // which hands the lock on if it had just received it.
    }
}
