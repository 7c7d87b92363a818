//! Dropping a listener whose multishot accept (io_uring) already accepted connections that
//! `accept` never returned closes them, and a dropped connect closes its socket: no
//! descriptor leaks. In their own test binary, one at a time (`SERIAL`), so no other test
//! opens or closes descriptors while one counts them in `/proc/self/fd`.

mod net_support;

use net_support::{each, open_fds};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::BackendChoice;
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;

/// Held by each test: descriptor counts are per process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits (bounded) until `ok(open_fds())`; returns the last count.
async fn settle(ok: impl Fn(usize) -> bool) -> usize {
    let start = Instant::now();
    loop {
        let n = open_fds();
        if ok(n) || start.elapsed() > Duration::from_secs(5) {
            return n;
        }
        ringloop::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_dropped_listener_closes_connections_it_accepted_but_never_returned() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    each(Duration::from_secs(30), |config| async move {
        let before = open_fds();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        // One accept arms the multishot accept, which takes the rest of the backlog too.
        let (first, _) = listener.accept().await.unwrap();
        if config.backend == BackendChoice::IoUring {
            // listener + clients + every server side (one returned, the rest queued).
            let want = before + 1 + 2 * CLIENTS;
            let n = settle(|n| n >= want).await;
            assert!(
                n >= want,
                "{config:?}: {n} open, want >= {want}: not all accepted"
            );
        }
        drop(first);
        drop(listener);
        drop(clients);
        let n = settle(|n| n <= before).await;
        assert!(
            n <= before,
            "{config:?}: {n} descriptors open, {before} before: leaked"
        );
    });
}

/// A connect still waiting for the handshake (the listener's backlog is full, so its SYNs
/// are dropped) is cancelled when its future is dropped, and its socket is closed.
#[test]
fn a_dropped_connect_closes_its_socket() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    each(Duration::from_secs(30), |config| async move {
        let before = open_fds();
        let socket = ringloop::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        // Fill the backlog (never accepted: no multishot accept is armed either).
        let mut queued = Vec::new();
        for _ in 0..2 {
            queued.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut pending = 0;
        for _ in 0..3 {
            if ringloop::wait_for(TcpStream::connect(addr), Duration::from_millis(100))
                .await
                .is_err()
            {
                pending += 1;
            }
        }
        assert!(pending > 0, "{config:?}: no connect ever waited");
        drop(queued);
        drop(listener);
        let n = settle(|n| n <= before).await;
        assert!(
            n <= before,
            "{config:?}: {n} descriptors open, {before} before: leaked"
        );
    });
}

/// The listener's accept queue limit on io_uring (`ACCEPT_QUEUE_LIMIT` in
/// `net/uring_accept.rs`).
const QUEUE_LIMIT: usize = 128;

/// On io_uring the multishot accept stops at the queue limit when nobody accepts: the
/// connections beyond it stay in the kernel's backlog, not open in the listener. Then
/// accepting returns every connection, queued or backlogged. (On epoll nothing is accepted
/// before `accept` is called; the test runs there too.)
#[test]
fn a_listener_nobody_accepts_from_holds_at_most_the_queue_limit() {
    const EXTRA: usize = 100;
    // Connections arriving one by one: the cancel lands within a few completions.
    const SLACK: usize = 16;
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    each(Duration::from_secs(60), |config| async move {
        let socket = ringloop::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        // A backlog with room for every connection the queue leaves in it.
        let listener = socket.listen(1024).unwrap();
        let addr = listener.local_addr().unwrap();
        // One accept arms the multishot accept (on io_uring).
        let first = TcpStream::connect(addr).await.unwrap();
        let (first_server, _) = listener.accept().await.unwrap();
        let base = open_fds();
        let mut clients = Vec::new();
        for _ in 0..QUEUE_LIMIT + EXTRA {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        let with_clients = base + clients.len();
        if config.backend == BackendChoice::IoUring {
            // Wait for the queue to fill, then a little longer: it must not grow on.
            let n = settle(|n| n >= with_clients + QUEUE_LIMIT).await;
            assert!(
                n >= with_clients + QUEUE_LIMIT,
                "{config:?}: only {} accepted ahead: the multishot accept stalled",
                n - with_clients
            );
            ringloop::sleep(Duration::from_millis(200)).await;
        }
        let held = open_fds().saturating_sub(with_clients);
        eprintln!("{config:?}: {held} accepted and not returned");
        let bound = if config.backend == BackendChoice::IoUring {
            QUEUE_LIMIT + SLACK
        } else {
            0
        };
        assert!(
            held <= bound,
            "{config:?}: the listener holds {held} accepted sockets, limit {QUEUE_LIMIT}"
        );
        // Every connection arrives, queued or left in the backlog.
        let want: std::collections::BTreeSet<_> =
            clients.iter().map(|c| c.local_addr().unwrap()).collect();
        let mut got = std::collections::BTreeSet::new();
        let mut servers = Vec::new();
        for _ in 0..clients.len() {
            let (s, peer) = listener.accept().await.unwrap();
            assert!(got.insert(peer), "{config:?}: {peer} accepted twice");
            servers.push(s);
        }
        assert_eq!(got, want, "{config:?}: not every connection arrived");
        drop((first, first_server, servers, clients, listener));
    });
}
