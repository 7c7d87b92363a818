//! io_uring's completion path for accepting (`net/uring_accept.rs`): one multishot accept
//! serves many connections, in order and without loss. Run on both backends and flavours
//! (epoll accepts through readiness and must behave the same).

mod net_support;

use net_support::each;
use ringloop::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use std::collections::BTreeSet;
use std::time::Duration;

const CONNECTIONS: u32 = 200;

#[test]
fn a_listener_accepts_200_connections() {
    each(Duration::from_secs(30), |config| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = ringloop::create_task(async move {
            let mut streams = Vec::new();
            for i in 0..CONNECTIONS {
                let s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&i.to_le_bytes()).await.unwrap();
                streams.push(s);
            }
            streams
        });
        let mut seen = BTreeSet::new();
        for _ in 0..CONNECTIONS {
            let (s, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, s.peer_addr().unwrap(), "{config:?}");
            let mut id = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                let n = s.read(&mut id[got..]).await.unwrap();
                assert!(n > 0, "{config:?}: early end of stream");
                got += n;
            }
            assert!(seen.insert(u32::from_le_bytes(id)), "{config:?}: id twice");
        }
        assert_eq!(seen.len(), CONNECTIONS as usize, "{config:?}");
        assert_eq!(clients.await.unwrap().len(), CONNECTIONS as usize);
    });
}

#[test]
fn a_unix_listener_accepts_200_connections() {
    each(Duration::from_secs(30), |config| async move {
        let dir = std::env::temp_dir().join(format!(
            "ringloop-accept-{}-{:?}-{:?}",
            std::process::id(),
            config.backend,
            config.flavor
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let p = path.clone();
        let clients = ringloop::create_task(async move {
            let mut streams = Vec::new();
            for i in 0..CONNECTIONS {
                let s = UnixStream::connect(&p).await.unwrap();
                s.write_all(&i.to_le_bytes()).await.unwrap();
                streams.push(s);
            }
            streams
        });
        let mut seen = BTreeSet::new();
        for _ in 0..CONNECTIONS {
            let (s, _) = listener.accept().await.unwrap();
            let mut id = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                let n = s.read(&mut id[got..]).await.unwrap();
                assert!(n > 0, "{config:?}: early end of stream");
                got += n;
            }
            assert!(seen.insert(u32::from_le_bytes(id)), "{config:?}: id twice");
        }
        assert_eq!(seen.len(), CONNECTIONS as usize, "{config:?}");
        drop(clients.await.unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// Accept loops on one listener in several tasks: every connection goes to exactly one.
#[test]
fn concurrent_accepts_share_the_connections() {
    each(Duration::from_secs(30), |config| async move {
        let listener = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let mut acceptors = Vec::new();
        for _ in 0..4 {
            let l = listener.clone();
            acceptors.push(ringloop::create_task(async move {
                let mut n = 0u32;
                while let Ok(Ok((s, _))) =
                    ringloop::wait_for(l.accept(), Duration::from_millis(500)).await
                {
                    drop(s);
                    n += 1;
                }
                n
            }));
        }
        let mut streams = Vec::new();
        for _ in 0..50 {
            streams.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut total = 0;
        for a in acceptors {
            total += a.await.unwrap();
        }
        assert_eq!(total, 50, "{config:?}");
    });
}
