//! The smol peer: one `smol::Executor` run by `smol::block_on` on the cell's main thread.
//!
//! This is smol's fastest single-threaded arrangement: `block_on` polls the executor and, when
//! it has nothing to run, blocks in async-io's reactor (epoll) until a timer or a wake-up.
//! (`smol::spawn` would instead use a global executor on a separate thread, adding a cross-thread
//! hand-off to every wake-up; the table compares ringloop against each peer's best showing.)
//! The executor is leaked to get the `&'static` its spawned tasks need; the cell's process
//! ends right after.
//!
//! The primitives used, per workload: `Timer::after`, `Timer::at`, a pinned `Timer` polled
//! once with a no-op waker and dropped (`timer_churn`), `future::or` of `ready` against a
//! `Timer` (smol has no `timeout`; `or` polls the ready side first, as tokio's `timeout` does),
//! `Executor::spawn` + `Task`, `future::yield_now`, `channel::bounded(1)` (async-channel)
//! for the end of the chain and for `ping_pong`, and `smol::net`'s `TcpListener` and
//! `TcpStream` (async-net, on async-io's epoll reactor) with futures-lite's `read_exact` and
//! `write_all` for `tcp_echo`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Instant;

use smol::channel::{self, Sender};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use smol::{future, Executor, Task, Timer};

use super::{expect_eq, Runner};
use crate::workload::{self, Params, Sample, Workload, LONG_SLEEP, SHARED_DEADLINE, YIELD_TASKS};
use crate::workload::{ECHO_BUF, TCP_CONNECTIONS, TCP_MESSAGE};

/// The executor every task of the cell is spawned on.
type Ex = &'static Executor<'static>;

/// The `smol` row.
pub struct Smol;

impl Runner for Smol {
    fn id(&self) -> &'static str {
        "smol"
    }

    fn available(&self) -> Result<(), String> {
        Ok(())
    }

    fn run(&self, workload: Workload, params: &Params) -> Result<Sample, String> {
        let ex: Ex = Box::leak(Box::new(Executor::new()));
        let p = *params;
        let task: Task<Result<Sample, String>> = match workload {
            Workload::SleepMany => ex.spawn(sleep_many(ex, p)),
            Workload::SleepSameDeadline => ex.spawn(sleep_same_deadline(ex, p)),
            Workload::TimerChurn => ex.spawn(timer_churn(p)),
            Workload::TimeoutReady => ex.spawn(timeout_ready(p)),
            Workload::Lateness => ex.spawn(lateness(ex, p)),
            Workload::SpawnJoin => ex.spawn(spawn_join(ex, p)),
            Workload::YieldMany => ex.spawn(yield_many(ex, p)),
            Workload::ChainedSpawn => ex.spawn(chained_spawn(ex, p)),
            Workload::PingPong => ex.spawn(ping_pong(ex, p)),
            Workload::TcpEcho => ex.spawn(tcp_echo(ex, p)),
        };
        smol::block_on(ex.run(task))
    }
}

/// Awaits every task and adds up the results.
async fn join_sum(tasks: Vec<Task<u64>>) -> u64 {
    let mut sum = 0;
    for t in tasks {
        sum += t.await;
    }
    sum
}

async fn sleep_many(ex: Ex, p: Params) -> Result<Sample, String> {
    let durations = workload::durations(p.seed, p.n);
    let start = Instant::now();
    let tasks = durations
        .into_iter()
        .map(|d| {
            ex.spawn(async move {
                Timer::after(d).await;
                1
            })
        })
        .collect();
    let done = join_sum(tasks).await;
    Ok(Sample::new(done, start.elapsed()))
}

async fn sleep_same_deadline(ex: Ex, p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let deadline = start + SHARED_DEADLINE;
    let tasks = (0..p.n)
        .map(|_| {
            ex.spawn(async move {
                Timer::at(deadline).await;
                1
            })
        })
        .collect();
    let done = join_sum(tasks).await;
    Ok(Sample::new(done, start.elapsed()))
}

async fn timer_churn(p: Params) -> Result<Sample, String> {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    let mut done = 0;
    for _ in 0..p.n {
        // The first poll registers the timer with async-io's reactor; the drop removes it.
        let timer = pin!(Timer::after(LONG_SLEEP));
        if timer.poll(&mut cx).is_ready() {
            return Err("a 1 s timer completed on its first poll".into());
        }
        done += 1;
    }
    Ok(Sample::new(done, start.elapsed()))
}

async fn timeout_ready(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let mut sum = 0;
    for i in 0..p.n {
        let ready = async move { Some(future::ready(i).await) };
        // Built here, as tokio's `timeout` builds its `Sleep`: an async block that created
        // it would never run, and the row would measure nothing.
        let timer = Timer::after(LONG_SLEEP);
        let limit = async move {
            timer.await;
            None
        };
        sum += future::or(ready, limit)
            .await
            .ok_or("a ready value timed out")?;
    }
    let wall = start.elapsed();
    expect_eq("timeout_ready sum", sum, workload::index_sum(p.n))?;
    Ok(Sample::new(p.n, wall))
}

async fn lateness(ex: Ex, p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let deadline = start + SHARED_DEADLINE;
    let tasks: Vec<Task<i64>> = (0..p.n)
        .map(|_| {
            ex.spawn(async move {
                Timer::at(deadline).await;
                workload::lateness_ns(deadline, Instant::now())
            })
        })
        .collect();
    let mut late = Vec::with_capacity(tasks.len());
    for t in tasks {
        late.push(t.await);
    }
    let mut sample = Sample::new(late.len() as u64, start.elapsed());
    sample.lateness_ns = Some(late);
    Ok(sample)
}

async fn spawn_join(ex: Ex, p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let tasks = (0..p.n).map(|i| ex.spawn(async move { i })).collect();
    let sum = join_sum(tasks).await;
    let wall = start.elapsed();
    expect_eq("spawn_join sum", sum, workload::index_sum(p.n))?;
    Ok(Sample::new(p.n, wall))
}

async fn yield_many(ex: Ex, p: Params) -> Result<Sample, String> {
    let per_task = workload::yield_per_task(p.n);
    let start = Instant::now();
    let tasks = (0..YIELD_TASKS)
        .map(|_| {
            ex.spawn(async move {
                for _ in 0..per_task {
                    future::yield_now().await;
                }
                per_task
            })
        })
        .collect();
    let yields = join_sum(tasks).await;
    Ok(Sample::new(yields, start.elapsed()))
}

/// Spawns link `depth` of the chain; the last link sends its depth.
fn link(ex: Ex, depth: u64, n: u64, done: Sender<u64>) {
    ex.spawn(async move {
        if depth >= n {
            let _ = done.send(depth).await;
        } else {
            link(ex, depth + 1, n, done);
        }
    })
    .detach();
}

async fn chained_spawn(ex: Ex, p: Params) -> Result<Sample, String> {
    let (tx, rx) = channel::bounded(1);
    let start = Instant::now();
    link(ex, 1, p.n, tx);
    let depth = rx
        .recv()
        .await
        .map_err(|_| "the chain broke before its end".to_string())?;
    Ok(Sample::new(depth, start.elapsed()))
}

async fn ping_pong(ex: Ex, p: Params) -> Result<Sample, String> {
    let (ping_tx, ping_rx) = channel::bounded::<u64>(1);
    let (pong_tx, pong_rx) = channel::bounded::<u64>(1);
    let start = Instant::now();
    let echo = ex.spawn(async move {
        let mut echoed = 0u64;
        while let Ok(v) = ping_rx.recv().await {
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
        let v = pong_rx
            .recv()
            .await
            .map_err(|_| "the echo task hung up".to_string())?;
        expect_eq("ping_pong echo", v, i)?;
    }
    let wall = start.elapsed();
    drop(ping_tx);
    Ok(Sample::new(echo.await, wall))
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

async fn tcp_echo(ex: Ex, p: Params) -> Result<Sample, String> {
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
        servers.push(ex.spawn(echo(server)));
        clients.push(client);
    }
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(0..)
        .map(|(stream, conn)| ex.spawn(echo_client(stream, conn, rounds)))
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await?;
    }
    let wall = start.elapsed();
    let mut echoed = 0;
    for t in servers {
        echoed += t.await?;
    }
    expect_eq("tcp_echo bytes echoed", echoed, workload::echo_bytes(p.n))?;
    Ok(Sample::new(done, wall))
}
