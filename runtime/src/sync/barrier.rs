//! [`Barrier`]: asyncio's `asyncio.Barrier` (Python 3.11), a meeting point for a fixed number
//! of tasks.
//!
//! # How it works
//!
//! The state is a count of tasks waiting in the current round, a `broken` flag, and a
//! [`WaitList`]. `wait()` takes the next arrival index; the task that makes the count reach
//! `parties` notifies everyone in line with the tag `PASSED`, resets the count for the next
//! round, and returns at once. [`Barrier::abort`] and [`Barrier::reset`] notify the line with
//! the tag `BROKEN`, so the waiters of that round get a [`BrokenBarrierError`]. The tag rides
//! in each waiter's own slot, so a waiter learns how *its* round ended even if the barrier has
//! moved on by the time it runs.
//!
//! A waiter that is dropped (its task cancelled) before the round completes leaves the count,
//! as asyncio's `finally: self._count -= 1` does; the round then needs one more arrival.
//!
//! # Differences from asyncio
//!
//! - asyncio has a "draining" phase: a task arriving for the next round waits until every task
//!   of the previous round has left `wait()`. Here the outcome of a round is stored in each
//!   waiter's slot, so rounds cannot mix and the next round starts filling at once; the
//!   draining phase is unnecessary, and ringloop leaves it out.
//! - `wait()` returns `Result<usize, BrokenBarrierError>` where asyncio returns the index or
//!   raises `BrokenBarrierError`.
//! - `Barrier::new(0)` is an error (asyncio's `ValueError`), not a panic.

use super::wait_list::{Key, WaitList, WakeList};
use parking_lot::Mutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Tag of a waiter released because its round filled.
const PASSED: u8 = 0;
/// Tag of a waiter released by `abort` or `reset`.
const BROKEN: u8 = 1;

/// A barrier for `parties` tasks: asyncio's `Barrier`.
///
/// ```
/// use std::sync::Arc;
/// use ringloop::sync::Barrier;
///
/// ringloop::run(async {
///     let barrier = Arc::new(Barrier::new(2).unwrap());
///     let other = ringloop::create_task({
///         let b = barrier.clone();
///         async move { b.wait().await.unwrap() }
///     });
///     let mine = barrier.wait().await.unwrap();
///     let theirs = other.await.unwrap();
///     assert_eq!(mine + theirs, 1); // indices 0 and 1, in arrival order
/// });
/// ```
#[derive(Debug)]
pub struct Barrier {
    parties: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Tasks waiting in the current round.
    count: usize,
    broken: bool,
    waiters: WaitList,
}

/// The barrier was aborted or reset while waiting, or is broken (asyncio's
/// `BrokenBarrierError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken (aborted or reset)")
    }
}

impl std::error::Error for BrokenBarrierError {}

/// `Barrier::new(0)`: a barrier needs at least one party (asyncio's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroPartiesError;

impl fmt::Display for ZeroPartiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a barrier needs at least one party")
    }
}

impl std::error::Error for ZeroPartiesError {}

impl Barrier {
    /// A barrier that releases its waiters each time `parties` tasks are waiting.
    pub fn new(parties: usize) -> Result<Barrier, ZeroPartiesError> {
        if parties == 0 {
            return Err(ZeroPartiesError);
        }
        Ok(Barrier {
            parties,
            state: Mutex::new(State {
                count: 0,
                broken: false,
                waiters: WaitList::new(),
            }),
        })
    }

    /// How many tasks must wait together to pass.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks are waiting in the current round (asyncio's `n_waiting`).
    pub fn n_waiting(&self) -> usize {
        self.state.lock().count
    }

    /// Whether the barrier is broken (asyncio's `broken`): [`abort`](Barrier::abort) was
    /// called and [`reset`](Barrier::reset) was not since.
    pub fn broken(&self) -> bool {
        self.state.lock().broken
    }

    /// Waits until `parties` tasks are waiting, then returns this task's arrival index in its
    /// round (`0` for the first, `parties - 1` for the one that completed the round).
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            index: 0,
        }
    }

    /// Breaks the barrier: current and future waiters get [`BrokenBarrierError`] until
    /// [`reset`](Barrier::reset).
    pub fn abort(&self) {
        self.release_all(true);
    }

    /// Returns the barrier to its empty, unbroken state; tasks waiting now get
    /// [`BrokenBarrierError`].
    pub fn reset(&self) {
        self.release_all(false);
    }

    fn release_all(&self, broken: bool) {
        let mut wakers = WakeList::new();
        {
            let mut st = self.state.lock();
            st.broken = broken;
            st.count = 0;
            st.waiters.notify_all(BROKEN, &mut wakers);
        }
        wakers.wake_all();
    }
}

/// The future of [`Barrier::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<Key>,
    index: usize,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let barrier = self.barrier;
        let mut st = barrier.state.lock();
        if let Some(key) = self.key {
            return match st.waiters.poll(key, cx.waker()) {
                None => Poll::Pending,
                Some(tag) => {
                    self.key = None;
                    Poll::Ready(if tag == PASSED {
                        Ok(self.index)
                    } else {
                        Err(BrokenBarrierError)
                    })
                }
            };
        }
        if st.broken {
            return Poll::Ready(Err(BrokenBarrierError));
        }
        let index = st.count;
        if index + 1 == barrier.parties {
            // The last arrival releases the round and starts the next one.
            st.count = 0;
            let mut wakers = WakeList::new();
            st.waiters.notify_all(PASSED, &mut wakers);
            drop(st);
            wakers.wake_all();
            return Poll::Ready(Ok(index));
        }
        st.count += 1;
        self.index = index;
        self.key = Some(st.waiters.push_back(cx.waker()));
        Poll::Pending
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = self.barrier.state.lock();
        if st.waiters.remove(key).is_none() {
            // Still waiting: leave the round. (A notified waiter's round is over; the count
            // was already reset for it.)
            st.count -= 1;
        }
    }
}
