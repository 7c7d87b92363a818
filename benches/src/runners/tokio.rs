//! The tokio peers: `tokio-ct` (current-thread runtime) and `tokio-mt` (multi-thread runtime
//! with tokio's default worker count, one per core).
//!
//! Every workload body runs inside a spawned task (`rt.block_on(rt.spawn(body))`), as the
//! ringloop rows and the Python script do, so no runtime gets the cheaper "run on the
//! `block_on` thread" path for free. Only the `time` driver is enabled: no workload here does
//! I/O.
//!
//! The primitives used, per workload: `time::sleep`, `time::sleep_until`, a pinned `Sleep`
//! polled once with a no-op waker and dropped (`timer_churn`), `time::timeout` around
//! `std::future::ready`, `task::spawn` + `JoinHandle`, `task::yield_now`, a `oneshot` for the
//! end of the chain, and two `mpsc::channel(1)` for `ping_pong`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::time;

use super::{expect_eq, Runner};
use crate::workload::{self, Params, Sample, Workload, LONG_SLEEP, SHARED_DEADLINE, YIELD_TASKS};

/// One tokio runtime flavour.
pub struct Tokio {
    multi_thread: bool,
}

/// `tokio-ct` and `tokio-mt`.
pub fn runners() -> Vec<Box<dyn Runner>> {
    vec![
        Box::new(Tokio {
            multi_thread: false,
        }),
        Box::new(Tokio { multi_thread: true }),
    ]
}

impl Runner for Tokio {
    fn id(&self) -> &'static str {
        if self.multi_thread {
            "tokio-mt"
        } else {
            "tokio-ct"
        }
    }

    fn available(&self) -> Result<(), String> {
        Ok(())
    }

    fn run(&self, workload: Workload, params: &Params) -> Result<Sample, String> {
        let rt = if self.multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .enable_time()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
        }
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
        let p = *params;
        let task = match workload {
            Workload::SleepMany => rt.spawn(sleep_many(p)),
            Workload::SleepSameDeadline => rt.spawn(sleep_same_deadline(p)),
            Workload::TimerChurn => rt.spawn(timer_churn(p)),
            Workload::TimeoutReady => rt.spawn(timeout_ready(p)),
            Workload::Lateness => rt.spawn(lateness(p)),
            Workload::SpawnJoin => rt.spawn(spawn_join(p)),
            Workload::YieldMany => rt.spawn(yield_many(p)),
            Workload::ChainedSpawn => rt.spawn(chained_spawn(p)),
            Workload::PingPong => rt.spawn(ping_pong(p)),
        };
        rt.block_on(task)
            .map_err(|e| format!("the workload task failed: {e}"))?
    }
}

/// Awaits every handle and adds up the results.
async fn join_sum(handles: Vec<tokio::task::JoinHandle<u64>>) -> Result<u64, String> {
    let mut sum = 0;
    for h in handles {
        sum += h.await.map_err(|e| format!("a task failed: {e}"))?;
    }
    Ok(sum)
}

async fn sleep_many(p: Params) -> Result<Sample, String> {
    let durations = workload::durations(p.seed, p.n);
    let start = Instant::now();
    let handles = durations
        .into_iter()
        .map(|d| {
            tokio::spawn(async move {
                time::sleep(d).await;
                1
            })
        })
        .collect();
    let done = join_sum(handles).await?;
    Ok(Sample::new(done, start.elapsed()))
}

async fn sleep_same_deadline(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let deadline = time::Instant::from_std(start + SHARED_DEADLINE);
    let handles = (0..p.n)
        .map(|_| {
            tokio::spawn(async move {
                time::sleep_until(deadline).await;
                1
            })
        })
        .collect();
    let done = join_sum(handles).await?;
    Ok(Sample::new(done, start.elapsed()))
}

async fn timer_churn(p: Params) -> Result<Sample, String> {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    let mut done = 0;
    for _ in 0..p.n {
        // The first poll registers the timer; dropping the pinned Sleep cancels it.
        let sleep = pin!(time::sleep(LONG_SLEEP));
        if sleep.poll(&mut cx).is_ready() {
            return Err("a 1 s sleep completed on its first poll".into());
        }
        done += 1;
    }
    Ok(Sample::new(done, start.elapsed()))
}

async fn timeout_ready(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let mut sum = 0;
    for i in 0..p.n {
        sum += time::timeout(LONG_SLEEP, std::future::ready(i))
            .await
            .map_err(|_| "a ready value timed out".to_string())?;
    }
    let wall = start.elapsed();
    expect_eq("timeout_ready sum", sum, workload::index_sum(p.n))?;
    Ok(Sample::new(p.n, wall))
}

async fn lateness(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let deadline = start + SHARED_DEADLINE;
    let handles: Vec<_> = (0..p.n)
        .map(|_| {
            tokio::spawn(async move {
                time::sleep_until(time::Instant::from_std(deadline)).await;
                workload::lateness_ns(deadline, Instant::now())
            })
        })
        .collect();
    let mut late = Vec::with_capacity(handles.len());
    for h in handles {
        late.push(h.await.map_err(|e| format!("a task failed: {e}"))?);
    }
    let mut sample = Sample::new(late.len() as u64, start.elapsed());
    sample.lateness_ns = Some(late);
    Ok(sample)
}

async fn spawn_join(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let handles = (0..p.n).map(|i| tokio::spawn(async move { i })).collect();
    let sum = join_sum(handles).await?;
    let wall = start.elapsed();
    expect_eq("spawn_join sum", sum, workload::index_sum(p.n))?;
    Ok(Sample::new(p.n, wall))
}

async fn yield_many(p: Params) -> Result<Sample, String> {
    let per_task = workload::yield_per_task(p.n);
    let start = Instant::now();
    let handles = (0..YIELD_TASKS)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    tokio::task::yield_now().await;
                }
                per_task
            })
        })
        .collect();
    let yields = join_sum(handles).await?;
    Ok(Sample::new(yields, start.elapsed()))
}

/// Spawns link `depth` of the chain; the last link sends its depth.
fn link(depth: u64, n: u64, done: oneshot::Sender<u64>) {
    tokio::spawn(async move {
        if depth >= n {
            let _ = done.send(depth);
        } else {
            link(depth + 1, n, done);
        }
    });
}

async fn chained_spawn(p: Params) -> Result<Sample, String> {
    let (tx, rx) = oneshot::channel();
    let start = Instant::now();
    link(1, p.n, tx);
    let depth = rx
        .await
        .map_err(|_| "the chain broke before its end".to_string())?;
    Ok(Sample::new(depth, start.elapsed()))
}

async fn ping_pong(p: Params) -> Result<Sample, String> {
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    let start = Instant::now();
    let echo = tokio::spawn(async move {
        let mut echoed = 0u64;
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v).await.is_err() {
                break;
            }
            echoed += 1;
        }
        echoed
    });
    for i in 0..p.n {
        ping_tx
            .send(i)
            .await
            .map_err(|_| "the echo task hung up".to_string())?;
        let v = pong_rx.recv().await.ok_or("the echo task hung up")?;
        expect_eq("ping_pong echo", v, i)?;
    }
    let wall = start.elapsed();
    drop(ping_tx);
    let echoed = echo
        .await
        .map_err(|e| format!("the echo task failed: {e}"))?;
    Ok(Sample::new(echoed, wall))
}
