//! Unit tests of the wheel at its edges: slot and level boundaries, wrap-around, cascades,
//! far deadlines, long uptimes, stale keys. Most use a 1 ns resolution so that a tick is a
//! nanosecond and the numbers in the tests are ticks. Every test checks the structural
//! invariants (`Slots::check`) after each step that moves entries.

use std::time::Duration;

use crate::geometry::{LEVELS, SLOT_BITS};
use crate::{TimerKey, Wheel};

fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

fn ns_wheel<T>() -> Wheel<T> {
    Wheel::with_resolution(ns(1))
}

/// Advances and returns the fired payloads in order, checking invariants.
fn advance<T>(wheel: &mut Wheel<T>, now: Duration) -> Vec<T> {
    let mut fired = Vec::new();
    let n = wheel.advance(now, |_, p| fired.push(p));
    assert_eq!(n, fired.len(), "advance returns the number fired");
    wheel.check_invariants();
    fired
}

/// Inserts one timer at `deadline` (from a wheel standing at `from`) and checks it fires at
/// exactly `deadline`: not one nanosecond before, and at it.
fn fires_exactly_at(from: u64, deadline: u64) {
    let mut wheel = ns_wheel();
    advance(&mut wheel, ns(from));
    wheel.insert(ns(deadline), deadline);
    wheel.check_invariants();
    assert!(wheel.next_expiration().unwrap() <= ns(deadline));
    if deadline > from {
        assert_eq!(
            advance(&mut wheel, ns(deadline - 1)),
            [],
            "early at {from}->{deadline}"
        );
    }
    assert_eq!(
        advance(&mut wheel, ns(deadline)),
        [deadline],
        "{from}->{deadline}"
    );
    assert!(wheel.is_empty());
}

#[test]
fn timers_at_every_level_boundary_fire_exactly_on_time() {
    for level in 1..LEVELS {
        let boundary = 1_u64 << (level as u32 * SLOT_BITS);
        for deadline in [boundary - 1, boundary, boundary + 1] {
            fires_exactly_at(0, deadline);
        }
    }
}

#[test]
fn timers_across_slot_boundaries_fire_exactly_on_time() {
    // The wheel stands just before, at, and just after slot and level edges.
    let (froms, deltas): (&[u64], &[u64]) = if cfg!(miri) {
        (&[0, 63, 64, 4095, 4096], &[0, 1, 63, 64, 4096, 300_000])
    } else {
        (
            &[0, 1, 62, 63, 64, 65, 127, 128, 4095, 4096, 4097, 262_143],
            &[0, 1, 2, 62, 63, 64, 65, 4095, 4096, 4097, 300_000],
        )
    };
    for &from in froms {
        for &delta in deltas {
            fires_exactly_at(from, from + delta);
        }
    }
}

#[test]
fn level_zero_wraps_around_into_the_next_turn() {
    // Standing at 60, tick 70 is in the next turn of level 0 (digit 6 < 60): it must wait for
    // level 1's slot 1 to cascade at 64, not fire when the hand "passes" digit 6 again.
    let mut wheel = ns_wheel();
    advance(&mut wheel, ns(60));
    wheel.insert(ns(70), 70);
    wheel.insert(ns(61), 61);
    assert_eq!(advance(&mut wheel, ns(63)), [61]);
    assert_eq!(
        advance(&mut wheel, ns(64)),
        [],
        "the cascade at 64 fires nothing"
    );
    assert_eq!(advance(&mut wheel, ns(69)), []);
    assert_eq!(advance(&mut wheel, ns(70)), [70]);
}

#[test]
fn a_cascade_and_a_fire_happen_in_one_advance() {
    // 4096 is the first tick of level 2's slot 1: it cascades straight to level 0 and fires.
    let mut wheel = ns_wheel();
    wheel.insert(ns(4096), "edge");
    wheel.insert(ns(4096 + 64 + 1), "after");
    assert_eq!(advance(&mut wheel, ns(4096)), ["edge"]);
    assert_eq!(wheel.next_expiration(), Some(ns(4096 + 65)));
    assert_eq!(advance(&mut wheel, ns(5000)), ["after"]);
}

#[test]
fn a_deadline_in_the_past_fires_on_the_next_advance() {
    let mut wheel = ns_wheel();
    advance(&mut wheel, ns(1000));
    let key = wheel.insert(ns(10), "past");
    assert_eq!(wheel.deadline(key), Some(ns(10)), "the deadline as given");
    assert_eq!(wheel.next_expiration(), Some(wheel.elapsed()));
    assert_eq!(
        advance(&mut wheel, ns(1000)),
        ["past"],
        "same now still fires it"
    );
}

#[test]
fn deadlines_round_up_to_the_tick_and_never_fire_early() {
    let mut wheel = Wheel::with_resolution(Duration::from_micros(1));
    wheel.insert(ns(1_001), "1.001us");
    assert_eq!(wheel.next_expiration(), Some(ns(2_000)));
    assert_eq!(advance(&mut wheel, ns(1_999)), [] as [&str; 0]);
    assert_eq!(advance(&mut wheel, ns(2_000)), ["1.001us"]);
    assert_eq!(wheel.elapsed(), ns(2_000));
    // A now between ticks: the wheel stands at the tick below it.
    advance(&mut wheel, ns(2_500));
    assert_eq!(wheel.elapsed(), ns(2_000));
    wheel.insert(ns(2_400), "2.4us");
    assert_eq!(
        advance(&mut wheel, ns(2_999)),
        [] as [&str; 0],
        "2.4 rounds up to 3"
    );
    assert_eq!(advance(&mut wheel, ns(3_000)), ["2.4us"]);
}

#[test]
fn timers_fire_tick_by_tick_and_in_insertion_order_within_a_tick() {
    let mut wheel = ns_wheel();
    for (deadline, name) in [(5000, "c1"), (70, "b1"), (3, "a"), (5000, "c2"), (70, "b2")] {
        wheel.insert(ns(deadline), name);
    }
    assert_eq!(
        advance(&mut wheel, Duration::from_secs(1)),
        ["a", "b1", "b2", "c1", "c2"]
    );
}

#[test]
fn staged_timers_keep_insertion_and_reschedule_order_within_a_tick() {
    let mut wheel = ns_wheel();
    let placed = wheel.insert(ns(5000), "placed first");
    let moved = wheel.insert(ns(9000), "rescheduled last");
    // Place both (nothing is due), then stage one timer and move another into the same tick.
    assert!(advance(&mut wheel, ns(10)).is_empty());
    wheel.insert(ns(5000), "staged second");
    assert!(wheel.reschedule(moved, ns(5000)));
    wheel.check_invariants();
    assert_eq!(wheel.next_expiration(), Some(ns(5000)));
    assert_eq!(
        advance(&mut wheel, ns(5000)),
        ["placed first", "staged second", "rescheduled last"]
    );
    assert!(!wheel.contains(placed));
    assert!(wheel.is_empty());
}

#[test]
fn a_timer_cancelled_before_it_is_placed_leaves_nothing_behind() {
    let mut wheel = ns_wheel();
    let key = wheel.insert(ns(700), "gone");
    assert_eq!(
        wheel.next_expiration(),
        Some(ns(700)),
        "staged timers count"
    );
    assert_eq!(wheel.cancel(key), Some("gone"));
    assert_eq!(
        wheel.next_expiration(),
        None,
        "the staging bound resets when it empties"
    );
    wheel.check_invariants();
    // A staged timer already overdue when it is placed fires on that same advance.
    assert!(advance(&mut wheel, ns(1000)).is_empty());
    wheel.insert(ns(3), "overdue");
    assert_eq!(
        wheel.next_expiration(),
        Some(ns(1000)),
        "never before the position"
    );
    assert_eq!(advance(&mut wheel, ns(1000)), ["overdue"]);
    wheel.check_invariants();
}

#[test]
fn next_expiration_is_the_exact_deadline_for_a_far_slot() {
    let mut wheel = ns_wheel();
    assert_eq!(wheel.next_expiration(), None);
    wheel.insert(ns(5_000_000), ());
    // The slot starts at 4,980,736 (level 3), but its lower bound is exact.
    assert_eq!(wheel.next_expiration(), Some(ns(5_000_000)));
    let early = wheel.insert(ns(4_999_000), ());
    assert_eq!(wheel.next_expiration(), Some(ns(4_999_000)));
    wheel.cancel(early);
    let next = wheel.next_expiration().unwrap();
    assert!(next <= ns(5_000_000), "never later than the earliest timer");
    // The caller advances to the (now early) answer, nothing fires, and it asks again.
    assert_eq!(advance(&mut wheel, next), [] as [(); 0]);
    assert_eq!(wheel.next_expiration(), Some(ns(5_000_000)));
}

#[test]
fn a_jump_of_years_costs_slots_visited_not_ticks() {
    let mut wheel = ns_wheel();
    for i in 0..10 {
        wheel.insert(ns(1 << (6 * i)), i);
    }
    let ten_years = Duration::from_secs(10 * 365 * 86_400);
    let fired = advance(&mut wheel, ten_years);
    assert_eq!(fired, (0..10).collect::<Vec<_>>());
    // Each timer is visited once per level it passes through: at most 10 * LEVELS steps for
    // 3 * 10^17 ticks.
    assert!(
        wheel.steps <= (10 * LEVELS) as u64,
        "steps = {}",
        wheel.steps
    );
    assert_eq!(wheel.elapsed(), ten_years);
}

#[test]
fn tokio_8334_uptime_beyond_2_pow_36_ms_and_two_years() {
    // tokio's wheel broke after about 12 days of uptime (2^36 ms is 2.2 years at its 1 ms
    // ticks, but its level arithmetic overflowed sooner). Run a default-resolution wheel at
    // 12 days, at 2^36 ms, and at 3 years, with sleeps crossing each point.
    let mut wheel = Wheel::new();
    let points = [
        Duration::from_secs(12 * 86_400),
        Duration::from_millis(1 << 36),
        Duration::from_secs(3 * 365 * 86_400),
        Duration::from_secs(300 * 365 * 86_400),
    ];
    for &at in &points {
        advance(&mut wheel, at);
        assert_eq!(wheel.elapsed(), at);
        for ms in [0, 1, 10, 1000] {
            wheel.insert(at + Duration::from_millis(ms) + ns(500), ms);
        }
        let mut fired = Vec::new();
        while let Some(next) = wheel.next_expiration() {
            wheel.advance(next, |key, ms| {
                assert!(
                    next >= at + Duration::from_millis(ms) + ns(500),
                    "{key:?} early"
                );
                fired.push(ms);
            });
            wheel.check_invariants();
        }
        assert_eq!(fired, [0, 1, 10, 1000], "at {at:?}");
    }
}

#[test]
fn far_deadlines_are_accepted_and_never_fire() {
    let mut wheel = ns_wheel();
    let never = wheel.insert(Duration::MAX, "max");
    let at_edge = wheel.insert(ns(u64::MAX), "u64::MAX ticks");
    let last = wheel.insert(ns(u64::MAX - 1), "last reachable");
    wheel.check_invariants();
    assert_eq!(wheel.next_expiration(), Some(ns(u64::MAX - 1)));
    assert_eq!(advance(&mut wheel, Duration::MAX), ["last reachable"]);
    assert!(!wheel.contains(last));
    assert_eq!(
        wheel.next_expiration(),
        None,
        "only never-firing timers remain"
    );
    assert_eq!(advance(&mut wheel, Duration::MAX), [] as [&str; 0]);
    assert_eq!(wheel.deadline(never), Some(Duration::MAX));
    assert_eq!(wheel.cancel(never), Some("max"));
    assert_eq!(wheel.cancel(at_edge), Some("u64::MAX ticks"));
    assert!(wheel.is_empty());
}

#[test]
fn years_away_with_the_default_resolution_never_fire_early() {
    let mut wheel = Wheel::new();
    let year = Duration::from_secs(365 * 86_400);
    for years in [1, 10, 100, 1000, 100_000] {
        wheel.insert(year * years, years);
    }
    let mut fired = Vec::new();
    let mut now = Duration::ZERO;
    while let Some(next) = wheel.next_expiration() {
        assert!(next >= now);
        now = next;
        wheel.advance(now, |_, y| {
            assert!(now >= year * y, "fired early");
            fired.push(y);
        });
    }
    assert_eq!(fired, [1, 10, 100, 1000, 100_000]);
}

#[test]
fn stale_keys_cancel_nothing_even_after_their_index_is_reused() {
    let mut wheel = ns_wheel();
    let a = wheel.insert(ns(10), "a");
    assert_eq!(wheel.cancel(a), Some("a"));
    assert_eq!(wheel.cancel(a), None);
    let b = wheel.insert(ns(10), "b");
    assert!(!wheel.contains(a));
    assert_eq!(wheel.cancel(a), None, "a's stale key must not cancel b");
    assert!(!wheel.reschedule(a, ns(1)));
    assert_eq!(wheel.deadline(a), None);
    assert!(wheel.payload_mut(a).is_none());
    let fired: Vec<(TimerKey, &str)> = {
        let mut v = Vec::new();
        wheel.advance(ns(10), |k, p| v.push((k, p)));
        v
    };
    assert_eq!(fired, [(b, "b")]);
    assert_eq!(wheel.cancel(b), None, "a fired key is stale");
    let c = wheel.insert(ns(20), "c");
    assert_eq!(wheel.cancel(b), None);
    assert_eq!(wheel.cancel(c), Some("c"));
}

#[test]
fn reschedule_moves_a_timer_and_keeps_its_key() {
    let mut wheel = ns_wheel();
    let key = wheel.insert(ns(1_000_000), "t");
    let other = wheel.insert(ns(50), "other");
    assert!(wheel.reschedule(key, ns(40)));
    wheel.check_invariants();
    assert_eq!(wheel.deadline(key), Some(ns(40)));
    assert_eq!(advance(&mut wheel, ns(45)), ["t"]);
    assert!(wheel.reschedule(other, ns(10_000)), "later");
    assert_eq!(advance(&mut wheel, ns(9_999)), [] as [&str; 0]);
    assert!(wheel.reschedule(other, ns(0)), "into the past: due now");
    assert_eq!(advance(&mut wheel, ns(9_999)), ["other"]);
}

#[test]
fn payload_mut_replaces_the_payload_in_place() {
    let mut wheel = ns_wheel();
    let key = wheel.insert(ns(5), 1);
    *wheel.payload_mut(key).unwrap() = 2;
    assert_eq!(advance(&mut wheel, ns(5)), [2]);
}

#[test]
fn time_going_backwards_moves_nothing_and_fires_only_due_timers() {
    let mut wheel = ns_wheel();
    advance(&mut wheel, ns(1000));
    wheel.insert(ns(900), "due");
    wheel.insert(ns(1001), "not due");
    assert_eq!(advance(&mut wheel, ns(5)), ["due"]);
    assert_eq!(wheel.elapsed(), ns(1000));
}

#[test]
fn a_panicking_fire_callback_leaves_the_rest_pending() {
    let mut wheel = ns_wheel();
    for i in 0..4 {
        wheel.insert(ns(7), i);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wheel.advance(ns(7), |_, i| assert_ne!(i, 1, "boom"));
    }));
    assert!(result.is_err());
    wheel.check_invariants();
    assert_eq!(wheel.len(), 2, "0 and 1 were handed out, 2 and 3 remain");
    assert_eq!(advance(&mut wheel, ns(7)), [2, 3]);
}

#[test]
fn random_operations_keep_the_structure_consistent() {
    // Invariant-level fuzzing (the model-level property test lives in tests/model.rs).
    let mut wheel = ns_wheel();
    let mut keys = Vec::new();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut now = 0_u64;
    let rounds = if cfg!(miri) { 300 } else { 20_000 };
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let span = 1_u64 << (x % 40);
        match x % 7 {
            0..=2 => keys.push(wheel.insert(ns(now + (x >> 8) % span), ())),
            3 if !keys.is_empty() => {
                let k = keys.swap_remove((x >> 8) as usize % keys.len());
                wheel.cancel(k);
            }
            4 if !keys.is_empty() => {
                let k = keys[(x >> 8) as usize % keys.len()];
                wheel.reschedule(k, ns(now + (x >> 12) % span));
            }
            _ => {
                now += (x >> 8) % span;
                wheel.advance(ns(now), |_, ()| {});
            }
        }
        if cfg!(miri) || x % 64 == 0 {
            wheel.check_invariants();
        }
    }
    wheel.check_invariants();
}

#[test]
fn steady_state_inserts_reuse_entries_and_never_grow_the_slab() {
    let mut wheel = ns_wheel();
    wheel.reserve(100);
    let capacity = wheel.capacity();
    assert!(capacity >= 100);
    let mut now = 0;
    for round in 0..50_u64 {
        let keys: Vec<_> = (0..100)
            .map(|i| wheel.insert(ns(now + i * 97), i))
            .collect();
        for key in keys.iter().step_by(2) {
            wheel.cancel(*key);
        }
        now += 100 * 97;
        assert_eq!(advance(&mut wheel, ns(now)).len(), 50, "round {round}");
        assert_eq!(
            wheel.capacity(),
            capacity,
            "no reallocation in steady state"
        );
    }
    assert_eq!(
        wheel.slab.entries.len(),
        100,
        "entries are reused, not appended"
    );
}

#[test]
fn construction_defaults_and_the_zero_resolution_clamp() {
    let wheel: Wheel<()> = Wheel::default();
    assert_eq!(wheel.resolution(), crate::DEFAULT_RESOLUTION);
    assert_eq!(wheel.elapsed(), Duration::ZERO);
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_expiration(), None);
    let zero: Wheel<()> = Wheel::with_resolution(Duration::ZERO);
    assert_eq!(zero.resolution(), ns(1));
    let text = format!("{wheel:?}");
    assert!(text.contains("pending: 0"), "{text}");
}
