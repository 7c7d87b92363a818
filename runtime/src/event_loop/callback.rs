//! One scheduled callback and the handle that cancels it: asyncio's `Handle` and `TimerHandle`.
//!
//! # The state machine
//!
//! A callback is an [`Entry`] shared by the loop (its ready queue or timer heap) and the user's
//! [`CallbackHandle`]. Its slot moves once, and only once, out of `Pending`:
//!
//! ```text
//!            run (the loop takes the closure)
//! Pending ─────────────────────────────────────▶ Started
//!    │
//!    ├── cancel() (the user takes the closure) ▶ Cancelled
//!    │
//!    └── the loop closed before it ran ────────▶ Discarded
//! ```
//!
//! The closure lives *inside* the slot, behind one mutex, so "run" and "cancel" race for the
//! same `Option`: whoever takes it wins, and the other sees an empty slot. That is what makes
//! "a cancelled handle never runs" hold even when `cancel()` is called from another thread while
//! the loop is about to run the callback. As in asyncio, cancelling drops the closure (and what
//! it captured) at once, not when the loop would have reached it.

use super::handle::LoopShared;
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// A callback as the loop stores it.
pub(crate) type BoxedCallback = Box<dyn FnOnce() + Send + 'static>;

/// Where a callback is in its life (see the module doc).
enum Slot {
    /// Waiting to run; holds the closure.
    Pending(BoxedCallback),
    /// The loop took the closure and ran (or is running) it.
    Started,
    /// `cancel()` took the closure and dropped it.
    Cancelled,
    /// The loop closed first; the closure was dropped unrun.
    Discarded,
}

/// One scheduled callback, shared by the loop and the [`CallbackHandle`].
pub(crate) struct Entry {
    slot: Mutex<Slot>,
    /// The callback's type name, for reports ("Exception in callback ...") and task names.
    pub(crate) desc: &'static str,
    /// The deadline of a `call_later`/`call_at` callback; `None` for `call_soon`.
    pub(crate) when: Option<Instant>,
    /// True while the entry sits in the loop's timer heap. Read and written only under the
    /// timer queue's lock; it lets `cancel` count the cancelled entries still in the heap.
    pub(crate) in_heap: AtomicBool,
}

impl Entry {
    pub(crate) fn new<F>(callback: F, when: Option<Instant>) -> Arc<Entry>
    where
        F: FnOnce() + Send + 'static,
    {
        Arc::new(Entry {
            slot: Mutex::new(Slot::Pending(Box::new(callback))),
            desc: std::any::type_name::<F>(),
            when,
            in_heap: AtomicBool::new(false),
        })
    }

    /// `Pending -> Started`: the closure to run, or `None` if it was cancelled or discarded.
    pub(crate) fn take_for_run(&self) -> Option<BoxedCallback> {
        let mut slot = self.slot.lock();
        match std::mem::replace(&mut *slot, Slot::Started) {
            Slot::Pending(callback) => Some(callback),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// `Pending -> Cancelled`: the closure, for the caller to drop *after* releasing its locks
    /// (a closure's destructor may call back into the loop). `None` if it was too late.
    pub(crate) fn cancel(&self) -> Option<BoxedCallback> {
        self.leave_pending(Slot::Cancelled)
    }

    /// `Pending -> Discarded`, when the loop closes or a queued callback task is dropped.
    pub(crate) fn discard(&self) -> Option<BoxedCallback> {
        self.leave_pending(Slot::Discarded)
    }

    fn leave_pending(&self, to: Slot) -> Option<BoxedCallback> {
        let mut slot = self.slot.lock();
        if !matches!(*slot, Slot::Pending(_)) {
            return None;
        }
        match std::mem::replace(&mut *slot, to) {
            Slot::Pending(callback) => Some(callback),
            _ => unreachable!("checked above"),
        }
    }

    /// True once the user cancelled it.
    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(*self.slot.lock(), Slot::Cancelled)
    }

    /// True while it can still run.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(*self.slot.lock(), Slot::Pending(_))
    }

    fn state_name(&self) -> &'static str {
        match *self.slot.lock() {
            Slot::Pending(_) => "pending",
            Slot::Started => "started",
            Slot::Cancelled => "cancelled",
            Slot::Discarded => "discarded",
        }
    }
}

/// The handle of a scheduled callback: asyncio's `Handle` (from `call_soon`) and `TimerHandle`
/// (from `call_later` / `call_at`, which also have [`when`](CallbackHandle::when)).
///
/// Dropping the handle does not cancel the callback (as in asyncio). Clones share the callback.
#[derive(Clone)]
pub struct CallbackHandle {
    entry: Arc<Entry>,
    /// The loop whose timer heap holds this callback (timers only): told of a cancellation so
    /// it can re-arm its wake-up and eventually purge the heap, as asyncio does.
    timers_of: Option<Weak<LoopShared>>,
}

impl CallbackHandle {
    pub(crate) fn new(entry: Arc<Entry>, timers_of: Option<Weak<LoopShared>>) -> CallbackHandle {
        CallbackHandle { entry, timers_of }
    }

    /// Cancels the callback: it will never run. Returns `true` if this call prevented it from
    /// running, `false` if it had already started, run, been cancelled, or been discarded by a
    /// closed loop. asyncio's `cancel()` returns `None`; the `bool` is ringloop's addition.
    ///
    /// The closure is dropped here, on the calling thread, before `cancel` returns.
    pub fn cancel(&self) -> bool {
        let taken = match self.timers_of.as_ref().and_then(Weak::upgrade) {
            Some(shared) => shared.timers.cancel(&self.entry),
            None => self.entry.cancel(),
        };
        let cancelled = taken.is_some();
        drop(taken);
        cancelled
    }

    /// True if [`cancel`](CallbackHandle::cancel) stopped it (asyncio's `cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.entry.is_cancelled()
    }

    /// The deadline of a `call_later` / `call_at` callback (asyncio's `TimerHandle.when()`, an
    /// `Instant` on the loop's clock instead of float seconds); `None` for `call_soon`.
    pub fn when(&self) -> Option<Instant> {
        self.entry.when
    }
}

impl fmt::Debug for CallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHandle")
            .field("callback", &self.entry.desc)
            .field("state", &self.entry.state_name())
            .field("when", &self.entry.when)
            .finish()
    }
}

/// Marks an entry as in (or out of) the timer heap; callers hold the timer queue's lock.
pub(crate) fn set_in_heap(entry: &Entry, in_heap: bool) {
    entry.in_heap.store(in_heap, Ordering::Relaxed);
}
