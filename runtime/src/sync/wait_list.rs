//! The wait list every primitive in [`sync`](super) is built on: a FIFO of parked wakers that
//! reuses its nodes.
//!
//! # What it is
//!
//! asyncio's primitives keep a `collections.deque` of futures: `Lock._waiters`,
//! `Queue._getters`. A waiter appends a future, awaits it, and whoever releases the lock
//! resolves the first future in the deque. Here a waiter is a *slot* in a slab (a `Vec` of
//! slots), and the waiting slots are chained into a doubly linked list by index, so that:
//!
//! - pushing a waiter, notifying the first one and removing any one are O(1);
//! - freed slots go on a free list and are reused, so a primitive in steady state (the same few
//!   tasks waiting over and over) allocates nothing: the `Vec` only grows to the largest number
//!   of waiters ever present at once;
//! - no `unsafe` is needed: links are indices, not pointers (tokio's intrusive lists are
//!   faster to insert into but need pinned nodes and raw pointers; ringloop picks the simpler
//!   slab and says so here).
//!
//! # A slot's life
//!
//! ```text
//!   push_back / push_front          notify_one / notify_all (by the notifier)
//! ────────────────────────> Waiting ─────────────────────────────────────────> Notified{tag}
//!                              │                                                    │
//!                   remove ────┤  (waiter dropped: it leaves the line)   poll ──────┤ remove
//!                              v                                                    v
//!                            Vacant  <──────────────────────────────────────────  Vacant
//! ```
//!
//! - `Waiting` slots are in the linked list, in arrival order, each with the waker to call.
//! - `notify_*` unlinks a `Waiting` slot, takes its waker out (the caller wakes it after
//!   releasing its mutex) and leaves a `Notified` marker with a small `tag` (a barrier says
//!   "passed" or "broken" with it). The slot stays allocated: it belongs to the waiting future
//!   until that future looks at it.
//! - The waiting future frees its slot itself, by [`WaitList::poll`] (it saw the notification)
//!   or [`WaitList::remove`] (it was dropped). `remove` tells whether a notification had
//!   already arrived, so a primitive can *pass it on*: a dropped lock waiter that had just been
//!   handed the lock releases it to the next waiter. That is how every primitive is
//!   cancellation-safe.
//!
//! A [`Key`] is only ever held by the one future that owns the slot, and that future always
//! frees the slot before it forgets the key, so keys never dangle and need no generation count.
//!
//! The list has no lock of its own: each primitive keeps it inside its `parking_lot::Mutex`
//! with the rest of its state, so one lock acquisition covers both.

use std::task::Waker;

/// The end of a chain (no previous, no next, no free slot).
const NIL: u32 = u32::MAX;

/// Names one waiter's slot. Held by the waiting future only; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u32);

#[derive(Debug)]
enum Slot {
    /// Free, on the free list.
    Vacant { next_free: u32 },
    /// In line, with the waker to call when its turn comes.
    Waiting { waker: Waker, prev: u32, next: u32 },
    /// Taken out of line by a notifier; the owner has not looked yet.
    Notified { tag: u8 },
}

/// A FIFO of waiting futures; see the module doc.
#[derive(Debug)]
pub(crate) struct WaitList {
    slots: Vec<Slot>,
    free: u32,
    head: u32,
    tail: u32,
    waiting: usize,
}

impl Default for WaitList {
    fn default() -> WaitList {
        WaitList::new()
    }
}

impl WaitList {
    /// An empty list; allocates nothing until the first waiter.
    pub(crate) const fn new() -> WaitList {
        WaitList {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            waiting: 0,
        }
    }

    /// How many waiters are in line (notified ones no longer count).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.waiting
    }

    /// Whether nobody is in line.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// Puts a waiter at the end of the line.
    #[inline]
    pub(crate) fn push_back(&mut self, waker: &Waker) -> Key {
        let idx = self.alloc(Slot::Waiting {
            waker: waker.clone(),
            prev: self.tail,
            next: NIL,
        });
        match self.tail {
            NIL => self.head = idx,
            t => self.set_next(t, idx),
        }
        self.tail = idx;
        self.waiting += 1;
        Key(idx)
    }

    /// Puts a waiter at the front of the line: for a waiter that was notified but found the
    /// resource taken by someone who never waited (asyncio would send it to the back; ringloop
    /// keeps its place, which is fairer and costs nothing).
    #[inline]
    pub(crate) fn push_front(&mut self, waker: &Waker) -> Key {
        let idx = self.alloc(Slot::Waiting {
            waker: waker.clone(),
            prev: NIL,
            next: self.head,
        });
        match self.head {
            NIL => self.tail = idx,
            h => self.set_prev(h, idx),
        }
        self.head = idx;
        self.waiting += 1;
        Key(idx)
    }

    /// The owner looks at its slot. `Some(tag)` if it was notified (the slot is freed and the
    /// key is spent); `None` if it is still in line, in which case the stored waker is replaced
    /// by `waker` unless they wake the same task (the `Future` contract: the last waker given
    /// is the one to call).
    #[inline]
    pub(crate) fn poll(&mut self, key: Key, waker: &Waker) -> Option<u8> {
        match &mut self.slots[key.0 as usize] {
            Slot::Waiting { waker: stored, .. } => {
                if !stored.will_wake(waker) {
                    stored.clone_from(waker);
                }
                None
            }
            Slot::Notified { tag } => {
                let tag = *tag;
                self.free(key.0);
                Some(tag)
            }
            Slot::Vacant { .. } => unreachable!("wait list: a key outlived its slot"),
        }
    }

    /// The owner gives up (its future is dropped, or it no longer needs to wait). Frees the
    /// slot; returns `Some(tag)` if a notification had already arrived, which the caller must
    /// pass on or account for.
    #[inline]
    pub(crate) fn remove(&mut self, key: Key) -> Option<u8> {
        let notified = match self.slots[key.0 as usize] {
            Slot::Waiting { .. } => {
                self.unlink(key.0);
                None
            }
            Slot::Notified { tag } => Some(tag),
            Slot::Vacant { .. } => unreachable!("wait list: a key outlived its slot"),
        };
        self.free(key.0);
        notified
    }

    /// Takes the first waiter out of line, marks it notified with `tag`, and returns its waker
    /// for the caller to wake *after* releasing its mutex.
    #[inline]
    pub(crate) fn notify_one(&mut self, tag: u8) -> Option<Waker> {
        if self.head == NIL {
            return None;
        }
        let idx = self.head;
        self.unlink(idx);
        match std::mem::replace(&mut self.slots[idx as usize], Slot::Notified { tag }) {
            Slot::Waiting { waker, .. } => Some(waker),
            _ => unreachable!("wait list: a linked slot was not waiting"),
        }
    }

    /// Notifies every waiter in line, in order, collecting their wakers into `wakers`.
    pub(crate) fn notify_all(&mut self, tag: u8, wakers: &mut WakeList) {
        while let Some(w) = self.notify_one(tag) {
            wakers.push(w);
        }
    }

    #[inline]
    fn alloc(&mut self, slot: Slot) -> u32 {
        if self.free == NIL {
            let idx = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("wait list: more than 4 billion waiters");
            self.slots.push(slot);
            idx
        } else {
            let idx = self.free;
            match std::mem::replace(&mut self.slots[idx as usize], slot) {
                Slot::Vacant { next_free } => self.free = next_free,
                _ => unreachable!("wait list: the free list held a used slot"),
            }
            idx
        }
    }

    #[inline]
    fn free(&mut self, idx: u32) {
        self.slots[idx as usize] = Slot::Vacant {
            next_free: self.free,
        };
        self.free = idx;
    }

    /// Unlinks a `Waiting` slot from the line (it stays `Waiting` until overwritten).
    #[inline]
    fn unlink(&mut self, idx: u32) {
        let (prev, next) = match self.slots[idx as usize] {
            Slot::Waiting { prev, next, .. } => (prev, next),
            _ => unreachable!("wait list: unlinking a slot that is not waiting"),
        };
        match prev {
            NIL => self.head = next,
            p => self.set_next(p, next),
        }
        match next {
            NIL => self.tail = prev,
            n => self.set_prev(n, prev),
        }
        self.waiting -= 1;
    }

    #[inline]
    fn set_next(&mut self, idx: u32, to: u32) {
        if let Slot::Waiting { next, .. } = &mut self.slots[idx as usize] {
            *next = to;
        }
    }

    #[inline]
    fn set_prev(&mut self, idx: u32, to: u32) {
        if let Slot::Waiting { prev, .. } = &mut self.slots[idx as usize] {
            *prev = to;
        }
    }
}

/// Wakers collected under a lock, to be woken after it is released.
///
/// The first few live inline, so waking a handful of waiters allocates nothing; a broadcast to
/// many (an [`Event`](super::Event) with a thousand waiters) spills into a `Vec`.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    inline: [Option<Waker>; 4],
    len: usize,
    spill: Vec<Waker>,
}

impl WakeList {
    /// An empty list.
    pub(crate) fn new() -> WakeList {
        WakeList::default()
    }

    /// Adds a waker.
    #[inline]
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.len < self.inline.len() {
            self.inline[self.len] = Some(waker);
            self.len += 1;
        } else {
            self.spill.push(waker);
        }
    }

    /// Wakes them all. Call this with no lock held: a waker may run arbitrary code (another
    /// executor's, even), which may come back to the primitive.
    #[inline]
    pub(crate) fn wake_all(mut self) {
        for w in self.inline.iter_mut().take(self.len) {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
        for w in self.spill.drain(..) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn notifies_in_fifo_order_and_front_jumps_the_line() {
        let (_c, w) = counter();
        let mut list = WaitList::new();
        let a = list.push_back(&w);
        let b = list.push_back(&w);
        let front = list.push_front(&w);
        assert_eq!(list.len(), 3);
        list.notify_one(7).unwrap();
        assert_eq!(list.poll(front, &w), Some(7));
        assert_eq!(list.poll(a, &w), None);
        list.notify_one(1).unwrap();
        assert_eq!(list.poll(a, &w), Some(1));
        list.notify_one(2).unwrap();
        assert_eq!(list.poll(b, &w), Some(2));
        assert!(list.notify_one(0).is_none());
        assert!(list.is_empty());
    }

    #[test]
    fn remove_from_the_middle_keeps_the_chain() {
        let (_c, w) = counter();
        let mut list = WaitList::new();
        let keys: Vec<Key> = (0..5).map(|_| list.push_back(&w)).collect();
        assert_eq!(list.remove(keys[2]), None);
        assert_eq!(list.remove(keys[0]), None);
        assert_eq!(list.remove(keys[4]), None);
        assert_eq!(list.len(), 2);
        list.notify_one(0).unwrap();
        list.notify_one(0).unwrap();
        assert_eq!(list.poll(keys[1], &w), Some(0));
        assert_eq!(list.poll(keys[3], &w), Some(0));
        assert!(list.notify_one(0).is_none());
    }

    #[test]
    fn remove_after_notify_reports_the_notification() {
        let (_c, w) = counter();
        let mut list = WaitList::new();
        let k = list.push_back(&w);
        list.notify_one(3).unwrap();
        assert_eq!(list.remove(k), Some(3));
    }

    #[test]
    fn slots_are_reused_so_steady_state_does_not_grow() {
        let (_c, w) = counter();
        let mut list = WaitList::new();
        for _ in 0..1000 {
            let a = list.push_back(&w);
            let b = list.push_back(&w);
            list.notify_one(0).unwrap();
            assert_eq!(list.poll(a, &w), Some(0));
            assert_eq!(list.remove(b), None);
        }
        assert_eq!(list.slots.len(), 2);
    }

    #[test]
    fn poll_replaces_a_waker_for_another_task() {
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let mut list = WaitList::new();
        let k = list.push_back(&w1);
        assert_eq!(list.poll(k, &w2), None);
        list.notify_one(0).unwrap().wake();
        assert_eq!(c1.0.load(Ordering::SeqCst), 0);
        assert_eq!(c2.0.load(Ordering::SeqCst), 1);
        assert_eq!(list.poll(k, &w2), Some(0));
    }

    #[test]
    fn wake_list_wakes_every_waker_once_inline_and_spilled() {
        let (c, w) = counter();
        let mut list = WaitList::new();
        let keys: Vec<Key> = (0..10).map(|_| list.push_back(&w)).collect();
        let mut wakers = WakeList::new();
        list.notify_all(5, &mut wakers);
        wakers.wake_all();
        assert_eq!(c.0.load(Ordering::SeqCst), 10);
        for k in keys {
            assert_eq!(list.poll(k, &w), Some(5));
        }
    }
}
