//! Reactor benches: cross-thread wake latency, a readiness round trip on a socketpair, and
//! io_uring recv/send batches against epoll readiness plus read/write, all in one run so
//! the figures compare as ratios.
//!
//! `cargo bench -p ringloop-reactor --bench reactor -- --warm-up-time 1 --measurement-time 3`

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringloop_reactor::{BackendChoice, Event, Events, Interest, Op, Reactor, Token};

const BACKENDS: [(BackendChoice, &str); 2] = [
    (BackendChoice::Epoll, "epoll"),
    (BackendChoice::IoUring, "io_uring"),
];

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn drain(s: &mut UnixStream, buf: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        match s.read(buf) {
            Ok(0) => return n,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Ping-pong between two threads, each blocked in its own reactor: one iteration is two
/// cross-thread wakes (there and back), i.e. the wake-to-return latency twice.
fn wake_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake_round_trip");
    for (choice, name) in BACKENDS {
        let here = Arc::new(Reactor::new(choice).unwrap());
        let there = Arc::new(Reactor::new(choice).unwrap());
        let (here_w, there_w) = (here.waker(), there.waker());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let there2 = there.clone();
        let echo = thread::spawn(move || {
            let mut ev = Events::with_capacity(8);
            while !stop2.load(std::sync::atomic::Ordering::Acquire) {
                there2.poll(&mut ev, None).unwrap();
                here_w.wake();
            }
        });
        let mut ev = Events::with_capacity(8);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                there_w.wake();
                here.poll(&mut ev, None).unwrap();
            })
        });
        stop.store(true, std::sync::atomic::Ordering::Release);
        there_w.wake();
        echo.join().unwrap();
    }
    g.finish();
}

/// Uncontended wake (nobody blocked): the coalescing fast path, no syscall.
fn wake_uncontended(c: &mut Criterion) {
    let r = Reactor::new(BackendChoice::Epoll).unwrap();
    let w = r.waker();
    c.bench_function("wake_uncontended", |b| b.iter(|| w.wake()));
}

/// One byte written on a socketpair, poll until readable, read until WouldBlock.
fn readiness_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("readiness_round_trip");
    for (choice, name) in BACKENDS {
        let r = Reactor::new(choice).unwrap();
        let (mut a, mut b) = pair();
        r.register(a.as_raw_fd(), Token(1), Interest::READABLE)
            .unwrap();
        let mut ev = Events::with_capacity(8);
        let mut buf = [0u8; 64];
        g.bench_function(BenchmarkId::from_parameter(name), |bench| {
            bench.iter(|| {
                b.write_all(b"x").unwrap();
                loop {
                    r.poll(&mut ev, None).unwrap();
                    if !ev.is_empty() {
                        break;
                    }
                }
                assert_eq!(drain(&mut a, &mut buf), 1);
            })
        });
    }
    g.finish();
}

/// Moving `PAIRS` x `MSG` bytes across socketpairs per iteration:
/// - `epoll_readiness_rw`: write on each pair, poll readiness, read each until WouldBlock;
/// - `io_uring_ops_*`: one batch of sends and recvs submitted together, poll until all
///   completions arrive (buffers come back and are reused).
fn batch_transfer(c: &mut Criterion) {
    const PAIRS: usize = 32;
    const MSG: usize = 256;
    let mut g = c.benchmark_group("batch_32x256B");
    g.throughput(Throughput::Elements(PAIRS as u64));

    {
        let r = Reactor::new(BackendChoice::Epoll).unwrap();
        let mut pairs: Vec<_> = (0..PAIRS).map(|_| pair()).collect();
        for (i, (a, _)) in pairs.iter().enumerate() {
            r.register(a.as_raw_fd(), Token(i), Interest::READABLE)
                .unwrap();
        }
        let msg = [7u8; MSG];
        let mut buf = [0u8; 4096];
        let mut ev = Events::with_capacity(64);
        g.bench_function("epoll_readiness_rw", |bench| {
            bench.iter(|| {
                for (_, b) in pairs.iter_mut() {
                    b.write_all(&msg).unwrap();
                }
                let mut got = 0;
                while got < PAIRS * MSG {
                    r.poll(&mut ev, None).unwrap();
                    for e in ev.iter() {
                        if let Event::Ready { token, .. } = e {
                            got += drain(&mut pairs[token.0].0, &mut buf);
                        }
                    }
                }
            })
        });
    }

    for recv_first in [false, true] {
        let r = Reactor::new(BackendChoice::IoUring).unwrap();
        let pairs: Vec<(Arc<OwnedFd>, Arc<OwnedFd>)> = (0..PAIRS)
            .map(|_| {
                let (a, b) = pair();
                (Arc::new(a.into()), Arc::new(b.into()))
            })
            .collect();
        let mut send_bufs: Vec<Vec<u8>> = (0..PAIRS).map(|_| vec![7u8; MSG]).collect();
        let mut recv_bufs: Vec<Vec<u8>> = (0..PAIRS).map(|_| Vec::with_capacity(MSG)).collect();
        let mut ev = Events::with_capacity(2 * PAIRS);
        // `send_then_recv` matches the epoll loop's order (write, then read what is there);
        // `recv_first` posts receives before the data exists, so each one takes io_uring's
        // internal poll-and-retry path, as a server's idle connections do.
        let name = if recv_first {
            "io_uring_ops_recv_first"
        } else {
            "io_uring_ops_send_then_recv"
        };
        g.bench_function(name, |bench| {
            bench.iter(|| {
                let submit_recvs = |recv_bufs: &mut Vec<Vec<u8>>| {
                    for (i, (a, _)) in pairs.iter().enumerate() {
                        let mut rb = std::mem::take(&mut recv_bufs[i]);
                        rb.clear();
                        r.submit(Op::recv(a.clone(), rb), Token(i)).unwrap();
                    }
                };
                if recv_first {
                    submit_recvs(&mut recv_bufs);
                }
                for (i, (_, b)) in pairs.iter().enumerate() {
                    let sb = std::mem::take(&mut send_bufs[i]);
                    r.submit(Op::send(b.clone(), sb), Token(PAIRS + i)).unwrap();
                }
                if !recv_first {
                    submit_recvs(&mut recv_bufs);
                }
                let mut done = 0;
                while done < 2 * PAIRS {
                    r.poll(&mut ev, None).unwrap();
                    for e in ev.drain() {
                        if let Event::Completed {
                            token, result, op, ..
                        } = e
                        {
                            assert_eq!(result.unwrap() as usize, MSG);
                            let buf = op.into_buf().unwrap();
                            if token.0 < PAIRS {
                                recv_bufs[token.0] = buf;
                            } else {
                                send_bufs[token.0 - PAIRS] = buf;
                            }
                            done += 1;
                        }
                    }
                }
            })
        });
    }
    g.finish();
}

/// Timer-source precision as a bench: a 100 µs deadline wait (reported time includes the
/// lateness; the tests assert it is never early).
fn deadline_wait(c: &mut Criterion) {
    let mut g = c.benchmark_group("deadline_100us");
    for (choice, name) in BACKENDS {
        let r = Reactor::new(choice).unwrap();
        let mut ev = Events::with_capacity(8);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                r.poll(&mut ev, Some(Instant::now() + Duration::from_micros(100)))
                    .unwrap();
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = wake_latency, wake_uncontended, readiness_round_trip, batch_transfer, deadline_wait
}
criterion_main!(benches);
