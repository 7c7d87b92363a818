//! The completion path under pressure and across threads: a tiny ring under 100,000
//! operations (full SQ, CQ overflow), EBUSY, and submissions and registrations racing a
//! blocked or starting poller.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringloop_reactor::sys::{fault, Syscall};
use ringloop_reactor::{BackendChoice, Event, Events, Op, OpId, Reactor, Token};

fn uring() -> Reactor {
    reactor(BackendChoice::IoUring)
}

/// An 8-entry ring (16-entry CQ) takes 100,000 operations, submitted without polling in
/// between: the SQ fills and is flushed thousands of times, the CQ overflows and the
/// kernel's overflow list is drained. Every op completes exactly once.
#[test]
fn eight_entry_ring_100k_ops_each_once() {
    const N: usize = 100_000;
    let r = Reactor::builder()
        .backend(BackendChoice::IoUring)
        .ring_entries(8)
        .build()
        .unwrap();
    let null: Arc<OwnedFd> = Arc::new(
        File::options()
            .write(true)
            .open("/dev/null")
            .unwrap()
            .into(),
    );
    fault::reset();
    let mut pending: HashMap<OpId, usize> = HashMap::with_capacity(N);
    for i in 0..N {
        let op = if i % 2 == 0 {
            Op::write(null.clone(), vec![i as u8; 1 + i % 7], 0)
        } else {
            Op::timeout(Instant::now())
        };
        let id = r.submit(op, Token(i)).unwrap();
        assert!(pending.insert(id, i).is_none(), "id reused while in flight");
    }
    let enters = fault::calls(Syscall::IoUringEnter);
    assert!(
        enters >= (N / 8 - 1) as u64,
        "full SQ flushed: {enters} enters"
    );
    let mut ev = Events::with_capacity(256);
    let mut seen = HashSet::with_capacity(N);
    let end = Instant::now() + Duration::from_secs(60);
    while seen.len() < N {
        r.poll(&mut ev, Some(end)).unwrap();
        assert!(Instant::now() < end, "only {} of {N} completed", seen.len());
        for e in ev.drain() {
            let Event::Completed {
                token,
                id,
                result,
                op,
            } = e
            else {
                panic!("unexpected readiness");
            };
            let i = pending.remove(&id).expect("completed twice or unknown");
            assert_eq!(token, Token(i));
            assert!(seen.insert(i));
            let n = result.unwrap();
            if i % 2 == 0 {
                assert_eq!(n as usize, 1 + i % 7);
                assert_eq!(op.into_buf().unwrap(), vec![i as u8; 1 + i % 7]);
            } else {
                assert_eq!(n, 0);
            }
        }
    }
    assert!(pending.is_empty());
    assert_eq!(Arc::strong_count(&null), 1);
    r.poll(&mut ev, Some(Instant::now() + Duration::from_millis(5)))
        .unwrap();
    assert!(ev.is_empty(), "nothing delivered twice");
}

/// The same, interleaving submissions and small polls (an event buffer of 7 leaves
/// completions in the CQ between polls).
#[test]
fn small_ring_interleaved_with_small_polls() {
    const N: usize = 20_000;
    let r = Reactor::builder()
        .backend(BackendChoice::IoUring)
        .ring_entries(8)
        .build()
        .unwrap();
    let mut ev = Events::with_capacity(7);
    let mut live = HashSet::new();
    let mut done = 0;
    for i in 0..N {
        live.insert(r.submit(Op::timeout(Instant::now()), Token(i)).unwrap());
        if i % 100 == 99 {
            r.poll(&mut ev, Some(Instant::now())).unwrap();
            for e in ev.drain() {
                let Event::Completed { id, .. } = e else {
                    panic!()
                };
                assert!(live.remove(&id));
                done += 1;
            }
        }
    }
    let end = Instant::now() + Duration::from_secs(30);
    while done < N {
        r.poll(&mut ev, Some(end)).unwrap();
        assert!(Instant::now() < end);
        for e in ev.drain() {
            let Event::Completed { id, .. } = e else {
                panic!()
            };
            assert!(live.remove(&id));
            done += 1;
        }
    }
}

/// EBUSY from io_uring_enter (the kernel wants CQ room first) is handled, not surfaced.
#[test]
fn ebusy_from_enter_is_handled() {
    let r = uring();
    let mut h = Harvest::default();
    fault::reset();
    fault::inject(Syscall::IoUringEnter, 3, libc::EBUSY);
    let (a, b) = fd_pair();
    let rid = r
        .submit(Op::recv(b, Vec::with_capacity(8)), Token(1))
        .unwrap();
    let sid = r.submit(Op::send(a, b"busy".to_vec()), Token(2)).unwrap();
    assert_eq!(h.wait(&r, sid).1.unwrap(), 4);
    assert_eq!(h.wait(&r, rid).1.unwrap(), 4);
    assert_eq!(fault::pending(Syscall::IoUringEnter), 0);
    fault::reset();
}

/// Another thread submits while the poller is blocked in the kernel (no wake): the
/// submitter enters the kernel itself, so the op runs and its completion ends the wait.
#[test]
fn submit_from_other_thread_while_poller_blocked() {
    let r = Arc::new(uring());
    let w = r.waker();
    let r2 = r.clone();
    let (a, b) = fd_pair();
    let helper = std::thread::spawn(move || {
        fault::reset();
        let end = Instant::now() + Duration::from_secs(5);
        while !w.poller_waiting() {
            assert!(Instant::now() < end);
            std::thread::yield_now();
        }
        let id = r2.submit(Op::send(a, b"x".to_vec()), Token(8)).unwrap();
        (id, fault::calls(Syscall::EventfdWrite))
    });
    let _keep = b;
    let mut ev = Events::with_capacity(8);
    let guard = Instant::now() + Duration::from_secs(10);
    let mut got = None;
    while got.is_none() {
        r.poll(&mut ev, Some(guard)).unwrap();
        assert!(
            Instant::now() < guard,
            "the submission never reached the kernel"
        );
        for e in ev.drain() {
            if let Event::Completed { id, result, .. } = e {
                got = Some((id, result.unwrap()));
            }
        }
    }
    let (id, writes) = helper.join().unwrap();
    assert_eq!(got, Some((id, 1)));
    assert_eq!(writes, 0, "no eventfd write needed to deliver a submission");
}

/// Registering from another thread while the poller is blocked takes effect at once.
#[test]
fn register_from_other_thread_while_poller_blocked() {
    let r = Arc::new(uring());
    let w = r.waker();
    let r2 = r.clone();
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (&b).write_all(b"ready").unwrap();
    let fd = a.as_raw_fd();
    let helper = std::thread::spawn(move || {
        while !w.poller_waiting() {
            std::thread::yield_now();
        }
        r2.register(fd, Token(4), ringloop_reactor::Interest::READABLE)
            .unwrap();
    });
    let mut ev = Events::with_capacity(8);
    let guard = Instant::now() + Duration::from_secs(10);
    r.poll(&mut ev, Some(guard)).unwrap();
    assert!(
        Instant::now() < guard,
        "registration not seen by the blocked poller"
    );
    helper.join().unwrap();
    assert!(ready(&ev)
        .iter()
        .any(|(t, rd)| *t == Token(4) && rd.is_readable()));
}

/// Ping-pong, 2,000 rounds: a helper submits an op right as the poller goes back into the
/// kernel (racing begin_poll and the SQ tail). A submission that neither the poller nor the
/// submitter hands to the kernel leaves the poll blocked until its 10 s guard.
#[test]
fn submission_racing_poll_start_is_not_lost() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const ROUNDS: usize = 2_000;
    let r = Arc::new(uring());
    let r2 = r.clone();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let helper = std::thread::spawn(move || {
        for i in 0..ROUNDS {
            while seen2.load(Ordering::Acquire) < i {
                std::hint::spin_loop();
            }
            r2.submit(Op::timeout(Instant::now()), Token(i)).unwrap();
        }
    });
    let mut ev = Events::with_capacity(8);
    let mut done = 0;
    while done < ROUNDS {
        let guard = Instant::now() + Duration::from_secs(10);
        r.poll(&mut ev, Some(guard)).unwrap();
        assert!(Instant::now() < guard, "round {done}: submission lost");
        for e in ev.drain() {
            let Event::Completed { token, .. } = e else {
                panic!()
            };
            assert_eq!(token, Token(done));
            done += 1;
            seen.store(done, Ordering::Release);
        }
    }
    helper.join().unwrap();
}

/// Regression: a submission pushed while another thread's non-blocking poll looked at the SQ
/// was lost. That poll's look took a snapshot of the SQ (`submission_shared`) without the state
/// lock, and a snapshot writes its tail back when dropped: a tail pushed meanwhile went back,
/// and the next push overwrote the entry. Its operation never reached the kernel (seen as a
/// completion-path read that never completed on the multi-thread runtime, its bytes waiting in
/// the socket). Here one thread submits 20,000 ready operations while another polls without
/// blocking; every one must complete.
#[test]
fn submissions_racing_a_non_blocking_poll_are_never_lost() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const N: usize = 20_000;
    let r = Arc::new(uring());
    let r2 = r.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let submitter = std::thread::spawn(move || {
        for i in 0..N {
            r2.submit(Op::timeout(Instant::now()), Token(i)).unwrap();
            if stop2.load(Ordering::Relaxed) {
                break;
            }
        }
    });
    let mut ev = Events::with_capacity(64);
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < N && Instant::now() < deadline {
        // A deadline already passed: the poll never blocks, and looks at the SQ each time.
        r.poll(&mut ev, Some(Instant::now())).unwrap();
        for e in ev.drain() {
            if let Event::Completed { token, .. } = e {
                assert!(seen.insert(token.0), "op {} completed twice", token.0);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    submitter.join().unwrap();
    assert_eq!(
        seen.len(),
        N,
        "{} of {N} submissions never completed",
        N - seen.len()
    );
}

/// Batching, counted: 32 sends and 32 receives queued from the polling thread go to the
/// kernel in the poll's single `io_uring_enter`, and all 64 completions come back from it.
#[test]
fn batch_of_64_ops_costs_one_enter() {
    let r = uring();
    let pairs: Vec<_> = (0..32).map(|_| fd_pair()).collect();
    fault::reset();
    for (i, (a, b)) in pairs.iter().enumerate() {
        r.submit(Op::send(b.clone(), vec![1u8; 100]), Token(100 + i))
            .unwrap();
        r.submit(Op::recv(a.clone(), Vec::with_capacity(100)), Token(i))
            .unwrap();
    }
    assert_eq!(
        fault::calls(Syscall::IoUringEnter),
        0,
        "queued, not yet entered"
    );
    let mut ev = Events::with_capacity(64);
    let mut done = 0;
    while done < 64 {
        r.poll(&mut ev, Some(Instant::now() + Duration::from_secs(5)))
            .unwrap();
        for e in ev.drain() {
            let Event::Completed { result, .. } = e else {
                panic!()
            };
            assert_eq!(result.unwrap(), 100);
            done += 1;
        }
    }
    let enters = fault::calls(Syscall::IoUringEnter);
    println!("64 ops: {enters} io_uring_enter call(s)");
    assert!(enters <= 2, "{enters} enters for one batch");
}
