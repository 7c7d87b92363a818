//! I/O: [`Async`] for any non-blocking descriptor, and the driver underneath it, where the
//! reactor's events meet the futures waiting for them.
//!
//! Two ways to do I/O, one per reactor style (`ringloop-reactor` explains the kernel side):
//!
//! - **Readiness** (epoll, and io_uring's poll operations): a file descriptor is registered once
//!   with a `Registration`. The reactor reports "readable"/"writable" edges for its token; the
//!   driver records them in the registration's readiness word and wakes the task waiting for
//!   that direction. The task then does the syscall itself, and on `WouldBlock` clears the
//!   readiness and waits again (the edge-triggered contract).
//! - **Completion** (io_uring): an operation that owns its buffers is submitted with
//!   `submit`; the kernel does the whole read or write; the completion comes back through the
//!   driver to the `OpFuture` waiting for it. A future dropped before its completion leaves the
//!   operation in the driver's table until the kernel is done with the buffers (the reactor keeps
//!   them alive), and what it still produced is handed to an `on_orphan` callback, so a
//!   cancelled read loses no bytes. A multishot operation (`submit_multishot_bounded`: the listener's
//!   accept) keeps its slot through many completions, queued in a `MultiOp` until taken.
//!
//! Tokens: the low 32 bits index a slot table, the high bits carry the slot's generation, so an
//! event for a slot that was freed and reused is recognised as stale and dropped.

mod async_fd;
mod ops;
mod registration;
#[cfg(test)]
mod tests;

pub use async_fd::Async;
pub(crate) use ops::{
    poll_parked, submit, submit_multishot_bounded, KeptOp, MultiOp, OpFuture, WaiterId,
};
pub(crate) use registration::{Direction, Registration};

/// Adds `waker` to a list of waiters unless a waker that wakes the same task is there.
pub(crate) fn add_waker(list: &mut Vec<std::task::Waker>, waker: &std::task::Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

use parking_lot::Mutex;
use ringloop_reactor::{Event, Readiness, Token};
use std::io;
use std::sync::Arc;

/// What a token's slot holds.
enum Entry {
    Io(Arc<registration::ScheduledIo>),
    Op(Arc<ops::OpSlot>),
    /// A multishot operation: stays until its last completion.
    Multi(Arc<ops::MultiSlot>),
}

/// The slot table shared by a runtime's threads.
#[derive(Default)]
pub(crate) struct IoDriver {
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    entries: Vec<(u32, Option<Entry>)>,
    free: Vec<u32>,
}

impl IoDriver {
    fn insert(&self, entry: Entry) -> Token {
        let mut slots = self.slots.lock();
        let index = match slots.free.pop() {
            Some(i) => i,
            None => {
                slots.entries.push((0, None));
                (slots.entries.len() - 1) as u32
            }
        };
        let (generation, slot) = &mut slots.entries[index as usize];
        *slot = Some(entry);
        Token(((*generation as usize) << 32) | index as usize)
    }

    fn remove(&self, token: Token) {
        let mut slots = self.slots.lock();
        let index = (token.0 & 0xFFFF_FFFF) as u32;
        let generation = (token.0 >> 32) as u32;
        if let Some((gen, slot)) = slots.entries.get_mut(index as usize) {
            if *gen == generation && slot.is_some() {
                *slot = None;
                *gen = gen.wrapping_add(1);
                slots.free.push(index);
            }
        }
    }

    fn lookup(&self, token: Token) -> Option<Entry> {
        let slots = self.slots.lock();
        let index = token.0 & 0xFFFF_FFFF;
        let generation = (token.0 >> 32) as u32;
        match slots.entries.get(index) {
            Some((gen, Some(entry))) if *gen == generation => Some(match entry {
                Entry::Io(io) => Entry::Io(io.clone()),
                Entry::Op(op) => Entry::Op(op.clone()),
                Entry::Multi(m) => Entry::Multi(m.clone()),
            }),
            _ => None,
        }
    }

    /// Delivers one reactor event. Wakers are woken after the table's lock is released.
    pub(crate) fn dispatch(&self, event: Event) {
        match event {
            Event::Ready { token, readiness } => {
                if let Some(Entry::Io(io)) = self.lookup(token) {
                    io.set_readiness(readiness);
                }
            }
            Event::Completed {
                token, result, op, ..
            } => {
                match self.lookup(token) {
                    Some(Entry::Op(slot)) => {
                        self.remove(token);
                        slot.complete(result, op);
                    }
                    Some(Entry::Multi(slot)) => {
                        let last = !op.more();
                        if last {
                            self.remove(token);
                        }
                        slot.complete(result, op, last);
                    }
                    _ => {}
                }
                // Unknown token: nobody waits and the op (with its buffers) is dropped here.
            }
        }
    }
}

/// The current runtime's handle, or the error for I/O attempted outside a runtime.
fn current_handle() -> io::Result<crate::Handle> {
    crate::context::handle().ok_or_else(|| {
        io::Error::other(
            "no ringloop runtime on this thread: do I/O inside `ringloop::run`, \
             `Runtime::block_on` or a task",
        )
    })
}

/// Readiness bits from the reactor, as stored in a registration.
fn readiness_bits(r: Readiness) -> usize {
    let mut bits = 0;
    if r.is_readable() {
        bits |= registration::READABLE;
    }
    if r.is_writable() {
        bits |= registration::WRITABLE;
    }
    if r.is_read_closed() {
        bits |= registration::READ_CLOSED;
    }
    if r.is_write_closed() {
        bits |= registration::WRITE_CLOSED;
    }
    if r.is_error() {
        bits |= registration::ERROR;
    }
    if r.is_priority() {
        bits |= registration::PRIORITY;
    }
    bits
}
