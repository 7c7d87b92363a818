//! [`Event`]: asyncio's `asyncio.Event`, a flag that tasks can wait for.
//!
//! `set()` raises the flag and wakes every waiter; `clear()` lowers it; `wait()` returns at
//! once if the flag is up, else waits until someone calls `set()`.
//!
//! As in asyncio, a waiter that was woken by `set()` returns even if `clear()` ran before it
//! got to run: the notification is recorded in its wait-list slot, not re-read from the flag.
//!
//! # Differences from asyncio
//!
//! - `wait()` returns `()` where asyncio returns `True` (it can only ever return `True`).
//! - It is `Send + Sync` and may be set from any thread; share it with an `Arc`.

use super::wait_list::{Key, WaitList, WakeList};
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// A flag tasks can wait for: asyncio's `Event`.
///
/// ```
/// use std::sync::Arc;
/// use ringloop::sync::Event;
///
/// ringloop::run(async {
///     let ev = Arc::new(Event::new());
///     let waiter = ringloop::create_task({
///         let ev = ev.clone();
///         async move { ev.wait().await; "woken" }
///     });
///     ev.set();
///     assert_eq!(waiter.await.unwrap(), "woken");
/// });
/// ```
#[derive(Debug, Default)]
pub struct Event {
    /// Mirrors `State::set` for a lock-free `is_set` and `wait` fast path.
    flag: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    set: bool,
    waiters: WaitList,
}

impl Event {
    /// A new event, not set.
    pub const fn new() -> Event {
        Event {
            flag: AtomicBool::new(false),
            state: Mutex::new(State {
                set: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Sets the flag and wakes every task waiting for it. Later `wait()`s return at once
    /// until [`clear`](Event::clear).
    pub fn set(&self) {
        let mut wakers = WakeList::new();
        {
            let mut st = self.state.lock();
            if st.set {
                return;
            }
            st.set = true;
            self.flag.store(true, Ordering::Release);
            st.waiters.notify_all(0, &mut wakers);
        }
        wakers.wake_all();
    }

    /// Lowers the flag: later `wait()`s will wait for the next [`set`](Event::set).
    pub fn clear(&self) {
        let mut st = self.state.lock();
        st.set = false;
        self.flag.store(false, Ordering::Release);
    }

    /// Waits until the flag is set (returns at once if it is).
    ///
    /// Cancellation-safe: dropping the future leaves the line and affects nobody else.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

/// The future of [`Event::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<Key>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.key.is_none() && self.event.is_set() {
            return Poll::Ready(());
        }
        let mut st = self.event.state.lock();
        match self.key {
            Some(key) => match st.waiters.poll(key, cx.waker()) {
                Some(_) => {
                    self.key = None;
                    Poll::Ready(())
                }
                None => Poll::Pending,
            },
            None if st.set => Poll::Ready(()),
            None => {
                self.key = Some(st.waiters.push_back(cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A notification that arrived for a dropped waiter is simply lost: `set` wakes
            // everyone, so nobody else was counting on this one.
            self.event.state.lock().waiters.remove(key);
        }
    }
}
