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

/// Polls `fut` once; true if it is pending.
async fn pending_after_one_poll<F: std::future::Future>(fut: std::pin::Pin<&mut F>) -> bool {
    let mut fut = fut;
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

/// Two tasks wait in `accept`; one connection comes; the waiter it woke is dropped without
/// taking it: the other waiter must get it (the wake-up is passed on, not lost).
#[test]
fn a_woken_accept_that_is_dropped_passes_the_connection_on() {
    each(Duration::from_secs(30), |config| async move {
        let listener = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        for round in 0..5 {
            // The first waiter: polled here, once, so it waits first.
            // (Boxed, so that `drop` below drops the future itself.)
            let mut first = Box::pin(listener.accept());
            assert!(pending_after_one_poll(first.as_mut()).await, "{config:?}");
            // The second waiter: a task, woken only through its waker.
            let l = listener.clone();
            let second = ringloop::create_task(async move { l.accept().await.map(|(s, _)| s) });
            ringloop::sleep(Duration::from_millis(20)).await;
            let client = TcpStream::connect(addr).await.unwrap();
            // Time for the completion to land and wake (on io_uring) the first waiter only.
            ringloop::sleep(Duration::from_millis(50)).await;
            drop(first);
            let got = ringloop::wait_for(second, Duration::from_secs(3)).await;
            let server = got
                .unwrap_or_else(|_| {
                    panic!("{config:?}: round {round}: the connection was not passed on")
                })
                .unwrap()
                .unwrap();
            assert_eq!(
                server.peer_addr().unwrap(),
                client.local_addr().unwrap(),
                "{config:?}"
            );
        }
    });
}

/// A future that counts its polls.
struct CountPolls<F> {
    inner: std::pin::Pin<Box<F>>,
    polls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<F: std::future::Future> std::future::Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

/// On io_uring, a connection wakes one of the tasks waiting in `accept`, not all of them.
#[test]
fn on_io_uring_a_connection_wakes_one_waiting_accept() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const WAITERS: usize = 10;
    net_support::each_where(
        Duration::from_secs(30),
        |c| c.backend == ringloop::BackendChoice::IoUring,
        |config| async move {
            let listener = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let addr = listener.local_addr().unwrap();
            let polls = std::sync::Arc::new(AtomicUsize::new(0));
            let done = std::sync::Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..WAITERS {
                let (l, polls, done) = (listener.clone(), polls.clone(), done.clone());
                tasks.push(ringloop::create_task(async move {
                    let accept = CountPolls {
                        inner: Box::pin(async move { l.accept().await }),
                        polls,
                    };
                    let r = accept.await.map(|(s, _)| s);
                    done.fetch_add(1, Ordering::SeqCst);
                    r
                }));
            }
            // Every waiter has polled once and waits.
            while polls.load(Ordering::SeqCst) < WAITERS {
                ringloop::sleep(Duration::from_millis(5)).await;
            }
            ringloop::sleep(Duration::from_millis(20)).await;
            let before = polls.load(Ordering::SeqCst);
            let _client = TcpStream::connect(addr).await.unwrap();
            while done.load(Ordering::SeqCst) < 1 {
                ringloop::sleep(Duration::from_millis(5)).await;
            }
            ringloop::sleep(Duration::from_millis(50)).await;
            let woken = polls.load(Ordering::SeqCst) - before;
            assert!(
                woken <= 2,
                "{config:?}: one connection polled {woken} of {WAITERS} waiting accepts"
            );
            assert_eq!(done.load(Ordering::SeqCst), 1, "{config:?}");
            for t in tasks {
                t.cancel();
            }
        },
    );
}
