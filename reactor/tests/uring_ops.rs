//! The completion path: io_uring operations on socketpairs, pipes and a loopback listener;
//! cancellation; buffers and fds kept alive until the completion (pressure and races are in
//! `uring_pressure.rs`). On epoll the same calls give a clear `Unsupported` error.

mod common;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringloop_reactor::{BackendChoice, Event, Events, Op, Reactor, Token};

fn uring() -> Reactor {
    reactor(BackendChoice::IoUring)
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

/// One multishot accept, many connections: each arrives as a completion with `more` set,
/// under the submission's id; a cancel ends it with a last completion without `more`.
#[test]
fn multishot_accept_delivers_each_connection_then_ends_on_cancel() {
    let r = uring();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lfd: Arc<OwnedFd> = Arc::new(listener.into());
    let aid = r
        .submit(Op::accept_multishot(lfd.clone()), Token(3))
        .unwrap();
    let clients: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let mut accepted = Vec::new();
    let mut ended = false;
    let mut cancelled = false;
    let end = Instant::now() + Duration::from_secs(5);
    let mut ev = Events::with_capacity(8);
    while !ended {
        if accepted.len() == clients.len() && !cancelled {
            r.cancel(aid).unwrap();
            cancelled = true;
        }
        r.poll(&mut ev, Some(end)).unwrap();
        assert!(
            Instant::now() < end,
            "accepted {}, ended {ended}",
            accepted.len()
        );
        for e in ev.drain() {
            let Event::Completed {
                id, result, mut op, ..
            } = e
            else {
                panic!("unexpected {e:?}");
            };
            assert_eq!(id, aid);
            if op.more() {
                result.unwrap();
                let s = op.take_socket().expect("an accepted socket");
                // SAFETY: F_GETFD on a descriptor we own reads its flags only.
                let flags = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFD) };
                assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
                accepted.push(s);
            } else {
                assert!(cancelled, "ended before the cancel: {result:?}");
                ended = true;
            }
        }
    }
    assert_eq!(accepted.len(), clients.len());
}

/// Runs the reactor until the multishot `id` ends; returns every byte its completions
/// carried, in order, and the last completion's result. `between` runs first and then after
/// each poll, with the count of bytes received so far.
fn collect_multishot(
    r: &Reactor,
    id: ringloop_reactor::OpId,
    mut between: impl FnMut(usize),
) -> (Vec<u8>, io::Result<u32>) {
    let end = Instant::now() + Duration::from_secs(10);
    let mut ev = Events::with_capacity(64);
    let mut got = Vec::new();
    between(0);
    loop {
        r.poll(&mut ev, Some(end)).unwrap();
        assert!(Instant::now() < end, "multishot receive never ended");
        for e in ev.drain() {
            let Event::Completed {
                id: eid,
                result,
                op,
                ..
            } = e
            else {
                panic!("unexpected {e:?}");
            };
            assert_eq!(eid, id);
            let more = op.more();
            let data = op.into_buf().expect("a receive carries its bytes");
            if let Ok(n) = result {
                assert_eq!(n as usize, data.len(), "result counts the bytes carried");
            }
            got.extend_from_slice(&data);
            if !more {
                return (got, result);
            }
        }
        between(got.len());
    }
}

#[test]
fn multishot_recv_delivers_every_byte_in_order_then_end_of_stream() {
    let r = uring();
    let (a, b) = fd_pair();
    let id = match r.submit(Op::recv_multishot(b.clone()), Token(4)) {
        Ok(id) => id,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            eprintln!("skipping: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    // Many small writes, then bursts larger than one provided buffer (16 KiB), then EOF.
    let mut sent = Vec::new();
    let mut writer = Some(File::from(a.try_clone().unwrap()));
    drop(a);
    let mut step = 0u32;
    let (got, result) = collect_multishot(&r, id, |_| {
        let Some(w) = writer.as_mut() else { return };
        let chunk: Vec<u8> = if step < 50 {
            (0..(step % 7 + 1)).map(|i| (step * 7 + i) as u8).collect()
        } else {
            (0..100_000u32).map(|i| (i * 13 + step) as u8).collect()
        };
        if step < 53 {
            w.write_all(&chunk).unwrap();
            sent.extend_from_slice(&chunk);
        } else {
            writer = None; // closes the last descriptor of the peer: end of stream
        }
        step += 1;
    });
    assert_eq!(
        result.unwrap(),
        0,
        "the last completion is the end of stream"
    );
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes differ or are out of order");
}

#[test]
fn multishot_recv_ends_on_cancel() {
    let r = uring();
    let (a, b) = fd_pair();
    let id = match r.submit(Op::recv_multishot(b.clone()), Token(5)) {
        Ok(id) => id,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            eprintln!("skipping: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    File::from(a.try_clone().unwrap())
        .write_all(b"before")
        .unwrap();
    let mut cancelled = false;
    let (got, result) = collect_multishot(&r, id, |n| {
        if n == 6 && !cancelled {
            r.cancel(id).unwrap();
            cancelled = true;
        }
    });
    assert_eq!(got, b"before");
    assert_eq!(
        result.unwrap_err().raw_os_error(),
        Some(libc::ECANCELED),
        "ended by the cancel"
    );
    drop(a);
}

#[test]
fn multishot_recv_is_refused_on_epoll() {
    let r = reactor(BackendChoice::Epoll);
    let (_a, b) = fd_pair();
    let err = r.submit(Op::recv_multishot(b), Token(6)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
}

/// More data arriving at once than the buffer ring holds (256 buffers of 16 KiB): the
/// receives that find no buffer end with `ENOBUFS`, none loses a byte, and submitting again
/// picks up where each stopped.
#[test]
fn multishot_recvs_out_of_buffers_end_with_enobufs_and_lose_nothing() {
    const SOCKETS: usize = 80;
    const EACH: usize = 64 * 1024; // 80 x 4 buffers = 320 > 256
    let r = uring();
    let pairs: Vec<_> = (0..SOCKETS).map(|_| fd_pair()).collect();
    let mut ids = std::collections::HashMap::new();
    for (i, (_, b)) in pairs.iter().enumerate() {
        match r.submit(Op::recv_multishot(b.clone()), Token(100 + i)) {
            Ok(id) => {
                ids.insert(id, i);
            }
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                eprintln!("skipping: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Everything is written before the reactor reaps anything.
    for (i, (a, _)) in pairs.iter().enumerate() {
        let data: Vec<u8> = (0..EACH).map(|k| (k * 7 + i) as u8).collect();
        File::from(a.try_clone().unwrap()).write_all(&data).unwrap();
    }
    let mut got = vec![Vec::new(); SOCKETS];
    let mut enobufs = 0;
    let end = Instant::now() + Duration::from_secs(10);
    let mut ev = Events::with_capacity(256);
    while got.iter().any(|g| g.len() < EACH) {
        assert!(Instant::now() < end, "not every byte arrived");
        r.poll(&mut ev, Some(end)).unwrap();
        for e in ev.drain() {
            let Event::Completed { id, result, op, .. } = e else {
                panic!("unexpected {e:?}");
            };
            let i = ids[&id];
            let more = op.more();
            got[i].extend_from_slice(&op.into_buf().unwrap());
            if !more {
                ids.remove(&id);
                match result {
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => enobufs += 1,
                    other => panic!("socket {i}: ended with {other:?}"),
                }
                let again = r
                    .submit(Op::recv_multishot(pairs[i].1.clone()), Token(100 + i))
                    .unwrap();
                ids.insert(again, i);
            }
        }
    }
    for (i, g) in got.iter().enumerate() {
        let want: Vec<u8> = (0..EACH).map(|k| (k * 7 + i) as u8).collect();
        assert!(*g == want, "socket {i}: bytes differ");
    }
    eprintln!("{enobufs} receives ended with ENOBUFS");
    for id in ids.keys() {
        r.cancel(*id).unwrap();
    }
}
