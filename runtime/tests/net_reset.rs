//! A peer that resets mid-stream (`SO_LINGER` 0, then close): the error surfaces on reads and
//! writes with the OS's kind, and no descriptor leaks. One test function in its own binary,
//! because it counts the process's open descriptors (a parallel test would disturb it).

mod net_support;

use net_support::{matrix, open_fds};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::streams::{from_tcp, start_server};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONNECTIONS: usize = 20;

/// The server side sees `ConnectionReset` when the client resets; the client sees it when the
/// server resets. Returns the kinds observed by the server's stream handlers.
async fn resets_in_both_directions() -> Vec<io::ErrorKind> {
    let kinds: Arc<Mutex<Vec<io::ErrorKind>>> = Arc::default();
    let k = kinds.clone();
    let server = start_server(
        move |mut reader, writer| {
            let k = k.clone();
            async move {
                // Read until the reset: the bytes sent before it may arrive first.
                let err = loop {
                    match reader.read(4096).await {
                        Ok(data) if data.is_empty() => break None,
                        Ok(data) => writer.write(&data),
                        Err(e) => break Some(e),
                    }
                };
                k.lock()
                    .unwrap()
                    .push(err.map_or(io::ErrorKind::UnexpectedEof, |e| e.kind()));
            }
        },
        "127.0.0.1",
        0,
    )
    .await
    .unwrap();
    let port = server.sockets()[0].port();
    for _ in 0..CONNECTIONS {
        let client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        client.write_all(&[7u8; 1000]).await.unwrap();
        // Wait for the echo, so the server is mid-stream, then reset.
        let mut buf = [0u8; 1000];
        let mut got = 0;
        while got < 1000 {
            got += client.read(&mut buf[got..]).await.unwrap();
        }
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
    }
    // Every handler reports.
    for _ in 0..500 {
        if kinds.lock().unwrap().len() == CONNECTIONS {
            break;
        }
        ringloop::sleep(Duration::from_millis(10)).await;
    }
    server.close();
    server.wait_closed().await;

    // The other direction: the server resets while the client is reading.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server_side, _) = listener.accept().await.unwrap();
    let (mut reader, writer) = from_tcp(client);
    let pending = ringloop::create_task(async move {
        let r = reader.read(10).await;
        (r.map(|v| v.len()), reader)
    });
    ringloop::sleep(Duration::from_millis(5)).await;
    server_side.set_linger(Some(Duration::ZERO)).unwrap();
    drop(server_side);
    let (r, _reader) = pending.await.unwrap();
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    // Writing to the reset connection fails too, reported by drain.
    let mut error = None;
    for _ in 0..100 {
        writer.write(&[0u8; 1024]);
        if let Err(e) = writer.drain().await {
            error = Some(e);
            break;
        }
        ringloop::sleep(Duration::from_millis(1)).await;
    }
    let kind = error.expect("writes after a reset never failed").kind();
    assert!(
        matches!(
            kind,
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{kind:?}"
    );
    let kinds = kinds.lock().unwrap().clone();
    kinds
}

#[test]
fn peer_resets_surface_as_errors_and_leak_no_descriptor() {
    // Warm up what allocates descriptors once per process (none expected, but be fair).
    drop(matrix());
    let before = open_fds();
    for (config, rt) in matrix() {
        let kinds = rt.block_on(async {
            ringloop::wait_for(resets_in_both_directions(), Duration::from_secs(30))
                .await
                .unwrap_or_else(|_| panic!("{config:?}: timed out"))
        });
        assert_eq!(kinds.len(), CONNECTIONS, "{config:?}: {kinds:?}");
        assert!(
            kinds.iter().all(|k| *k == io::ErrorKind::ConnectionReset),
            "{config:?}: {kinds:?}"
        );
        drop(rt);
    }
    let after = open_fds();
    assert_eq!(
        before, after,
        "descriptors leaked: {before} before, {after} after"
    );
}
