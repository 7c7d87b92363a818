//! Property test: random interleavings of insert, cancel, reschedule and advance, checked
//! against a model that is obviously right: an ordered map from (tick, insertion sequence) to
//! timer, where "due" means `ceil(deadline / resolution) <= floor(now / resolution)`.
//!
//! After every step the wheel must agree with the model on:
//! - which timers fire, and in which order (tick by tick, insertion order within a tick);
//! - that none fires early (its deadline is at or before the `now` that fired it);
//! - `len`, `contains` and `deadline` for every key ever handed out (stale keys included);
//! - `next_expiration`: `Some` whenever something can fire, never later than the earliest
//!   pending tick-rounded deadline and never before the wheel's position; and draining by
//!   advancing to it reaches `None` in a bounded number of rounds.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use proptest::prelude::*;
use ringloop_timers::{TimerKey, Wheel};

/// A time in the tests: nanoseconds, with `u128` so that `Duration::MAX` fits.
fn dur(ns: u128) -> Duration {
    let secs = ns / 1_000_000_000;
    match u64::try_from(secs) {
        Ok(s) => Duration::new(s, (ns % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Insert at `now + offset` (or at an absolute far time, or in the past).
    Insert(When),
    Cancel(usize),
    Reschedule(usize, When),
    /// Advance by this many nanoseconds (`u128` to reach `Duration::MAX`).
    Advance(u128),
    /// Drain: advance to `next_expiration` until it returns `None` or a far bound.
    Drain,
}

#[derive(Clone, Debug)]
enum When {
    Ahead(u64),
    Past(u64),
    Absolute(u128),
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        4 => (0_u64..200).prop_map(When::Ahead),
        4 => (0_u64..1 << 20).prop_map(When::Ahead),
        2 => (0_u64..1 << 44).prop_map(When::Ahead),
        1 => any::<u64>().prop_map(When::Ahead),
        1 => (0_u64..5000).prop_map(When::Past),
        1 => prop_oneof![
            Just(Duration::MAX.as_nanos()),
            Just(u128::from(u64::MAX)),
            Just(u128::from(u64::MAX) - 1),
            any::<u64>().prop_map(u128::from),
        ]
        .prop_map(When::Absolute),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => when().prop_map(Op::Insert),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => (any::<usize>(), when()).prop_map(|(i, w)| Op::Reschedule(i, w)),
        3 => (0_u64..300).prop_map(|d| Op::Advance(d.into())),
        2 => (0_u64..1 << 22).prop_map(|d| Op::Advance(d.into())),
        1 => (0_u64..1 << 46).prop_map(|d| Op::Advance(d.into())),
        1 => Just(Op::Advance(u128::MAX)),
        1 => Just(Op::Drain),
    ]
}

/// The model: what a correct wheel holds.
struct Model {
    res: u128,
    /// The position in ticks: `floor(now / res)`, never moving back, capped at `u64::MAX - 1`.
    pos: u128,
    now_ns: u128,
    seq: u64,
    /// (tick, seq) -> (id, deadline in ns)
    queue: BTreeMap<(u128, u64), (u64, u128)>,
    /// id -> (tick, seq) for pending timers.
    by_id: HashMap<u64, (u128, u64)>,
}

const NEVER: u128 = u64::MAX as u128;

impl Model {
    fn tick_of(&self, deadline_ns: u128) -> u128 {
        deadline_ns.div_ceil(self.res).min(NEVER).max(self.pos)
    }

    fn schedule(&mut self, id: u64, deadline_ns: u128) {
        let place = (self.tick_of(deadline_ns), self.seq);
        self.seq += 1;
        self.queue.insert(place, (id, deadline_ns));
        self.by_id.insert(id, place);
    }

    fn remove(&mut self, id: u64) -> Option<u128> {
        let place = self.by_id.remove(&id)?;
        Some(self.queue.remove(&place).unwrap().1)
    }

    /// Moves to `now` and returns the ids that fire, in order.
    fn advance(&mut self, now_ns: u128) -> Vec<u64> {
        self.now_ns = self.now_ns.max(now_ns);
        self.pos = self.pos.max((now_ns / self.res).min(NEVER - 1));
        let mut fired = Vec::new();
        while let Some((&(tick, _), &(id, _))) = self.queue.first_key_value() {
            if tick > self.pos {
                break;
            }
            self.remove(id);
            fired.push(id);
        }
        fired
    }

    fn earliest_tick(&self) -> Option<u128> {
        self.queue
            .first_key_value()
            .map(|(&(tick, _), _)| tick)
            .filter(|&tick| tick < NEVER)
    }
}

struct Harness {
    wheel: Wheel<u64>,
    model: Model,
    keys: Vec<(TimerKey, u64)>,
    next_id: u64,
}

impl Harness {
    fn new(res_ns: u64) -> Self {
        Harness {
            wheel: Wheel::with_resolution(Duration::from_nanos(res_ns)),
            model: Model {
                res: res_ns.into(),
                pos: 0,
                now_ns: 0,
                seq: 0,
                queue: BTreeMap::new(),
                by_id: HashMap::new(),
            },
            keys: Vec::new(),
            next_id: 0,
        }
    }

    fn resolve(&self, w: &When) -> u128 {
        match *w {
            When::Ahead(d) => self.model.now_ns + u128::from(d),
            When::Past(d) => self.model.now_ns.saturating_sub(d.into()),
            When::Absolute(t) => t,
        }
        .min(Duration::MAX.as_nanos())
    }

    fn advance_to(&mut self, now_ns: u128) {
        let now = dur(now_ns);
        let mut got = Vec::new();
        let model = &self.model;
        self.wheel.advance(now, |_key, id| {
            let deadline = model.queue[&model.by_id[&id]].1;
            assert!(
                deadline <= now.as_nanos(),
                "timer {id} fired early at {now:?}"
            );
            got.push(id);
        });
        let want = self.model.advance(now.as_nanos());
        assert_eq!(got, want, "fired set and order at now={now:?}");
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Insert(w) => {
                let deadline = self.resolve(w);
                let id = self.next_id;
                self.next_id += 1;
                let key = self.wheel.insert(dur(deadline), id);
                self.model.schedule(id, dur(deadline).as_nanos());
                self.keys.push((key, id));
            }
            Op::Cancel(i) if !self.keys.is_empty() => {
                let (key, id) = self.keys[i % self.keys.len()];
                let want = self.model.remove(id).map(|_| id);
                assert_eq!(self.wheel.cancel(key), want, "cancel {key:?}");
            }
            Op::Reschedule(i, w) if !self.keys.is_empty() => {
                let (key, id) = self.keys[i % self.keys.len()];
                let deadline = dur(self.resolve(w));
                let live = self.model.remove(id).is_some();
                if live {
                    self.model.schedule(id, deadline.as_nanos());
                }
                assert_eq!(self.wheel.reschedule(key, deadline), live);
            }
            Op::Advance(d) => {
                let target = self.model.now_ns.saturating_add(*d);
                self.advance_to(target.min(Duration::MAX.as_nanos()));
            }
            Op::Drain => {
                let mut idle_rounds = 0;
                while let Some(next) = self.wheel.next_expiration() {
                    let before = self.wheel.len();
                    self.advance_to(next.as_nanos());
                    idle_rounds = if self.wheel.len() == before {
                        idle_rounds + 1
                    } else {
                        0
                    };
                    // Without firing, each round only cascades one level down.
                    assert!(idle_rounds <= 12, "next_expiration makes no progress");
                }
                assert_eq!(self.model.earliest_tick(), None);
            }
            _ => {}
        }
        self.check();
    }

    fn check(&self) {
        assert_eq!(self.wheel.len(), self.model.by_id.len());
        assert_eq!(self.wheel.is_empty(), self.model.by_id.is_empty());
        for &(key, id) in &self.keys {
            let pending = self.model.by_id.contains_key(&id);
            assert_eq!(self.wheel.contains(key), pending);
            let want = pending.then(|| {
                let place = self.model.by_id[&id];
                dur(self.model.queue[&place].1)
            });
            assert_eq!(self.wheel.deadline(key), want);
        }
        let next = self.wheel.next_expiration();
        match self.model.earliest_tick() {
            // Nothing can fire. A stale lower bound may still report a (far) time, as the
            // contract allows; the Drain step checks that advancing to it then gives None.
            None => {
                if let Some(next) = next {
                    assert!(
                        next.as_nanos() >= self.model.pos * self.model.res,
                        "in the past"
                    );
                }
            }
            Some(tick) => {
                let next = next.expect("a timer can fire").as_nanos();
                assert!(next <= tick * self.model.res, "next_expiration too late");
                assert!(next >= self.model.pos * self.model.res, "in the past");
            }
        }
    }
}

/// 512 cases by default (`PROPTEST_CASES` overrides it for a longer soak), 6 under miri.
fn cases() -> u32 {
    if cfg!(miri) {
        return 6;
    }
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

fn max_ops() -> usize {
    if cfg!(miri) {
        60
    } else {
        400
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn wheel_matches_ordered_map_model(
        res in prop_oneof![Just(1_u64), Just(7), Just(1000), Just(1_000_000)],
        ops in proptest::collection::vec(op(), 1..max_ops()),
    ) {
        let mut h = Harness::new(res);
        for op in &ops {
            h.step(op);
        }
        h.step(&Op::Drain);
    }
}
