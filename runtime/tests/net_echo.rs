//! Echo byte-exactness: 256 concurrent connections, random message sizes from 1 byte to
//! 256 KiB, on every backend and flavour, through the asyncio streams and through a
//! `Protocol`.

mod net_support;

use net_support::{each, Echo, Rng};
use ringloop::net::create_server;
use ringloop::streams::{open_connection, start_server};
use std::time::Duration;

const CONNECTIONS: usize = 256;
const MAX_SIZE: usize = 256 * 1024;

/// The sizes: both ends of the range, then random ones.
fn sizes(seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed);
    let mut sizes = vec![1, MAX_SIZE];
    while sizes.len() < CONNECTIONS {
        sizes.push(1 + rng.below(MAX_SIZE as u64) as usize);
    }
    sizes
}

/// Connects `CONNECTIONS` clients at once; each sends its message, half-closes, and must read
/// back exactly what it sent. Returns the number of bytes echoed.
async fn run_clients(port: u16, seed: u64) -> usize {
    let mut tasks = Vec::new();
    for (i, size) in sizes(seed).into_iter().enumerate() {
        tasks.push(ringloop::create_task(async move {
            let message = Rng(seed ^ (i as u64 + 1)).bytes(size);
            let (mut reader, writer) = open_connection("127.0.0.1", port).await.unwrap();
            // The reader must run while the writer writes: a 256 KiB echo does not fit in the
            // socket buffers, so writing everything first would deadlock with the server.
            let expected = message.clone();
            let read = ringloop::create_task(async move {
                let got = reader.read_to_end().await.unwrap();
                assert!(
                    got == expected,
                    "connection {i}: {} of {} bytes, or different",
                    got.len(),
                    expected.len()
                );
                got.len()
            });
            for chunk in message.chunks(16 * 1024) {
                writer.write(chunk);
                writer.drain().await.unwrap();
            }
            writer.write_eof();
            read.await.unwrap()
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

#[test]
fn stream_echo_is_byte_exact_with_256_concurrent_connections() {
    let expected: usize = sizes(7).iter().sum();
    each(Duration::from_secs(120), |config| async move {
        let server = start_server(
            |mut reader, writer| async move {
                loop {
                    let data = reader.read(64 * 1024).await.unwrap();
                    if data.is_empty() {
                        break;
                    }
                    writer.write(&data);
                    writer.drain().await.unwrap();
                }
                writer.close();
                writer.wait_closed().await;
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let port = server.sockets()[0].port();
        let total = run_clients(port, 7).await;
        assert_eq!(total, expected, "{config:?}");
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn protocol_echo_is_byte_exact_with_256_concurrent_connections() {
    let expected: usize = sizes(11).iter().sum();
    each(Duration::from_secs(120), |config| async move {
        let server = create_server(Echo::new, "127.0.0.1", 0).await.unwrap();
        let port = server.sockets()[0].port();
        let total = run_clients(port, 11).await;
        assert_eq!(total, expected, "{config:?}");
        server.close();
    });
}
