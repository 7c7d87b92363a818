//! io_uring's completion path for stream writes (`net/uring_write.rs`): a write dropped
//! mid-send is reported by the next write, so a caller that retries loses, reorders and
//! duplicates nothing; a shutdown waits for the send in flight; large writes to a slow reader
//! arrive byte-exact. Every body runs on TCP and Unix-domain streams, on both backends and
//! both flavours (epoll gives the same guarantees through readiness).

mod net_support;

use futures_io::AsyncWrite;
use net_support::{each, tcp_pair, Rng};
use ringloop::BackendChoice;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

async fn unix_pair() -> (ringloop::net::UnixStream, ringloop::net::UnixStream) {
    ringloop::net::UnixStream::pair().unwrap()
}

/// Polls `fut` once: `Some(output)` if it was ready.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

macro_rules! write_tests {
    ($module:ident, $pair:ident) => {
        mod $module {
            use super::*;

            /// The contract, exactly: a write dropped after its send went is answered by the
            /// next write, which sends nothing; the peer gets each byte once.
            #[test]
            fn a_dropped_write_is_reported_by_the_next_write() {
                each(Duration::from_secs(20), |config| async move {
                    let (a, b) = $pair().await;
                    let reported = {
                        let mut write = pin!(a.write(b"hello"));
                        match poll_once(&mut write).await {
                            // Readiness (epoll): the syscall ran at once.
                            Some(r) => {
                                assert_eq!(r.unwrap(), 5, "{config:?}");
                                false
                            }
                            // Completion (io_uring): the send is in flight; let it finish,
                            // then drop the future that would have reported it.
                            None => {
                                ringloop::sleep(Duration::from_millis(20)).await;
                                true
                            }
                        }
                    };
                    if reported {
                        assert_eq!(a.write(b"hello").await.unwrap(), 5, "{config:?}");
                    }
                    a.write_all(b" world").await.unwrap();
                    a.shutdown(std::net::Shutdown::Write).unwrap();
                    let mut got = Vec::new();
                    let mut buf = [0u8; 64];
                    loop {
                        let n = b.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                    assert_eq!(got, b"hello world", "{config:?}");
                });
            }

            /// Writes cancelled by short timeouts, retried from where the writer was told it
            /// got to: the reader gets the data once, in order.
            #[test]
            fn writes_cancelled_by_timeouts_lose_and_repeat_nothing() {
                const TOTAL: usize = 2 * 1024 * 1024;
                each(Duration::from_secs(60), |config| async move {
                    let (a, b) = $pair().await;
                    // A small send buffer, so that sends wait and timeouts cancel them.
                    a.set_send_buffer_size(16 * 1024).unwrap();
                    let data = Rng(7).bytes(TOTAL);
                    let expected = data.clone();
                    let reader = ringloop::create_task(async move {
                        let mut got = Vec::with_capacity(TOTAL);
                        let mut buf = vec![0u8; 16 * 1024];
                        let mut rng = Rng(3);
                        loop {
                            let n = b.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return got;
                            }
                            got.extend_from_slice(&buf[..n]);
                            if rng.below(8) == 0 {
                                ringloop::sleep(Duration::from_micros(300)).await;
                            }
                        }
                    });
                    let mut off = 0;
                    let mut cancelled = 0;
                    let mut rng = Rng(11);
                    let mut end = 0;
                    while off < TOTAL {
                        // After a cancelled write, retry with the same bytes (the contract).
                        if end <= off {
                            end = (off + 1 + rng.below(200_000) as usize).min(TOTAL);
                        }
                        let limit = Duration::from_micros(50 + rng.below(400));
                        match ringloop::wait_for(a.write(&data[off..end]), limit).await {
                            Ok(Ok(n)) => {
                                assert!(n > 0 && n <= end - off, "{config:?}: {n}");
                                off += n;
                            }
                            Ok(Err(e)) => panic!("{config:?}: {e}"),
                            Err(_) => cancelled += 1,
                        }
                    }
                    a.shutdown(std::net::Shutdown::Write).unwrap();
                    let got = reader.await.unwrap();
                    assert_eq!(got.len(), TOTAL, "{config:?}: length");
                    assert!(
                        got == expected,
                        "{config:?}: bytes lost, reordered or repeated"
                    );
                    eprintln!("{config:?}: {cancelled} writes cancelled");
                });
            }

            /// A shutdown asked for while a send is in flight comes after it: the reader gets
            /// exactly the bytes the writer is then told went, then end of stream.
            #[test]
            fn shutdown_waits_for_the_send_in_flight() {
                const SIZE: usize = 4 * 1024 * 1024;
                each(Duration::from_secs(30), |config| async move {
                    let (a, b) = $pair().await;
                    let data = Rng(21).bytes(SIZE);
                    let reader = ringloop::create_task(async move {
                        let mut got = Vec::new();
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = b.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return got;
                            }
                            got.extend_from_slice(&buf[..n]);
                        }
                    });
                    let mut w = &a;
                    let first = std::future::poll_fn(|cx| {
                        Poll::Ready(Pin::new(&mut w).poll_write(cx, &data))
                    })
                    .await;
                    a.shutdown(std::net::Shutdown::Write).unwrap();
                    let sent = match first {
                        Poll::Ready(r) => r.unwrap(),
                        // Readiness: nothing was written, nothing is in flight.
                        Poll::Pending if config.backend == BackendChoice::Epoll => 0,
                        // Completion: the send is in flight, and the next poll reports
                        // what it did.
                        Poll::Pending => {
                            std::future::poll_fn(|cx| Pin::new(&mut w).poll_write(cx, &data))
                                .await
                                .unwrap()
                        }
                    };
                    let got = reader.await.unwrap();
                    if config.backend == BackendChoice::IoUring {
                        // The write copied its first 256 KiB (`MAX_SEND`) and was handed over
                        // whole: a send the shutdown caught short is finished first.
                        assert_eq!(sent, 256 * 1024, "{config:?}: the write was cut short");
                    }
                    assert_eq!(got.len(), sent, "{config:?}: bytes cut or extra");
                    assert!(got[..] == data[..sent], "{config:?}: bytes differ");
                });
            }

            /// Several MiB to a reader that sleeps between reads: byte-exact, then EOF.
            #[test]
            fn large_writes_to_a_slow_reader_arrive_byte_exact() {
                const SIZE: usize = 6 * 1024 * 1024;
                each(Duration::from_secs(60), |config| async move {
                    let (a, b) = $pair().await;
                    let data = Rng(5).bytes(SIZE);
                    let expected = data.clone();
                    let reader = ringloop::create_task(async move {
                        let mut got = Vec::with_capacity(SIZE);
                        let mut buf = vec![0u8; 256 * 1024];
                        let mut reads = 0u32;
                        loop {
                            let n = b.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return got;
                            }
                            got.extend_from_slice(&buf[..n]);
                            reads += 1;
                            if reads % 4 == 0 {
                                ringloop::sleep(Duration::from_millis(1)).await;
                            }
                        }
                    });
                    a.write_all(&data).await.unwrap();
                    let half = SIZE / 2;
                    let bufs = [
                        std::io::IoSlice::new(&data[..half]),
                        std::io::IoSlice::new(&data[half..]),
                    ];
                    // A vectored write too: it may be short, and says how much went.
                    let n = a.write_vectored(&bufs).await.unwrap();
                    assert!(n > 0, "{config:?}");
                    a.shutdown(std::net::Shutdown::Write).unwrap();
                    let got = reader.await.unwrap();
                    assert_eq!(got.len(), SIZE + n, "{config:?}");
                    assert!(
                        got[..SIZE] == expected[..],
                        "{config:?}: first copy differs"
                    );
                    assert!(
                        got[SIZE..] == expected[..n],
                        "{config:?}: vectored part differs"
                    );
                });
            }

            /// Writing to a peer that is gone is an `io::Error` with the OS's kind.
            #[test]
            fn a_write_to_a_closed_peer_fails_with_the_os_error() {
                each(Duration::from_secs(20), |config| async move {
                    let (a, b) = $pair().await;
                    drop(b);
                    let chunk = vec![1u8; 64 * 1024];
                    let mut error = None;
                    for _ in 0..200 {
                        if let Err(e) = a.write(&chunk).await {
                            error = Some(e);
                            break;
                        }
                    }
                    let e = error.unwrap_or_else(|| panic!("{config:?}: writes kept working"));
                    assert!(
                        matches!(
                            e.kind(),
                            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                        ),
                        "{config:?}: {e:?}"
                    );
                    assert!(e.raw_os_error().is_some(), "{config:?}: {e:?}");
                });
            }
        }
    };
}

write_tests!(tcp, tcp_pair);
write_tests!(unix, unix_pair);
