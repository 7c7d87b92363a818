//! [`Lock`]: asyncio's `asyncio.Lock`, a mutual-exclusion lock for tasks.
//!
//! # How it works
//!
//! The state is a `locked` flag and a [`WaitList`] of tasks waiting for it, both behind one
//! `parking_lot::Mutex` (held for a few instructions, never across an `.await`).
//!
//! - `acquire()` on a free lock with nobody waiting takes it at once: one mutex acquisition,
//!   no allocation.
//! - Otherwise the task joins the end of the line and sleeps.
//! - Releasing (dropping the [`LockGuard`]) *hands the lock over* to the first waiter: the
//!   flag stays `locked`, the waiter's slot is marked notified, and it owns the lock from that
//!   moment, even before it runs. A task calling `acquire()` in between sees the lock taken
//!   and queues behind. That is asyncio's FIFO fairness (its `acquire` refuses to barge while
//!   anyone waits), made exact.
//! - If the first waiter is dropped (its task cancelled) after being handed the lock, its
//!   `Drop` releases the lock again to the next in line: the lock is never lost.
//!
//! # Differences from asyncio
//!
//! - `async with lock:` becomes `let _guard = lock.acquire().await;`: the lock is released
//!   when the guard is dropped, so it cannot be forgotten, released twice, or released by
//!   someone who does not hold it (asyncio's `RuntimeError`s are compile errors here).
//! - Like asyncio's, the lock guards no data; pair it with your own state (or use a
//!   [`Condition`](super::Condition)).
//! - [`Lock::try_acquire`] is an extra: asyncio can only check [`Lock::locked`] then acquire.

use super::wait_list::{Key, WaitList};
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A mutual-exclusion lock for tasks, FIFO-fair: asyncio's `Lock`.
///
/// ```
/// use std::sync::Arc;
/// use ringloop::sync::Lock;
///
/// ringloop::run(async {
///     let lock = Arc::new(Lock::new());
///     let guard = lock.acquire().await;
///     assert!(lock.locked());
///     drop(guard);
///     assert!(!lock.locked());
/// });
/// ```
///
/// A guard cannot outlive its lock (asyncio would let a task `release()` a lock that is gone):
///
/// ```compile_fail
/// let guard = {
///     let lock = ringloop::sync::Lock::new();
///     lock.try_acquire().unwrap()
/// };
/// ```
#[derive(Debug, Default)]
pub struct Lock {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Held by someone: a guard exists, or a notified waiter owns it and has not run yet.
    /// Invariant: `!locked` implies `waiters.is_empty()`.
    locked: bool,
    waiters: WaitList,
}

impl Lock {
    /// A new, unlocked lock.
    pub const fn new() -> Lock {
        Lock {
            state: Mutex::new(State {
                locked: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Whether the lock is held (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        self.state.lock().locked
    }

    /// Waits for the lock, in FIFO order, and returns a guard that releases it when dropped.
    ///
    /// Cancellation-safe: dropping the future before it completes leaves the line; if the lock
    /// had just been handed to it, it is handed on to the next waiter.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            lock: self,
            key: None,
        }
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        let mut st = self.state.lock();
        if st.locked {
            return None;
        }
        st.locked = true;
        Some(LockGuard { lock: self })
    }

    /// Hands the lock to the first waiter, or unlocks it if there is none.
    fn release(&self) {
        let waker = {
            let mut st = self.state.lock();
            let w = st.waiters.notify_one(0);
            if w.is_none() {
                st.locked = false;
            }
            w
        };
        // Woken after the mutex is released, so the waiter's thread does not run into it.
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Holds a [`Lock`]; dropping it releases the lock (to the next waiter, if any).
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

/// The future of [`Lock::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    lock: &'a Lock,
    key: Option<Key>,
}

impl<'a> Future for Acquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let lock = self.lock;
        let mut st = lock.state.lock();
        match self.key {
            Some(key) => match st.waiters.poll(key, cx.waker()) {
                // Handed over by `release`: `locked` stayed true on our behalf.
                Some(_) => {
                    self.key = None;
                    Poll::Ready(LockGuard { lock })
                }
                None => Poll::Pending,
            },
            None if !st.locked => {
                debug_assert!(st.waiters.is_empty());
                st.locked = true;
                Poll::Ready(LockGuard { lock })
            }
            None => {
                // By returning Pending we promise the waker is stored where `release` will
                // find it: in our slot, under the same mutex that `release` takes.
                self.key = Some(st.waiters.push_back(cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let handed_over = self.lock.state.lock().waiters.remove(key).is_some();
        if handed_over {
            // We own the lock but nobody will use it: pass it on (asyncio's
            // `_wake_up_first()` in `acquire`'s `except CancelledError`).
            self.lock.release();
        }
    }
}
