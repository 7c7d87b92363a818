//! Queues: asyncio's `Queue`, `LifoQueue` and `PriorityQueue`, with `task_done`/`join` and
//! Python 3.13's `shutdown`.
//!
//! # How it works
//!
//! One [`GenericQueue`] holds, behind one `parking_lot::Mutex`:
//!
//! - the items, in a [`QueueStore`] (ring buffer, stack or heap: the only thing the three
//!   queue kinds change);
//! - three wait lists (`sync/wait_list.rs`): *getters* (waiting for an item), *putters* (waiting for room, when
//!   `maxsize > 0`) and *joiners* (waiting for `task_done` to catch up);
//! - `unfinished`, the count of items put and not yet marked done, and the `shutdown` flag.
//!
//! Every operation takes the mutex once; a `get` or `put` that must wait takes it once more
//! when it is woken. Waking follows asyncio: each `put` wakes one getter, each `get` wakes one
//! putter, and the woken task re-checks the queue (it is *notified*, not *handed* the item: the
//! item stays in the queue until a getter takes it, so a cancelled getter can never lose one).
//! A notified getter that is dropped before it runs passes its notification to the next
//! getter, as asyncio's `get` does in its `except CancelledError` branch; putters likewise.
//! A notified getter that finds the item already taken (by a `get_nowait`, which does not
//! queue) goes back to the *front* of the line; asyncio sends it to the back.
//!
//! Nothing allocates per operation once the store and the wait lists have grown to their
//! working size: a ping-pong over two `Queue::new(1)` reuses the same slots forever.
//!
//! # Differences from asyncio
//!
//! - `get().await` returns `Result<T, QueueShutDown>` and `put(item).await` returns
//!   `Result<(), QueueShutDown<T>>` (with the item), because a 3.13 queue can be shut down.
//! - `put_nowait` / `get_nowait` return [`TryPutError`] / [`TryGetError`], whose `Full` and
//!   `Empty` variants are asyncio's `QueueFull` and `QueueEmpty`.
//! - `task_done()` returns [`TaskDoneError`] where asyncio raises `ValueError`.
//! - `Queue::new(maxsize)`: as in asyncio, `0` means unbounded.

mod error;
mod futures;
mod store;

pub use error::{QueueShutDown, TaskDoneError, TryGetError, TryPutError};
pub use futures::{Get, Join, Put};
pub use store::{Fifo, Lifo, Priority, QueueStore};

use super::wait_list::{WaitList, WakeList};
use parking_lot::Mutex;
use std::fmt;
use std::marker::PhantomData;

/// A first-in, first-out queue: asyncio's `Queue`.
///
/// ```
/// use std::sync::Arc;
/// use ringloop::sync::Queue;
///
/// ringloop::run(async {
///     let q = Arc::new(Queue::new(2));
///     let consumer = ringloop::create_task({
///         let q = q.clone();
///         async move {
///             let mut sum = 0;
///             while let Ok(n) = q.get().await {
///                 sum += n;
///                 q.task_done().unwrap();
///             }
///             sum
///         }
///     });
///     for n in 1..=10 {
///         q.put(n).await.unwrap();
///     }
///     q.join().await; // every item was taken and marked done
///     q.shutdown(false);
///     assert_eq!(consumer.await.unwrap(), 55);
/// });
/// ```
pub type Queue<T> = GenericQueue<T, Fifo<T>>;

/// A last-in, first-out queue: asyncio's `LifoQueue`.
pub type LifoQueue<T> = GenericQueue<T, Lifo<T>>;

/// A queue that hands out its smallest item first: asyncio's `PriorityQueue`.
///
/// ```
/// use ringloop::sync::PriorityQueue;
///
/// let q = PriorityQueue::new(0);
/// for p in [3, 1, 2] {
///     q.put_nowait(p).unwrap();
/// }
/// assert_eq!(q.get_nowait(), Ok(1));
/// assert_eq!(q.get_nowait(), Ok(2));
/// ```
pub type PriorityQueue<T> = GenericQueue<T, Priority<T>>;

/// The queue behind [`Queue`], [`LifoQueue`] and [`PriorityQueue`], generic over where the
/// items are kept. See the [module doc](self).
pub struct GenericQueue<T, S> {
    state: Mutex<State<S>>,
    maxsize: usize,
    _items: PhantomData<fn(T) -> T>,
}

struct State<S> {
    store: S,
    /// Items put and not yet marked done.
    unfinished: usize,
    shutdown: bool,
    getters: WaitList,
    putters: WaitList,
    joiners: WaitList,
}

impl<S> State<S> {
    fn full<T>(&self, maxsize: usize) -> bool
    where
        S: QueueStore<T>,
    {
        maxsize > 0 && self.store.len() >= maxsize
    }
}

impl<T> Queue<T> {
    /// A FIFO queue holding at most `maxsize` items; `0` means no limit.
    pub fn new(maxsize: usize) -> Queue<T> {
        GenericQueue::with_store(maxsize, Fifo::default())
    }
}

impl<T> LifoQueue<T> {
    /// A LIFO queue holding at most `maxsize` items; `0` means no limit.
    pub fn new(maxsize: usize) -> LifoQueue<T> {
        GenericQueue::with_store(maxsize, Lifo::default())
    }
}

impl<T: Ord> PriorityQueue<T> {
    /// A priority queue holding at most `maxsize` items; `0` means no limit.
    pub fn new(maxsize: usize) -> PriorityQueue<T> {
        GenericQueue::with_store(maxsize, Priority::default())
    }
}

impl<T, S: QueueStore<T>> GenericQueue<T, S> {
    /// A queue over a store of your own (asyncio: subclassing `Queue` and overriding `_put`
    /// and `_get`); `maxsize == 0` means no limit.
    pub fn with_store(maxsize: usize, store: S) -> GenericQueue<T, S> {
        GenericQueue {
            state: Mutex::new(State {
                store,
                unfinished: 0,
                shutdown: false,
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
            }),
            maxsize,
            _items: PhantomData,
        }
    }

    /// The most items the queue holds (`0`: no limit).
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// How many items are in the queue.
    pub fn qsize(&self) -> usize {
        self.state.lock().store.len()
    }

    /// Whether the queue holds no item.
    pub fn empty(&self) -> bool {
        self.state.lock().store.is_empty()
    }

    /// Whether the queue holds `maxsize` items (never, for an unbounded queue).
    pub fn full(&self) -> bool {
        self.state.lock().full(self.maxsize)
    }

    /// How many items were put and not yet marked done with [`task_done`](Self::task_done).
    pub fn unfinished_tasks(&self) -> usize {
        self.state.lock().unfinished
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.state.lock().shutdown
    }

    /// Puts an item, waiting for room if the queue is full.
    ///
    /// Cancellation-safe: if the future is dropped before it completes, the item was not put
    /// (it is dropped with the future) and the wake-up it may have received goes to the next
    /// putter.
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        Put::new(self, item)
    }

    /// Takes the next item, waiting for one if the queue is empty.
    ///
    /// Cancellation-safe: an item is only ever removed by a `get` that completes, so dropping
    /// the future loses nothing; a wake-up it had received goes to the next getter.
    pub fn get(&self) -> Get<'_, T, S> {
        Get::new(self)
    }

    /// Puts an item if there is room, without waiting.
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        let waker = {
            let mut st = self.state.lock();
            if st.shutdown {
                return Err(TryPutError::ShutDown(item));
            }
            if st.full(self.maxsize) {
                return Err(TryPutError::Full(item));
            }
            self.push_locked(&mut st, item)
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Takes the next item if there is one, without waiting.
    pub fn get_nowait(&self) -> Result<T, TryGetError> {
        let mut st = self.state.lock();
        match st.store.pop() {
            Some(item) => {
                let waker = st.putters.notify_one(0);
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(item)
            }
            None if st.shutdown => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    /// Marks one item taken with `get` as processed, for [`join`](Self::join). Fails, changing
    /// nothing, if every item put is already marked done.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakers = WakeList::new();
        {
            let mut st = self.state.lock();
            if st.unfinished == 0 {
                return Err(TaskDoneError);
            }
            st.unfinished -= 1;
            if st.unfinished == 0 {
                st.joiners.notify_all(0, &mut wakers);
            }
        }
        wakers.wake_all();
        Ok(())
    }

    /// Waits until every item ever put has been marked done with
    /// [`task_done`](Self::task_done); returns at once if that is already so.
    pub fn join(&self) -> Join<'_, T, S> {
        Join::new(self)
    }

    /// Shuts the queue down (Python 3.13's `Queue.shutdown`): every `put` from now on fails
    /// with [`QueueShutDown`], and every waiting `put` and `get` is woken to find out.
    ///
    /// With `immediate == false`, `get` keeps returning the items left, then fails. With
    /// `immediate == true`, the items left are dropped at once and each counts as done (which
    /// may release `join`ers), so `get` fails straight away.
    pub fn shutdown(&self, immediate: bool) {
        let mut wakers = WakeList::new();
        let mut dropped = Vec::new();
        {
            let mut st = self.state.lock();
            st.shutdown = true;
            if immediate {
                while let Some(item) = st.store.pop() {
                    dropped.push(item);
                    st.unfinished = st.unfinished.saturating_sub(1);
                }
                if st.unfinished == 0 {
                    st.joiners.notify_all(0, &mut wakers);
                }
            }
            st.getters.notify_all(0, &mut wakers);
            st.putters.notify_all(0, &mut wakers);
        }
        // The items' destructors run outside the lock: they may be anything.
        drop(dropped);
        wakers.wake_all();
    }

    /// Stores `item` and counts it unfinished; returns a getter to wake. The caller checked
    /// that the queue is open and not full.
    fn push_locked(&self, st: &mut State<S>, item: T) -> Option<std::task::Waker> {
        st.store.push(item);
        st.unfinished += 1;
        st.getters.notify_one(0)
    }
}

impl<T, S: QueueStore<T>> fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &st.store.len())
            .field("unfinished", &st.unfinished)
            .field("getters", &st.getters.len())
            .field("putters", &st.putters.len())
            .field("shutdown", &st.shutdown)
            .finish()
    }
}
