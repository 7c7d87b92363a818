//! Converting between `Duration`s and wheel ticks.
//!
//! The wheel never looks at a clock. The caller hands it times as `Duration`s measured from an
//! origin of the caller's choosing, and the wheel turns them into `u64` *ticks*: whole
//! multiples of the resolution. Two roundings are used, and the difference between them is
//! what makes the "never early" promise hold:
//!
//! - a **deadline** rounds *up* ([`TickClock::deadline_tick`]): a deadline of 2.3 ticks lives
//!   in tick 3, so it cannot fire at tick 2;
//! - a **now** rounds *down* ([`TickClock::now_tick`]): at 2.9 ticks the wheel has only
//!   completed tick 2.
//!
//! An entry fires when `deadline_tick <= now_tick`, and `ceil(d / r) <= floor(n / r)` implies
//! `d <= n`: never early, and at most one tick late.
//!
//! # The hot path
//!
//! Every insert converts a deadline, so the conversion must be cheap. A `u64` division by the
//! resolution costs 10 to 40 cycles depending on the CPU; instead we divide by multiplying
//! with a precomputed reciprocal `m = floor((2^64 - 1) / r)`:
//!
//! ```text
//! q = (n * m) >> 64        // one 64x64->128 multiply: q is floor(n / r) or one less
//! rem = n - q * r          // if rem >= r, q was one short: fix it with one compare
//! ```
//!
//! Why at most one short: `m * r > 2^64 - 1 - r`, so `n/r - n*m/2^64 < n / 2^64 < 1`.
//! The conversion from `Duration` to nanoseconds stays in `u64` for deadlines below about
//! 584 years; beyond that a cold path works in `u128` and saturates to `u64::MAX` ticks.
//!
//! # Saturation
//!
//! Tick `u64::MAX` means "never" (see [`NEVER`]): a deadline that far out stays pending until it
//! is cancelled or the wheel is dropped, and the wheel's own position stops one tick short of
//! it, so a saturated deadline can never be reached by a saturated `now` and fire early.

use std::time::Duration;

/// The tick that is never reached: deadlines at or beyond it never fire.
pub(crate) const NEVER: u64 = u64::MAX;

/// The furthest tick the wheel's position may reach (one short of [`NEVER`]).
pub(crate) const LAST_REACHABLE: u64 = NEVER - 1;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Largest whole-second count whose nanosecond total (plus up to 999,999,999 ns) fits a `u64`.
const FAST_SECS: u64 = (u64::MAX - (NANOS_PER_SEC - 1)) / NANOS_PER_SEC;

/// The resolution of a wheel and the arithmetic to convert with it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TickClock {
    /// Nanoseconds per tick, at least 1.
    res_ns: u64,
    /// `floor((2^64 - 1) / res_ns)`: the reciprocal used instead of a division.
    magic: u64,
}

impl TickClock {
    /// A clock with the given resolution, clamped to `[1 ns, u64::MAX ns]`.
    pub(crate) fn new(resolution: Duration) -> Self {
        // A zero resolution would divide by zero; 1 ns is the finest a Duration can express.
        let res_ns = u64::try_from(resolution.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        TickClock {
            res_ns,
            magic: u64::MAX / res_ns,
        }
    }

    /// The resolution as a `Duration` (after clamping).
    pub(crate) fn resolution(&self) -> Duration {
        Duration::from_nanos(self.res_ns)
    }

    /// `(floor(n / res), n % res)` without a division instruction.
    #[inline]
    fn div_rem(&self, n: u64) -> (u64, u64) {
        let q = ((u128::from(n) * u128::from(self.magic)) >> 64) as u64;
        // q <= floor(n / res), so q * res <= n: neither line can overflow.
        let rem = n - q * self.res_ns;
        if rem >= self.res_ns {
            (q + 1, rem - self.res_ns)
        } else {
            (q, rem)
        }
    }

    /// The tick a deadline belongs to: rounded up, so it never fires early.
    #[inline]
    pub(crate) fn deadline_tick(&self, deadline: Duration) -> u64 {
        let secs = deadline.as_secs();
        if secs <= FAST_SECS {
            let nanos = secs * NANOS_PER_SEC + u64::from(deadline.subsec_nanos());
            let (q, rem) = self.div_rem(nanos);
            // ceil(n / r) <= n for r >= 1, so this cannot overflow.
            q + u64::from(rem != 0)
        } else {
            self.slow_tick(deadline, true)
        }
    }

    /// The last whole tick that has completed at `now`: rounded down, capped one short of
    /// [`NEVER`].
    #[inline]
    pub(crate) fn now_tick(&self, now: Duration) -> u64 {
        let secs = now.as_secs();
        let tick = if secs <= FAST_SECS {
            let nanos = secs * NANOS_PER_SEC + u64::from(now.subsec_nanos());
            self.div_rem(nanos).0
        } else {
            self.slow_tick(now, false)
        };
        tick.min(LAST_REACHABLE)
    }

    /// Deadlines and nows beyond ~584 years of nanoseconds: `u128` arithmetic, saturating.
    #[cold]
    fn slow_tick(&self, t: Duration, round_up: bool) -> u64 {
        let nanos = t.as_nanos();
        let res = u128::from(self.res_ns);
        let ticks = if round_up {
            nanos.div_ceil(res)
        } else {
            nanos / res
        };
        u64::try_from(ticks).unwrap_or(NEVER)
    }

    /// The time at which `tick` begins, saturating at `Duration::MAX`.
    pub(crate) fn tick_start(&self, tick: u64) -> Duration {
        match tick.checked_mul(self.res_ns) {
            Some(nanos) => Duration::from_nanos(nanos),
            None => {
                let nanos = u128::from(tick) * u128::from(self.res_ns);
                let secs = nanos / u128::from(NANOS_PER_SEC);
                let sub = (nanos % u128::from(NANOS_PER_SEC)) as u32;
                match u64::try_from(secs) {
                    Ok(secs) => Duration::new(secs, sub),
                    Err(_) => Duration::MAX,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(ns: u64) -> TickClock {
        TickClock::new(Duration::from_nanos(ns))
    }

    #[test]
    fn reciprocal_division_matches_hardware_division() {
        let resolutions = [
            1,
            2,
            3,
            7,
            10,
            999,
            1000,
            1024,
            4093,
            1_000_000,
            u64::MAX / 3,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let count = if cfg!(miri) { 200 } else { 20_000 };
        for &r in &resolutions {
            let c = clock(r);
            let edges = [0, 1, r - 1, r, r + 1, u64::MAX - 1, u64::MAX, u64::MAX - r];
            for &n in &edges {
                assert_eq!(c.div_rem(n), (n / r, n % r), "n={n} r={r}");
            }
            for _ in 0..count {
                // xorshift64: deterministic, covers the whole u64 range.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                assert_eq!(c.div_rem(x), (x / r, x % r), "n={x} r={r}");
            }
        }
    }

    #[test]
    fn deadlines_round_up_and_nows_round_down() {
        let c = clock(1000);
        assert_eq!(c.deadline_tick(Duration::from_nanos(0)), 0);
        assert_eq!(c.deadline_tick(Duration::from_nanos(1)), 1);
        assert_eq!(c.deadline_tick(Duration::from_nanos(1000)), 1);
        assert_eq!(c.deadline_tick(Duration::from_nanos(1001)), 2);
        assert_eq!(c.now_tick(Duration::from_nanos(999)), 0);
        assert_eq!(c.now_tick(Duration::from_nanos(1000)), 1);
        assert_eq!(c.now_tick(Duration::from_nanos(1999)), 1);
    }

    #[test]
    fn zero_resolution_is_clamped_to_one_nanosecond() {
        let c = TickClock::new(Duration::ZERO);
        assert_eq!(c.resolution(), Duration::from_nanos(1));
        assert_eq!(c.deadline_tick(Duration::from_nanos(17)), 17);
    }

    #[test]
    fn huge_resolution_is_clamped_to_u64_max_nanoseconds() {
        let c = TickClock::new(Duration::MAX);
        assert_eq!(c.resolution(), Duration::from_nanos(u64::MAX));
        assert_eq!(c.deadline_tick(Duration::from_nanos(1)), 1);
        assert_eq!(c.now_tick(Duration::from_secs(1)), 0);
    }

    #[test]
    fn far_deadlines_saturate_to_never_and_now_stops_short_of_it() {
        let c = clock(1);
        assert_eq!(c.deadline_tick(Duration::MAX), NEVER);
        assert_eq!(c.now_tick(Duration::MAX), LAST_REACHABLE);
        let edge = Duration::from_nanos(u64::MAX);
        assert_eq!(c.deadline_tick(edge), NEVER);
        assert_eq!(c.now_tick(edge), LAST_REACHABLE);
        // Just past the fast path's limit, the slow path must agree with it.
        let just_past = Duration::new(FAST_SECS + 1, 5);
        let micro = clock(1000);
        assert_eq!(
            u128::from(micro.deadline_tick(just_past)),
            just_past.as_nanos().div_ceil(1000)
        );
        let at_limit = Duration::new(FAST_SECS, 999_999_999);
        assert_eq!(
            u128::from(micro.deadline_tick(at_limit)),
            at_limit.as_nanos().div_ceil(1000)
        );
    }

    #[test]
    fn tick_start_saturates_at_duration_max() {
        let c = clock(1000);
        assert_eq!(c.tick_start(3), Duration::from_micros(3));
        let big = c.tick_start(u64::MAX);
        assert_eq!(big.as_nanos(), u128::from(u64::MAX) * 1000);
        let huge = TickClock::new(Duration::from_nanos(u64::MAX));
        assert_eq!(huge.tick_start(u64::MAX), Duration::MAX);
    }
}
