//! Dropping a listener whose multishot accept (io_uring) already accepted connections that
//! `accept` never returned closes them: no descriptor leaks. Alone in its test binary, so no
//! other test opens or closes descriptors while this one counts them in `/proc/self/fd`.

mod net_support;

use net_support::{each, open_fds};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::BackendChoice;
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;

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
