//! io_uring's completion path for TCP reads: a read future dropped mid-operation loses no
//! bytes and reorders none (the cancelled receive's bytes are stashed for the next read).
//! Run on epoll too, where the same API must give the same guarantee.

mod net_support;

use net_support::{each, each_single_shot, tcp_pair, Rng};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

#[test]
fn a_read_dropped_while_pending_loses_no_bytes() {
    let body = |config| async move {
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
    };
    each(Duration::from_secs(20), body);
    each_single_shot(Duration::from_secs(20), body);
}

#[test]
fn reads_cancelled_by_timeouts_keep_the_stream_in_order() {
    const TOTAL: usize = 200 * 1024;
    let body = |config| async move {
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
    };
    each(Duration::from_secs(60), body);
    each_single_shot(Duration::from_secs(60), body);
}

/// A reader that stops reading stops the writer: what the runtime receives ahead of the
/// reader is bounded (io_uring's multishot receive is cancelled past its read-ahead bound,
/// `net/uring_read.rs`), so the socket buffers fill and the peer's writes wait, as on epoll.
/// Then every byte still arrives, in order.
#[test]
fn a_reader_that_stops_reading_stops_the_writer() {
    // Far more than loopback's socket buffers (a few MiB each way) plus the read-ahead.
    const TOTAL: usize = 24 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    fn byte(i: usize) -> u8 {
        (i % 251) as u8
    }
    let body = |config| async move {
        use std::os::fd::AsRawFd;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let (a, b) = tcp_pair().await;
        let (a_fd, b_fd) = (a.as_raw_fd(), b.as_raw_fd());
        let written = Arc::new(AtomicUsize::new(0));
        let progress = written.clone();
        let writer = ringloop::create_task(async move {
            let mut off = 0;
            while off < TOTAL {
                let data: Vec<u8> = (off..off + CHUNK).map(byte).collect();
                a.write_all(&data).await.unwrap();
                off += CHUNK;
                progress.store(off, Ordering::Relaxed);
            }
            a
        });
        // One read arms the receive; then nobody reads for a while.
        let mut buf = vec![0u8; CHUNK];
        let mut got = b.read(&mut buf).await.unwrap();
        assert!(got > 0);
        assert!(buf[..got].iter().enumerate().all(|(i, &x)| x == byte(i)));
        ringloop::sleep(Duration::from_millis(300)).await;
        let stalled = written.load(Ordering::Relaxed);
        assert!(
            stalled < TOTAL,
            "{config:?}: the writer finished {TOTAL} bytes while nobody read"
        );
        // Where the bytes written and not read are: in the kernel (the reader's receive
        // queue, the writer's send queue), or received ahead by the runtime. The writer may
        // have a chunk in flight that `stalled` does not count yet, so this over-counts the
        // kernel's share and under-counts the runtime's: a safe upper bound for the latter.
        let queued = |fd, req| {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD / TIOCOUTQ write one int through the pointer; `fd` is open
            // (both streams are alive).
            assert_eq!(unsafe { libc::ioctl(fd, req, &mut n) }, 0);
            n as usize
        };
        let in_kernel = queued(b_fd, libc::FIONREAD) + queued(a_fd, libc::TIOCOUTQ);
        let ahead = stalled.saturating_sub(got + in_kernel);
        assert!(
            ahead <= 2 * 256 * 1024 + CHUNK,
            "{config:?}: {ahead} bytes received ahead of a reader that stopped \
             ({stalled} written, {in_kernel} in the kernel)"
        );
        while got < TOTAL {
            let n = b.read(&mut buf).await.unwrap();
            assert!(n > 0, "{config:?}: early end of stream at {got}");
            assert!(
                buf[..n]
                    .iter()
                    .enumerate()
                    .all(|(i, &x)| x == byte(got + i)),
                "{config:?}: bytes differ near offset {got}"
            );
            got += n;
        }
        drop(writer.await.unwrap());
        eprintln!("{config:?}: the writer stalled after {stalled} bytes, {ahead} read ahead");
    };
    each(Duration::from_secs(60), body);
}

/// Waits until `b` is readable, then reads what is there (`WouldBlock`: waits again).
async fn readable_then_try_read(b: &ringloop::net::TcpStream) -> Vec<u8> {
    let mut buf = [0u8; 64];
    loop {
        b.readable().await;
        match b.try_read(&mut buf) {
            Ok(n) => return buf[..n].to_vec(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Polls futures-io's `poll_read` on `b` once and leaves it: true if it was pending (on
/// io_uring single-shot rings its receive then stays in flight, parked in the stream).
async fn park_a_poll_read(b: &ringloop::net::TcpStream, buf: &mut [u8]) -> bool {
    use futures_io::AsyncRead;
    std::future::poll_fn(|cx| {
        Poll::Ready(std::pin::Pin::new(&mut &*b).poll_read(cx, buf).is_pending())
    })
    .await
}

/// `readable()` then `try_read()` sees bytes a receive already holds: the remainder a small
/// read left in the stash, and the bytes of a receive `poll_read` left in flight (on
/// single-shot rings that receive takes the socket's bytes, so socket readiness alone would
/// never come for them).
#[test]
fn readable_sees_bytes_a_receive_already_holds() {
    let body = |config| async move {
        let (a, b) = tcp_pair().await;
        let limit = Duration::from_secs(5);

        // A small read leaves the rest of what its receive got in the stash.
        a.write_all(b"hello").await.unwrap();
        let mut two = [0u8; 2];
        let mut got = 0;
        while got < 2 {
            got += b.read(&mut two[got..]).await.unwrap();
        }
        assert_eq!(&two, b"he");
        let rest = ringloop::wait_for(readable_then_try_read(&b), limit).await;
        assert_eq!(rest.as_deref().ok(), Some(&b"llo"[..]), "{config:?}: stash");

        // poll_read polled once and abandoned: its receive stays in flight.
        let mut buf = [0u8; 64];
        let parked = park_a_poll_read(&b, &mut buf).await;
        assert!(parked, "{config:?}: nothing was sent yet");
        a.write_all(b"world").await.unwrap();
        let got = ringloop::wait_for(readable_then_try_read(&b), limit).await;
        assert_eq!(
            got.as_deref().ok(),
            Some(&b"world"[..]),
            "{config:?}: parked"
        );

        // The same, read by try_read alone once the receive has completed.
        let parked = park_a_poll_read(&b, &mut buf).await;
        assert!(parked, "{config:?}: nothing was sent yet");
        a.write_all(b"again").await.unwrap();
        let started = std::time::Instant::now();
        let n = loop {
            match b.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        started.elapsed() < limit,
                        "{config:?}: try_read never saw it"
                    );
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => panic!("{config:?}: {e}"),
            }
        };
        assert_eq!(&buf[..n], b"again", "{config:?}: try_read");
    };
    each(Duration::from_secs(20), body);
    each_single_shot(Duration::from_secs(20), body);
}

/// Bug (206ed73): on single-shot rings `readable()` polled the receive a waiting `poll_read`
/// had parked with its own waker, replacing the reader's; it gave up (a timeout), the bytes
/// arrived, and the completion woke the task that was gone: the reader hung with its bytes
/// received. Here: a task waits in `poll_read`, another looks at `readable()` briefly and
/// gives up, then bytes come; the reader must get them.
#[test]
fn a_readable_that_gives_up_leaves_a_waiting_poll_read_its_wake_up() {
    let body = |config| async move {
        let (a, b) = tcp_pair().await;
        let b = std::sync::Arc::new(b);
        let reader = {
            let b = b.clone();
            ringloop::create_task(async move {
                use futures_io::AsyncRead;
                let mut buf = [0u8; 64];
                let n =
                    std::future::poll_fn(|cx| std::pin::Pin::new(&mut &*b).poll_read(cx, &mut buf))
                        .await
                        .unwrap();
                buf[..n].to_vec()
            })
        };
        // The reader's receive is in flight (parked, on single-shot rings).
        ringloop::sleep(Duration::from_millis(50)).await;
        let early = ringloop::wait_for(b.readable(), Duration::from_millis(20)).await;
        assert!(early.is_err(), "{config:?}: readable with nothing sent");
        a.write_all(b"hello").await.unwrap();
        let got = ringloop::wait_for(reader, Duration::from_secs(5))
            .await
            .unwrap_or_else(|_| panic!("{config:?}: the waiting poll_read was never woken"))
            .unwrap();
        assert_eq!(got, b"hello", "{config:?}");
    };
    each(Duration::from_secs(20), body);
    each_single_shot(Duration::from_secs(20), body);
}
