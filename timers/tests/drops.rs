//! Every payload is dropped exactly once, whichever way its timer ends: handed back by
//! `cancel`, handed to the `fire` callback, or still pending when the wheel is dropped.
//! Payloads count their own drops, per timer, so a double drop or a leak names the timer.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop_timers::Wheel;

/// A payload that records its drop in a shared per-timer counter.
struct Counted {
    id: usize,
    drops: Rc<Vec<Cell<u32>>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let cell = &self.drops[self.id];
        cell.set(cell.get() + 1);
    }
}

fn counters(n: usize) -> Rc<Vec<Cell<u32>>> {
    Rc::new((0..n).map(|_| Cell::new(0)).collect())
}

fn assert_each_dropped_once(drops: &[Cell<u32>]) {
    for (id, cell) in drops.iter().enumerate() {
        assert_eq!(cell.get(), 1, "timer {id} dropped {} times", cell.get());
    }
}

#[test]
fn cancelled_fired_and_pending_payloads_are_each_dropped_once() {
    let n = if cfg!(miri) { 90 } else { 3000 };
    let drops = counters(n);
    let mut wheel = Wheel::with_resolution(Duration::from_nanos(1));
    let keys: Vec<_> = (0..n)
        .map(|id| {
            // Spread over several levels: 0 ns to about 2^(3 * 12) ns.
            let deadline = Duration::from_nanos(1 << (3 * (id % 13)));
            let payload = Counted {
                id,
                drops: drops.clone(),
            };
            wheel.insert(deadline, payload)
        })
        .collect();
    // Cancel a third: the payload comes back and the test drops it.
    for key in keys.iter().step_by(3) {
        let payload = wheel.cancel(*key).expect("pending");
        assert_eq!(drops[payload.id].get(), 0, "not dropped while handed back");
    }
    // Fire some of the rest: the callback receives ownership and drops it.
    let mut fired = 0;
    wheel.advance(Duration::from_nanos(1 << 15), |_, payload| {
        assert_eq!(drops[payload.id].get(), 0);
        fired += 1;
    });
    assert!(fired > 0);
    assert!(!wheel.is_empty(), "some are left for the wheel's own drop");
    drop(wheel);
    assert_each_dropped_once(&drops);
}

#[test]
fn payloads_replaced_through_payload_mut_are_dropped_once() {
    let drops = counters(2);
    let mut wheel = Wheel::new();
    let key = wheel.insert(
        Duration::from_secs(1),
        Counted {
            id: 0,
            drops: drops.clone(),
        },
    );
    *wheel.payload_mut(key).unwrap() = Counted {
        id: 1,
        drops: drops.clone(),
    };
    assert_eq!(drops[0].get(), 1, "the replaced payload is dropped at once");
    drop(wheel);
    assert_each_dropped_once(&drops);
}

#[test]
fn a_panicking_fire_callback_loses_and_doubles_nothing() {
    let n = 10;
    let drops = counters(n);
    let mut wheel = Wheel::with_resolution(Duration::from_nanos(1));
    for id in 0..n {
        let payload = Counted {
            id,
            drops: drops.clone(),
        };
        wheel.insert(Duration::from_nanos(5), payload);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wheel.advance(Duration::from_nanos(5), |_, payload| {
            assert_ne!(payload.id, 4, "the fifth callback panics");
        });
    }));
    assert!(result.is_err());
    assert_eq!(wheel.len(), n - 5);
    drop(wheel);
    assert_each_dropped_once(&drops);
}
