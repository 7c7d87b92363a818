//! `stop()` and the futures `run_forever` and `run_until_complete` block on.
//!
//! asyncio's `run_forever` turns the loop until `stop()` sets a flag, then finishes the current
//! turn and returns; `stop()` called *before* `run_forever` makes it run one turn and return.
//! `run_until_complete` is `run_forever` with a done-callback that stops it, so a `stop()`
//! during it ends it early with "Event loop stopped before Future completed."
//!
//! ringloop's runtime already turns the loop inside `block_on`; what is left is the flag, a
//! waker to get `block_on`'s future polled when it is set (from any thread), and two small
//! futures that look at it.

use super::callback::Entry;
use super::handle::LoopShared;
use super::ready::ReadyQueue;
use super::LoopError;
use crate::task::Task;
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The stop request of one loop.
pub(crate) struct StopFlag {
    stopping: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl StopFlag {
    pub(crate) fn new() -> StopFlag {
        StopFlag {
            stopping: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    /// Requests a stop and wakes the `run_*` call waiting for it (from any thread).
    pub(crate) fn request(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Consumed by a `run_*` call when it returns (asyncio resets `_stopping` there too).
    pub(crate) fn clear(&self) {
        self.stopping.store(false, Ordering::SeqCst);
        self.waker.lock().take();
    }

    fn is_set(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Ready once a stop is requested; otherwise registers `cx`'s waker.
    fn poll_stopped(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_set() {
            return Poll::Ready(());
        }
        *self.waker.lock() = Some(cx.waker().clone());
        // A `request` between the check and the store would find no waker: check again.
        if self.is_set() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Polls `future` until it completes, or until a stop is requested (after the first turn).
pub(crate) struct RunUntil<'a, F> {
    pub(crate) future: Pin<&'a mut F>,
    pub(crate) stop: &'a StopFlag,
    pub(crate) first: bool,
}

impl<F: Future> Future for RunUntil<'_, F> {
    type Output = Result<F::Output, LoopError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(out) = this.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if std::mem::take(&mut this.first) && this.stop.is_set() {
            // stop() came before the run: let the loop turn once, as asyncio does.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.stop.poll_stopped(cx).map(|()| Err(LoopError::Stopped))
    }
}

/// Pending until a stop is requested and the callbacks scheduled before it have run.
///
/// asyncio's `run_forever` finishes the turn in progress when it sees the stop flag. Here the
/// future waiting for the flag is not in the ready queue, so it schedules a marker callback
/// when it sees the flag, and returns once the marker's turn came: every callback scheduled
/// before `stop()` (on this thread or another) has then run, and so has every task that was
/// ready before them on the current-thread flavour.
pub(crate) struct RunForever<'a> {
    pub(crate) shared: &'a Arc<LoopShared>,
    pub(crate) marker: Option<Task<()>>,
}

/// The marker callback: does nothing; its turn coming is the signal.
fn stop_marker() {}

impl Future for RunForever<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.marker.is_none() {
            if this.shared.stop.poll_stopped(cx).is_pending() {
                return Poll::Pending;
            }
            match ReadyQueue::push(this.shared, Entry::new(stop_marker, None)) {
                Ok(marker) => this.marker = Some(marker),
                // The runtime is shutting down: nothing left to run.
                Err(_) => return Poll::Ready(()),
            }
        }
        let marker = this.marker.as_mut().expect("set above");
        // Pending: the marker task's completion wakes us (a `Task` is a join handle).
        Pin::new(marker).poll(cx).map(drop)
    }
}
