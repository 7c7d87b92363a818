//! The ringloop runtime against tokio, side by side in the same run: one criterion group per
//! workload, so each group's rows read as ratios directly.
//!
//! Six rows per group:
//!
//! | row | runtime |
//! |---|---|
//! | `ringloop-epoll-ct`, `ringloop-uring-ct` | ringloop's current-thread scheduler, backend forced |
//! | `ringloop-epoll-mt`, `ringloop-uring-mt` | ringloop's work-stealing scheduler, 2 workers, backend forced |
//! | `tokio-ct`, `tokio-mt` | tokio's current-thread runtime, and its multi-thread one with 2 workers |
//!
//! A `uring` row whose runtime cannot start here (no io_uring in the kernel, or it is
//! disabled) is skipped with a message on stderr rather than measured as epoll.
//!
//! The workloads are the shapes of the `ringloop-bench` command (`src/workload.rs` describes
//! them, and this file borrows its durations and constants), each at a size that makes one
//! iteration take milliseconds, reported per element through `Throughput::Elements`:
//!
//! | group | one iteration | elements |
//! |---|---|---|
//! | `spawn_join` | spawn 10 000 tasks returning their index, await each, check the sum | tasks |
//! | `yield_many` | 64 tasks each yield 1 000 times | yields |
//! | `chained_spawn` | each task spawns the next, 10 000 deep; the last one signals | tasks |
//! | `ping_pong` | 10 000 round trips between two tasks over two bounded(1) queues | round trips |
//! | `sleep_many` | 10 000 tasks sleep pseudo-random 0-50 ms (real clock, real sleeps) | tasks |
//! | `sleep_same_deadline` | 10 000 tasks sleep until one deadline 50 ms ahead | tasks |
//! | `timer_churn` | 10 000 times: create a 1 s sleep, poll it once with the task's waker, drop it | timers |
//! | `timeout_ready` | 10 000 times: await `wait_for(ready(i), 1 s)` (tokio: `timeout`), sum | timeouts |
//! | `tcp_echo` | 64 connections on 127.0.0.1, 100 round trips of 1 KiB each through echo tasks | round trips |
//!
//! `tcp_echo` runs the very body the `ringloop-bench` command runs
//! (`ringloop_bench::runners::{ringloop, tokio}::tcp_echo`), and times only its round trips
//! through criterion's `iter_custom`: binding, connecting and accepting the 64 connections of
//! each iteration is set-up, outside the measurement, as in the command. Its tokio rows enable
//! the I/O driver (the other groups' tokio runtimes have the timer driver only, as the
//! command's). Throughput is in round trips (criterion prints them as `elem/s`). A row whose
//! iteration has not finished after a minute is reported on stderr and ends the process with
//! status 1 rather than hanging the run (`ringloop_bench::watchdog`; tokio's rows run first
//! here, so their figures are out before any such hang). Criterion's filter is a regex:
//! `-- 'tcp_echo/(tokio|ringloop-.*-ct)'` runs a subset of the rows.
//!
//! The two sleep groups take about 50 ms an iteration whatever the runtime does, so their
//! ratios are close to 1 by construction: what differs between rows is the time beyond 50 ms
//! (spawning, firing, waking and joining 10 000 tasks).
//!
//! In `timeout_ready`, ringloop's `wait_for` arms its timer only when the inner future first
//! returns `Pending`, and tokio's `timeout` registers its `Sleep` only when it is polled, which
//! it is only after the inner future; around a ready value neither touches a timer wheel, so
//! the group compares the two wrappers' fast paths.
//!
//! Every body runs inside a spawned task (`block_on(spawn(body))`), as the command's rows do,
//! so no runtime gets its cheaper "poll on the `block_on` thread" path for free. Each runtime
//! is built once per group, outside the measured closure; every iteration checks the count
//! its body returns, so a runtime that loses a task fails instead of looking fast.
//!
//! Run (about 5 minutes on a 2-core machine):
//! `cargo bench -p ringloop-bench --bench runtime`; add `-- ping_pong` for one group, or
//! `-- --test` to run every body once.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use criterion::{BenchmarkId, Throughput};
use ringloop::sync::Queue;
use ringloop::{BackendChoice, Flavor};
use ringloop_bench::runners;
use ringloop_bench::watchdog::Watchdog;
use ringloop_bench::workload::{self, Params, Sample, Workload};
use ringloop_bench::workload::{LONG_SLEEP, SHARED_DEADLINE, TCP_CONNECTIONS, YIELD_TASKS};

/// Tasks (or round trips, or timers) per iteration in every group but `yield_many`.
const N: u64 = 10_000;

/// Yields per iteration of `yield_many`: 64 tasks of 1 000 yields.
const YIELDS: u64 = YIELD_TASKS * 1_000;

/// One iteration of `tcp_echo`: 100 round trips on each of the 64 connections.
const TCP_PARAMS: Params = Params {
    n: TCP_CONNECTIONS * 100,
    seed: workload::DEFAULT_SEED,
};

/// How long one `tcp_echo` iteration may take before the watchdog calls it a hang: about
/// a thousand times what it takes.
const HANG: Duration = Duration::from_secs(60);

/// Worker threads of every multi-thread row: one per core of this project's machines.
const WORKERS: usize = 2;

/// The four ringloop rows: id, backend, flavour.
const RINGLOOP_ROWS: [(&str, BackendChoice, Flavor); 4] = [
    (
        "ringloop-epoll-ct",
        BackendChoice::Epoll,
        Flavor::CurrentThread,
    ),
    (
        "ringloop-epoll-mt",
        BackendChoice::Epoll,
        Flavor::MultiThread,
    ),
    (
        "ringloop-uring-ct",
        BackendChoice::IoUring,
        Flavor::CurrentThread,
    ),
    (
        "ringloop-uring-mt",
        BackendChoice::IoUring,
        Flavor::MultiThread,
    ),
];

/// Runs one group: the six rows of one workload, each on a runtime built for the group.
///
/// `ringloop` and `tokio` make one iteration's body; `expected` is what the body must return.
fn group<R, RF, T, TF>(
    c: &mut Criterion,
    name: &str,
    elements: u64,
    expected: u64,
    ringloop: R,
    tokio: T,
) where
    R: Fn() -> RF,
    RF: Future<Output = u64> + Send + 'static,
    T: Fn() -> TF,
    TF: Future<Output = u64> + Send + 'static,
{
    let mut g = c.benchmark_group(name);
    configure(&mut g, elements);
    for (id, backend, flavor) in RINGLOOP_ROWS {
        let rt = match ringloop::Runtime::builder()
            .flavor(flavor)
            .backend(backend)
            .worker_threads(WORKERS)
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("{name}/{id}: skipped, the runtime cannot start here: {e}");
                continue;
            }
        };
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| {
                let got = rt
                    .block_on(rt.create_task(ringloop()))
                    .unwrap_or_else(|e| panic!("{name}/{id}: the body failed: {e}"));
                assert_eq!(got, expected, "{name}/{id}: wrong count");
            })
        });
    }
    for multi_thread in [false, true] {
        let (id, built) = if multi_thread {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            ("tokio-mt", b.worker_threads(WORKERS).enable_time().build())
        } else {
            let mut b = tokio::runtime::Builder::new_current_thread();
            ("tokio-ct", b.enable_time().build())
        };
        let rt = built.unwrap_or_else(|e| panic!("cannot build {id}: {e}"));
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| {
                let got = rt
                    .block_on(rt.spawn(tokio()))
                    .unwrap_or_else(|e| panic!("{name}/{id}: the body failed: {e}"));
                assert_eq!(got, expected, "{name}/{id}: wrong count");
            })
        });
    }
    g.finish();
}

/// Ten samples in two seconds after a one-second warm-up. Flat sampling (the same iteration
/// count in every sample): criterion's default linear ramp needs 55 iterations for ten samples,
/// which does not fit two seconds at the sleep groups' 50 ms an iteration.
fn configure(g: &mut BenchmarkGroup<'_, WallTime>, elements: u64) {
    g.throughput(Throughput::Elements(elements))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sampling_mode(SamplingMode::Flat);
}

// ---- spawn_join: spawn N trivial tasks, await every handle, sum their indices. ----

async fn rl_spawn_join(n: u64) -> u64 {
    let tasks: Vec<_> = (0..n)
        .map(|i| ringloop::create_task(async move { i }))
        .collect();
    let mut sum = 0;
    for t in tasks {
        sum += t.await.expect("a task failed");
    }
    sum
}

async fn tk_spawn_join(n: u64) -> u64 {
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
    let mut sum = 0;
    for t in tasks {
        sum += t.await.expect("a task failed");
    }
    sum
}

// ---- yield_many: 64 tasks each yield `total / 64` times. ----

async fn rl_yield_many(total: u64) -> u64 {
    let per_task = workload::yield_per_task(total);
    let tasks: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            ringloop::create_task(async move {
                for _ in 0..per_task {
                    ringloop::yield_now().await;
                }
                per_task
            })
        })
        .collect();
    let mut yields = 0;
    for t in tasks {
        yields += t.await.expect("a task failed");
    }
    yields
}

async fn tk_yield_many(total: u64) -> u64 {
    let per_task = workload::yield_per_task(total);
    let tasks: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    tokio::task::yield_now().await;
                }
                per_task
            })
        })
        .collect();
    let mut yields = 0;
    for t in tasks {
        yields += t.await.expect("a task failed");
    }
    yields
}

// ---- chained_spawn: each task spawns the next, N deep; the last one signals its depth. ----

fn rl_link(depth: u64, n: u64, done: Arc<Queue<u64>>) {
    // Dropping the `Task` detaches the link; it runs on.
    drop(ringloop::create_task(async move {
        if depth >= n {
            // Room for one and nobody shuts it down: never waits, never fails.
            let _ = done.put(depth).await;
        } else {
            rl_link(depth + 1, n, done);
        }
    }));
}

async fn rl_chained_spawn(n: u64) -> u64 {
    let done = Arc::new(Queue::new(1));
    rl_link(1, n, done.clone());
    done.get().await.expect("the chain broke")
}

fn tk_link(depth: u64, n: u64, done: tokio::sync::oneshot::Sender<u64>) {
    tokio::spawn(async move {
        if depth >= n {
            let _ = done.send(depth);
        } else {
            tk_link(depth + 1, n, done);
        }
    });
}

async fn tk_chained_spawn(n: u64) -> u64 {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tk_link(1, n, tx);
    rx.await.expect("the chain broke")
}

// ---- ping_pong: N round trips over two bounded(1) channels; returns the echo count. ----

async fn rl_ping_pong(n: u64) -> u64 {
    let ping = Arc::new(Queue::<u64>::new(1));
    let pong = Arc::new(Queue::<u64>::new(1));
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        ringloop::create_task(async move {
            let mut echoed = 0;
            while let Ok(v) = ping.get().await {
                if pong.put(v).await.is_err() {
                    break;
                }
                echoed += 1;
            }
            echoed
        })
    };
    for i in 0..n {
        ping.put(i).await.expect("the echo task hung up");
        let v = pong.get().await.expect("the echo task hung up");
        assert_eq!(v, i, "ping_pong echoed the wrong value");
    }
    // asyncio's hang-up (Python 3.13's `Queue.shutdown`): the echo task's `get` fails.
    ping.shutdown(false);
    echo.await.expect("the echo task failed")
}

async fn tk_ping_pong(n: u64) -> u64 {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let echo = tokio::spawn(async move {
        let mut echoed = 0;
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v).await.is_err() {
                break;
            }
            echoed += 1;
        }
        echoed
    });
    for i in 0..n {
        ping_tx.send(i).await.expect("the echo task hung up");
        let v = pong_rx.recv().await.expect("the echo task hung up");
        assert_eq!(v, i, "ping_pong echoed the wrong value");
    }
    drop(ping_tx);
    echo.await.expect("the echo task failed")
}

// ---- sleep_many: N tasks, task i sleeps durations(seed, N)[i] (0-50 ms); count them. ----

async fn rl_sleep_many(durations: Arc<Vec<Duration>>) -> u64 {
    let tasks: Vec<_> = durations
        .iter()
        .map(|&d| {
            ringloop::create_task(async move {
                ringloop::sleep(d).await;
                1
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("a task failed");
    }
    done
}

async fn tk_sleep_many(durations: Arc<Vec<Duration>>) -> u64 {
    let tasks: Vec<_> = durations
        .iter()
        .map(|&d| {
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                1
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("a task failed");
    }
    done
}

// ---- sleep_same_deadline: N tasks sleep until start + 50 ms; count them. ----

async fn rl_sleep_same_deadline(n: u64) -> u64 {
    let deadline = Instant::now() + SHARED_DEADLINE;
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            ringloop::create_task(async move {
                ringloop::sleep_until(deadline).await;
                1
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("a task failed");
    }
    done
}

async fn tk_sleep_same_deadline(n: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + SHARED_DEADLINE;
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                tokio::time::sleep_until(deadline).await;
                1
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("a task failed");
    }
    done
}

// ---- timer_churn: N times, create a 1 s sleep, poll it once with the task's own waker (so
// it registers), and drop it (so it is cancelled). ----

async fn rl_timer_churn(n: u64) -> u64 {
    poll_fn(|cx| {
        for _ in 0..n {
            let mut sleep = ringloop::sleep(LONG_SLEEP);
            assert!(
                Pin::new(&mut sleep).poll(cx).is_pending(),
                "1 s sleep fired"
            );
        }
        Poll::Ready(n)
    })
    .await
}

async fn tk_timer_churn(n: u64) -> u64 {
    poll_fn(|cx| {
        for _ in 0..n {
            let sleep = pin!(tokio::time::sleep(LONG_SLEEP));
            assert!(sleep.poll(cx).is_pending(), "1 s sleep fired");
        }
        Poll::Ready(n)
    })
    .await
}

// ---- timeout_ready: N times, await a 1 s timeout around a ready value; sum the values. ----

async fn rl_timeout_ready(n: u64) -> u64 {
    let mut sum = 0;
    for i in 0..n {
        sum += ringloop::wait_for(std::future::ready(i), LONG_SLEEP)
            .await
            .expect("a ready value timed out");
    }
    sum
}

async fn tk_timeout_ready(n: u64) -> u64 {
    let mut sum = 0;
    for i in 0..n {
        sum += tokio::time::timeout(LONG_SLEEP, std::future::ready(i))
            .await
            .expect("a ready value timed out");
    }
    sum
}

fn runtime_benches(c: &mut Criterion) {
    let sum = workload::index_sum(N);
    group(
        c,
        "spawn_join",
        N,
        sum,
        || rl_spawn_join(N),
        || tk_spawn_join(N),
    );
    let yields = workload::yield_per_task(YIELDS) * YIELD_TASKS;
    group(
        c,
        "yield_many",
        yields,
        yields,
        || rl_yield_many(YIELDS),
        || tk_yield_many(YIELDS),
    );
    group(
        c,
        "chained_spawn",
        N,
        N,
        || rl_chained_spawn(N),
        || tk_chained_spawn(N),
    );
    group(c, "ping_pong", N, N, || rl_ping_pong(N), || tk_ping_pong(N));
    let durations = Arc::new(workload::durations(workload::DEFAULT_SEED, N));
    group(
        c,
        "sleep_many",
        N,
        N,
        || rl_sleep_many(durations.clone()),
        || tk_sleep_many(durations.clone()),
    );
    group(
        c,
        "sleep_same_deadline",
        N,
        N,
        || rl_sleep_same_deadline(N),
        || tk_sleep_same_deadline(N),
    );
    group(
        c,
        "timer_churn",
        N,
        N,
        || rl_timer_churn(N),
        || tk_timer_churn(N),
    );
    group(
        c,
        "timeout_ready",
        N,
        sum,
        || rl_timeout_ready(N),
        || tk_timeout_ready(N),
    );
}

/// Times `iters` runs of the `tcp_echo` body by the wall time each sample reports (its round
/// trips only), checking every sample's counts.
fn time_tcp_echo<F>(id: &str, iters: u64, mut run_once: F) -> Duration
where
    F: FnMut() -> Result<Sample, String>,
{
    let label = format!("tcp_echo/{id}");
    let dog = Watchdog::new(HANG, move || {
        eprintln!("{label}: no iteration finished in {HANG:?}: the runtime hangs");
        std::process::exit(1);
    });
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let sample = run_once().unwrap_or_else(|e| panic!("tcp_echo/{id}: {e}"));
        sample
            .check(Workload::TcpEcho, &TCP_PARAMS)
            .unwrap_or_else(|e| panic!("tcp_echo/{id}: {e}"));
        total += Duration::from_nanos(sample.wall_ns);
        dog.pet();
    }
    total
}

/// The `tcp_echo` group: the command's own bodies, timed by their round trips only.
fn tcp_echo_benches(c: &mut Criterion) {
    let params = TCP_PARAMS;
    let mut g = c.benchmark_group("tcp_echo");
    configure(&mut g, Workload::TcpEcho.expected_ops(params.n));
    // tokio first: its figures are printed even if a ringloop row then hangs.
    for multi_thread in [false, true] {
        let (id, built) = if multi_thread {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            ("tokio-mt", b.worker_threads(WORKERS).enable_all().build())
        } else {
            let mut b = tokio::runtime::Builder::new_current_thread();
            ("tokio-ct", b.enable_all().build())
        };
        let rt = built.unwrap_or_else(|e| panic!("cannot build {id}: {e}"));
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter_custom(|iters| {
                time_tcp_echo(id, iters, || {
                    let task = rt.spawn(runners::tokio::tcp_echo(params));
                    rt.block_on(task)
                        .map_err(|e| format!("the body failed: {e}"))?
                })
            })
        });
    }
    for (id, backend, flavor) in RINGLOOP_ROWS {
        let rt = match ringloop::Runtime::builder()
            .flavor(flavor)
            .backend(backend)
            .worker_threads(WORKERS)
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("tcp_echo/{id}: skipped, the runtime cannot start here: {e}");
                continue;
            }
        };
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter_custom(|iters| {
                time_tcp_echo(id, iters, || {
                    let task = rt.create_task(runners::ringloop::tcp_echo(params));
                    rt.block_on(task)
                        .map_err(|e| format!("the body failed: {e}"))?
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, runtime_benches, tcp_echo_benches);
criterion_main!(benches);
