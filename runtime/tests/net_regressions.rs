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

/// Bug: the `readable()` + `try_read` loop (tokio's pattern) never got its data on io_uring
/// (`try_read` only looked at bytes a receive had already taken, and no receive was ever
/// armed, while `readable()` kept reporting the socket readable: a busy loop), and spun on
/// epoll too once the socket was drained (`try_read`'s `WouldBlock` did not clear the
/// readiness `readable()` reported, so it returned at once, again and again).
///
/// Here: ten messages read that way on every configuration (and on io_uring rings without
/// provided buffers); the number of wake-ups that found nothing is bounded, so a spinning
/// loop fails.
#[test]
fn readable_then_try_read_gets_every_message_without_spinning() {
    let body = |config| async move {
        let (a, b) = net_support::tcp_pair().await;
        let writer = ringloop::create_task(async move {
            for i in 0..10u8 {
                a.write_all(&[i; 100]).await.unwrap();
                ringloop::sleep(Duration::from_millis(5)).await;
            }
            a
        });
        let mut got = Vec::new();
        let mut empty_wakeups = 0;
        let mut buf = [0u8; 64];
        while got.len() < 1000 {
            b.readable().await;
            match b.try_read(&mut buf) {
                Ok(0) => panic!("{config:?}: early end of stream"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    empty_wakeups += 1;
                    assert!(
                        empty_wakeups < 1000,
                        "{config:?}: readable() keeps waking with nothing to read"
                    );
                }
                Err(e) => panic!("{config:?}: {e}"),
            }
        }
        let want: Vec<u8> = (0..10u8).flat_map(|i| [i; 100]).collect();
        assert_eq!(got, want, "{config:?}");
        drop(writer.await.unwrap());
    };
    each(Duration::from_secs(30), body);
    // io_uring without provided buffers: socket readiness and a direct `recv(2)`.
    net_support::each_single_shot(Duration::from_secs(30), body);
}
