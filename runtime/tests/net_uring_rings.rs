//! The multi-thread runtime on io_uring has one ring per worker (`runtime/src/driver.rs`):
//! a task submits to the ring of the worker it runs on, and every cancel or deregistration
//! must go back to the ring the operation was submitted to, whichever thread drops it.

mod net_support;

use net_support::{each, open_fds, tcp_pair};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::{Backend, BackendChoice, Builder};
use ringloop_reactor::sys::{fault, Syscall};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// The tests of this file run one at a time: one of them counts this process's descriptors.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A multi-thread io_uring runtime with `workers` workers, or `None` (said on stderr) where
/// io_uring is refused.
fn uring_multi_thread(workers: usize) -> Option<ringloop::Runtime> {
    match Builder::new_multi_thread()
        .worker_threads(workers)
        .backend(BackendChoice::IoUring)
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("skipping: io_uring refused here: {e}");
            None
        }
    }
}

#[test]
fn a_multi_thread_io_uring_runtime_sets_up_one_ring_per_worker() {
    let _serial = serial();
    for workers in [1, 2, 3] {
        fault::reset();
        let Some(rt) = uring_multi_thread(workers) else {
            return;
        };
        assert_eq!(rt.backend(), Backend::IoUring);
        assert_eq!(
            fault::calls(Syscall::IoUringSetup),
            workers as u64,
            "{workers} workers"
        );
        drop(rt);
    }
    // One ring where one thread polls: the current-thread runtime.
    fault::reset();
    let rt = Builder::new_current_thread()
        .backend(BackendChoice::IoUring)
        .build()
        .unwrap();
    assert_eq!(fault::calls(Syscall::IoUringSetup), 1);
    drop(rt);
    // epoll keeps one reactor for all workers.
    fault::reset();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .backend(BackendChoice::Epoll)
        .build()
        .unwrap();
    assert_eq!(fault::calls(Syscall::IoUringSetup), 0);
    drop(rt);
}

/// A read future polled once on a worker (its receive is in flight in that worker's ring),
/// then dropped on a blocking-pool thread: the cancel must reach that ring, and the bytes the
/// receive may have taken must come back to the next read, in order.
#[test]
fn a_pending_read_dropped_on_another_thread_loses_no_bytes() {
    let _serial = serial();
    each(Duration::from_secs(30), |config| async move {
        // In a task: on the multi-thread flavour the body itself runs on the `block_on`
        // thread, which is not a worker.
        ringloop::create_task(async move {
            let (a, b) = tcp_pair().await;
            let b = Arc::new(b);
            for round in 0..40u8 {
                let reader = b.clone();
                let mut read: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(async move {
                    let mut buf = [0u8; 64];
                    reader.read(&mut buf).await.unwrap()
                });
                let pending =
                    std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx).is_pending()))
                        .await;
                assert!(pending, "{config:?}: nothing was sent yet");
                if round % 2 == 0 {
                    // The bytes most likely land in the receive before it is cancelled.
                    a.write_all(&[round; 10]).await.unwrap();
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
                ringloop::to_thread(move || drop(read)).await.unwrap();
                if round % 2 == 1 {
                    a.write_all(&[round; 10]).await.unwrap();
                }
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                while got.len() < 10 {
                    let n = b.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(got, [round; 10], "{config:?}: round {round}");
            }
            // Once more with nothing to receive: only the cancel can end this receive, and
            // until it ends it holds the socket open, so the peer would never see the close.
            let reader = b.clone();
            let mut read: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(async move {
                let mut buf = [0u8; 64];
                reader.read(&mut buf).await.unwrap_or(0)
            });
            let pending =
                std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx).is_pending())).await;
            assert!(pending, "{config:?}: nothing was sent");
            ringloop::to_thread(move || drop(read)).await.unwrap();
            drop(b);
            let mut buf = [0u8; 8];
            let eof = ringloop::wait_for(a.read(&mut buf), Duration::from_secs(5)).await;
            assert!(
                matches!(eof, Ok(Ok(0))),
                "{config:?}: the peer did not see the close: {eof:?}"
            );
        })
        .await
        .unwrap();
    });
}

/// Many connections opened, used and closed from tasks spread over both workers (each
/// registering and submitting on its own worker's ring), while the `block_on` thread does
/// I/O of its own (on worker 0's ring): every byte arrives and no descriptor is left open.
#[test]
fn connections_on_every_ring_echo_and_close() {
    const CONNS: usize = 32;
    const ROUNDS: usize = 50;
    let _serial = serial();
    let before = open_fds();
    each(Duration::from_secs(60), |config| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringloop::create_task(async move {
            let mut conns = Vec::new();
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.unwrap();
                conns.push(ringloop::create_task(async move {
                    let mut buf = [0u8; 256];
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        s.write_all(&buf[..n]).await.unwrap();
                    }
                }));
            }
            for c in conns {
                c.await.unwrap();
            }
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                ringloop::create_task(async move {
                    let c = TcpStream::connect(addr).await.unwrap();
                    for r in 0..ROUNDS {
                        let msg = [(i * 31 + r) as u8; 100];
                        c.write_all(&msg).await.unwrap();
                        let mut got = Vec::new();
                        let mut buf = [0u8; 256];
                        while got.len() < msg.len() {
                            let n = c.read(&mut buf).await.unwrap();
                            assert!(n > 0, "{config:?}: early end of stream");
                            got.extend_from_slice(&buf[..n]);
                        }
                        assert_eq!(got, msg, "{config:?}: connection {i} round {r}");
                        if r % 10 == 0 {
                            ringloop::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        // Meanwhile, I/O from this thread (the `block_on` thread on multi-thread).
        let (x, y) = tcp_pair().await;
        for r in 0..ROUNDS as u8 {
            x.write_all(&[r; 5]).await.unwrap();
            let mut buf = [0u8; 5];
            let mut n = 0;
            while n < 5 {
                n += y.read(&mut buf[n..]).await.unwrap();
            }
            assert_eq!(buf, [r; 5], "{config:?}");
        }
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
    // Every socket of every configuration is closed once its runtime is gone.
    let after = open_fds();
    assert!(
        after <= before,
        "descriptors leaked: {before} open before, {after} after"
    );
}

/// Each worker owns its ring (single issuer): only it may enter the kernel for it, so it
/// cancels and finishes its ring's operations itself on its way out. Dropping the runtime
/// (from the main thread) with reads in flight on every worker's ring must still close
/// their sockets: if a ring were left holding them, the peers would never see the end of
/// the stream, and the ring's descriptor would leak.
#[test]
fn dropping_the_runtime_with_reads_in_flight_closes_their_sockets() {
    let _serial = serial();
    let before = open_fds();
    let Some(rt) = uring_multi_thread(2) else {
        return;
    };
    let peers = rt.block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peers = Vec::new();
        let (started_tx, started) = std::sync::mpsc::channel();
        for _ in 0..8 {
            let started_tx = started_tx.clone();
            // Spawned from the block_on thread, so they spread over both workers; detached.
            drop(ringloop::create_task(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                started_tx.send(()).unwrap();
                let mut buf = [0u8; 16];
                // Never answered: in flight when the runtime goes.
                let _ = stream.read(&mut buf).await;
            }));
            let (peer, _) = listener.accept().unwrap();
            peers.push(peer);
        }
        for _ in 0..8 {
            started.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        // Let every read reach its ring.
        ringloop::sleep(Duration::from_millis(50)).await;
        peers
    });
    drop(rt);
    for mut peer in peers {
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        let n = std::io::Read::read(&mut peer, &mut buf).expect("the peer never saw the close");
        assert_eq!(n, 0);
    }
    assert_eq!(open_fds(), before, "a descriptor leaked");
}
