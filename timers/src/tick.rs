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
//! with a precomputed reciprocal. Two flavours are used.
//!
//! **Deadlines (every insert): exact for `n` below a limit, one multiply, no correction.**
//! With `c = ceil(2^64 / r)`, write `c * r = 2^64 + e` (`0 <= e < r`). Then for `n = q*r + rho`
//!
//! ```text
//! n * c / 2^64 = q + rho / r + n * e / (r * 2^64)
//! ```
//!
//! and the floor is exactly `q` as long as `n * e < 2^64` (the last two terms then stay below
//! `(rho + 1) / r <= 1`). This is the "direct computation" of Lemire, Kaser and Kurz (*Faster
//! remainder by direct computation*, 2019). Rounding up is `floor((n + r - 1) / r)`, so a
//! deadline costs a compare, a multiply-add for the nanoseconds and one 64x64->128 multiply:
//!
//! ```text
//! if secs < fast_secs_end {                       // n + r - 1 stays in the exact range
//!     tick = ((secs * 1e9 + nanos + (r - 1)) * c) >> 64
//! }
//! ```
//!
//! At 1 µs (`r = 1000`, `e = 384`) the exact range is `n < 2^64 / 384`: 1.5 years of
//! nanoseconds, far beyond any deadline a runtime measures from its own start. A 1 ns
//! resolution would need `c = 2^64`; there `c = 2^64 - 1` with `r - 1` replaced by `1` gives
//! `floor((n + 1)(1 - 2^-64)) = n` exactly. Deadlines past the exact range take a cold path.
//!
//! **Everything else (advance's "now", the cold path): one multiply and one correction.**
//! With `m = floor((2^64 - 1) / r)`:
//!
//! ```text
//! q = (n * m) >> 64        // one 64x64->128 multiply: q is floor(n / r) or one less
//! rem = n - q * r          // if rem >= r, q was one short: fix it with one compare
//! ```
//!
//! Why at most one short: `m * r > 2^64 - 1 - r`, so `n/r - n*m/2^64 < n / 2^64 < 1`.
//! The conversion from `Duration` to nanoseconds stays in `u64` for times below about
//! 584 years; beyond that the coldest path works in `u128` and saturates to `u64::MAX` ticks.
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
    /// `ceil(2^64 / res_ns)` (`2^64 - 1` at 1 ns): the deadline fast path's exact reciprocal.
    up_magic: u64,
    /// Added before multiplying by `up_magic` to round up: `res_ns - 1` (`1` at 1 ns).
    up_bias: u64,
    /// Deadlines with fewer whole seconds than this take the fast path (0: none do).
    fast_secs_end: u64,
}

impl TickClock {
    /// A clock with the given resolution, clamped to `[1 ns, u64::MAX ns]`.
    pub(crate) fn new(resolution: Duration) -> Self {
        // A zero resolution would divide by zero; 1 ns is the finest a Duration can express.
        let res_ns = u64::try_from(resolution.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        // See the module docs: at 1 ns, `c = 2^64` does not fit, so `c = 2^64 - 1`, bias 1.
        let (up_magic, up_bias) = if res_ns == 1 {
            (u64::MAX, 1)
        } else {
            (u64::MAX / res_ns + 1, res_ns - 1)
        };
        // Exact while (n + bias) * e < 2^64, with e = c * r - 2^64 (zero for powers of two).
        let e = if res_ns == 1 {
            1 // (n + 1) * (2^64 - 1) / 2^64 = n needs n + 1 < 2^64: the same bound as e = 1.
        } else {
            up_magic.wrapping_mul(res_ns)
        };
        let max_biased = u64::MAX.checked_div(e).unwrap_or(u64::MAX);
        // The largest n allowed, then the largest whole second whose every n is allowed.
        let fast_secs_end = max_biased
            .checked_sub(up_bias)
            .and_then(|max_n| max_n.checked_sub(NANOS_PER_SEC - 1))
            .map_or(0, |max_at_zero_nanos| max_at_zero_nanos / NANOS_PER_SEC + 1);
        TickClock {
            res_ns,
            magic: u64::MAX / res_ns,
            up_magic,
            up_bias,
            fast_secs_end,
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
    #[inline(always)]
    pub(crate) fn deadline_tick(&self, deadline: Duration) -> u64 {
        let secs = deadline.as_secs();
        if secs < self.fast_secs_end {
            // In range (see the module docs), so neither the sum nor the quotient is off.
            let biased = secs * NANOS_PER_SEC + u64::from(deadline.subsec_nanos()) + self.up_bias;
            ((u128::from(biased) * u128::from(self.up_magic)) >> 64) as u64
        } else {
            self.far_deadline_tick(deadline)
        }
    }

    /// [`deadline_tick`](Self::deadline_tick) beyond its exact range (1.5 years at 1 µs).
    #[cold]
    #[inline(never)]
    fn far_deadline_tick(&self, deadline: Duration) -> u64 {
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
    fn the_deadline_fast_path_matches_u128_division_up_to_its_edge() {
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
            999_999_999,
            1_000_000_000,
            1_000_000_001,
            u64::MAX / 3,
            u64::MAX,
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let count = if cfg!(miri) { 100 } else { 10_000 };
        let exact = |c: &TickClock, d: Duration| {
            u64::try_from(d.as_nanos().div_ceil(u128::from(c.res_ns))).unwrap_or(NEVER)
        };
        for &r in &resolutions {
            let c = clock(r);
            let end = c.fast_secs_end;
            // Both sides of the fast path's edge, at every sub-second extreme.
            let mut secs = vec![0, 1, 2, 1_000, FAST_SECS, FAST_SECS + 1, u64::MAX];
            secs.extend([end.saturating_sub(2), end.saturating_sub(1), end, end + 1]);
            for &s in &secs {
                for nanos in [0, 1, 499_999_999, 999_999_998, 999_999_999] {
                    let d = Duration::new(s, nanos);
                    assert_eq!(c.deadline_tick(d), exact(&c, d), "d={d:?} r={r}");
                }
            }
            for _ in 0..count {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly inside the fast range, sometimes anywhere.
                let s = if x & 1 == 0 {
                    (x >> 1) % end.max(1)
                } else {
                    x >> 20
                };
                let d = Duration::new(s, (x % 1_000_000_000) as u32);
                assert_eq!(c.deadline_tick(d), exact(&c, d), "d={d:?} r={r}");
            }
        }
        // The default resolution's fast range: about 1.5 years.
        let micro = clock(1000);
        let days = micro.fast_secs_end / 86_400;
        assert!((500..600).contains(&days), "{days} days");
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
