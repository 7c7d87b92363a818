//! Regression tests for networking bugs, each named after the bug it pins.

mod net_support;

use net_support::each;
use ringloop::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Bug: io_uring, multi-thread flavour, hung under load (`net_echo`'s
/// `io_uring_multi_thread_stream_echo_under_load`, about 1 run in 60).
///
/// `TcpSocket::connect` registered the new socket *before* calling `connect(2)`. While another
/// worker waited in the ring, the registration's `POLL_ADD` was submitted at once and the kernel
/// polled a socket that was not connected yet, which a TCP socket reports as `POLLHUP |
/// POLLOUT`. io_uring delivers that mask as it was (epoll would have polled the socket again
/// when harvesting it, by then connecting, and said nothing), so the stream started life marked
/// "read closed" and "write closed". The closed bits are sticky, so every read found the socket
/// "ready", got `WouldBlock`, and tried again: a worker spun forever.
///
/// Here: many sequential connections, each checked for readiness nobody caused (no data, no
/// end of stream), while the other worker idles in the reactor.
#[test]
fn stale_hangup_from_registering_a_socket_before_connect() {
    each(Duration::from_secs(60), |config| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for i in 0..200 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let stale = ringloop::wait_for(client.readable(), Duration::from_millis(1)).await;
            assert!(
                stale.is_err(),
                "{config:?}: connection {i} is readable with nothing sent"
            );
            server.write_all(b"x").await.unwrap();
            let mut buf = [0u8; 4];
            let n = ringloop::wait_for(client.read(&mut buf), Duration::from_secs(5))
                .await
                .unwrap_or_else(|_| panic!("{config:?}: connection {i}: read timed out"))
                .unwrap();
            assert_eq!(&buf[..n], b"x", "{config:?}: connection {i}");
        }
    });
}
