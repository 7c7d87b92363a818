//! The completion path: io_uring operations on socketpairs, pipes and a loopback listener;
//! cancellation; buffers and fds kept alive until the completion; a tiny ring under 100,000
//! operations. On epoll the same calls give a clear `Unsupported` error.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
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

/// Completions collected while waiting for a particular one.
#[derive(Default)]
struct Harvest {
    stash: HashMap<OpId, (Token, io::Result<u32>, Op)>,
}

impl Harvest {
    /// Polls until the completion of `id` arrives (5 s at most), keeping the others for
    /// later calls: (token, result, op).
    fn wait(&mut self, r: &Reactor, id: OpId) -> (Token, io::Result<u32>, Op) {
        let end = Instant::now() + Duration::from_secs(5);
        let mut ev = Events::with_capacity(64);
        loop {
            if let Some(done) = self.stash.remove(&id) {
                return done;
            }
            r.poll(&mut ev, Some(end)).unwrap();
            for e in ev.drain() {
                if let Event::Completed {
                    token,
                    id,
                    result,
                    op,
                } = e
                {
                    assert!(self.stash.insert(id, (token, result, op)).is_none());
                }
            }
            assert!(Instant::now() < end, "no completion within 5 s");
        }
    }
}

fn fd_pair() -> (Arc<OwnedFd>, Arc<OwnedFd>) {
    let (a, b) = UnixStream::pair().unwrap();
    (Arc::new(a.into()), Arc::new(b.into()))
}

#[test]
fn send_and_recv_on_socketpair() {
    let r = uring();
    let mut h = Harvest::default();
    let (a, b) = fd_pair();
    let rid = r
        .submit(Op::recv(b.clone(), Vec::with_capacity(64)), Token(1))
        .unwrap();
    let sid = r
        .submit(Op::send(a.clone(), b"hello".to_vec()), Token(2))
        .unwrap();
    let (t, res, op) = h.wait(&r, sid);
    assert_eq!((t, res.unwrap()), (Token(2), 5));
    assert_eq!(op.into_buf().unwrap(), b"hello", "send buffer comes back");
    let (t, res, op) = h.wait(&r, rid);
    assert_eq!((t, res.unwrap()), (Token(1), 5));
    let buf = op.into_buf().unwrap();
    assert_eq!(buf, b"hello", "len() counts exactly the received bytes");
    assert_eq!(buf.capacity(), 64);
}

#[test]
fn recv_appends_after_existing_bytes() {
    let r = uring();
    let mut h = Harvest::default();
    let (a, b) = fd_pair();
    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"ab");
    let rid = r.submit(Op::recv(b, buf), Token(1)).unwrap();
    File::from(a.try_clone().unwrap()).write_all(b"cd").unwrap();
    let (_, res, op) = h.wait(&r, rid);
    assert_eq!(res.unwrap(), 2);
    assert_eq!(op.into_buf().unwrap(), b"abcd");
}

#[test]
fn accept_connect_send_recv_on_loopback() {
    let r = uring();
    let mut h = Harvest::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lfd: Arc<OwnedFd> = Arc::new(listener.into());
    let client = Arc::new(tcp_socket());

    let aid = r.submit(Op::accept(lfd.clone()), Token(10)).unwrap();
    let cid = r
        .submit(Op::connect(client.clone(), addr), Token(11))
        .unwrap();
    let mut accepted = None;
    let mut connected = false;
    let end = Instant::now() + Duration::from_secs(5);
    let mut ev = Events::with_capacity(8);
    while accepted.is_none() || !connected {
        r.poll(&mut ev, Some(end)).unwrap();
        assert!(Instant::now() < end);
        for e in ev.drain() {
            match e {
                Event::Completed {
                    id, result, mut op, ..
                } if id == aid => {
                    result.unwrap();
                    let peer = match &op {
                        Op::Accept(a) => a.peer_addr().unwrap(),
                        _ => unreachable!(),
                    };
                    assert!(peer.ip().is_loopback());
                    accepted = Some((op.take_socket().unwrap(), peer));
                }
                Event::Completed { id, result, .. } if id == cid => {
                    assert_eq!(result.unwrap(), 0);
                    connected = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let (server, peer) = accepted.unwrap();
    // The peer address the server saw is the client's local address.
    // SAFETY: `sa`/`len` are live and large enough for getsockname to fill.
    let local = unsafe {
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::getsockname(
                client.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_in).cast(),
                &mut len
            ),
            0
        );
        SocketAddr::from((
            std::net::Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()),
            u16::from_be(sa.sin_port),
        ))
    };
    assert_eq!(peer, local);
    // The accepted socket is non-blocking and close-on-exec.
    // SAFETY: F_GETFL / F_GETFD take no pointer argument.
    let (fl, fdfl) = unsafe {
        (
            libc::fcntl(server.as_raw_fd(), libc::F_GETFL),
            libc::fcntl(server.as_raw_fd(), libc::F_GETFD),
        )
    };
    assert!(fl & libc::O_NONBLOCK != 0 && fdfl & libc::FD_CLOEXEC != 0);

    let server = Arc::new(server);
    let rid = r
        .submit(Op::recv(server.clone(), Vec::with_capacity(32)), Token(12))
        .unwrap();
    let sid = r
        .submit(Op::send(client.clone(), b"ping".to_vec()), Token(13))
        .unwrap();
    assert_eq!(h.wait(&r, sid).1.unwrap(), 4);
    let (_, res, op) = h.wait(&r, rid);
    assert_eq!(res.unwrap(), 4);
    assert_eq!(op.into_buf().unwrap(), b"ping");
}

#[test]
fn connect_refused_is_an_error_result() {
    let r = uring();
    let mut h = Harvest::default();
    // Bind then drop a listener: its port is (very likely) closed now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let id = r
        .submit(Op::connect(Arc::new(tcp_socket()), addr), Token(1))
        .unwrap();
    let (_, res, _) = h.wait(&r, id);
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
fn read_and_write_on_a_pipe() {
    let r = uring();
    let mut h = Harvest::default();
    let (rx, tx) = ringloop_reactor::sys::pipe().unwrap();
    let (rx, tx) = (Arc::new(rx), Arc::new(tx));
    let wid = r
        .submit(Op::write(tx, b"pipe data".to_vec(), u64::MAX), Token(1))
        .unwrap();
    assert_eq!(h.wait(&r, wid).1.unwrap(), 9);
    let rid = r
        .submit(Op::read(rx, Vec::with_capacity(64), u64::MAX), Token(2))
        .unwrap();
    let (_, res, op) = h.wait(&r, rid);
    assert_eq!(res.unwrap(), 9);
    assert_eq!(op.into_buf().unwrap(), b"pipe data");
}

#[test]
fn close_op_closes_the_descriptor() {
    let r = uring();
    let mut h = Harvest::default();
    let (a, b) = UnixStream::pair().unwrap();
    let id = r.submit(Op::close(a.into()), Token(1)).unwrap();
    assert_eq!(h.wait(&r, id).1.unwrap(), 0);
    // The peer sees EOF: the descriptor was really closed (once: no double close).
    let mut b = b;
    let mut buf = [0u8; 4];
    assert_eq!(b.read(&mut buf).unwrap(), 0);
}

#[test]
fn timeout_op_never_completes_early() {
    let r = uring();
    let mut h = Harvest::default();
    for ms in [0u64, 1, 5, 20] {
        let deadline = Instant::now() + Duration::from_millis(ms);
        let id = r.submit(Op::timeout(deadline), Token(9)).unwrap();
        let (_, res, _) = h.wait(&r, id);
        assert_eq!(res.unwrap(), 0);
        assert!(Instant::now() >= deadline, "{ms} ms timeout early");
    }
}

/// A cancelled recv comes back with ECANCELED and its buffer; the fd's extra reference is
/// released only then.
#[test]
fn cancel_in_flight_recv_returns_buffer() {
    let r = uring();
    let mut h = Harvest::default();
    let (_a, b) = fd_pair();
    let id = r
        .submit(Op::recv(b.clone(), Vec::with_capacity(128)), Token(5))
        .unwrap();
    let mut ev = Events::with_capacity(8);
    r.poll(&mut ev, Some(Instant::now() + Duration::from_millis(10)))
        .unwrap();
    assert!(ev.is_empty(), "no data: nothing completes");
    assert_eq!(Arc::strong_count(&b), 2, "the in-flight op holds the fd");
    r.cancel(id).unwrap();
    r.cancel(id).unwrap(); // a second cancel is harmless
    let (t, res, op) = h.wait(&r, id);
    assert_eq!(t, Token(5));
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    let buf = op.into_buf().unwrap();
    assert_eq!((buf.len(), buf.capacity()), (0, 128));
    assert_eq!(Arc::strong_count(&b), 1);
    r.cancel(id).unwrap(); // cancelling a completed op does nothing
}

/// The submitter forgets the op (never cancels, never waits): it still completes, with its
/// data, when the kernel is done.
#[test]
fn forgotten_op_still_completes_with_its_data() {
    let r = uring();
    let mut h = Harvest::default();
    let (a, b) = fd_pair();
    let id = r
        .submit(Op::recv(b, Vec::with_capacity(8)), Token(1))
        .unwrap();
    File::from(a.try_clone().unwrap())
        .write_all(b"late")
        .unwrap();
    let (_, res, op) = h.wait(&r, id);
    assert_eq!(res.unwrap(), 4);
    assert_eq!(op.into_buf().unwrap(), b"late");
}

/// Dropping the reactor cancels and reaps everything in flight, then frees it: each op's
/// fd reference is released exactly once (strong count back to 1), nothing is leaked.
#[test]
fn dropping_reactor_reaps_in_flight_ops() {
    let r = uring();
    let (a, b) = fd_pair();
    for i in 0..20 {
        r.submit(Op::recv(b.clone(), Vec::with_capacity(64)), Token(i))
            .unwrap();
    }
    r.submit(
        Op::timeout(Instant::now() + Duration::from_secs(3600)),
        Token(99),
    )
    .unwrap();
    r.register(
        a.as_raw_fd(),
        Token(50),
        ringloop_reactor::Interest::READABLE,
    )
    .unwrap();
    let mut ev = Events::with_capacity(8);
    r.poll(&mut ev, Some(Instant::now() + Duration::from_millis(5)))
        .unwrap();
    assert_eq!(Arc::strong_count(&b), 21);
    let start = Instant::now();
    drop(r);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "reaping took too long"
    );
    assert_eq!(
        Arc::strong_count(&b),
        1,
        "every op freed after its completion"
    );
    // The socket is intact and usable.
    File::from(a.try_clone().unwrap()).write_all(b"x").unwrap();
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

/// Readiness and completions mixed in one reactor.
#[test]
fn readiness_and_completions_together() {
    let r = uring();
    let (a, b) = fd_pair();
    let (c, d) = UnixStream::pair().unwrap();
    c.set_nonblocking(true).unwrap();
    r.register(
        c.as_raw_fd(),
        Token(1),
        ringloop_reactor::Interest::READABLE,
    )
    .unwrap();
    let rid = r
        .submit(Op::recv(b, Vec::with_capacity(8)), Token(2))
        .unwrap();
    (&d).write_all(b"r").unwrap();
    r.submit(Op::send(a, b"c".to_vec()), Token(3)).unwrap();
    let mut ev = Events::with_capacity(16);
    let (mut ready, mut recvd) = (false, false);
    let end = Instant::now() + Duration::from_secs(5);
    while !(ready && recvd) {
        r.poll(&mut ev, Some(end)).unwrap();
        assert!(Instant::now() < end);
        for e in ev.iter() {
            match e {
                Event::Ready {
                    token: Token(1), ..
                } => ready = true,
                Event::Completed { id, .. } if *id == rid => recvd = true,
                _ => {}
            }
        }
    }
}

/// Bad input: a recv with no room, and the completion path on epoll.
#[test]
fn bad_submissions_are_errors() {
    let r = uring();
    let (a, _b) = fd_pair();
    let e = r
        .submit(Op::recv(a.clone(), Vec::new()), Token(1))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert_eq!(Arc::strong_count(&a), 1, "refused op dropped");

    let ep = reactor(BackendChoice::Epoll);
    let e = ep
        .submit(Op::recv(a.clone(), Vec::with_capacity(8)), Token(1))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("epoll"), "{e}");
    assert_eq!(Arc::strong_count(&a), 1);
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
