//! ringloop-timers: a hierarchical hashed timing wheel, a pure data structure (no clock, no
//! OS, no threads).
//!
//! An event loop keeps thousands of timers: every `sleep`, every `wait_for` timeout, every
//! `call_later`. It needs four operations and wants all of them to be O(1):
//!
//! | operation | [`Wheel`] method | asyncio counterpart |
//! |---|---|---|
//! | add a timer, get a handle | [`insert`](Wheel::insert) | `loop.call_at(when, cb)` |
//! | remove it by its handle | [`cancel`](Wheel::cancel) | `TimerHandle.cancel()` |
//! | collect every timer due by now | [`advance`](Wheel::advance) | the loop's `_run_once` popping its heap |
//! | how long may I sleep? | [`next_expiration`](Wheel::next_expiration) | `heap[0].when()` |
//!
//! asyncio keeps its timers in a binary heap: insert and pop cost O(log n), and cancel only
//! marks the handle (the dead entry stays in the heap until it reaches the top). A *timing
//! wheel* (Varghese and Lauck, 1987) does all four in constant time. This crate is the wheel
//! the ringloop runtime drives; it never reads a clock, so it is tested against plain numbers.
//!
//! # Ticks
//!
//! Time is cut into *ticks* of a fixed [resolution](Wheel::resolution), by default
//! [`DEFAULT_RESOLUTION`] = 1 µs (its doc says why: ringloop promises sleeps at most 0.1 ms
//! late). A deadline is rounded **up** to a tick and the caller's "now" **down**, so a timer
//! never fires before its deadline and at most one tick after the caller's next `advance`.
//! Ticks are `u64`s: 2^64 µs is 584,542 years, and nothing overflows before that.
//!
//! # A single wheel, then a hierarchy
//!
//! Picture a clock face with 64 slots, one per tick, and a hand pointing at the current tick.
//! A timer due in 5 ticks goes into the slot 5 ahead of the hand; each tick the hand moves one
//! slot and fires whatever is there. Insert is "index an array", cancel is "unlink from a
//! list", and a 64-bit *occupancy bitmap* (bit `s` set when slot `s` is non-empty) finds the
//! next non-empty slot with one `trailing_zeros` instruction instead of walking the slots.
//!
//! One face only reaches 64 ticks ahead. Instead of a bigger face, stack eleven of them, like
//! the hands of a clock (seconds, minutes, hours): each *level* has 64 slots, and a slot of
//! level `L` is `64^L` ticks wide.
//!
//! | level | slot width (1 µs tick) | level spans |
//! |---|---|---|
//! | 0 | 1 µs | 64 µs |
//! | 1 | 64 µs | 4.1 ms |
//! | 2 | 4.1 ms | 262 ms |
//! | 3 | 262 ms | 16.8 s |
//! | 4 | 16.8 s | 17.9 min |
//! | 5 | 17.9 min | 19.1 h |
//! | 6 | 19.1 h | 51 days |
//! | 7 | 51 days | 8.9 years |
//! | 8 | 8.9 years | 571 years |
//! | 9 | 571 years | 36,559 years |
//! | 10 | 36,559 years | the rest of `u64` (16 slots) |
//!
//! Writing a tick in base 64, level `L`'s slot index is simply the tick's digit `L`. A timer
//! goes to the level of the **highest digit in which its tick differs from the current tick**,
//! into the slot named by its own digit there. Far timers therefore sit in coarse slots, near
//! timers in fine ones, and every placement is two bit operations.
//!
//! # Cascading
//!
//! When the current tick reaches the first tick of an occupied slot on level `L >= 1`, the
//! slot's timers are placed again by the same rule. They now share digit `L` with the current
//! tick, so each lands on a lower level: this is a *cascade*. A timer cascades at most once per
//! level (at most ten times, about two or three times for a typical sleep), and each cascade is
//! an unlink and a link. Level-0 slots are single ticks, so reaching one fires it.
//!
//! # Worked example
//!
//! At the default 1 µs resolution, with the wheel at tick 0, `insert(5 ms)` gives tick 5000.
//! In base 64, 5000 = `1·64² + 14·64 + 8`, digits (1, 14, 8). The highest digit differing from
//! tick 0 is digit 2, so the timer goes to **level 2, slot 1**, covering ticks 4096..8192.
//!
//! `advance(5 ms)` (target tick 5000) then does:
//!
//! 1. first occupied slot: level 2, slot 1, starting at tick 4096 <= 5000. Move to 4096 and
//!    cascade: 5000 and 4096 differ first in digit 1 (14 vs 0), so the timer moves to
//!    **level 1, slot 14** (ticks 4992..5056).
//! 2. first occupied slot: level 1, slot 14, starting at 4992 <= 5000. Move there and
//!    cascade: now only digit 0 differs, so the timer moves to **level 0, slot 8** (tick 5000).
//! 3. first occupied slot: level 0, slot 8, tick 5000 <= 5000: fire it.
//! 4. nothing occupied: the wheel stands at tick 5000.
//!
//! Three steps for three levels, whether `advance` was called at every tick or once after
//! five years: the loop visits occupied slots, never empty ticks.
//!
//! # Why every operation is O(1)
//!
//! - **insert**: one multiply converts the deadline, one XOR and `leading_zeros` pick the
//!   level, a shift picks the slot, and the timer is appended to that slot's list. Timers live
//!   in a slab (a `Vec` with a free list), so there is no allocation once the slab has grown.
//!   (In fact the slot is picked lazily: a new timer waits in a *staging list* until the next
//!   `advance`, so a timer cancelled before then never pays for it; see `wheel`.)
//! - **cancel**: the key holds the slab index; the entry is unlinked from its doubly linked
//!   list (each end of a list knows its slot, see `slots`) and its bit cleared if the slot
//!   empties.
//! - **next_expiration**: the lowest occupied level, then its lowest occupied slot: two
//!   `trailing_zeros` over the occupancy bitmaps (a `u16` of levels, a `u64` per level). Each
//!   slot also keeps a lower bound on its timers' ticks, so a timer 5 ms away reports 5 ms, not
//!   the 4.096 ms at which its coarse slot begins.
//! - **advance**: O(1) per timer fired plus O(1) per cascade; the number of cascades per timer
//!   is bounded by the number of levels. Time jumps cost nothing per skipped tick.
//!
//! # Keys and generations
//!
//! A [`TimerKey`] is a slab index plus a generation number. Each time a timer fires or is
//! cancelled its entry's generation changes, so an old key never names the entry's next
//! occupant: cancelling with a stale key returns `None` and touches nothing.
//!
//! # Memory
//!
//! A pending timer costs `24 + size_of::<Option<T>>()` bytes in the slab: **40 bytes** with a
//! `Waker` payload (its deadline's tick is recomputed, one multiply, rather than stored). The
//! slab grows like a `Vec`; it never shrinks (the runtime's peak load is
//! its steady state). The wheel itself is an array of 16-byte slots sized for 16 levels (five
//! unused, so that a masked index needs no bounds check): 16 KiB, plus the bitmaps.
//!
//! # Where ringloop simplifies
//!
//! - Timers of the same tick fire in insertion order, not in the order of their sub-tick
//!   deadlines: the resolution is the promise.
//! - One wheel serves one thread; it is `Send` when `T` is, but not shared. Cancelling from
//!   another thread is the runtime's business (it forwards the key to the owning worker).
//! - The tick position never reaches `u64::MAX`; deadlines at that tick (584,542 years at the
//!   default resolution, or any deadline beyond) are accepted and simply never fire.
//!
//! ```
//! use std::time::Duration;
//! use ringloop_timers::Wheel;
//!
//! let mut wheel = Wheel::new();
//! wheel.insert(Duration::from_millis(5), "five");
//! wheel.insert(Duration::from_millis(2), "two");
//! wheel.insert(Duration::MAX, "never");
//!
//! let mut order = Vec::new();
//! while let Some(at) = wheel.next_expiration() {
//!     // A runtime would arm a timerfd for `at` here and sleep until it expires.
//!     wheel.advance(at, |_key, name| order.push(name));
//! }
//! assert_eq!(order, ["two", "five"]);
//! assert_eq!(wheel.len(), 1, "the Duration::MAX timer stays pending");
//! ```

// Safe Rust except for one helper: `entry::entry_unchecked`, which skips the bounds check
// when following a list link or the free list (every link names an entry: the slab never
// removes one). On the insert+cancel path those checks cost 10 of 153 instructions per pair
// (benches/insn.rs under callgrind). Only the two modules that follow links may use it, and
// the crate's tests run under miri.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod entry;
mod geometry;
#[allow(unsafe_code)]
mod slots;
mod tick;
mod wheel;

pub use entry::TimerKey;
pub use wheel::{Wheel, DEFAULT_RESOLUTION};

/// Compile-time check: the wheel moves between threads when its payload does.
fn _assert_send() {
    fn is_send<S: Send>() {}
    is_send::<Wheel<std::task::Waker>>();
    is_send::<TimerKey>();
}

#[cfg(test)]
mod wheel_tests;
