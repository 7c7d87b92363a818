//! The tokio peers: `tokio-ct` (current-thread runtime) and `tokio-mt` (multi-thread runtime
//! with tokio's default worker count, one per core).
//!
//! Every workload body runs inside a spawned task (`rt.block_on(rt.spawn(body))`), as the
//! ringloop rows and the Python script do, so no runtime gets the cheaper "run on the
//! `block_on` thread" path for free. The `time` driver is enabled for every workload, and the
//! I/O driver for `tcp_echo` only: the other workloads do no I/O, and tokio parks its threads
//! differently when it has an I/O driver (in `epoll_wait` instead of on a condition variable).
//!
//! The primitives used, per workload: `time::sleep`, `time::sleep_until`, a pinned `Sleep`
//! polled once with a no-op waker and dropped (`timer_churn`), `time::timeout` around
//! `std::future::ready`, `task::spawn` + `JoinHandle`, `task::yield_now`, a `oneshot` for the
//! end of the chain, two `mpsc::channel(1)` for `ping_pong`, and `tokio::net`'s
//! `TcpListener` and `TcpStream` with `AsyncReadExt::read_exact` and
//! `AsyncWriteExt::write_all` for `tcp_echo`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time;

use super::{expect_eq, Runner};
use crate::workload::{self, Params, Sample, Workload, LONG_SLEEP, SHARED_DEADLINE, YIELD_TASKS};
use crate::workload::{ECHO_BUF, TCP_CONNECTIONS, TCP_MESSAGE};

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
        let mut builder = if self.multi_thread {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        builder.enable_time();
        if workload == Workload::TcpEcho {
            builder.enable_io();
        }
        let rt = builder
            .build()
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
            Workload::TcpEcho => rt.spawn(tcp_echo(p)),
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

/// One echo server task: writes back whatever it reads until end of stream; returns the
/// bytes echoed.
async fn echo(mut stream: TcpStream) -> Result<u64, String> {
    let mut buf = vec![0u8; ECHO_BUF];
    let mut echoed = 0;
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("echo read: {e}"))?;
        if n == 0 {
            return Ok(echoed);
        }
        stream
            .write_all(&buf[..n])
            .await
            .map_err(|e| format!("echo write: {e}"))?;
        echoed += n as u64;
    }
}

/// One client: `rounds` round trips of a 1 KiB message, each reply checked byte for byte.
async fn echo_client(mut stream: TcpStream, conn: u64, rounds: u64) -> Result<u64, String> {
    let mut msg = workload::echo_message(conn);
    let mut reply = vec![0u8; TCP_MESSAGE];
    for round in 0..rounds {
        workload::stamp_message(&mut msg, conn, round);
        stream
            .write_all(&msg)
            .await
            .map_err(|e| format!("client write: {e}"))?;
        stream
            .read_exact(&mut reply)
            .await
            .map_err(|e| format!("client read: {e}"))?;
        if reply != msg {
            return Err(format!("connection {conn}, round trip {round}: wrong echo"));
        }
    }
    Ok(rounds)
}

/// `tcp_echo`, the shape of `ringloop.rs`'s line for line. Public so that the criterion bench
/// measures the very same body. Needs a runtime with the I/O driver enabled.
pub async fn tcp_echo(p: Params) -> Result<Sample, String> {
    let rounds = workload::round_trips_per_connection(p.n);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..TCP_CONNECTIONS {
        let client = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (server, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accept: {e}"))?;
        for s in [&client, &server] {
            s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        }
        servers.push(tokio::spawn(echo(server)));
        clients.push(client);
    }
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(0..)
        .map(|(stream, conn)| tokio::spawn(echo_client(stream, conn, rounds)))
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.map_err(|e| format!("a client failed: {e}"))??;
    }
    let wall = start.elapsed();
    let mut echoed = 0;
    for t in servers {
        echoed += t.await.map_err(|e| format!("an echo task failed: {e}"))??;
    }
    expect_eq("tcp_echo bytes echoed", echoed, workload::echo_bytes(p.n))?;
    Ok(Sample::new(done, wall))
}
