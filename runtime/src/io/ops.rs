//! io_uring operations as futures.
//!
//! An operation's life (tokio-uring's `Lifecycle`):
//!
//! ```text
//! Waiting(waker) ──completion──▶ Done(result, op) ──future polled──▶ taken
//!       │
//!       └──future dropped──▶ Orphaned(on_orphan) ──completion──▶ on_orphan(result, op)
//! ```
//!
//! The reactor owns the op (its buffers and its fd) from `submit` until the completion, so a
//! dropped future never frees memory the kernel still writes into. Dropping also asks the
//! kernel to cancel; the completion still comes (with the data, if it won the race, or
//! `ECANCELED`), and `on_orphan` decides what to keep: a socket's read path stashes the bytes
//! so the next read returns them.

use super::{current_handle, Entry};
use crate::runtime::Handle;
use parking_lot::Mutex;
use ringloop_reactor::{Op, OpId};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// What to do with a completion nobody waits for any more.
pub(crate) type OnOrphan = Box<dyn FnOnce(io::Result<u32>, Op) + Send>;

/// The driver's side of one operation.
pub(crate) struct OpSlot {
    state: Mutex<State>,
}

enum State {
    Waiting(Option<Waker>),
    Done(io::Result<u32>, Op),
    Orphaned(Option<OnOrphan>),
    Taken,
}

impl OpSlot {
    /// The completion arrived.
    pub(super) fn complete(&self, result: io::Result<u32>, op: Op) {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(waker) => {
                *state = State::Done(result, op);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            State::Orphaned(on_orphan) => {
                drop(state);
                if let Some(f) = on_orphan {
                    f(result, op);
                }
                // Otherwise the op, and its buffers, are dropped here: the kernel is done.
            }
            State::Done(..) | State::Taken => unreachable!("an operation completed twice"),
        }
    }
}

/// Submits `op` to the current runtime's io_uring. On epoll this is an `Unsupported` error
/// (callers use the readiness path there) and the op is dropped.
pub(crate) fn submit(op: Op) -> io::Result<OpFuture> {
    let handle = current_handle()?;
    let slot = Arc::new(OpSlot {
        state: Mutex::new(State::Waiting(None)),
    });
    let driver = handle.driver();
    let token = driver.io.insert(Entry::Op(slot.clone()));
    match driver.reactor.submit(op, token) {
        Ok(id) => Ok(OpFuture {
            handle,
            slot,
            id,
            on_orphan: None,
            done: false,
        }),
        Err(e) => {
            driver.io.remove(token);
            Err(e)
        }
    }
}

/// A submitted operation: resolves to its result and the op (buffers included) back.
pub(crate) struct OpFuture {
    handle: Handle,
    slot: Arc<OpSlot>,
    id: OpId,
    on_orphan: Option<OnOrphan>,
    done: bool,
}

impl OpFuture {
    /// What to do with the completion if this future is dropped first.
    pub(crate) fn on_orphan(mut self, f: OnOrphan) -> OpFuture {
        self.on_orphan = Some(f);
        self
    }
}

impl Future for OpFuture {
    type Output = (io::Result<u32>, Op);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.slot.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Done(result, op) => {
                this.done = true;
                Poll::Ready((result, op))
            }
            State::Waiting(_) => {
                *state = State::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            State::Orphaned(_) | State::Taken => panic!("OpFuture polled after completion"),
        }
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.slot.state.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(_) => {
                *state = State::Orphaned(self.on_orphan.take());
                drop(state);
                // The completion still comes; the reactor keeps the buffers until then.
                let _ = self.handle.driver().reactor.cancel(self.id);
            }
            State::Done(result, op) => {
                drop(state);
                if let Some(f) = self.on_orphan.take() {
                    f(result, op);
                }
            }
            State::Orphaned(_) | State::Taken => {}
        }
    }
}
