//! Cross-thread wake on both backends: a blocked poll is woken, wakes coalesce (counted
//! through the syscall layer), and no wake is ever lost.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use ringloop_reactor::sys::{fault, Syscall};
use ringloop_reactor::{BackendChoice, Events};

/// Spins (yielding) until the poller has announced it is blocking.
fn until_poller_waits(w: &ringloop_reactor::ReactorWaker) {
    let end = Instant::now() + Duration::from_secs(5);
    while !w.poller_waiting() {
        assert!(Instant::now() < end, "poller never blocked");
        thread::yield_now();
    }
}

/// A poll with no deadline, blocked, is ended by a wake from another thread.
fn wake_from_other_thread_while_blocked(choice: BackendChoice) {
    let r = reactor(choice);
    let w = r.waker();
    let waker = thread::spawn(move || {
        until_poller_waits(&w);
        thread::sleep(Duration::from_millis(20));
        w.wake();
    });
    let start = Instant::now();
    let mut ev = Events::with_capacity(8);
    r.poll(&mut ev, None).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "returned before the wake"
    );
    assert!(ev.is_empty(), "a wake is not an event");
    waker.join().unwrap();
}

/// 10,000 wakes while the poller is blocked cost exactly one eventfd write (counted on the
/// waking thread), and the poller drains it with exactly one read.
fn ten_thousand_wakes_one_write(choice: BackendChoice) {
    let r = reactor(choice);
    let w = r.waker();
    let waker = thread::spawn(move || {
        fault::reset();
        until_poller_waits(&w);
        for _ in 0..10_000 {
            w.wake();
        }
        fault::calls(Syscall::EventfdWrite)
    });
    fault::reset();
    let mut ev = Events::with_capacity(8);
    r.poll(&mut ev, Some(Instant::now() + Duration::from_secs(10)))
        .unwrap();
    let writes = waker.join().unwrap();
    assert_eq!(writes, 1, "10,000 wakes in one turn");
    assert_eq!(fault::calls(Syscall::EventfdRead), 1, "one drain");
}

/// Wakes while nobody is blocked cost no syscall at all, and make the next poll return at
/// once; the notification is consumed, so the poll after that blocks again.
fn wakes_without_blocked_poller_are_free(choice: BackendChoice) {
    let r = reactor(choice);
    let w = r.waker();
    fault::reset();
    for _ in 0..100_000 {
        w.wake();
    }
    assert_eq!(fault::calls(Syscall::EventfdWrite), 0);
    let mut ev = Events::with_capacity(8);
    let start = Instant::now();
    r.poll(&mut ev, Some(Instant::now() + Duration::from_secs(10)))
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "pending wake ignored"
    );
    let deadline = Instant::now() + Duration::from_millis(20);
    r.poll(&mut ev, Some(deadline)).unwrap();
    assert!(Instant::now() >= deadline, "a consumed wake woke us again");
    assert_eq!(fault::calls(Syscall::EventfdWrite), 0);
}

/// Ping-pong, 2,000 rounds: the helper wakes right after each poll ended (racing the end
/// of the poll and the start of the next). A lost wake leaves the poll blocked until its
/// 10 s guard deadline, which the test detects.
fn wake_racing_end_of_poll_is_not_lost(choice: BackendChoice) {
    const ROUNDS: u64 = 2_000;
    let r = reactor(choice);
    let w = r.waker();
    let done = Arc::new(AtomicU64::new(0));
    let done2 = done.clone();
    let helper = thread::spawn(move || {
        for i in 0..ROUNDS {
            while done2.load(Ordering::Acquire) < i {
                std::hint::spin_loop();
            }
            w.wake();
        }
    });
    let mut ev = Events::with_capacity(8);
    for i in 0..ROUNDS {
        let guard = Instant::now() + Duration::from_secs(10);
        r.poll(&mut ev, Some(guard)).unwrap();
        assert!(Instant::now() < guard, "round {i}: wake lost");
        done.store(i + 1, Ordering::Release);
    }
    helper.join().unwrap();
}

/// The EAGAIN path of the waker (eventfd counter full): the waker resets the counter and
/// writes again, and the wake still arrives.
fn full_eventfd_counter_is_reset(choice: BackendChoice) {
    let r = reactor(choice);
    let w = r.waker();
    let waker = thread::spawn(move || {
        fault::reset();
        fault::inject(Syscall::EventfdWrite, 1, libc::EAGAIN);
        until_poller_waits(&w);
        w.wake();
        (
            fault::calls(Syscall::EventfdWrite),
            fault::calls(Syscall::EventfdRead),
        )
    });
    let mut ev = Events::with_capacity(8);
    let guard = Instant::now() + Duration::from_secs(10);
    r.poll(&mut ev, Some(guard)).unwrap();
    assert!(Instant::now() < guard, "wake lost after EAGAIN");
    assert_eq!(waker.join().unwrap(), (2, 1), "write, reset, write");
}

/// Two threads poll one reactor: the second waits on the poll lock until the first's poll
/// (blocked, then woken) ends. Pollers take turns; neither errors.
fn second_poller_waits_its_turn(choice: BackendChoice) {
    let r = Arc::new(reactor(choice));
    let w = r.waker();
    let r1 = r.clone();
    let first = thread::spawn(move || {
        let mut ev = Events::with_capacity(8);
        r1.poll(&mut ev, None).unwrap();
        Instant::now()
    });
    until_poller_waits(&w);
    let r2 = r.clone();
    let second = thread::spawn(move || {
        let mut ev = Events::with_capacity(8);
        r2.poll(&mut ev, Some(Instant::now() + Duration::from_millis(1)))
            .unwrap();
        Instant::now()
    });
    thread::sleep(Duration::from_millis(50));
    // The second poll's own deadline (1 ms) passed long ago; only the lock holds it.
    let woke_at = Instant::now();
    w.wake();
    let (t1, t2) = (first.join().unwrap(), second.join().unwrap());
    assert!(t1 >= woke_at);
    assert!(
        t2 >= woke_at,
        "the second poll ran while the first held the lock"
    );
}

both_backends!(
    second_poller_waits_its_turn,
    wake_from_other_thread_while_blocked,
    ten_thousand_wakes_one_write,
    wakes_without_blocked_poller_are_free,
    wake_racing_end_of_poll_is_not_lost,
    full_eventfd_counter_is_reset,
);
