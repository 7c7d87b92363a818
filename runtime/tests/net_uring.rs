//! io_uring's completion path for TCP reads: a read future dropped mid-operation loses no
//! bytes and reorders none (the cancelled receive's bytes are stashed for the next read).
//! Run on epoll too, where the same API must give the same guarantee.

mod net_support;

use net_support::{each, Rng};
use ringloop::net::{TcpListener, TcpStream};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[test]
fn a_read_dropped_while_pending_loses_no_bytes() {
    each(Duration::from_secs(20), |config| async move {
        let (a, b) = tcp_pair().await;
        for round in 0..50u8 {
            let mut buf = [0u8; 64];
            {
                // Poll the read once (the receive is now in flight), then drop it.
                let mut read = pin!(b.read(&mut buf));
                let first =
                    std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx).is_pending()))
                        .await;
                assert!(first, "{config:?}: nothing was sent yet");
                // Half the rounds: the bytes arrive before the drop, so the cancelled
                // receive most likely got them.
                if round % 2 == 0 {
                    a.write_all(&[round; 10]).await.unwrap();
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
            }
            if round % 2 == 1 {
                a.write_all(&[round; 10]).await.unwrap();
            }
            let mut got = Vec::new();
            while got.len() < 10 {
                let n = b.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, [round; 10], "{config:?}: round {round}");
        }
    });
}

#[test]
fn reads_cancelled_by_timeouts_keep_the_stream_in_order() {
    const TOTAL: usize = 200 * 1024;
    each(Duration::from_secs(60), |config| async move {
        let (a, b) = tcp_pair().await;
        let data = Rng(99).bytes(TOTAL);
        let sent = data.clone();
        let writer = ringloop::create_task(async move {
            let mut rng = Rng(5);
            let mut rest = &sent[..];
            while !rest.is_empty() {
                let n = (1 + rng.below(4096) as usize).min(rest.len());
                a.write_all(&rest[..n]).await.unwrap();
                rest = &rest[n..];
                if rng.below(4) == 0 {
                    ringloop::sleep(Duration::from_micros(200)).await;
                }
            }
            a
        });
        let mut got = Vec::with_capacity(TOTAL);
        let mut buf = vec![0u8; 1500];
        let mut cancelled = 0;
        while got.len() < TOTAL {
            // A timeout shorter than the gaps between writes cancels many reads mid-flight.
            match ringloop::wait_for(b.read(&mut buf), Duration::from_micros(100)).await {
                Ok(Ok(n)) => {
                    assert!(n > 0, "{config:?}: early end of stream");
                    got.extend_from_slice(&buf[..n]);
                }
                Ok(Err(e)) => panic!("{config:?}: {e}"),
                Err(_) => cancelled += 1,
            }
        }
        let _a = writer.await.unwrap();
        assert!(
            got == data,
            "{config:?}: the stream was reordered or lost bytes"
        );
        eprintln!("{config:?}: {cancelled} reads cancelled");
    });
}
