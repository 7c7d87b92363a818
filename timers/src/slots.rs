//! The slots of the wheel: one doubly linked list of entries per slot, and the occupancy
//! bitmaps that find the first non-empty slot without looking at any entry.
//!
//! # Lists through the slab
//!
//! A slot is `{ head, tail, min_tick }`. The lists are *intrusive*: the links live in the
//! entries themselves (`prev`, `next`), so linking allocates nothing. The two ends of a list
//! point back at their slot with a tagged link (`SLOT_TAG | slot`), which is how an entry
//! unlinks itself in O(1) knowing only its own index:
//!
//! ```text
//!   slot 70: head ──▶ [e4] ◀──▶ [e9] ◀──▶ [e2] ◀── tail
//!               prev = TAG|70              next = TAG|70
//! ```
//!
//! New entries go to the tail, so entries of the same tick fire in insertion order, as
//! asyncio's `call_at` does for equal `when`s.
//!
//! One more list lives in the same array: the *staging list* (`STAGED`, a spare slot past the
//! last level), where `insert` puts new timers until `advance` places them (see `wheel`). It
//! is linked and unlinked like any slot, keeps the same lower bound, but never appears in the
//! bitmaps, so `first_occupied` ignores it.
//!
//! # Occupancy bitmaps
//!
//! `bitmaps[L]` has bit `d` set exactly when slot `d` of level `L` is non-empty, and bit `L` of
//! `levels` is set exactly when `bitmaps[L] != 0`. The first occupied slot of the wheel (see
//! `geometry`: lower levels come first) is then `levels.trailing_zeros()` followed by
//! `bitmaps[level].trailing_zeros()`: two instructions, whatever the number of entries.
//!
//! # The per-slot lower bound
//!
//! A higher-level slot is 64^L ticks wide, so its first tick can be far earlier than any entry
//! in it. Each slot therefore keeps `min_tick`, the smallest tick ever linked into it since it
//! was last empty. Unlinking never raises it (that would need a scan), so it is a *lower bound*
//! on the slot's entries, exact in the common case. `next_expiration` reports it, which spares
//! the caller the wake-ups a wheel would otherwise need just to cascade.

use std::time::Duration;

use crate::entry::{Slab, TimerKey, NIL, SLOT_TAG};
use crate::geometry::{SlotIndex, ARRAY_SLOTS, LEVELS, LEVEL_CAPACITY, LEVEL_MASK, SLOTS};

/// The staging list: a spare slot past the last level, never in the bitmaps. New and
/// rescheduled timers wait here until the next `advance` places them (see `wheel`).
pub(crate) const STAGED: SlotIndex = LEVELS * SLOTS;
const _: () = assert!(STAGED < ARRAY_SLOTS, "the staging slot fits the slot array");

/// One slot: the ends of its entry list and a lower bound on its entries' ticks.
#[derive(Clone, Copy, Debug)]
struct Slot {
    head: u32,
    tail: u32,
    min_tick: u64,
}

const EMPTY: Slot = Slot {
    head: NIL,
    tail: NIL,
    min_tick: u64::MAX,
};

/// Every slot of every level, with the occupancy bitmaps.
#[derive(Debug)]
pub(crate) struct Slots {
    /// Indexed by `slot & SLOT_MASK`: see `LEVEL_CAPACITY`.
    slots: Box<[Slot; ARRAY_SLOTS]>,
    /// Indexed by `level & LEVEL_MASK`.
    bitmaps: [u64; LEVEL_CAPACITY],
    levels: u16,
}

#[inline(always)]
fn is_slot_link(link: u32) -> bool {
    link & SLOT_TAG != 0
}

/// Masks a slot index into the slot array; a no-op for every real slot, it lets the compiler
/// drop the bounds check.
const SLOT_MASK: usize = ARRAY_SLOTS - 1;

/// The slot a tagged link names.
#[inline(always)]
fn slot_of_link(link: u32) -> SlotIndex {
    (link & !SLOT_TAG) as usize & SLOT_MASK
}

impl Slots {
    pub(crate) fn new() -> Self {
        Slots {
            slots: Box::new([EMPTY; ARRAY_SLOTS]),
            bitmaps: [0; LEVEL_CAPACITY],
            levels: 0,
        }
    }

    #[inline]
    fn mark_occupied(&mut self, slot: SlotIndex) {
        let level = (slot / SLOTS) & LEVEL_MASK;
        self.bitmaps[level] |= 1 << (slot % SLOTS);
        self.levels |= 1 << level;
    }

    #[inline]
    fn mark_empty(&mut self, slot: SlotIndex) {
        let level = (slot / SLOTS) & LEVEL_MASK;
        self.slots[slot & SLOT_MASK] = EMPTY;
        if slot == STAGED {
            // Not in the bitmaps (and the commonest case: a timer cancelled before the next
            // advance, with nothing else staged).
            return;
        }
        self.bitmaps[level] &= !(1 << (slot % SLOTS));
        if self.bitmaps[level] == 0 {
            self.levels &= !(1 << level);
        }
    }

    /// Makes `index` the new tail of `slot` (bookkeeping on the slot side only) and returns
    /// the links the entry must get: `(prev, next)`. If `prev` is an entry (not a slot tag),
    /// the caller must point that entry's `next` at `index`.
    #[inline(always)]
    fn attach_tail(&mut self, slot: SlotIndex, index: u32, tick: u64) -> (u32, u32) {
        let tag = SLOT_TAG | slot as u32;
        let s = &mut self.slots[slot & SLOT_MASK];
        let old_tail = s.tail;
        s.tail = index;
        s.min_tick = s.min_tick.min(tick);
        if old_tail == NIL {
            s.head = index;
            // The staging list is not a slot of the wheel: `first_occupied` must not see it.
            if slot != STAGED {
                self.mark_occupied(slot);
            }
            (tag, tag)
        } else {
            (old_tail, tag)
        }
    }

    /// Inserts a new pending entry at the tail of `slot`: one slab write for the entry, one
    /// for its predecessor.
    #[inline(always)]
    pub(crate) fn insert<T>(
        &mut self,
        slab: &mut Slab<T>,
        slot: SlotIndex,
        deadline: Duration,
        tick: u64,
        payload: T,
    ) -> TimerKey {
        let index = slab.vacant_index();
        let links = self.attach_tail(slot, index, tick);
        // SAFETY: `index` comes straight from `vacant_index`; `attach_tail` only touched the
        // slots, not the slab.
        let key = unsafe { slab.alloc_at(index, deadline, links, payload) };
        if !is_slot_link(links.0) {
            // SAFETY: a link that is not a slot tag names an entry (the old tail).
            unsafe { slab.set_next(links.0, index) };
        }
        key
    }

    /// Links the pending, currently unlinked entry `index` at the tail of `slot`.
    #[inline]
    pub(crate) fn push_back<T>(
        &mut self,
        slab: &mut Slab<T>,
        slot: SlotIndex,
        index: u32,
        tick: u64,
    ) {
        let links = self.attach_tail(slot, index, tick);
        slab.set_links(index, links);
        if !is_slot_link(links.0) {
            // SAFETY: a link that is not a slot tag names an entry (the old tail).
            unsafe { slab.set_next(links.0, index) };
        }
    }

    /// Splices an entry out of its list, given the links it had: its neighbours (or its
    /// slot, at either end) now point at each other.
    #[inline(always)]
    pub(crate) fn detach<T>(&mut self, slab: &mut Slab<T>, (prev, next): (u32, u32)) {
        match (is_slot_link(prev), is_slot_link(next)) {
            // The only entry: the slot becomes empty.
            (true, true) => self.mark_empty(slot_of_link(prev)),
            // The first of several.
            (true, false) => {
                self.slots[slot_of_link(prev)].head = next;
                // SAFETY: `next` is not a slot tag, so it names an entry.
                unsafe { slab.set_prev(next, prev) };
            }
            // The last of several.
            (false, true) => {
                self.slots[slot_of_link(next)].tail = prev;
                // SAFETY: `prev` is not a slot tag, so it names an entry.
                unsafe { slab.set_next(prev, next) };
            }
            // In the middle.
            (false, false) => {
                // SAFETY: neither link is a slot tag, so both name entries.
                unsafe {
                    slab.set_next(prev, next);
                    slab.set_prev(next, prev);
                }
            }
        }
    }

    /// Unlinks the pending entry `index` from whichever slot holds it.
    #[inline]
    pub(crate) fn unlink<T>(&mut self, slab: &mut Slab<T>, index: u32) {
        let links = slab.links(index);
        self.detach(slab, links);
    }

    /// Empties `slot` in O(1) and returns the first entry of the list it held (or `NIL`).
    /// The detached entries keep their `next` links, so the caller can walk the old list,
    /// following `next` until it meets a slot tag, and must re-link every one of them.
    #[inline]
    pub(crate) fn take_list(&mut self, slot: SlotIndex) -> u32 {
        let head = self.slots[slot & SLOT_MASK].head;
        if head != NIL {
            self.mark_empty(slot);
        }
        head
    }

    /// Whether a `next` link ends a list (names a slot rather than an entry).
    #[inline]
    pub(crate) fn is_end(link: u32) -> bool {
        is_slot_link(link)
    }

    /// The first entry of `slot`, if any.
    #[inline]
    pub(crate) fn head(&self, slot: SlotIndex) -> Option<u32> {
        let head = self.slots[slot & SLOT_MASK].head;
        (head != NIL).then_some(head)
    }

    /// The first occupied slot of the wheel: the lowest digit of the lowest occupied level.
    #[inline]
    pub(crate) fn first_occupied(&self) -> Option<(usize, usize)> {
        if self.levels == 0 {
            return None;
        }
        let level = self.levels.trailing_zeros() as usize & LEVEL_MASK;
        let digit = self.bitmaps[level].trailing_zeros() as usize;
        Some((level, digit))
    }

    /// A lower bound on the ticks of the entries in `slot` (`u64::MAX` when empty).
    #[inline]
    pub(crate) fn min_tick(&self, slot: SlotIndex) -> u64 {
        self.slots[slot & SLOT_MASK].min_tick
    }

    /// Checks every structural invariant by walking every list: for tests only. Empty slots
    /// are checked too, except under miri, where only occupied slots are walked (slow).
    #[cfg(test)]
    /// `tick_of` gives an entry's deadline tick (the slab does not store it).
    pub(crate) fn check<T>(
        &self,
        slab: &Slab<T>,
        now: u64,
        tick_of: &dyn Fn(&crate::entry::Entry<T>) -> u64,
    ) -> usize {
        use crate::geometry::LEVELS;
        let mut linked = 0;
        for level in 0..LEVELS {
            assert_eq!(
                self.levels & (1 << level) != 0,
                self.bitmaps[level] != 0,
                "level summary matches bitmap {level}"
            );
            let mut bits = self.bitmaps[level];
            while bits != 0 {
                let digit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                linked += self.check_list(slab, now, level, digit, tick_of);
            }
            if !cfg!(miri) {
                for digit in 0..SLOTS {
                    if self.bitmaps[level] & (1 << digit) == 0 {
                        let s = &self.slots[level * SLOTS + digit];
                        assert_eq!((s.head, s.tail), (NIL, NIL), "empty slot {level}/{digit}");
                    }
                }
            }
        }
        linked += self.check_staged(slab, tick_of);
        assert_eq!(
            linked,
            slab.len(),
            "every pending entry is linked exactly once"
        );
        linked
    }

    /// Walks the staging list, checking its links and lower bound (staged timers have no
    /// placement yet, and may be overdue).
    #[cfg(test)]
    fn check_staged<T>(
        &self,
        slab: &Slab<T>,
        tick_of: &dyn Fn(&crate::entry::Entry<T>) -> u64,
    ) -> usize {
        let s = &self.slots[STAGED];
        let tag = SLOT_TAG | STAGED as u32;
        if s.head == NIL {
            assert_eq!((s.tail, s.min_tick), (NIL, u64::MAX), "empty staging list");
            return 0;
        }
        let (mut prev, mut at, mut linked) = (tag, s.head, 0);
        loop {
            let e = &slab.entries[at as usize];
            assert!(e.payload.is_some(), "a staged entry is pending");
            assert_eq!(e.prev, prev, "back link in the staging list");
            assert!(tick_of(e) >= s.min_tick, "min_tick is a lower bound");
            linked += 1;
            if e.next == tag {
                assert_eq!(s.tail, at, "tail of the staging list");
                return linked;
            }
            prev = at;
            at = e.next;
        }
    }

    /// Walks one occupied slot's list, checking links, placement and the lower bound.
    #[cfg(test)]
    fn check_list<T>(
        &self,
        slab: &Slab<T>,
        now: u64,
        level: usize,
        digit: usize,
        tick_of: &dyn Fn(&crate::entry::Entry<T>) -> u64,
    ) -> usize {
        use crate::geometry::{level_for, slot_start};
        let slot = level * SLOTS + digit;
        let s = &self.slots[slot];
        assert_ne!(s.head, NIL, "an occupied slot has a list");
        let tag = SLOT_TAG | slot as u32;
        let (mut prev, mut at, mut linked) = (tag, s.head, 0);
        loop {
            let e = &slab.entries[at as usize];
            assert!(e.payload.is_some(), "a linked entry is pending");
            assert_eq!(e.prev, prev, "back link at slot {slot}");
            // A timer placed while overdue sits in `now`'s own slot: its tick is `now`.
            let tick = tick_of(e).max(now);
            assert!(tick >= s.min_tick, "min_tick is a lower bound");
            assert_eq!(level_for(now, tick), level, "entry on its level");
            assert_eq!(crate::geometry::digit(tick, level), digit);
            assert!(slot_start(now, level, digit) <= tick);
            linked += 1;
            if e.next == tag {
                assert_eq!(s.tail, at, "tail at slot {slot}");
                return linked;
            }
            prev = at;
            at = e.next;
        }
    }
}
