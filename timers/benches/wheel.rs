//! The wheel against the two textbook timer queues, doing the same work in the same run.
//!
//! Three structures, each holding `Waker` payloads (what the runtime stores), keyed by
//! `Duration` deadlines (so the wheel's Duration-to-tick conversion is part of what is timed):
//!
//! - `wheel`: [`ringloop_timers::Wheel`] at its default 1 µs resolution.
//! - `binary_heap`: asyncio's design. A `BinaryHeap` of `(deadline, slot, generation)` plus a
//!   slab of payloads; cancel takes the payload out and leaves a tombstone in the heap, and the
//!   heap is rebuilt without tombstones when they outnumber the live timers (asyncio's
//!   `_timer_cancelled_count` clean-up). Popping skips tombstones.
//! - `btree_map`: async-io's and smol's design. A `BTreeMap<(deadline, sequence), Waker>`;
//!   cancel removes by key.
//!
//! - `baseline`: no queue at all: the insert keeps the one waker it is given and the cancel
//!   hands it back. It times what every row pays besides the queue (drawing the deadline
//!   and moving the waker), so a queue's own cost is its row
//!   minus this one.
//!
//! Two workloads, each at 1k, 100k and 1M pending timers:
//!
//! - `insert_cancel`: with N timers pending at random deadlines, insert one more at a random
//!   deadline and cancel it (a `wait_for` whose operation finished first).
//! - `insert_fire`: the clock moves 1 µs per iteration; each iteration inserts one timer due
//!   uniformly within the next 2N µs and fires whatever is due. In steady state N timers are
//!   pending and one fires per iteration on average, including every cascade it needs.
//!
//! Run: `cargo bench -p ringloop-timers --bench wheel -- --warm-up-time 1 --measurement-time 3`

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hint::black_box;
use std::task::Waker;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ringloop_timers::Wheel;

const SIZES: [(usize, &str); 3] = [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1M")];

/// xorshift64: cheap, deterministic, and the same cost for every structure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A deadline uniformly in `(now, now + span_us]`, with nanosecond detail. The range is
    /// mapped by a multiply and a shift (Lemire's "fast range"), not `%`: a 64-bit division
    /// costs more than the wheel's whole insert, and would drown what is measured.
    fn deadline(&mut self, now: Duration, span_us: u64) -> Duration {
        let range = span_us * 1000;
        let offset = ((self.next() as u128 * range as u128) >> 64) as u64;
        now + Duration::from_nanos(1 + offset)
    }
}

fn waker() -> Waker {
    Waker::noop().clone()
}

/// A timer queue as the benchmark drives it.
trait Queue {
    type Key: Copy;
    fn insert(&mut self, deadline: Duration, waker: Waker) -> Self::Key;
    fn cancel(&mut self, key: Self::Key) -> Option<Waker>;
    /// Fires everything due at `now`; returns how many fired.
    fn fire(&mut self, now: Duration) -> usize;
}

impl Queue for Wheel<Waker> {
    type Key = ringloop_timers::TimerKey;
    fn insert(&mut self, deadline: Duration, waker: Waker) -> Self::Key {
        Wheel::insert(self, deadline, waker)
    }
    fn cancel(&mut self, key: Self::Key) -> Option<Waker> {
        Wheel::cancel(self, key)
    }
    fn fire(&mut self, now: Duration) -> usize {
        self.advance(now, |_, w| drop(black_box(w)))
    }
}

/// asyncio's timer queue: a binary heap with lazy (tombstone) cancellation.
#[derive(Default)]
struct Heap {
    heap: BinaryHeap<Reverse<(Duration, u32, u32)>>,
    slots: Vec<(u32, Option<Waker>)>,
    free: Vec<u32>,
    live: usize,
}

impl Queue for Heap {
    type Key = (u32, u32);
    fn insert(&mut self, deadline: Duration, waker: Waker) -> Self::Key {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push((0, None));
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(waker);
        self.heap.push(Reverse((deadline, index, slot.0)));
        self.live += 1;
        (index, slot.0)
    }
    fn cancel(&mut self, (index, generation): Self::Key) -> Option<Waker> {
        let slot = &mut self.slots[index as usize];
        if slot.0 != generation {
            return None;
        }
        let waker = slot.1.take();
        slot.0 += 1;
        self.free.push(index);
        self.live -= 1;
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live {
            let slots = &self.slots;
            self.heap
                .retain(|Reverse((_, i, g))| slots[*i as usize].0 == *g);
        }
        waker
    }
    fn fire(&mut self, now: Duration) -> usize {
        let mut fired = 0;
        while let Some(Reverse((deadline, index, generation))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let slot = &mut self.slots[index as usize];
            if slot.0 == generation {
                drop(black_box(slot.1.take()));
                slot.0 += 1;
                self.free.push(index);
                self.live -= 1;
                fired += 1;
            }
        }
        fired
    }
}

/// No queue: what each `insert_cancel` iteration costs besides the queue itself.
#[derive(Default)]
struct Baseline(Option<Waker>);

impl Queue for Baseline {
    type Key = ();
    fn insert(&mut self, deadline: Duration, waker: Waker) -> Self::Key {
        black_box(deadline);
        self.0 = Some(waker);
    }
    fn cancel(&mut self, _key: Self::Key) -> Option<Waker> {
        self.0.take()
    }
    fn fire(&mut self, _now: Duration) -> usize {
        0
    }
}

/// smol's timer queue: an ordered map keyed by (deadline, sequence number).
#[derive(Default)]
struct Tree {
    map: BTreeMap<(Duration, u64), Waker>,
    seq: u64,
}

impl Queue for Tree {
    type Key = (Duration, u64);
    fn insert(&mut self, deadline: Duration, waker: Waker) -> Self::Key {
        self.seq += 1;
        self.map.insert((deadline, self.seq), waker);
        (deadline, self.seq)
    }
    fn cancel(&mut self, key: Self::Key) -> Option<Waker> {
        self.map.remove(&key)
    }
    fn fire(&mut self, now: Duration) -> usize {
        let mut fired = 0;
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            drop(black_box(entry.remove()));
            fired += 1;
        }
        fired
    }
}

/// `n` timers due uniformly within the next `2n` µs. The final `fire` at time zero fires
/// nothing; it makes the wheel place the timers it staged (see the crate docs), so that every
/// queue starts with `n` timers in its main structure.
fn filled<Q: Queue>(mut queue: Q, n: usize, rng: &mut Rng) -> Q {
    for _ in 0..n {
        let deadline = rng.deadline(Duration::ZERO, 2 * n as u64);
        queue.insert(deadline, waker());
    }
    assert_eq!(queue.fire(Duration::ZERO), 0);
    queue
}

fn insert_cancel<Q: Queue>(c: &mut Criterion, name: &str, make: impl Fn() -> Q) {
    let mut group = c.benchmark_group("insert_cancel");
    for (n, label) in SIZES {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut queue = filled(make(), n, &mut rng);
        let span = 2 * n as u64;
        group.bench_function(BenchmarkId::new(name, label), |b| {
            b.iter(|| {
                let key = queue.insert(rng.deadline(Duration::ZERO, span), waker());
                black_box(queue.cancel(black_box(key)))
            })
        });
    }
    group.finish();
}

fn insert_fire<Q: Queue>(c: &mut Criterion, name: &str, make: impl Fn() -> Q) {
    let mut group = c.benchmark_group("insert_fire");
    for (n, label) in SIZES {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut queue = filled(make(), n, &mut rng);
        let span = 2 * n as u64;
        let mut now = Duration::ZERO;
        group.bench_function(BenchmarkId::new(name, label), |b| {
            b.iter(|| {
                now += Duration::from_micros(1);
                queue.insert(rng.deadline(now, span), waker());
                black_box(queue.fire(now))
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    insert_cancel(c, "baseline", Baseline::default);
    insert_cancel(c, "wheel", Wheel::<Waker>::new);
    insert_cancel(c, "binary_heap", Heap::default);
    insert_cancel(c, "btree_map", Tree::default);
    insert_fire(c, "wheel", Wheel::<Waker>::new);
    insert_fire(c, "binary_heap", Heap::default);
    insert_fire(c, "btree_map", Tree::default);
}

criterion_group! {
    name = wheel;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(wheel);
