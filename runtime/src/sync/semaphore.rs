//! [`Semaphore`] and [`BoundedSemaphore`]: asyncio's counting semaphores.
//!
//! # How it works
//!
//! A semaphore is a counter of free permits and a [`WaitList`] of tasks waiting for one, under
//! one `parking_lot::Mutex`.
//!
//! - `acquire()` with a free permit takes it: one mutex acquisition, no allocation.
//! - With none free, the task queues (FIFO) and sleeps.
//! - A release with tasks waiting *hands the permit over* to the first one (the counter does
//!   not move); only with nobody waiting does the counter go up. So a task that has waited
//!   is never overtaken by a newcomer, which is the fairness asyncio's semaphore has had since
//!   Python 3.11 (gh-90155), and the invariant `value > 0 => nobody waits` holds.
//! - A waiter dropped right after being handed a permit hands it on: no permit is ever lost.
//!
//! # Differences from asyncio
//!
//! - `async with sem:` becomes `let _permit = sem.acquire().await;`: the permit is released
//!   when the [`SemaphorePermit`] is dropped. [`SemaphorePermit::forget`] keeps it taken, for
//!   code that releases by hand later with `release()` as asyncio code does.
//! - [`BoundedSemaphore::release`] returns a [`ReleaseError`] where asyncio raises
//!   `ValueError`. A *permit* dropped into an already-full bounded semaphore cannot return an
//!   error from `Drop`: that release is discarded (the bug was the extra manual `release()`
//!   that filled it, which asyncio would not have caught either).
//! - [`Semaphore::try_acquire`] and [`Semaphore::available_permits`] are extras.

use super::wait_list::{Key, WaitList};
use parking_lot::Mutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A counting semaphore for tasks, FIFO-fair: asyncio's `Semaphore`.
///
/// ```
/// use ringloop::sync::Semaphore;
///
/// ringloop::run(async {
///     let sem = Semaphore::new(2);
///     let a = sem.acquire().await;
///     let _b = sem.acquire().await;
///     assert!(sem.locked());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
#[derive(Debug)]
pub struct Semaphore {
    core: Core,
}

/// A semaphore that refuses to be released above its initial value: asyncio's
/// `BoundedSemaphore`.
///
/// ```
/// use ringloop::sync::BoundedSemaphore;
///
/// let sem = BoundedSemaphore::new(1);
/// assert!(sem.release().is_err()); // asyncio: ValueError
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    core: Core,
}

/// [`BoundedSemaphore::release`] was called with every permit already free (asyncio's
/// `ValueError: BoundedSemaphore released too many times`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError;

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl std::error::Error for ReleaseError {}

/// What both semaphores share; `bound` is `Some(initial)` for the bounded one.
#[derive(Debug)]
struct Core {
    state: Mutex<State>,
    bound: Option<usize>,
}

#[derive(Debug)]
struct State {
    /// Free permits. Invariant: `value > 0` implies `waiters.is_empty()`.
    value: usize,
    waiters: WaitList,
}

impl Core {
    const fn new(value: usize, bound: Option<usize>) -> Core {
        Core {
            state: Mutex::new(State {
                value,
                waiters: WaitList::new(),
            }),
            bound,
        }
    }

    fn locked(&self) -> bool {
        self.state.lock().value == 0
    }

    fn available(&self) -> usize {
        self.state.lock().value
    }

    fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut st = self.state.lock();
        if st.value == 0 {
            return None;
        }
        st.value -= 1;
        Some(SemaphorePermit { core: self })
    }

    /// Returns one permit: to the first waiter if there is one, else to the counter (unless
    /// that would exceed the bound).
    fn release(&self) -> Result<(), ReleaseError> {
        let waker = {
            let mut st = self.state.lock();
            match st.waiters.notify_one(0) {
                Some(w) => w,
                None => {
                    if self.bound.is_some_and(|b| st.value >= b) {
                        return Err(ReleaseError);
                    }
                    st.value = st.value.saturating_add(1);
                    return Ok(());
                }
            }
        };
        waker.wake();
        Ok(())
    }
}

macro_rules! semaphore_methods {
    () => {
        /// Whether no permit is free, so `acquire()` would wait (asyncio's `locked()`).
        pub fn locked(&self) -> bool {
            self.core.locked()
        }

        /// How many permits are free now.
        pub fn available_permits(&self) -> usize {
            self.core.available()
        }

        /// Waits for a permit, in FIFO order; the permit is released when dropped.
        ///
        /// Cancellation-safe: dropping the future leaves the line, and a permit that had just
        /// been handed to it goes to the next waiter.
        pub fn acquire(&self) -> SemaphoreAcquire<'_> {
            SemaphoreAcquire {
                core: &self.core,
                key: None,
            }
        }

        /// Takes a permit if one is free, without waiting.
        pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
            self.core.try_acquire()
        }
    };
}

impl Semaphore {
    /// A semaphore with `permits` free permits (asyncio's `Semaphore(value)`).
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            core: Core::new(permits, None),
        }
    }

    semaphore_methods!();

    /// Adds one permit, waking the first waiter if there is one (asyncio's `release()`), for
    /// permits taken out of the guard's care with [`SemaphorePermit::forget`]. An unbounded
    /// semaphore may be released any number of times.
    pub fn release(&self) {
        // Unbounded: the counter only fails past usize::MAX, which it saturates at instead.
        let _ = self.core.release();
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore with `permits` free permits, which is also its bound.
    pub const fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            core: Core::new(permits, Some(permits)),
        }
    }

    semaphore_methods!();

    /// Adds one permit (see [`Semaphore::release`]); fails, changing nothing, if every permit
    /// is already free.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.core.release()
    }
}

/// One permit of a [`Semaphore`] or [`BoundedSemaphore`]; released when dropped.
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    core: &'a Core,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without a guard: release it later with `release()`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        // Err only for a bounded semaphore already full: see the module doc.
        let _ = self.core.release();
    }
}

/// The future of `acquire()` on a [`Semaphore`] or [`BoundedSemaphore`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    core: &'a Core,
    key: Option<Key>,
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let core = self.core;
        let mut st = core.state.lock();
        match self.key {
            Some(key) => match st.waiters.poll(key, cx.waker()) {
                // Handed a permit by `release`.
                Some(_) => {
                    self.key = None;
                    Poll::Ready(SemaphorePermit { core })
                }
                None => Poll::Pending,
            },
            None if st.value > 0 => {
                st.value -= 1;
                Poll::Ready(SemaphorePermit { core })
            }
            None => {
                self.key = Some(st.waiters.push_back(cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl Drop for SemaphoreAcquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let handed_over = self.core.state.lock().waiters.remove(key).is_some();
        if handed_over {
            // A permit we will not use: hand it on. Cannot fail: it was taken from this
            // semaphore, so returning it cannot exceed the bound.
            let _ = self.core.release();
        }
    }
}
