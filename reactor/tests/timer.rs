//! The timer source on both backends: a poll with a deadline never returns early, to the
//! nanosecond; lateness is reported (run with `--nocapture` to see p50/p99).

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use ringloop_reactor::sys::{fault, Syscall};
use ringloop_reactor::{BackendChoice, Events};

/// 1,000 waits of `d`: none returns before its deadline. Returns sorted lateness.
fn lateness(choice: BackendChoice, d: Duration) -> Vec<Duration> {
    let r = reactor(choice);
    let mut ev = Events::with_capacity(8);
    let mut late = Vec::with_capacity(1000);
    for i in 0..1000 {
        let deadline = Instant::now() + d;
        r.poll(&mut ev, Some(deadline)).unwrap();
        let now = Instant::now();
        assert!(ev.is_empty());
        assert!(
            now >= deadline,
            "wait {i} of {d:?} returned {:?} early",
            deadline - now
        );
        late.push(now - deadline);
    }
    late.sort();
    late
}

fn report(choice: BackendChoice, d: Duration, late: &[Duration]) {
    println!(
        "{choice:?} {d:?} x1000: lateness p50 {:?}, p99 {:?}, max {:?}",
        quantile(late, 0.5),
        quantile(late, 0.99),
        late[late.len() - 1]
    );
    // A generous bound only: a loaded 2-core machine may be slow, never early.
    assert!(late[late.len() - 1] < Duration::from_secs(2));
}

fn precision_100us_never_early(choice: BackendChoice) {
    let d = Duration::from_micros(100);
    report(choice, d, &lateness(choice, d));
}

fn precision_3_1ms_never_early(choice: BackendChoice) {
    let d = Duration::from_micros(3100);
    report(choice, d, &lateness(choice, d));
}

/// A deadline at or before now does not block.
fn past_deadline_does_not_block(choice: BackendChoice) {
    let r = reactor(choice);
    let mut ev = Events::with_capacity(8);
    let start = Instant::now();
    for _ in 0..100 {
        r.poll(&mut ev, Some(Instant::now())).unwrap();
        r.poll(
            &mut ev,
            Some(start - Duration::from_millis(1).min(start.elapsed())),
        )
        .unwrap();
    }
    assert!(start.elapsed() < Duration::from_secs(2));
}

/// A deadline armed by an interrupted poll must not end a later, longer wait early (the
/// epoll backend re-arms its timerfd; io_uring passes each wait its own timeout).
fn stale_deadline_does_not_end_later_wait(choice: BackendChoice) {
    let r = reactor(choice);
    let w = r.waker();
    let mut ev = Events::with_capacity(8);
    let waker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        w.wake();
    });
    r.poll(&mut ev, Some(Instant::now() + Duration::from_millis(40)))
        .unwrap();
    waker.join().unwrap();
    let deadline = Instant::now() + Duration::from_millis(120);
    r.poll(&mut ev, Some(deadline)).unwrap();
    assert!(
        Instant::now() >= deadline,
        "the old 40 ms deadline ended the wait"
    );
    // And with no deadline, no stale timer fires: only the wake ends it.
    let w = r.waker();
    let start = Instant::now();
    let waker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(80));
        w.wake();
    });
    r.poll(&mut ev, Some(Instant::now() + Duration::from_millis(10)))
        .unwrap();
    r.poll(&mut ev, None).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(80));
    waker.join().unwrap();
}

/// Signals during the wait (EINTR, injected 5 times) are retried, not returned early.
fn eintr_during_wait_is_retried(choice: BackendChoice) {
    let r = reactor(choice);
    let op = match r.backend() {
        ringloop_reactor::Backend::Epoll => Syscall::EpollWait,
        ringloop_reactor::Backend::IoUring => Syscall::IoUringEnter,
    };
    fault::reset();
    fault::inject(op, 5, libc::EINTR);
    let mut ev = Events::with_capacity(8);
    let deadline = Instant::now() + Duration::from_millis(20);
    r.poll(&mut ev, Some(deadline)).unwrap();
    assert!(Instant::now() >= deadline);
    assert_eq!(fault::pending(op), 0, "all five EINTRs were hit");
    fault::reset();
}

/// A deadline a century away is no error and no busy loop: the poll blocks until woken.
fn far_deadline_waits_until_woken(choice: BackendChoice) {
    let r = reactor(choice);
    let w = r.waker();
    let waker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        w.wake();
    });
    let mut ev = Events::with_capacity(8);
    let start = Instant::now();
    let far = start + Duration::from_secs(100 * 365 * 24 * 3600);
    r.poll(&mut ev, Some(far)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(30),
        "returned before the wake"
    );
    assert!(ev.is_empty());
    waker.join().unwrap();
}

both_backends!(
    far_deadline_waits_until_woken,
    precision_100us_never_early,
    precision_3_1ms_never_early,
    past_deadline_does_not_block,
    stale_deadline_does_not_end_later_wait,
    eintr_during_wait_is_retried,
);
