//! The readiness path on both backends: the edge-triggered contract, never lost, never
//! twice, deregister-then-close, reregister, and clear errors for bad input.

mod common;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;
use ringloop_reactor::{sys, BackendChoice, Events, Interest, Token};

const QUIET: Duration = Duration::from_millis(30);

fn pipe() -> (File, File) {
    let (r, w) = sys::pipe().unwrap();
    (File::from(r), File::from(w))
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// The contract, step by step on a pipe: one event per arrival; leaving data unread
/// produces no new event; draining to WouldBlock re-arms; new data gives one new event.
fn edge_triggered_contract_on_pipe(choice: BackendChoice) {
    let r = reactor(choice);
    let (mut rx, mut tx) = pipe();
    r.register(rx.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let mut ev = Events::with_capacity(16);
    assert!(
        poll_for(&r, &mut ev, QUIET).is_empty(),
        "nothing written yet"
    );

    tx.write_all(&[7; 10]).unwrap();
    let (n, rd) = wait_for_token(&r, &mut ev, Token(1));
    assert_eq!(n, 1);
    assert!(rd.is_readable());

    // Read only half: edge-triggered means no new event for data already announced.
    let mut half = [0u8; 5];
    rx.read_exact(&mut half).unwrap();
    assert!(
        poll_for(&r, &mut ev, QUIET).is_empty(),
        "no edge without new data"
    );

    // Honour the contract: read until WouldBlock.
    assert_eq!(read_all(&mut rx), Some(5));
    assert!(poll_for(&r, &mut ev, QUIET).is_empty());

    tx.write_all(b"again").unwrap();
    let (n, _) = wait_for_token(&r, &mut ev, Token(1));
    assert_eq!(n, 1);
    assert_eq!(read_all(&mut rx), Some(5));
    r.deregister(rx.as_raw_fd()).unwrap();
}

/// 300 rounds on a socketpair: every arrival is reported (never lost) exactly once (never
/// twice, also checked by a quiet poll after draining).
fn readiness_never_lost_never_twice(choice: BackendChoice) {
    let r = reactor(choice);
    let (mut a, mut b) = pair();
    r.register(a.as_raw_fd(), Token(3), Interest::READABLE)
        .unwrap();
    let mut ev = Events::with_capacity(16);
    for round in 0..300u32 {
        b.write_all(&round.to_le_bytes()).unwrap();
        let (n, rd) = wait_for_token(&r, &mut ev, Token(3));
        assert_eq!(n, 1, "round {round}: one arrival, one event");
        assert!(rd.is_readable());
        assert_eq!(read_all(&mut a), Some(4), "round {round}");
        let again = poll_for(&r, &mut ev, Duration::from_millis(2));
        assert!(
            again.is_empty(),
            "round {round}: delivered twice: {again:?}"
        );
    }
}

/// Two writes between polls merge into one event per descriptor per poll.
fn arrivals_between_polls_merge(choice: BackendChoice) {
    let r = reactor(choice);
    let (mut a, mut b) = pair();
    r.register(a.as_raw_fd(), Token(4), Interest::READABLE)
        .unwrap();
    b.write_all(b"one").unwrap();
    b.write_all(b"two").unwrap();
    let mut ev = Events::with_capacity(16);
    let (n, _) = wait_for_token(&r, &mut ev, Token(4));
    assert_eq!(n, 1);
    assert_eq!(read_all(&mut a), Some(6));
}

/// Writable: reported once when registered (the socket starts writable), then only after
/// a full buffer drains.
fn writable_after_full_buffer_drains(choice: BackendChoice) {
    let r = reactor(choice);
    let (mut a, mut b) = pair();
    r.register(a.as_raw_fd(), Token(5), Interest::WRITABLE)
        .unwrap();
    let mut ev = Events::with_capacity(16);
    let (n, rd) = wait_for_token(&r, &mut ev, Token(5));
    assert_eq!(n, 1);
    assert!(rd.is_writable());
    assert!(poll_for(&r, &mut ev, QUIET).is_empty(), "no new edge");

    let chunk = [1u8; 4096];
    let mut written = 0;
    loop {
        match a.write(&chunk) {
            Ok(k) => written += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(written > 0);
    assert!(
        poll_for(&r, &mut ev, QUIET).is_empty(),
        "full: not writable"
    );
    let mut drained = 0;
    while drained < written {
        drained += read_all(&mut b).unwrap();
    }
    let (_, rd) = wait_for_token(&r, &mut ev, Token(5));
    assert!(rd.is_writable());
}

/// The peer closing shows up as readable + read-closed.
fn peer_close_is_read_closed(choice: BackendChoice) {
    let r = reactor(choice);
    let (mut a, b) = pair();
    r.register(a.as_raw_fd(), Token(6), Interest::READABLE)
        .unwrap();
    drop(b);
    let mut ev = Events::with_capacity(16);
    let (_, rd) = wait_for_token(&r, &mut ev, Token(6));
    assert!(rd.is_readable() && rd.is_read_closed(), "{rd:?}");
    assert_eq!(read_all(&mut a), None, "EOF");
}

/// Deregister, then close: no event ever arrives for the old token, and the close is real
/// (the peer sees EOF: on io_uring the poll's file reference was dropped).
fn deregister_then_close(choice: BackendChoice) {
    let r = reactor(choice);
    let (a, mut b) = pair();
    r.register(a.as_raw_fd(), Token(7), Interest::READABLE)
        .unwrap();
    r.register(b.as_raw_fd(), Token(8), Interest::READABLE)
        .unwrap();
    r.deregister(a.as_raw_fd()).unwrap();
    drop(a);
    let mut ev = Events::with_capacity(16);
    let (_, rd) = wait_for_token(&r, &mut ev, Token(8));
    assert!(rd.is_read_closed(), "peer sees the close: {rd:?}");
    assert_eq!(read_all(&mut b), None);
    let _ = b.write(b"x");
    let all = poll_for(&r, &mut ev, QUIET);
    assert!(all.iter().all(|(t, _)| *t != Token(7)), "{all:?}");
}

/// Regression, "register+deregister in one io_uring batch leaks the file": a descriptor
/// that is ready the moment its poll is armed (a socket is writable at once), deregistered
/// before any poll, so that both requests reach the kernel in one batch. The kernel is still
/// handling the poll's first wake-up when the removal arrives; `POLL_REMOVE` then failed with
/// EALREADY and left the multishot poll armed, holding the file: closing the descriptor did
/// not close the socket. The peer must see end of stream.
fn deregister_of_a_poll_ready_at_arming_closes_the_socket(choice: BackendChoice) {
    let r = reactor(choice);
    for _ in 0..20 {
        let (a, b) = pair();
        r.register(
            a.as_raw_fd(),
            Token(1),
            Interest::READABLE | Interest::WRITABLE,
        )
        .unwrap();
        r.deregister(a.as_raw_fd()).unwrap();
        drop(a);
        // Let the reactor run a turn too (a retried cancel goes out with the next poll).
        let mut ev = Events::with_capacity(16);
        poll_for(&r, &mut ev, Duration::ZERO);
        b.set_nonblocking(false).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        let n = (&b).read(&mut buf);
        assert_eq!(n.ok(), Some(0), "the peer never saw end of stream");
    }
}

/// Reregister moves a descriptor to a new token and interest.
fn reregister_changes_token_and_interest(choice: BackendChoice) {
    let r = reactor(choice);
    let (a, _b) = pair();
    r.register(a.as_raw_fd(), Token(10), Interest::READABLE)
        .unwrap();
    r.reregister(
        a.as_raw_fd(),
        Token(11),
        Interest::READABLE | Interest::WRITABLE,
    )
    .unwrap();
    let mut ev = Events::with_capacity(16);
    let (_, rd) = wait_for_token(&r, &mut ev, Token(11));
    assert!(rd.is_writable());
    let later = poll_for(&r, &mut ev, QUIET);
    assert!(later.iter().all(|(t, _)| *t != Token(10)), "{later:?}");
}

/// 64 descriptors ready at once: one poll reports 64 distinct tokens.
fn many_descriptors_one_poll(choice: BackendChoice) {
    let r = reactor(choice);
    let pairs: Vec<_> = (0..64).map(|_| pair()).collect();
    for (i, (a, _)) in pairs.iter().enumerate() {
        r.register(a.as_raw_fd(), Token(100 + i), Interest::READABLE)
            .unwrap();
    }
    for (_, b) in &pairs {
        (&*b).write_all(b"z").unwrap();
    }
    let mut ev = Events::with_capacity(256);
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 64 {
        for (t, rd) in poll_for(&r, &mut ev, Duration::from_secs(5)) {
            assert!(rd.is_readable());
            assert!(seen.insert(t), "{t:?} reported twice");
        }
    }
}

/// Bad input gets a clear error: double registration, a closed descriptor, a reserved
/// token, deregistering what was never registered.
fn bad_registrations_are_errors(choice: BackendChoice) {
    let r = reactor(choice);
    let (a, _b) = pair();
    r.register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let e = r
        .register(a.as_raw_fd(), Token(2), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "{e}");
    let e = r
        .register(1_000_000, Token(3), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    let (c, _d) = pair();
    let e = r
        .register(c.as_raw_fd(), Token(usize::MAX), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    let e = r.deregister(c.as_raw_fd()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    let _keep: OwnedFd = c.into();
}

both_backends!(
    edge_triggered_contract_on_pipe,
    readiness_never_lost_never_twice,
    arrivals_between_polls_merge,
    writable_after_full_buffer_drains,
    peer_close_is_read_closed,
    deregister_then_close,
    deregister_of_a_poll_ready_at_arming_closes_the_socket,
    reregister_changes_token_and_interest,
    many_descriptors_one_poll,
    bad_registrations_are_errors,
);
