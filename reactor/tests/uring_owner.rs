//! Single-issuer rings (`ReactorBuilder::single_issuer`): one owner thread polls, the others
//! submit, register and cancel through it. The owner is woken for foreign work, entries that
//! do not fit in a full submission queue wait in order for the owner, and a retired ring
//! refuses work and can be dropped by any thread.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ringloop_reactor::sys::{fault, Syscall};
use ringloop_reactor::{sys, Backend, BackendChoice, Event, Events, Interest, Op, Reactor, Token};

/// A single-issuer io_uring reactor, or `None` where the kernel has no io_uring or no single
/// issuer (6.1): the tests then have nothing to check.
fn owned_reactor(entries: u32) -> Option<Arc<Reactor>> {
    if !sys::kernel_at_least(6, 1) {
        eprintln!("SKIP: single-issuer rings need Linux 6.1");
        return None;
    }
    match Reactor::builder()
        .backend(BackendChoice::IoUring)
        .ring_entries(entries)
        .single_issuer(true)
        .build()
    {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            eprintln!("SKIP: no io_uring here: {e}");
            None
        }
    }
}

#[test]
fn only_the_owner_polls_and_a_second_claim_is_refused() {
    let Some(r) = owned_reactor(8) else { return };
    assert_eq!(r.backend(), Backend::IoUring);
    r.claim().unwrap();
    let e = r.claim().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
    let other = r.clone();
    let e = thread::spawn(move || {
        let mut ev = Events::with_capacity(8);
        other.poll(&mut ev, Some(Instant::now())).unwrap_err()
    })
    .join()
    .unwrap();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    // The owner still polls.
    let mut ev = Events::with_capacity(8);
    r.poll(&mut ev, Some(Instant::now())).unwrap();
    r.retire();
}

#[test]
fn a_blocked_owner_is_woken_for_another_threads_submission() {
    let Some(r) = owned_reactor(8) else { return };
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let owner = {
        let r = r.clone();
        thread::spawn(move || {
            r.claim().unwrap();
            ready_tx.send(()).unwrap();
            let mut ev = Events::with_capacity(8);
            let end = Instant::now() + Duration::from_secs(10);
            // Blocks without a deadline: only the foreign submission's completion (through
            // the wake it causes) can end the wait.
            let got = loop {
                r.poll(&mut ev, None).unwrap();
                if let Some(e) = ev.drain().find(|e| matches!(e, Event::Completed { .. })) {
                    break e;
                }
                assert!(Instant::now() < end, "no completion");
            };
            r.retire();
            done_tx.send(()).unwrap();
            match got {
                Event::Completed {
                    token, result, op, ..
                } => (token, result.unwrap(), op.into_buf().unwrap()),
                _ => unreachable!(),
            }
        })
    };
    ready_rx.recv().unwrap();
    // Let the owner block in the kernel first.
    let start = Instant::now();
    while !r.waker().poller_waiting() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the owner never blocked"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let (a, b) = UnixStream::pair().unwrap();
    let b: Arc<std::os::fd::OwnedFd> = Arc::new(b.into());
    r.submit(Op::recv(b, Vec::with_capacity(16)), Token(7))
        .unwrap();
    (&a).write_all(b"ping").unwrap();
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the owner was not woken");
    let (token, n, buf) = owner.join().unwrap();
    assert_eq!((token, n, &buf[..]), (Token(7), 4, &b"ping"[..]));
}

#[test]
fn submissions_beyond_a_full_queue_wait_in_order_for_the_owner() {
    // 4 entries: another thread's 200 sends overflow the queue many times over, first while the
    // owner is not polling, then while it polls (and submits) at the same time; every send
    // reaches the kernel, in submission order.
    // 200 small sends fit in a Unix socket's send buffer (each takes ~770 bytes of it), so
    // none waits for room: a send that did could be overtaken by later ones in the kernel.
    const SENDS: usize = 200;
    let Some(r) = owned_reactor(4) else { return };
    let (claimed_tx, claimed_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let owner = {
        let r = r.clone();
        thread::spawn(move || {
            r.claim().unwrap();
            claimed_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let mut done = vec![None; SENDS];
            let mut ev = Events::with_capacity(64);
            let end = Instant::now() + Duration::from_secs(10);
            while done.iter().any(Option::is_none) {
                assert!(Instant::now() < end, "sends never completed");
                r.poll(&mut ev, Some(Instant::now() + Duration::from_millis(1)))
                    .unwrap();
                for e in ev.drain() {
                    if let Event::Completed { token, result, .. } = e {
                        done[token.0] = Some(result.unwrap());
                    }
                }
            }
            r.retire();
            done
        })
    };
    claimed_rx.recv().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let a: Arc<std::os::fd::OwnedFd> = Arc::new(a.into());
    // Read as it comes: each small send takes hundreds of bytes of socket buffer.
    let reader = thread::spawn(move || {
        let mut got = vec![0u8; 3 * SENDS];
        std::io::Read::read_exact(&mut b, &mut got).unwrap();
        got
    });
    let send = |i: usize| {
        r.submit(Op::send(a.clone(), vec![i as u8; 3]), Token(i))
            .unwrap();
    };
    // Before the owner polls: most of these wait in the reactor's queue.
    (0..SENDS / 4).for_each(send);
    go_tx.send(()).unwrap();
    (SENDS / 4..SENDS).for_each(send);
    let done = owner.join().unwrap();
    assert!(done.iter().all(|d| *d == Some(3)), "{done:?}");
    let got = reader.join().unwrap();
    let want: Vec<u8> = (0..SENDS).flat_map(|i| [i as u8; 3]).collect();
    let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(
        first_wrong, None,
        "the sends reached the kernel out of order"
    );
}

#[test]
fn a_retired_ring_refuses_work_and_any_thread_may_drop_it() {
    let Some(r) = owned_reactor(8) else { return };
    let (a, b) = UnixStream::pair().unwrap();
    let b: Arc<std::os::fd::OwnedFd> = Arc::new(b.into());
    let owner = {
        let r = r.clone();
        let b = b.clone();
        thread::spawn(move || {
            r.claim().unwrap();
            // In flight when the owner retires: never completes by itself.
            r.submit(Op::recv(b.clone(), Vec::with_capacity(16)), Token(1))
                .unwrap();
            r.register(a_raw(&b), Token(2), Interest::READABLE).unwrap();
            let mut ev = Events::with_capacity(8);
            r.poll(&mut ev, Some(Instant::now())).unwrap();
            r.retire();
        })
    };
    owner.join().unwrap();
    let e = r
        .submit(Op::recv(b.clone(), Vec::with_capacity(16)), Token(3))
        .unwrap_err();
    assert!(e.to_string().contains("owner thread has exited"), "{e}");
    // The retire cancelled the receive and the poll: the socket is only ours now, and
    // dropping our last reference closes it (the peer sees the end of the stream).
    assert_eq!(
        Arc::strong_count(&r),
        1,
        "the test holds the last reference"
    );
    drop(r);
    drop(b);
    let mut buf = [0u8; 4];
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(std::io::Read::read(&mut (&a), &mut buf).unwrap(), 0);
}

fn a_raw(fd: &Arc<std::os::fd::OwnedFd>) -> std::os::fd::RawFd {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

#[test]
fn a_kernel_refusing_the_single_issuer_flags_gets_a_plain_ring() {
    if owned_reactor(8).is_none() {
        return;
    }
    fault::reset();
    // The first setup, with the flags, fails as a kernel that does not know them would.
    fault::inject(Syscall::IoUringSetup, 1, libc::EINVAL);
    let r = Arc::new(
        Reactor::builder()
            .backend(BackendChoice::IoUring)
            .single_issuer(true)
            .build()
            .expect("falls back to a plain ring"),
    );
    assert_eq!(fault::calls(Syscall::IoUringSetup), 2);
    assert_eq!(r.backend(), Backend::IoUring);
    // A plain ring: claiming does nothing, and any thread polls.
    r.claim().unwrap();
    r.claim().unwrap();
    let other = r.clone();
    thread::spawn(move || {
        let mut ev = Events::with_capacity(8);
        other.poll(&mut ev, Some(Instant::now())).unwrap();
    })
    .join()
    .unwrap();
}
