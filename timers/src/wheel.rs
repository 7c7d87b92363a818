//! The [`Wheel`]: the public face joining the tick clock, the slab and the slots.
//!
//! Each operation is a few lines over the pieces below it:
//!
//! - `insert`: convert the deadline to a tick (`tick`), take a slab entry (`entry`), and link
//!   it at the tail of the *staging list* (`slots`).
//! - `cancel`: check the key's generation, unlink (from a slot or the staging list), free the
//!   entry.
//! - `advance`: first place every staged timer: compute its slot from its tick and the wheel's
//!   position (`geometry`) and link it there. Then repeatedly take the earliest occupied slot;
//!   if it starts after the target time, stop; otherwise move the position to its first tick
//!   and either fire it (level 0) or cascade it (higher levels), then look again.
//! - `next_expiration`: the earliest occupied slot, read off the bitmaps, and its lower bound,
//!   or the staging list's lower bound if that is earlier.
//!
//! # Staging
//!
//! Most timers of an event loop never fire: a `wait_for` whose operation finished first, a
//! socket timeout reset on every read. Many are cancelled in the same loop turn that created
//! them. So `insert` does not place a timer yet: it appends it to one extra list, the staging
//! list, and the next `advance` places the whole list, in order, before it moves the wheel.
//! A timer cancelled before then never had its slot computed (the XOR, `leading_zeros`,
//! shifts and the slot's bookkeeping: 20 of the 105 instructions an insert+cancel cost
//! before staging, counted by `benches/insn.rs`).
//!
//! Nothing observable changes, because a timer's slot depends only on its tick and the
//! wheel's position, and the position moves only in `advance`, after the staged timers are
//! placed: each lands exactly where an immediate insert would have put it. Order within a
//! tick is kept too: the staging list is FIFO and is placed before anything else is linked,
//! and `reschedule` stages the timer again rather than placing it, so a timer rescheduled
//! after another was inserted still fires after it. The list keeps a lower bound on its ticks
//! like a slot does, so `next_expiration` sees staged timers without walking them.

use std::fmt;
use std::time::Duration;

use crate::entry::{Slab, TimerKey, NIL};
use crate::geometry::{slot_for, slot_start, SLOTS};
use crate::slots::{Slots, STAGED};
use crate::tick::{TickClock, NEVER};

/// The default resolution: one microsecond.
///
/// ringloop's target is that a sleep wakes at most 0.1 ms after its deadline. Lateness is the
/// sum of the tick rounding (up to one resolution: deadlines round up) and the operating
/// system's wake-up latency for a timerfd (tens of microseconds on an idle machine). A 1 µs
/// tick spends 1% of the budget on rounding, where tokio's 1 ms tick alone is ten times the
/// whole budget. It costs little: 1 µs instead of, say, 100 µs adds at most one more level
/// (one more cascade) to a timer's life, and a cascade is one unlink and one link.
pub const DEFAULT_RESOLUTION: Duration = Duration::from_micros(1);

/// A hierarchical hashed timing wheel holding payloads of type `T` (the runtime stores wakers).
///
/// The wheel has no clock: the caller passes every time in, as a `Duration` from an origin of
/// the caller's choosing. See the [crate documentation](crate) for how it works.
///
/// ```
/// use std::time::Duration;
/// use ringloop_timers::Wheel;
///
/// let mut wheel = Wheel::new();
/// let soon = wheel.insert(Duration::from_millis(5), "soon");
/// let later = wheel.insert(Duration::from_secs(60), "later");
/// assert_eq!(wheel.cancel(later), Some("later"));
/// assert_eq!(wheel.cancel(later), None, "a stale key cancels nothing");
///
/// assert_eq!(wheel.next_expiration(), Some(Duration::from_millis(5)));
/// let mut fired = Vec::new();
/// wheel.advance(Duration::from_millis(5), |key, payload| fired.push((key, payload)));
/// assert_eq!(fired, vec![(soon, "soon")]);
/// assert!(wheel.is_empty());
/// ```
pub struct Wheel<T> {
    clock: TickClock,
    /// The wheel's position: every tick up to and including `now` has been processed, except
    /// timers inserted at or before it since the last advance (they wait in the staging list,
    /// or in `now`'s own slot once placed).
    now: u64,
    pub(crate) slab: Slab<T>,
    slots: Slots,
    /// Slots visited by `advance` (fired or cascaded), to pin its cost in tests.
    #[cfg(test)]
    pub(crate) steps: u64,
}

impl<T> Wheel<T> {
    /// An empty wheel with [`DEFAULT_RESOLUTION`], standing at time zero.
    pub fn new() -> Self {
        Self::with_resolution(DEFAULT_RESOLUTION)
    }

    /// An empty wheel with the given resolution, standing at time zero.
    ///
    /// A zero resolution is clamped to 1 ns (the finest a `Duration` can express) and one
    /// longer than `u64::MAX` nanoseconds (584 years) is clamped to that; [`resolution`]
    /// reports the value in use.
    ///
    /// [`resolution`]: Self::resolution
    pub fn with_resolution(resolution: Duration) -> Self {
        Wheel {
            clock: TickClock::new(resolution),
            now: 0,
            slab: Slab::with_capacity(0),
            slots: Slots::new(),
            #[cfg(test)]
            steps: 0,
        }
    }

    /// Makes room for `additional` more pending timers, so that inserting them allocates
    /// nothing (see [`capacity`](Self::capacity)).
    pub fn reserve(&mut self, additional: usize) {
        self.slab.reserve(additional);
    }

    /// How many timers can be pending before an insert allocates.
    pub fn capacity(&self) -> usize {
        self.slab.capacity()
    }

    /// The tick width in use.
    pub fn resolution(&self) -> Duration {
        self.clock.resolution()
    }

    /// The number of pending timers.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.slab.len() == 0
    }

    /// How far the wheel has advanced: the start of its current tick, so at most the last
    /// `now` given to [`advance`](Self::advance) (rounded down to the resolution).
    pub fn elapsed(&self) -> Duration {
        self.clock.tick_start(self.now)
    }

    /// Schedules `payload` to fire at `deadline`, in O(1).
    ///
    /// The deadline is rounded up to the next tick, so the timer never fires before it. A
    /// deadline at or before [`elapsed`](Self::elapsed) fires on the next `advance`. A deadline
    /// of `u64::MAX` ticks or more (584,542 years at the default resolution, or
    /// `Duration::MAX`) is accepted and never fires: the wheel cannot advance that far.
    #[inline(always)]
    pub fn insert(&mut self, deadline: Duration, payload: T) -> TimerKey {
        // Staged, not placed: see "Staging" in the module docs.
        let tick = self.clock.deadline_tick(deadline);
        self.slots
            .insert(&mut self.slab, STAGED, deadline, tick, payload)
    }

    /// Cancels a pending timer in O(1) and returns its payload; `None` for a stale key (its
    /// timer already fired or was cancelled), which changes nothing.
    #[inline(always)]
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let (payload, links) = self.slab.take(key)?;
        self.slots.detach(&mut self.slab, links);
        Some(payload)
    }

    /// Whether `key` names a pending timer.
    pub fn contains(&self, key: TimerKey) -> bool {
        self.slab.live(key).is_some()
    }

    /// The deadline of a pending timer, exactly as given to `insert` or `reschedule`
    /// (asyncio's `TimerHandle.when()`); `None` for a stale key.
    pub fn deadline(&self, key: TimerKey) -> Option<Duration> {
        let index = self.slab.live(key)?;
        Some(self.slab.entries[index as usize].deadline())
    }

    /// The payload of a pending timer, to inspect or replace it in place (the runtime swaps
    /// in a fresh waker this way); `None` for a stale key.
    pub fn payload_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        let index = self.slab.live(key)?;
        self.slab.entries[index as usize].payload.as_mut()
    }

    /// Moves a pending timer to a new deadline in O(1); its key stays valid. Returns `false`
    /// for a stale key. The timer goes behind others of the same tick, as if newly inserted.
    pub fn reschedule(&mut self, key: TimerKey, deadline: Duration) -> bool {
        let Some(index) = self.slab.live(key) else {
            return false;
        };
        self.slots.unlink(&mut self.slab, index);
        let tick = self.clock.deadline_tick(deadline);
        self.slab.entries[index as usize].set_deadline(deadline);
        // Staged like a new timer, so it keeps its place among timers inserted after it.
        self.slots.push_back(&mut self.slab, STAGED, index, tick);
        true
    }

    /// Advances the wheel to `now` and fires every timer due at or before it, handing each
    /// key and payload to `fire`. Returns how many fired.
    ///
    /// Timers fire tick by tick: every timer of an earlier tick before any of a later tick,
    /// and timers of the same tick in the order they were inserted (or rescheduled). Timers
    /// whose deadlines differ by less than a tick may therefore fire out of deadline order:
    /// that is the resolution.
    ///
    /// The cost is one step per occupied slot reached plus one per cascade (at most one per
    /// level per timer), never one per tick: a jump of years costs no more than a jump of a
    /// millisecond over the same timers. A `now` earlier than [`elapsed`](Self::elapsed) does
    /// not move the wheel back; it only fires timers already due.
    ///
    /// Timers inserted or rescheduled since the last call are placed first (O(1) each, see
    /// "Staging" in the module docs).
    ///
    /// If `fire` panics, the timers not yet fired stay pending and the wheel stays consistent.
    pub fn advance(&mut self, now: Duration, mut fire: impl FnMut(TimerKey, T)) -> usize {
        let target = self.clock.now_tick(now).max(self.now);
        self.place_staged();
        let mut fired = 0;
        while let Some((level, digit)) = self.slots.first_occupied() {
            let start = slot_start(self.now, level, digit);
            if start > target {
                break;
            }
            // Nothing lies between the old position and `start`: move there.
            self.now = start;
            #[cfg(test)]
            {
                self.steps += 1;
            }
            let slot = level * SLOTS + digit;
            if level == 0 {
                // A level-0 slot is a single tick, and it is due: fire all of it. Popping one
                // entry at a time keeps the wheel consistent if `fire` panics.
                while let Some(index) = self.slots.head(slot) {
                    let (key, payload, links) = self.slab.take_index(index);
                    self.slots.detach(&mut self.slab, links);
                    fired += 1;
                    fire(key, payload);
                }
            } else {
                // Cascade: the slot's entries now share digit `level` with the position, so
                // placing them again puts each on a lower level. Their keys do not change.
                // The whole list is detached at once (no panic can interrupt the walk).
                let mut index = self.slots.take_list(slot);
                loop {
                    let (deadline, next) = self.slab.deadline_and_next(index);
                    // Not overdue: it sat in a slot that starts after the old position, and
                    // the position has only moved to that slot's start.
                    let tick = self.clock.deadline_tick(deadline);
                    self.slots
                        .push_back(&mut self.slab, slot_for(self.now, tick), index, tick);
                    if Slots::is_end(next) {
                        break;
                    }
                    index = next;
                }
            }
        }
        self.now = target;
        fired
    }

    /// Places every staged timer in its slot, in staging order, relative to the position the
    /// wheel had when it was staged (the position only moves after this).
    fn place_staged(&mut self) {
        let mut index = self.slots.take_list(STAGED);
        if index == NIL {
            return;
        }
        loop {
            let (deadline, next) = self.slab.deadline_and_next(index);
            // Due before the position: it fires on this advance, from `now`'s own slot.
            let tick = self.clock.deadline_tick(deadline).max(self.now);
            self.slots
                .push_back(&mut self.slab, slot_for(self.now, tick), index, tick);
            if Slots::is_end(next) {
                break;
            }
            index = next;
        }
    }

    /// The earliest time at which [`advance`](Self::advance) may fire something, or `None`
    /// when no timer is pending (or only timers that never fire, see [`insert`]).
    ///
    /// It is never later than the earliest pending deadline rounded up to its tick. It may be
    /// earlier, when the earliest timer of a slot was cancelled (each slot keeps only a lower
    /// bound on its deadlines, see `slots`): the caller then advances to it (nothing fires,
    /// timers only move to finer slots) and asks again. For the same reason a slot holding
    /// never-firing timers next to a cancelled finite one may report a far time once instead
    /// of `None`. It reads two bitmaps and one slot, never the
    /// timers themselves. A timer inserted at or before [`elapsed`](Self::elapsed) makes this
    /// return `elapsed()`.
    ///
    /// [`insert`]: Self::insert
    pub fn next_expiration(&self) -> Option<Duration> {
        let placed = match self.slots.first_occupied() {
            Some((level, digit)) => {
                let start = slot_start(self.now, level, digit);
                start.max(self.slots.min_tick(level * SLOTS + digit))
            }
            None => NEVER,
        };
        // Staged timers: their lower bound (NEVER when none is staged), at the earliest now.
        let staged = self.slots.min_tick(STAGED).max(self.now);
        let tick = placed.min(staged);
        // A lower bound of NEVER covers only timers that never fire, and being the earliest,
        // nothing else is pending.
        (tick != NEVER).then(|| self.clock.tick_start(tick))
    }

    /// Checks every structural invariant (test support).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let clock = self.clock;
        self.slots
            .check(&self.slab, self.now, &|e| clock.deadline_tick(e.deadline()));
    }
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("resolution", &self.resolution())
            .field("elapsed", &self.elapsed())
            .field("pending", &self.len())
            .finish_non_exhaustive()
    }
}
