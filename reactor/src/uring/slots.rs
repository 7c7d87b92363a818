//! The life of everything the reactor has in flight on the ring: a slab keyed by `user_data`.
//!
//! Every submission queue entry carries a 64-bit `user_data` that the kernel copies into its
//! completion. Ours is `generation << 32 | index` into this slab, so a completion finds its
//! operation in O(1), and a stale id (an operation that completed, whose slot was reused)
//! never matches: the generation differs. Two values are reserved: [`WAKER`] (the multishot
//! poll on the waker's eventfd) and [`INTERNAL`] (fire-and-forget requests whose completions
//! only matter for counting); [`CANCEL_POLL`] tags the cancel of a readiness poll.
//!
//! # States (each slot)
//!
//! An **operation** (`Slot::Op`):
//!
//! ```text
//!  submit() ──► InFlight ──cancel()──► InFlight{cancel_requested} ──┐
//!                  │                                               │
//!                  └──────────── completion (CQE) ◄────────────────┘
//!                                     │
//!                                     ▼
//!                       removed; the Op goes back to the caller
//! ```
//!
//! A multishot op (an accept from `Op::accept_multishot`) stays `InFlight` through its
//! completions flagged `IORING_CQE_F_MORE`: each is handed out as a fresh op (the accepted
//! socket), and only the completion without the flag removes the slot.
//!
//! The slot owns the `Op` (buffers, fd) for the whole time the kernel may touch it. Cancel
//! only *asks*; the slot is freed by the completion and by nothing else. That is the rule
//! that keeps buffers alive "even when the submitter lost interest".
//!
//! A **readiness registration** (`Slot::Poll`, one multishot `POLL_ADD`):
//!
//! ```text
//!  register() ──► Armed+active ──CQE with F_MORE──► (event; stays armed)
//!                  │      │
//!                  │      └──final CQE, result ok──► re-armed (the kernel ended the multishot,
//!                  │                                e.g. on CQ overflow; re-arming re-checks
//!                  │                                readiness, so nothing is lost)
//!                  │      └──final CQE, error──► Disarmed (error readiness reported)
//!                  └──deregister()──► Armed+inactive (ASYNC_CANCEL sent; events dropped)
//!                                        │   └──cancel failed (EALREADY/ENOENT)──► sent again
//!                                        └──final CQE──► freed
//! ```
//!
//! `inflight` (kept by the backend) counts entries whose *final* completion has not arrived;
//! dropping the reactor waits until it is zero.

use std::os::fd::RawFd;

use crate::{Interest, Op, Token};

/// `user_data` of the multishot poll watching the waker's eventfd.
pub(crate) const WAKER: u64 = u64::MAX;
/// `user_data` of internal requests (cancels of operations, and everything at drop).
pub(crate) const INTERNAL: u64 = u64::MAX - 1;
/// Tag of the `user_data` of a request that cancels a readiness poll: `CANCEL_POLL | ud`
/// names the poll `ud` it cancels, so a cancel the kernel could not carry out yet can be sent
/// again (see `Uring::disarm`). Slot ids never have the top bit set; WAKER and INTERNAL do,
/// and are matched before this tag.
pub(crate) const CANCEL_POLL: u64 = 1 << 63;

/// One slab entry.
pub(crate) enum Slot {
    Free {
        next: u32,
    },
    Op {
        token: Token,
        op: Op,
        cancel_requested: bool,
    },
    Poll {
        fd: RawFd,
        token: Token,
        interest: Interest,
        /// The kernel holds a poll request for this slot.
        armed: bool,
        /// The caller still wants events (false after deregister).
        active: bool,
        /// The poll turn and index in `Events` of this token's event in that turn, so
        /// several completions in one poll merge into one event.
        last: Option<(u64, usize)>,
    },
}

const NONE: u32 = u32::MAX;

/// A slab with generations.
pub(crate) struct Slots {
    entries: Vec<(u32, Slot)>,
    free: u32,
}

impl Slots {
    pub(crate) fn new() -> Slots {
        Slots {
            entries: Vec::new(),
            free: NONE,
        }
    }

    /// Stores `slot` and returns its `user_data`.
    pub(crate) fn insert(&mut self, slot: Slot) -> u64 {
        if self.free != NONE {
            let index = self.free;
            let entry = &mut self.entries[index as usize];
            if let Slot::Free { next } = entry.1 {
                self.free = next;
            }
            // Generations stay below 2^31 so no user_data collides with the reserved ones.
            entry.0 = (entry.0 + 1) & 0x7fff_ffff;
            entry.1 = slot;
            (u64::from(entry.0) << 32) | u64::from(index)
        } else {
            let index = self.entries.len() as u32;
            self.entries.push((0, slot));
            u64::from(index)
        }
    }

    fn locate(&self, ud: u64) -> Option<usize> {
        let index = (ud & 0xffff_ffff) as usize;
        let generation = (ud >> 32) as u32;
        match self.entries.get(index) {
            Some((g, slot)) if *g == generation && !matches!(slot, Slot::Free { .. }) => {
                Some(index)
            }
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, ud: u64) -> Option<&mut Slot> {
        let i = self.locate(ud)?;
        Some(&mut self.entries[i].1)
    }

    pub(crate) fn remove(&mut self, ud: u64) -> Option<Slot> {
        let i = self.locate(ud)?;
        let old = std::mem::replace(&mut self.entries[i].1, Slot::Free { next: self.free });
        self.free = i as u32;
        Some(old)
    }

    /// The `user_data` of every slot in use.
    pub(crate) fn keys(&self) -> Vec<u64> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| !matches!(s, Slot::Free { .. }))
            .map(|(i, (g, _))| (u64::from(*g) << 32) | i as u64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_slot() -> Slot {
        Slot::Op {
            token: Token(0),
            op: Op::timeout(std::time::Instant::now()),
            cancel_requested: false,
        }
    }

    /// A reused slot gets a new generation: the old id no longer finds it (no ABA).
    #[test]
    fn reused_slot_rejects_stale_id() {
        let mut s = Slots::new();
        let a = s.insert(op_slot());
        assert!(s.remove(a).is_some());
        let b = s.insert(op_slot());
        assert_eq!(a & 0xffff_ffff, b & 0xffff_ffff, "same index reused");
        assert_ne!(a, b);
        assert!(s.get_mut(a).is_none());
        assert!(s.remove(a).is_none(), "stale id removes nothing");
        assert!(s.get_mut(b).is_some());
        assert_eq!(s.keys(), vec![b]);
    }

    /// Generations wrap below 2^31, so no id equals the reserved WAKER / INTERNAL values.
    #[test]
    fn ids_never_collide_with_reserved_values() {
        let mut s = Slots::new();
        let mut id = s.insert(op_slot());
        s.entries[0].0 = 0x7fff_fffe;
        for _ in 0..4 {
            s.remove(id);
            id = s.insert(op_slot());
            assert!(id != WAKER && id != INTERNAL && id >> 63 == 0, "{id:#x}");
        }
    }
}
