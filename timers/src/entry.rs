//! Timer entries, their life cycle, and the slab they live in.
//!
//! # Where entries live
//!
//! Every timer is one [`Entry`] in a `Vec` (the *slab*). A timer is named by its index in the
//! slab plus a *generation* ([`TimerKey`]). Freed entries are kept on a free list threaded
//! through their `next` field and reused by the next insert, so once the slab has grown to the
//! peak number of pending timers, inserting allocates nothing.
//!
//! # The life of an entry (the state machine)
//!
//! ```text
//!              insert                    fire (advance) / cancel
//!   Vacant ────────────────▶ Pending ─────────────────────────────▶ Vacant (generation + 1)
//!     ▲                        │  ▲                                     │
//!     │                        └──┘ reschedule / cascade:               │ generation would
//!     │                             moves to another slot,              │ wrap: Retired
//!     └──────── free list ◀──── same key stays valid ◀──────────────────┘ (never reused)
//! ```
//!
//! - **Vacant**: `payload` is `None`; `next` links the free list; `generation` is the
//!   generation the *next* occupant will carry.
//! - **Pending**: `payload` is `Some`; the entry is linked into exactly one slot list of the
//!   wheel through `prev`/`next`; `tick` says which slot (relative to the wheel's position).
//! - **Retired**: a vacant entry whose generation reached `u32::MAX`. It is left off the free
//!   list forever, so no key can ever match two different timers. This costs one entry per
//!   four billion reuses of a slab index.
//!
//! A key is *live* when its generation equals its entry's and the entry is pending. Because
//! the generation changes every time an entry leaves the pending state, a stale key (its timer
//! fired or was cancelled) never matches again, even after the index is reused.
//!
//! # The hot path
//!
//! Every insert pops the free list: when it is empty, a cold out-of-line function first
//! appends one vacant entry to it, so the inlined insert has a single shape. Following a list
//! link or the free list skips the slice's bounds check ([`entry_unchecked`], the crate's only
//! `unsafe`): entries are only ever appended to the slab, never removed, so any index the slab
//! once handed out stays in bounds. A key from the caller is still checked, since it may come
//! from another wheel or be forged with [`TimerKey::from_raw`].
//!
//! # Bytes per pending timer
//!
//! `24 + size_of::<Option<T>>()`: deadline seconds (8), deadline nanoseconds (4), generation
//! (4), and the two list links (4 + 4). For a `Waker` payload (16 bytes, and `Option<Waker>`
//! is also 16 thanks to its non-null pointer) that is **40 bytes**. The deadline's tick is
//! recomputed (one multiply) whenever the entry is placed or cascades, rather than stored. The slab
//! grows like a `Vec`, so its capacity is at most twice the peak number of pending timers.

use std::time::Duration;

/// A list link that is not an entry index: "no entry".
pub(crate) const NIL: u32 = u32::MAX;

/// Set on a link that names a slot of the wheel rather than an entry: the first entry of a
/// slot list has `prev = SLOT_TAG | slot`, the last has `next = SLOT_TAG | slot`. Knowing its
/// slot from either end lets an entry unlink itself in O(1) without storing its slot.
pub(crate) const SLOT_TAG: u32 = 1 << 31;

/// The largest slab index: indices must stay below [`SLOT_TAG`].
const MAX_ENTRIES: usize = SLOT_TAG as usize;

/// The name of a pending timer: a slab index and the generation it was inserted with.
///
/// Keys are cheap to copy and compare. A key stays valid while its timer is pending, across
/// [`Wheel::reschedule`](crate::Wheel::reschedule); once the timer fires or is cancelled, the
/// key is stale forever: it cancels nothing and can never name a different timer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: u32,
    generation: u32,
}

impl TimerKey {
    /// The key packed into a `u64`, for storing it in an `AtomicU64` or a C-style handle.
    pub fn into_raw(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The key [`into_raw`](Self::into_raw) packed. Any `u64` is accepted: a value that was
    /// never a key of this wheel is simply stale.
    pub fn from_raw(raw: u64) -> Self {
        TimerKey {
            index: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }
}

/// One timer: see the module docs for its states.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// The deadline as given, split like a `Duration` but without its padding. Its tick is
    /// not stored: converting is one multiply (see `tick`), cheaper than the 8 bytes.
    pub(crate) deadline_secs: u64,
    /// Sub-second nanoseconds of the deadline.
    pub(crate) deadline_nanos: u32,
    /// See the module docs: bumped every time the entry leaves the pending state.
    pub(crate) generation: u32,
    /// Previous entry in the slot list, or `SLOT_TAG | slot` for the first one.
    pub(crate) prev: u32,
    /// Next entry in the slot list, or `SLOT_TAG | slot` for the last one; or the next free
    /// entry (or [`NIL`]) while vacant.
    pub(crate) next: u32,
    /// `Some` exactly while pending.
    pub(crate) payload: Option<T>,
}

impl<T> Entry<T> {
    /// The deadline as it was given to insert or reschedule.
    pub(crate) fn deadline(&self) -> Duration {
        Duration::new(self.deadline_secs, self.deadline_nanos)
    }

    /// Records a new deadline.
    #[inline(always)]
    pub(crate) fn set_deadline(&mut self, deadline: Duration) {
        self.deadline_secs = deadline.as_secs();
        self.deadline_nanos = deadline.subsec_nanos();
    }
}

/// The entry at `index`, without a bounds check: the hot path's only `unsafe`.
///
/// # Safety
///
/// `index < entries.len()`. The slab only ever appends entries, never removes one, so every
/// index it has handed out stays valid: the free list's head (when not [`NIL`]) and every list
/// link that is not a slot tag (see `slots`) satisfy this.
#[inline(always)]
unsafe fn entry_unchecked<T>(entries: &mut [Entry<T>], index: u32) -> &mut Entry<T> {
    debug_assert!(
        (index as usize) < entries.len(),
        "entry {index} out of range"
    );
    // SAFETY: in bounds, by the caller's promise.
    unsafe { entries.get_unchecked_mut(index as usize) }
}

/// The slab: entries plus the head of the free list.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    pub(crate) entries: Vec<Entry<T>>,
    free_head: u32,
    pending: usize,
}

impl<T> Slab<T> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Slab {
            entries: Vec::with_capacity(capacity.min(MAX_ENTRIES)),
            free_head: NIL,
            pending: 0,
        }
    }

    /// Pending entries.
    pub(crate) fn len(&self) -> usize {
        self.pending
    }

    /// Entries the slab can hold before it reallocates.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Makes room for `additional` more entries beyond those already allocated.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// The index the next [`alloc`](Self::alloc) will fill: the head of the free list, which
    /// is grown by one vacant entry first if it is empty.
    ///
    /// # Panics
    ///
    /// Only if 2^31 timers are pending at once (about 100 GiB of entries): like a `Vec`
    /// overflowing its capacity, this is treated as an allocation failure.
    #[inline(always)]
    pub(crate) fn vacant_index(&mut self) -> u32 {
        if self.free_head == NIL {
            self.grow();
        }
        self.free_head
    }

    /// Appends one vacant entry and puts it on the (empty) free list. Kept out of line: in
    /// steady state every insert reuses a freed entry, and the hot path stays small.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let index = self.entries.len();
        assert!(
            index < MAX_ENTRIES,
            "ringloop-timers: more than 2^31 timers"
        );
        self.entries.push(Entry {
            deadline_secs: 0,
            deadline_nanos: 0,
            generation: 0,
            prev: NIL,
            next: NIL,
            payload: None,
        });
        self.free_head = index as u32;
    }

    /// Vacant -> Pending (test support; the wheel uses [`alloc_at`](Self::alloc_at)): fills
    /// the entry at [`vacant_index`](Self::vacant_index) with its
    /// deadline, its list links (the caller links the neighbours) and its payload.
    #[cfg(test)]
    pub(crate) fn alloc(
        &mut self,
        deadline: Duration,
        (prev, next): (u32, u32),
        payload: T,
    ) -> TimerKey {
        let index = self.vacant_index();
        // SAFETY: `index` is what `vacant_index` just returned.
        unsafe { self.alloc_at(index, deadline, (prev, next), payload) }
    }

    /// [`alloc`](Self::alloc) for the `index` that [`vacant_index`](Self::vacant_index) just
    /// returned (it saves reading the free list twice and checking the index again).
    ///
    /// # Safety
    ///
    /// `index` is what `vacant_index` returned, with no other call on this slab in between:
    /// the head of the free list, an existing vacant entry.
    #[inline(always)]
    pub(crate) unsafe fn alloc_at(
        &mut self,
        index: u32,
        deadline: Duration,
        (prev, next): (u32, u32),
        payload: T,
    ) -> TimerKey {
        debug_assert_eq!(index, self.free_head, "alloc_at takes the free list's head");
        self.pending += 1;
        // SAFETY: the caller passes the free list's head, which names an existing entry.
        let entry = unsafe { entry_unchecked(&mut self.entries, index) };
        self.free_head = entry.next;
        entry.set_deadline(deadline);
        entry.prev = prev;
        entry.next = next;
        // A vacant entry's payload is `None`: forgetting it skips a pointless drop check.
        std::mem::forget(entry.payload.replace(payload));
        TimerKey {
            index,
            generation: entry.generation,
        }
    }

    /// The slab index of `key` if it is live (its timer is pending).
    #[inline]
    pub(crate) fn live(&self, key: TimerKey) -> Option<u32> {
        let entry = self.entries.get(key.index as usize)?;
        (entry.generation == key.generation && entry.payload.is_some()).then_some(key.index)
    }

    /// The key of the pending entry at `index`.
    #[cfg(test)]
    pub(crate) fn key_of(&self, index: u32) -> TimerKey {
        TimerKey {
            index,
            generation: self.entries[index as usize].generation,
        }
    }

    /// The list links `(prev, next)` of the pending entry at `index`.
    #[inline]
    pub(crate) fn links(&self, index: u32) -> (u32, u32) {
        let entry = &self.entries[index as usize];
        (entry.prev, entry.next)
    }

    /// The deadline and the `next` link of the pending entry at `index`, for walking a list.
    #[inline]
    pub(crate) fn deadline_and_next(&self, index: u32) -> (Duration, u32) {
        let entry = &self.entries[index as usize];
        (entry.deadline(), entry.next)
    }

    /// Sets both list links of the pending entry at `index` (bounds-checked: it is off the
    /// insert and cancel paths).
    #[inline]
    pub(crate) fn set_links(&mut self, index: u32, (prev, next): (u32, u32)) {
        let entry = &mut self.entries[index as usize];
        entry.prev = prev;
        entry.next = next;
    }

    /// Sets the `prev` link of the pending entry at `index`.
    ///
    /// # Safety
    ///
    /// `index` names an entry of this slab: a list link that is not a slot tag, or an index
    /// the slab handed out (see [`entry_unchecked`]).
    #[inline(always)]
    pub(crate) unsafe fn set_prev(&mut self, index: u32, prev: u32) {
        // SAFETY: forwarded from the caller.
        unsafe { entry_unchecked(&mut self.entries, index) }.prev = prev;
    }

    /// Sets the `next` link of the pending entry at `index`.
    ///
    /// # Safety
    ///
    /// As for [`set_prev`](Self::set_prev).
    #[inline(always)]
    pub(crate) unsafe fn set_next(&mut self, index: u32, next: u32) {
        // SAFETY: forwarded from the caller.
        unsafe { entry_unchecked(&mut self.entries, index) }.next = next;
    }

    /// Pending -> Vacant for a live `key`, in one look-up: returns the payload and the list
    /// links the entry had, which the caller must splice together (`Slots::detach`).
    #[inline(always)]
    pub(crate) fn take(&mut self, key: TimerKey) -> Option<(T, (u32, u32))> {
        let entry = self.entries.get_mut(key.index as usize)?;
        if entry.generation != key.generation {
            return None;
        }
        let payload = entry.payload.take()?;
        let links = (entry.prev, entry.next);
        self.release(key.index);
        Some((payload, links))
    }

    /// Pending -> Vacant for the pending entry at `index` (one the wheel found in a slot):
    /// returns its key, its payload and its links, as [`take`](Self::take) does.
    #[inline]
    pub(crate) fn take_index(&mut self, index: u32) -> (TimerKey, T, (u32, u32)) {
        let entry = &mut self.entries[index as usize];
        let key = TimerKey {
            index,
            generation: entry.generation,
        };
        let payload = entry
            .payload
            .take()
            .expect("ringloop-timers: a vacant entry in a slot list (a bug in the wheel)");
        let links = (entry.prev, entry.next);
        self.release(index);
        (key, payload, links)
    }

    /// The rest of Pending -> Vacant, once the payload is out: a new generation, and back on
    /// the free list unless the generations are exhausted.
    #[inline(always)]
    fn release(&mut self, index: u32) {
        self.pending -= 1;
        let entry = &mut self.entries[index as usize];
        if entry.generation == u32::MAX - 1 {
            // Retired: reusing the index would eventually bring generation 0 back and let a
            // four-billion-reuses-old key match a new timer.
            entry.generation = u32::MAX;
        } else {
            entry.generation += 1;
            entry.next = self.free_head;
            self.free_head = index;
        }
    }

    /// Test hook: jump an entry's generation, to reach retirement without 2^32 reuses.
    #[cfg(test)]
    pub(crate) fn set_generation(&mut self, index: u32, generation: u32) {
        self.entries[index as usize].generation = generation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_entries_are_reused_with_a_new_generation() {
        let mut slab = Slab::with_capacity(0);
        let a = slab.alloc(Duration::ZERO, (NIL, NIL), "a");
        assert_eq!(slab.live(a), Some(0));
        assert_eq!(slab.take(a).map(|(p, _)| p), Some("a"));
        assert_eq!(slab.take(a).map(|(p, _)| p), None);
        assert_eq!(slab.live(a), None, "a freed key is stale");
        let b = slab.alloc(Duration::ZERO, (NIL, NIL), "b");
        assert_eq!(b.index, a.index, "the free entry is reused");
        assert_ne!(b, a);
        assert_eq!(
            slab.live(a),
            None,
            "the old key does not name the new timer"
        );
        assert_eq!(slab.live(b), Some(0));
        assert_eq!(slab.entries.len(), 1);
    }

    #[test]
    fn an_entry_whose_generation_is_exhausted_is_retired() {
        let mut slab = Slab::with_capacity(0);
        let first = slab.alloc(Duration::ZERO, (NIL, NIL), 1);
        slab.set_generation(first.index, u32::MAX - 1);
        let old = slab.key_of(first.index);
        assert_eq!(slab.take_index(first.index).1, 1);
        assert_eq!(slab.live(old), None);
        assert_eq!(
            slab.vacant_index(),
            1,
            "the retired entry is not on the free list"
        );
        let next = slab.alloc(Duration::ZERO, (NIL, NIL), 2);
        assert_ne!(next.index, first.index, "a retired entry is never reused");
        assert_eq!(
            slab.live(TimerKey::from_raw(u64::from(u32::MAX) << 32)),
            None
        );
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn a_pending_timer_with_a_waker_payload_costs_40_bytes() {
        // The figure the crate documentation promises; the runtime stores wakers.
        assert_eq!(std::mem::size_of::<Entry<std::task::Waker>>(), 40);
        assert_eq!(std::mem::size_of::<Entry<Box<u8>>>(), 32);
        assert_eq!(std::mem::size_of::<TimerKey>(), 8);
    }

    #[test]
    fn raw_keys_round_trip_and_garbage_is_stale() {
        let mut slab = Slab::with_capacity(0);
        let key = slab.alloc(Duration::from_secs(1), (NIL, NIL), ());
        assert_eq!(TimerKey::from_raw(key.into_raw()), key);
        assert_eq!(slab.live(TimerKey::from_raw(u64::MAX)), None);
        assert_eq!(slab.live(TimerKey::from_raw(7)), None, "index out of range");
    }
}
