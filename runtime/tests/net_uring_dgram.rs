//! Datagrams (UDP and Unix-domain) on both backends: on io_uring they are `sendmsg`/`recvmsg`
//! operations (`net/uring_dgram.rs`), on epoll readiness plus `sendto`/`recvfrom`; the same
//! API must give the same answers. One datagram per call, cut to the caller's buffer; a
//! receive dropped mid-operation loses no datagram; errors are the OS's.

mod net_support;

use net_support::{each, each_where, Rng};
use ringloop::net::{UdpSocket, UnixDatagram};
use ringloop::BackendChoice;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Sizes from 1 byte to 60 KiB (both ends of the range and the awkward middles).
const SIZES: &[usize] = &[
    1,
    2,
    3,
    100,
    1000,
    1472,
    1473,
    4095,
    4096,
    4097,
    9000,
    16 * 1024,
    32 * 1024 + 7,
    60 * 1024,
];

fn temp_path(name: &str) -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("ringloop-dgram-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Echoes `count` datagrams on a UDP socket, each back to its sender.
async fn udp_echo(socket: Arc<UdpSocket>, count: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..count {
        let (n, from) = socket.recv_from(&mut buf).await.unwrap();
        assert_eq!(socket.send_to(&buf[..n], from).await.unwrap(), n);
    }
}

/// UDP echo of every size in `SIZES`, byte-exact, from the right address. Run by the
/// matrix test and by the "only through the ring" test.
async fn udp_round_trips(label: String) {
    let server = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let echo = ringloop::create_task(udp_echo(server.clone(), SIZES.len()));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 64 * 1024];
    for &size in SIZES {
        let data = rng.bytes(size);
        assert_eq!(client.send_to(&data, server_addr).await.unwrap(), size);
        let (n, from) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!(from, server_addr, "{label}: size {size}");
        assert_eq!(n, size, "{label}: size {size}");
        assert!(buf[..n] == data[..], "{label}: size {size}: bytes differ");
    }
    echo.await.unwrap();
}

/// Unix-domain echo of every size in `SIZES`: through a connected pair (send/recv) and
/// through bound paths (send_to/recv_from, with the sender's path).
async fn unix_round_trips(label: String) {
    let (a, b) = UnixDatagram::pair().unwrap();
    let b = Arc::new(b);
    let echo = ringloop::create_task({
        let b = b.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            for _ in 0..SIZES.len() {
                let n = b.recv(&mut buf).await.unwrap();
                assert_eq!(b.send(&buf[..n]).await.unwrap(), n);
            }
        }
    });
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut buf = vec![0u8; 64 * 1024];
    for &size in SIZES {
        let data = rng.bytes(size);
        assert_eq!(a.send(&data).await.unwrap(), size);
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(n, size, "{label}: pair, size {size}");
        assert!(buf[..n] == data[..], "{label}: pair, size {size}");
    }
    echo.await.unwrap();

    let (pa, pb) = (temp_path("a"), temp_path("b"));
    let a = UnixDatagram::bind(&pa).unwrap();
    let b = UnixDatagram::bind(&pb).unwrap();
    for &size in SIZES {
        let data = rng.bytes(size);
        assert_eq!(a.send_to(&data, &pb).await.unwrap(), size);
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            from.as_pathname(),
            Some(pa.as_path()),
            "{label}: size {size}"
        );
        assert!(n == size && buf[..n] == data[..], "{label}: size {size}");
        assert_eq!(b.send_to(&buf[..n], &pa).await.unwrap(), size);
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            from.as_pathname(),
            Some(pb.as_path()),
            "{label}: size {size}"
        );
        assert!(
            n == size && buf[..n] == data[..],
            "{label}: back, size {size}"
        );
    }
    // An unbound sender: the receiver sees an unnamed address.
    let unbound = UnixDatagram::unbound().unwrap();
    unbound.send_to(b"anon", &pb).await.unwrap();
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"anon", "{label}");
    assert!(from.is_unnamed(), "{label}: {from:?}");
    std::fs::remove_file(&pa).unwrap();
    std::fs::remove_file(&pb).unwrap();
}

#[test]
fn udp_echo_is_byte_exact_from_1_byte_to_60_kib() {
    each(LIMIT, |config| udp_round_trips(format!("{config:?}")));
}

#[test]
fn unix_datagram_echo_is_byte_exact_from_1_byte_to_60_kib() {
    each(LIMIT, |config| unix_round_trips(format!("{config:?}")));
}

#[test]
fn a_datagram_longer_than_the_buffer_is_cut_to_it_and_the_rest_dropped() {
    each(LIMIT, |config| async move {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let long: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        a.send_to(&long, b_addr).await.unwrap();
        a.send_to(b"next", b_addr).await.unwrap();
        let mut small = [0u8; 10];
        let (n, from) = b.recv_from(&mut small).await.unwrap();
        assert_eq!((n, from), (10, a.local_addr().unwrap()), "{config:?}");
        assert_eq!(small[..], long[..10], "{config:?}");
        // The tail was dropped with its datagram: the next receive is the next datagram.
        let mut buf = [0u8; 64];
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"next", "{config:?}: udp");
        // A zero-length buffer consumes one datagram too, as recvfrom(2) does.
        a.send_to(b"gone", b_addr).await.unwrap();
        a.send_to(b"kept", b_addr).await.unwrap();
        assert_eq!(b.recv_from(&mut []).await.unwrap().0, 0, "{config:?}");
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            &buf[..n],
            b"kept",
            "{config:?}: after a zero-length receive"
        );

        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(&long).await.unwrap();
        x.send(b"next").await.unwrap();
        assert_eq!(y.recv(&mut small).await.unwrap(), 10, "{config:?}");
        assert_eq!(small[..], long[..10], "{config:?}");
        let n = y.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"next", "{config:?}: unix");
    });
}

/// Polls `fut` once; true if it is pending.
async fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> bool {
    let mut fut = fut;
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

#[test]
fn a_receive_dropped_while_pending_loses_no_datagram() {
    each(LIMIT, |config| async move {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let (ux, uy) = UnixDatagram::pair().unwrap();
        for round in 0..40u8 {
            let mut buf = [0u8; 64];
            {
                // The receive is in flight once polled; then it is dropped.
                let mut udp = pin!(b.recv_from(&mut buf));
                assert!(
                    poll_once(udp.as_mut()).await,
                    "{config:?}: nothing sent yet"
                );
                let mut buf2 = [0u8; 64];
                let mut unix = pin!(uy.recv(&mut buf2));
                assert!(
                    poll_once(unix.as_mut()).await,
                    "{config:?}: nothing sent yet"
                );
                // Most rounds: the first datagram arrives before the drop, so on io_uring
                // the cancelled receive has most likely taken it already.
                if round % 4 != 3 {
                    a.send_to(&[round, 1], b_addr).await.unwrap();
                    ux.send(&[round, 1]).await.unwrap();
                    if round % 2 == 0 {
                        ringloop::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
            if round % 4 == 3 {
                a.send_to(&[round, 1], b_addr).await.unwrap();
                ux.send(&[round, 1]).await.unwrap();
            }
            a.send_to(&[round, 2], b_addr).await.unwrap();
            ux.send(&[round, 2]).await.unwrap();
            for seq in 1..=2u8 {
                let (n, _) = b.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &[round, seq], "{config:?}: udp round {round}");
                let n = uy.recv(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &[round, seq], "{config:?}: unix round {round}");
            }
        }
    });
}

#[test]
fn peek_from_shows_the_datagram_a_dropped_receive_kept() {
    each(LIMIT, |config| async move {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let a_addr = a.local_addr().unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let mut buf = [0u8; 64];
        for round in 0..20u8 {
            {
                let mut recv = pin!(b.recv_from(&mut buf));
                assert!(
                    poll_once(recv.as_mut()).await,
                    "{config:?}: nothing sent yet"
                );
                a.send_to(&[round, 1], b_addr).await.unwrap();
                // Long enough for an io_uring receive to take it before the drop.
                ringloop::sleep(Duration::from_millis(2)).await;
            }
            a.send_to(&[round, 2], b_addr).await.unwrap();
            for seq in 1..=2u8 {
                // Twice: a peek takes nothing, a kept datagram included.
                for _ in 0..2 {
                    let mut peeked = [0u8; 64];
                    let (n, from) = b.peek_from(&mut peeked).await.unwrap();
                    assert_eq!(
                        (&peeked[..n], from),
                        (&[round, seq][..], a_addr),
                        "{config:?}: peek, round {round}"
                    );
                }
                let (n, _) = b.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &[round, seq], "{config:?}: recv, round {round}");
            }
        }
    });
}

/// A sender, and a receiver shared (for a second task) with its address.
async fn sender_and_receiver() -> (UdpSocket, Arc<UdpSocket>, std::net::SocketAddr) {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let b_addr = b.local_addr().unwrap();
    (a, b, b_addr)
}

/// The next two receives on `b` return "first", then "second".
async fn receive_first_then_second(b: &UdpSocket, config: net_support::Config) {
    let mut buf = [0u8; 64];
    for want in [&b"first"[..], b"second"] {
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], want, "{config:?}: the receives");
    }
}

/// A peek already waiting on the socket when a receive is dropped with a datagram shows that
/// datagram (it is the next one) at once, without waiting for the socket.
#[test]
fn a_waiting_peek_shows_the_datagram_a_receive_dropped_meanwhile_kept() {
    each(LIMIT, |config| async move {
        let (a, b, b_addr) = sender_and_receiver().await;
        let mut buf = [0u8; 64];
        let mut recv = Box::pin(b.recv_from(&mut buf));
        assert!(
            poll_once(recv.as_mut()).await,
            "{config:?}: nothing sent yet"
        );
        a.send_to(b"first", b_addr).await.unwrap();
        // On io_uring the receive takes it now; nobody polls it again.
        ringloop::sleep(Duration::from_millis(2)).await;
        let peeker = b.clone();
        let peek = ringloop::create_task(async move {
            let mut peeked = [0u8; 64];
            let (n, _) = peeker.peek_from(&mut peeked).await.unwrap();
            peeked[..n].to_vec()
        });
        // Let the peek find the socket empty and wait on it.
        ringloop::sleep(Duration::from_millis(5)).await;
        drop(recv);
        // Nothing else arrives: only the kept datagram can end the peek's wait.
        let peeked = ringloop::wait_for(peek, Duration::from_secs(5)).await;
        let peeked = peeked.map(Result::unwrap);
        assert_eq!(
            peeked.as_deref().ok(),
            Some(&b"first"[..]),
            "{config:?}: the peek"
        );
        a.send_to(b"second", b_addr).await.unwrap();
        receive_first_then_second(&b, config).await;
    });
}

/// A receive `poll_recv_from` parked got a datagram its poller has not taken: a peek shows
/// that datagram, and the next receive returns it.
#[test]
fn a_peek_shows_the_datagram_a_parked_receive_got() {
    each(LIMIT, |config| async move {
        let (a, b, b_addr) = sender_and_receiver().await;
        let mut buf = [0u8; 64];
        let parked =
            std::future::poll_fn(|cx| Poll::Ready(b.poll_recv_from(cx, &mut buf).is_pending()))
                .await;
        assert!(parked, "{config:?}: nothing sent yet");
        a.send_to(b"first", b_addr).await.unwrap();
        ringloop::sleep(Duration::from_millis(2)).await;
        // Should the peek miss it, the next datagram ends its wait, and the assert says so.
        let late = ringloop::create_task(async move {
            ringloop::sleep(Duration::from_millis(50)).await;
            a.send_to(b"second", b_addr).await.unwrap();
        });
        let mut peeked = [0u8; 64];
        let (n, _) = b.peek_from(&mut peeked).await.unwrap();
        assert_eq!(&peeked[..n], b"first", "{config:?}: the peek");
        late.await.unwrap();
        receive_first_then_second(&b, config).await;
    });
}

#[test]
fn receives_cancelled_by_timeouts_keep_every_datagram_in_order() {
    const COUNT: u32 = 300;
    each(LIMIT, |config| async move {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // Room for every datagram in flight at once (loopback UDP drops on a full queue).
        b.set_recv_buffer_size(1 << 20).unwrap();
        let b_addr = b.local_addr().unwrap();
        let sender = ringloop::create_task(async move {
            for i in 0..COUNT {
                a.send_to(&i.to_be_bytes(), b_addr).await.unwrap();
                if i % 16 == 0 {
                    ringloop::sleep(Duration::from_micros(300)).await;
                }
            }
        });
        let mut next = 0u32;
        let mut buf = [0u8; 4];
        while next < COUNT {
            // Short timeouts: many receives are cancelled, some of them with a datagram.
            if let Ok(r) =
                ringloop::wait_for(b.recv_from(&mut buf), Duration::from_micros(200)).await
            {
                let (n, _) = r.unwrap();
                assert_eq!(n, 4, "{config:?}");
                assert_eq!(
                    u32::from_be_bytes(buf),
                    next,
                    "{config:?}: out of order or lost"
                );
                next += 1;
            }
        }
        sender.await.unwrap();
    });
}

#[test]
fn a_send_to_a_closed_unix_datagram_peer_is_the_os_error() {
    each(LIMIT, |config| async move {
        // A connected pair whose other end is closed.
        let (a, b) = UnixDatagram::pair().unwrap();
        drop(b);
        let err = a.send(b"anyone?").await.unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::ECONNREFUSED),
            "{config:?}: {err}"
        );
        // A path whose socket was closed (the file stays).
        let path = temp_path("closed");
        drop(UnixDatagram::bind(&path).unwrap());
        let c = UnixDatagram::unbound().unwrap();
        let err = c.send_to(b"anyone?", &path).await.unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{config:?}: {err}"
        );
        // A path with no socket at all.
        std::fs::remove_file(&path).unwrap();
        let err = c.send_to(b"anyone?", &path).await.unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::NotFound,
            "{config:?}: {err}"
        );
    });
}

/// Makes `sendto`, `recvfrom`, `sendmsg`, `recvmsg`, `sendmmsg` and `recvmmsg` fail with
/// `EPERM` on this thread and on threads it creates afterwards (a seccomp filter, which
/// cannot be removed: call it on a thread made for the purpose). io_uring operations are not
/// syscalls, so the filter does not see them.
fn forbid_datagram_syscalls() -> std::io::Result<()> {
    let forbidden = [
        libc::SYS_sendto,
        libc::SYS_recvfrom,
        libc::SYS_sendmsg,
        libc::SYS_recvmsg,
        libc::SYS_sendmmsg,
        libc::SYS_recvmmsg,
    ];
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf: 0,
        k,
    };
    // Load the syscall number (offset 0 of seccomp_data); each match jumps to the EPERM
    // return at the end; otherwise allow. (No architecture check: this process makes native
    // syscalls only.)
    let mut prog = vec![stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0)];
    let n = forbidden.len();
    for (i, nr) in forbidden.iter().enumerate() {
        prog.push(jeq(*nr as u32, (n - i) as u8));
    }
    prog.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    prog.push(stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
    ));
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only; the filter
    // program is valid for the call (the kernel copies it).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// On io_uring the datagrams go through the ring: with `sendto`/`recvfrom`/`sendmsg`/
/// `recvmsg` forbidden to every thread of the runtime (seccomp), UDP and Unix-domain echo
/// still work. (On epoll they would fail with `EPERM`, as the direct call checked here does.)
#[test]
fn on_io_uring_datagrams_make_no_send_or_receive_syscalls() {
    std::thread::spawn(|| {
        if let Err(e) = forbid_datagram_syscalls() {
            eprintln!("skipping: cannot install a seccomp filter: {e}");
            return;
        }
        // The filter works: a direct send is refused.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = probe
            .send_to(b"x", probe.local_addr().unwrap())
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        each_where(
            LIMIT,
            |c| c.backend == BackendChoice::IoUring,
            |config| async move {
                udp_round_trips(format!("{config:?}")).await;
                unix_round_trips(format!("{config:?}")).await;
            },
        );
    })
    .join()
    .unwrap();
}
