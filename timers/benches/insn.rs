//! Instructions per insert+cancel, counted under callgrind: the figure wall time cannot give
//! on a shared, noisy machine.
//!
//! For each wheel size (1k and 100k pending timers, placed as in `benches/wheel.rs`) the
//! binary runs two loops of `PAIRS` iterations, each in its own `#[inline(never)]` function
//! so that callgrind reports it separately:
//!
//! - `pairs_*`: draw a random deadline, clone a `Waker`, insert it, cancel it, drop the waker
//!   (exactly the body of the criterion `insert_cancel` bench);
//! - `harness_*`: the same without the wheel: draw the deadline, clone the waker, drop it.
//!
//! Instructions per insert+cancel = (inclusive Ir of `pairs_*` - that of `harness_*`) / PAIRS.
//!
//! `fires_1k` runs the criterion `insert_fire` body (1k pending, one insert and one advance
//! per simulated microsecond), to see what a change to insert costs the timers that fire.
//!
//! ```text
//! export CARGO_TARGET_DIR=/work/target-wheelperf
//! cargo bench -p ringloop-timers --bench insn --no-run      # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/insn.out <binary>
//! callgrind_annotate --inclusive=yes /tmp/insn.out | grep -E 'pairs_|harness_|fires_'
//! ```
//!
//! Run natively (`cargo bench --bench insn`) it only checks that every cancel succeeded.

use std::hint::black_box;
use std::task::Waker;
use std::time::Duration;

use ringloop_timers::Wheel;

/// Iterations of each loop.
const PAIRS: u64 = 1_000_000;

/// xorshift64, as in `benches/wheel.rs`.
struct Rng(u64);

impl Rng {
    #[inline(always)]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A deadline uniformly in `(0, span_us]`, with nanosecond detail.
    #[inline(always)]
    fn deadline(&mut self, span_us: u64) -> Duration {
        Duration::from_nanos(1 + self.next() % (span_us * 1000))
    }
}

fn waker() -> Waker {
    Waker::noop().clone()
}

/// A wheel holding `n` timers due uniformly within the next `2n` µs, placed in their slots
/// (the `advance` to time zero fires nothing and empties the staging list).
fn filled(n: usize, rng: &mut Rng) -> Wheel<Waker> {
    let mut wheel = Wheel::new();
    for _ in 0..n {
        wheel.insert(rng.deadline(2 * n as u64), waker());
    }
    assert_eq!(wheel.advance(Duration::ZERO, |_, _| {}), 0);
    wheel
}

#[inline(always)]
fn pairs(wheel: &mut Wheel<Waker>, rng: &mut Rng, span_us: u64) -> u64 {
    let mut cancelled = 0;
    for _ in 0..PAIRS {
        let key = wheel.insert(rng.deadline(span_us), waker());
        cancelled += u64::from(black_box(wheel.cancel(black_box(key))).is_some());
    }
    cancelled
}

#[inline(always)]
fn harness(rng: &mut Rng, span_us: u64) -> u64 {
    let mut made = 0;
    for _ in 0..PAIRS {
        let deadline = black_box(rng.deadline(span_us));
        made += u64::from(black_box(Some(waker())).is_some()) + deadline.as_secs();
    }
    made
}

/// Insert+fire in steady state (the criterion `insert_fire` body): the clock moves 1 µs per
/// iteration, one timer is inserted within the next `span_us`, and whatever is due fires.
#[inline(never)]
fn fires_1k(wheel: &mut Wheel<Waker>, rng: &mut Rng) -> u64 {
    let mut fired = 0;
    let mut now = Duration::ZERO;
    for _ in 0..PAIRS {
        now += Duration::from_micros(1);
        wheel.insert(now + rng.deadline(2_000), waker());
        fired += wheel.advance(now, |_, w| drop(black_box(w))) as u64;
    }
    fired
}

#[inline(never)]
fn pairs_1k(wheel: &mut Wheel<Waker>, rng: &mut Rng) -> u64 {
    pairs(wheel, rng, 2_000)
}

#[inline(never)]
fn harness_1k(rng: &mut Rng) -> u64 {
    harness(rng, 2_000)
}

#[inline(never)]
fn pairs_100k(wheel: &mut Wheel<Waker>, rng: &mut Rng) -> u64 {
    pairs(wheel, rng, 200_000)
}

#[inline(never)]
fn harness_100k(rng: &mut Rng) -> u64 {
    harness(rng, 200_000)
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut wheel = filled(1_000, &mut rng);
    assert_eq!(pairs_1k(&mut wheel, &mut rng), PAIRS);
    black_box(harness_1k(&mut rng));
    assert_eq!(wheel.len(), 1_000);

    let mut wheel = filled(1_000, &mut rng);
    let fired = fires_1k(&mut wheel, &mut rng);
    assert!(fired > PAIRS / 2, "{fired} fired");

    let mut wheel = filled(100_000, &mut rng);
    assert_eq!(pairs_100k(&mut wheel, &mut rng), PAIRS);
    black_box(harness_100k(&mut rng));
    assert_eq!(wheel.len(), 100_000);
    println!("insn: {PAIRS} insert+cancel pairs at 1k and 100k pending timers: ok");
}
