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
