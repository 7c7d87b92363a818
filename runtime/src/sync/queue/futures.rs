//! The futures of [`put`](GenericQueue::put), [`get`](GenericQueue::get) and
//! [`join`](GenericQueue::join).
//!
//! Each holds an optional wait-list [`Key`]: `None` until it has to wait, `Some` while it is in
//! line or has been notified and not yet looked. A poll runs under the queue's mutex:
//!
//! ```text
//! key is Some, still waiting   -> if the queue can now serve us, leave the line and go on;
//!                                 else refresh the waker and stay Pending
//! key is Some, notified        -> the slot is freed; go on, and if we must wait again,
//!                                 rejoin at the FRONT (we had been woken for our turn)
//! go on                        -> shut down? fail. Can we proceed? do it, wake the other side.
//!                                 Otherwise join the line: Pending
//! ```
//!
//! `Drop` leaves the line; a notification that had already arrived is passed on to the next
//! in line, so a cancelled waiter never swallows a wake-up meant for "one task".

use super::{GenericQueue, QueueShutDown, QueueStore};
use crate::sync::wait_list::Key;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future of [`GenericQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, S> {
    queue: &'a GenericQueue<T, S>,
    item: Option<T>,
    key: Option<Key>,
}

/// The future of [`GenericQueue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, S> {
    queue: &'a GenericQueue<T, S>,
    key: Option<Key>,
}

/// The future of [`GenericQueue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T, S> {
    queue: &'a GenericQueue<T, S>,
    key: Option<Key>,
}

// `Put` is never structurally pinned: the item is only moved, never pinned in place, so `Put`
// is `Unpin` whatever `T` is (and `poll` can use `get_mut`).
impl<T, S> Unpin for Put<'_, T, S> {}

impl<'a, T, S: QueueStore<T>> Put<'a, T, S> {
    pub(super) fn new(queue: &'a GenericQueue<T, S>, item: T) -> Self {
        Put {
            queue,
            item: Some(item),
            key: None,
        }
    }
}

impl<'a, T, S: QueueStore<T>> Get<'a, T, S> {
    pub(super) fn new(queue: &'a GenericQueue<T, S>) -> Self {
        Get { queue, key: None }
    }
}

impl<'a, T, S: QueueStore<T>> Join<'a, T, S> {
    pub(super) fn new(queue: &'a GenericQueue<T, S>) -> Self {
        Join { queue, key: None }
    }
}

impl<T, S: QueueStore<T>> Future for Put<'_, T, S> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let queue = this.queue;
        let mut st = queue.state.lock();
        let mut was_notified = false;
        if let Some(key) = this.key {
            match st.putters.poll(key, cx.waker()) {
                None if st.full(queue.maxsize) && !st.shutdown => return Poll::Pending,
                None => {
                    st.putters.remove(key);
                }
                Some(_) => was_notified = true,
            }
            this.key = None;
        }
        let item = this.item.take().expect("queue Put polled after completion");
        if st.shutdown {
            return Poll::Ready(Err(QueueShutDown(item)));
        }
        if st.full(queue.maxsize) {
            this.item = Some(item);
            this.key = Some(if was_notified {
                st.putters.push_front(cx.waker())
            } else {
                st.putters.push_back(cx.waker())
            });
            return Poll::Pending;
        }
        let waker = queue.push_locked(&mut st, item);
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T, S: QueueStore<T>> Future for Get<'_, T, S> {
    type Output = Result<T, QueueShutDown>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let queue = self.queue;
        let mut st = queue.state.lock();
        let mut was_notified = false;
        if let Some(key) = self.key {
            match st.getters.poll(key, cx.waker()) {
                None if st.store.is_empty() && !st.shutdown => return Poll::Pending,
                None => {
                    st.getters.remove(key);
                }
                Some(_) => was_notified = true,
            }
            self.key = None;
        }
        if let Some(item) = st.store.pop() {
            // Room for one more: wake one putter (asyncio's `_wakeup_next(self._putters)`).
            let waker = st.putters.notify_one(0);
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Ok(item));
        }
        if st.shutdown {
            return Poll::Ready(Err(QueueShutDown(())));
        }
        self.key = Some(if was_notified {
            st.getters.push_front(cx.waker())
        } else {
            st.getters.push_back(cx.waker())
        });
        Poll::Pending
    }
}

impl<T, S: QueueStore<T>> Future for Join<'_, T, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.queue.state.lock();
        if let Some(key) = self.key {
            // Once notified, return even if more items were put since: asyncio's `join`
            // awaits an Event that was set, and so returns too.
            return match st.joiners.poll(key, cx.waker()) {
                Some(_) => {
                    self.key = None;
                    Poll::Ready(())
                }
                None => Poll::Pending,
            };
        }
        if st.unfinished == 0 {
            return Poll::Ready(());
        }
        self.key = Some(st.joiners.push_back(cx.waker()));
        Poll::Pending
    }
}

impl<T, S> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waker = {
            let mut st = self.queue.state.lock();
            match st.putters.remove(key) {
                // Our wake-up said "there may be room": give it to the next putter.
                Some(_) => st.putters.notify_one(0),
                None => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T, S> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waker = {
            let mut st = self.queue.state.lock();
            match st.getters.remove(key) {
                // Our wake-up said "an item is there": give it to the next getter. The item
                // itself never left the queue.
                Some(_) => st.getters.notify_one(0),
                None => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T, S> Drop for Join<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.state.lock().joiners.remove(key);
        }
    }
}

impl<T, S> fmt::Debug for Put<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put").field("waiting", &self.key).finish()
    }
}

impl<T, S> fmt::Debug for Get<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").field("waiting", &self.key).finish()
    }
}

impl<T, S> fmt::Debug for Join<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").field("waiting", &self.key).finish()
    }
}
