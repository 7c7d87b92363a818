//! The shape of the wheel: how many levels, how wide their slots are, and which slot a
//! deadline belongs in.
//!
//! A tick is a `u64`. Read it in base 64: six bits per digit, eleven digits (the top digit has
//! only four bits, since 64 = 6 * 10 + 4). Level `L` of the wheel is indexed by digit `L`:
//!
//! ```text
//! tick = d10 d9 d8 d7 d6 d5 d4 d3 d2 d1 d0     (each dL is 6 bits, d10 is 4 bits)
//!        level 0 slot = d0, one tick wide
//!        level 1 slot = d1, 64 ticks wide
//!        level L slot = dL, 64^L ticks wide
//! ```
//!
//! An entry with deadline tick `t`, while the wheel stands at tick `now <= t`, goes to the
//! level of the *highest digit in which `t` and `now` differ* (level 0 if they are equal), and
//! to the slot named by `t`'s digit at that level. This is the whole placement rule, and three
//! properties follow from it:
//!
//! 1. **No wrap-around ambiguity.** At level `L`, `t` and `now` share every digit above `L`, and
//!    `t`'s digit at `L` is at least `now`'s. So every occupied slot of a level lies ahead of
//!    `now`'s digit within the current turn of that level; a slot never holds entries from two
//!    different turns.
//! 2. **Lower levels come first.** Every entry at level `L` is due before every entry at a level
//!    above `L` (they differ from `now` only below digit `L + 1`, the others at or above it).
//!    The earliest slot of the wheel is therefore the first occupied slot of the lowest occupied
//!    level: two `trailing_zeros` on occupancy bitmaps find it.
//! 3. **Level 0 slots are single ticks.** Every entry in level-0 slot `s` has tick
//!    `(now with digit 0 replaced by s)`; firing a level-0 slot fires exactly one tick.
//!
//! When the wheel's position reaches the first tick of an occupied slot at level `L >= 1`, that
//! slot *cascades*: its entries are placed again by the same rule, now relative to the new
//! position, and land on a lower level because they now share digit `L` with `now`.

/// Bits of the tick consumed by one level.
pub(crate) const SLOT_BITS: u32 = 6;

/// Slots per level: one `u64` occupancy bitmap covers a level.
pub(crate) const SLOTS: usize = 1 << SLOT_BITS;

/// Levels needed to cover every `u64` tick: `ceil(64 / 6)`.
pub(crate) const LEVELS: usize = 64_u32.div_ceil(SLOT_BITS) as usize;

/// Levels the slot arrays are sized for: `LEVELS` rounded up to a power of two, so that an
/// index masked with `LEVEL_MASK` is provably in bounds and the compiler drops the check.
/// The five spare levels are never used (5 KiB per wheel).
pub(crate) const LEVEL_CAPACITY: usize = LEVELS.next_power_of_two();

/// Masks a level number into `0..LEVEL_CAPACITY` (a no-op for every real level).
pub(crate) const LEVEL_MASK: usize = LEVEL_CAPACITY - 1;

/// Slots in the slot array (`LEVEL_CAPACITY * SLOTS`): a power of two, for the same reason.
pub(crate) const ARRAY_SLOTS: usize = LEVEL_CAPACITY * SLOTS;

/// Where an entry lives: `level * SLOTS + digit`.
pub(crate) type SlotIndex = usize;

/// The level an entry with deadline `tick` belongs to while the wheel stands at `now`.
///
/// Requires `tick >= now` (the wheel clamps earlier deadlines to `now` before placing them).
#[inline(always)]
pub(crate) fn level_for(now: u64, tick: u64) -> usize {
    debug_assert!(tick >= now);
    // `| (SLOTS - 1)` puts every difference that lives in digit 0 (or no difference) at
    // level 0; the highest set bit of the XOR is the highest differing bit.
    let masked = (now ^ tick) | (SLOTS as u64 - 1);
    // `63 ^ lz` is `63 - lz` for lz in 0..64, and is what `bsr` computes in one instruction.
    let highest_bit = 63 ^ masked.leading_zeros();
    (highest_bit / SLOT_BITS) as usize
}

/// The slot an entry with deadline `tick` goes to while the wheel stands at `now`.
#[inline(always)]
pub(crate) fn slot_for(now: u64, tick: u64) -> SlotIndex {
    let level = level_for(now, tick);
    level * SLOTS + digit(tick, level)
}

/// Digit `level` of `tick` (six bits, four at the top level).
#[inline(always)]
pub(crate) fn digit(tick: u64, level: usize) -> usize {
    ((tick >> (level as u32 * SLOT_BITS)) & (SLOTS as u64 - 1)) as usize
}

/// For each level, the mask of the tick bits *above* it (the top level has none).
const ABOVE: [u64; LEVEL_CAPACITY] = {
    let mut masks = [0; LEVEL_CAPACITY];
    let mut level = 0;
    while level < LEVELS {
        let bits = (level as u32 + 1) * SLOT_BITS;
        masks[level] = if bits >= 64 { 0 } else { !0 << bits };
        level += 1;
    }
    masks
};

/// The first tick of slot `slot_digit` on `level`, in the current turn of that level as seen
/// from `now` (all digits above `level` are `now`'s, all below are zero).
#[inline]
pub(crate) fn slot_start(now: u64, level: usize, slot_digit: usize) -> u64 {
    let shift = level as u32 * SLOT_BITS;
    (now & ABOVE[level & LEVEL_MASK]) | ((slot_digit as u64) << shift)
}

/// Ticks spanned by one slot of `level` (saturating at the top level).
#[cfg(test)]
pub(crate) fn slot_width(level: usize) -> u64 {
    1_u64
        .checked_shl(level as u32 * SLOT_BITS)
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleven_levels_of_sixty_four_slots_cover_every_u64_tick() {
        assert_eq!(LEVELS, 11);
        assert_eq!(SLOTS, 64);
        assert_eq!(level_for(0, u64::MAX), LEVELS - 1);
        assert_eq!(digit(u64::MAX, LEVELS - 1), 15, "the top level uses 4 bits");
        assert_eq!(slot_width(10), 1 << 60);
    }

    #[test]
    fn level_changes_exactly_at_digit_boundaries() {
        assert_eq!(level_for(0, 0), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        // From now = 63, tick 64 differs in digit 1: level 1, even though it is one tick away.
        assert_eq!(level_for(63, 64), 1);
        // From now = 64, tick 127 shares digit 1: level 0.
        assert_eq!(level_for(64, 127), 0);
        for level in 1..LEVELS {
            let boundary = 1_u64 << (level as u32 * SLOT_BITS);
            assert_eq!(level_for(0, boundary - 1), level - 1);
            assert_eq!(level_for(0, boundary), level);
        }
    }

    #[test]
    fn slot_start_keeps_the_digits_above_and_clears_those_below() {
        // now = 1_0_5 in base 64 (level 2 digit 1, level 0 digit 5).
        let now = 4096 + 5;
        assert_eq!(slot_start(now, 0, 9), 4096 + 9);
        assert_eq!(slot_start(now, 1, 3), 4096 + 3 * 64);
        assert_eq!(slot_start(now, 2, 2), 2 * 4096);
        assert_eq!(slot_start(u64::MAX - 5, LEVELS - 1, 15), 15 << 60);
        assert_eq!(slot_start(u64::MAX - 5, 0, 63), u64::MAX);
    }

    #[test]
    fn an_entry_lies_inside_the_slot_it_is_placed_in() {
        let points = [
            0,
            1,
            63,
            64,
            65,
            4095,
            4096,
            1 << 36,
            (1 << 36) + 12345,
            u64::MAX - 64,
            u64::MAX - 1,
            u64::MAX,
        ];
        for &now in &points {
            for &tick in points.iter().filter(|&&t| t >= now) {
                let slot = slot_for(now, tick);
                let (level, d) = (slot / SLOTS, slot % SLOTS);
                let start = slot_start(now, level, d);
                assert!(start <= tick, "now={now} tick={tick}");
                assert!(
                    tick - start < slot_width(level) || level == LEVELS - 1,
                    "now={now} tick={tick}"
                );
                if level > 0 {
                    assert!(start > now, "a higher-level slot begins after now");
                }
            }
        }
    }
}
