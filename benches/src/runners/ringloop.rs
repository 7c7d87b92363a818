//! The ringloop rows: `ringloop-{epoll,uring}-{ct,mt}`, one [`Ringloop`] per reactor backend
//! and scheduler flavour.
//!
//! Each row builds its runtime with the backend *forced*
//! (`Runtime::builder().flavor(..).backend(BackendChoice::Epoll | IoUring).worker_threads(2)`),
//! so a machine without io_uring reports the two `uring` rows unavailable, with the kernel's
//! reason, instead of silently measuring epoll twice. The multi-thread rows run two workers:
//! this project's machines have two cores, and `tokio-mt` gets one worker per core.
//!
//! Every workload is the shape `tokio.rs` implements, line for line, with ringloop's own
//! primitives, and every body runs inside a spawned task (`rt.block_on(rt.create_task(body))`)
//! as the peers' do. The primitives used, per workload:
//!
//! | workload | tokio | ringloop |
//! |---|---|---|
//! | `sleep_many`, `sleep_same_deadline`, `lateness` | `time::sleep`, `time::sleep_until` | [`ringloop::sleep`], [`ringloop::sleep_until`] |
//! | `timer_churn` | a pinned `Sleep` polled once with a no-op waker, dropped | the same with ringloop's `Sleep` (it is `Unpin`: no pinning needed) |
//! | `timeout_ready` | `time::timeout(1 s, ready(i))` | [`ringloop::wait_for`]`(ready(i), 1 s)` |
//! | `spawn_join` | `task::spawn` + `JoinHandle` | [`ringloop::create_task`] + [`ringloop::Task`] |
//! | `yield_many` | `task::yield_now` | [`ringloop::yield_now`] (asyncio's `sleep(0)`) |
//! | `chained_spawn` | a `oneshot` for the end of the chain | a [`Queue`] of size 1 |
//! | `ping_pong` | two `mpsc::channel(1)`, hang-up by dropping the sender | two `Queue::new(1)`, hang-up by [`Queue::shutdown`] (Python 3.13's) |
//! | `tcp_echo` | `tokio::net::{TcpListener, TcpStream}`, `read_exact`, `write_all` | [`TcpListener`], [`TcpStream`]: `read` in a loop for the exact reply, `write_all` |
//!
//! `tcp_echo` uses ringloop's socket types, the level tokio's and smol's rows use, rather than
//! its asyncio streams ([`ringloop::streams`], which buffer on top of them); the Python rows
//! use asyncio's streams, the level asyncio code is written at. On the io_uring backend a
//! [`TcpStream`] read is a completion-based receive into a runtime-owned buffer; on epoll it is
//! edge-triggered readiness and `read(2)`.
//!
//! One difference in what is measured: tokio's `timeout` builds its `Sleep` up front (it
//! registers nothing until polled), while ringloop's `wait_for` arms its timer only when the
//! inner future first returns `Pending`; around a ready value neither touches a timer wheel,
//! so `timeout_ready` compares the two wrappers' fast paths.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Instant;

use ringloop::net::{TcpListener, TcpStream};
use ringloop::sync::Queue;
use ringloop::{Backend, BackendChoice, Flavor, Runtime, Task};

use super::{expect_eq, Runner};
use crate::workload::{self, Params, Sample, Workload, LONG_SLEEP, SHARED_DEADLINE, YIELD_TASKS};
use crate::workload::{ECHO_BUF, TCP_CONNECTIONS, TCP_MESSAGE};

/// Worker threads of the multi-thread rows: one per core of this project's 2-core machines.
const WORKERS: usize = 2;

/// One ringloop row: a backend and a scheduler flavour.
pub struct Ringloop {
    /// The reactor backend the row forces.
    pub backend: Backend,
    /// Multi-thread (work-stealing) scheduler if true, current-thread if false.
    pub multi_thread: bool,
}

/// The four ringloop rows, in report order.
pub fn runners() -> Vec<Box<dyn Runner>> {
    let mut v: Vec<Box<dyn Runner>> = Vec::new();
    for backend in [Backend::Epoll, Backend::IoUring] {
        for multi_thread in [false, true] {
            v.push(Box::new(Ringloop {
                backend,
                multi_thread,
            }));
        }
    }
    v
}

impl Ringloop {
    /// Builds this row's runtime, with the backend forced, and checks it got that backend.
    fn build(&self) -> Result<Runtime, String> {
        let choice = match self.backend {
            Backend::Epoll => BackendChoice::Epoll,
            Backend::IoUring => BackendChoice::IoUring,
        };
        let flavor = if self.multi_thread {
            Flavor::MultiThread
        } else {
            Flavor::CurrentThread
        };
        let rt = Runtime::builder()
            .flavor(flavor)
            .backend(choice)
            .worker_threads(WORKERS)
            .build()
            .map_err(|e| format!("cannot start ringloop on {}: {e}", self.backend))?;
        if rt.backend() != self.backend {
            return Err(format!(
                "asked for {} and got {}",
                self.backend,
                rt.backend()
            ));
        }
        Ok(rt)
    }
}

impl Runner for Ringloop {
    fn id(&self) -> &'static str {
        match (self.backend, self.multi_thread) {
            (Backend::Epoll, false) => "ringloop-epoll-ct",
            (Backend::Epoll, true) => "ringloop-epoll-mt",
            (Backend::IoUring, false) => "ringloop-uring-ct",
            (Backend::IoUring, true) => "ringloop-uring-mt",
        }
    }

    /// Builds the runtime once and drops it: io_uring may be missing (old kernel, seccomp,
    /// `kernel.io_uring_disabled`), and then the error says so.
    fn available(&self) -> Result<(), String> {
        self.build().map(drop)
    }

    fn run(&self, workload: Workload, params: &Params) -> Result<Sample, String> {
        let rt = self.build()?;
        let p = *params;
        let task = match workload {
            Workload::SleepMany => rt.create_task(sleep_many(p)),
            Workload::SleepSameDeadline => rt.create_task(sleep_same_deadline(p)),
            Workload::TimerChurn => rt.create_task(timer_churn(p)),
            Workload::TimeoutReady => rt.create_task(timeout_ready(p)),
            Workload::Lateness => rt.create_task(lateness(p)),
            Workload::SpawnJoin => rt.create_task(spawn_join(p)),
            Workload::YieldMany => rt.create_task(yield_many(p)),
            Workload::ChainedSpawn => rt.create_task(chained_spawn(p)),
            Workload::PingPong => rt.create_task(ping_pong(p)),
            Workload::TcpEcho => rt.create_task(tcp_echo(p)),
        };
        rt.block_on(task)
            .map_err(|e| format!("the workload task failed: {e}"))?
    }
}

/// Awaits every task and adds up the results.
async fn join_sum(tasks: Vec<Task<u64>>) -> Result<u64, String> {
    let mut sum = 0;
    for t in tasks {
        sum += t.await.map_err(|e| format!("a task failed: {e}"))?;
    }
    Ok(sum)
}

async fn sleep_many(p: Params) -> Result<Sample, String> {
    let durations = workload::durations(p.seed, p.n);
    let start = Instant::now();
    let tasks = durations
        .into_iter()
        .map(|d| {
            ringloop::create_task(async move {
                ringloop::sleep(d).await;
                1
            })
        })
        .collect();
    let done = join_sum(tasks).await?;
    Ok(Sample::new(done, start.elapsed()))
}

async fn sleep_same_deadline(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let deadline = start + SHARED_DEADLINE;
    let tasks = (0..p.n)
        .map(|_| {
            ringloop::create_task(async move {
                ringloop::sleep_until(deadline).await;
                1
            })
        })
        .collect();
    let done = join_sum(tasks).await?;
    Ok(Sample::new(done, start.elapsed()))
}

async fn timer_churn(p: Params) -> Result<Sample, String> {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    let mut done = 0;
    for _ in 0..p.n {
        // The first poll puts the timer in this worker's wheel; the drop takes it out.
        let mut sleep = ringloop::sleep(LONG_SLEEP);
        if Pin::new(&mut sleep).poll(&mut cx).is_ready() {
            return Err("a 1 s sleep completed on its first poll".into());
        }
        drop(sleep);
        done += 1;
    }
    Ok(Sample::new(done, start.elapsed()))
}

async fn timeout_ready(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let mut sum = 0;
    for i in 0..p.n {
        sum += ringloop::wait_for(std::future::ready(i), LONG_SLEEP)
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
    let tasks: Vec<_> = (0..p.n)
        .map(|_| {
            ringloop::create_task(async move {
                ringloop::sleep_until(deadline).await;
                workload::lateness_ns(deadline, Instant::now())
            })
        })
        .collect();
    let mut late = Vec::with_capacity(tasks.len());
    for t in tasks {
        late.push(t.await.map_err(|e| format!("a task failed: {e}"))?);
    }
    let mut sample = Sample::new(late.len() as u64, start.elapsed());
    sample.lateness_ns = Some(late);
    Ok(sample)
}

async fn spawn_join(p: Params) -> Result<Sample, String> {
    let start = Instant::now();
    let tasks = (0..p.n)
        .map(|i| ringloop::create_task(async move { i }))
        .collect();
    let sum = join_sum(tasks).await?;
    let wall = start.elapsed();
    expect_eq("spawn_join sum", sum, workload::index_sum(p.n))?;
    Ok(Sample::new(p.n, wall))
}

async fn yield_many(p: Params) -> Result<Sample, String> {
    let per_task = workload::yield_per_task(p.n);
    let start = Instant::now();
    let tasks = (0..YIELD_TASKS)
        .map(|_| {
            ringloop::create_task(async move {
                for _ in 0..per_task {
                    ringloop::yield_now().await;
                }
                per_task
            })
        })
        .collect();
    let yields = join_sum(tasks).await?;
    Ok(Sample::new(yields, start.elapsed()))
}

/// Spawns link `depth` of the chain; the last link puts its depth in `done`.
fn link(depth: u64, n: u64, done: Arc<Queue<u64>>) {
    // Dropping the `Task` detaches the link: it runs on, as tokio's dropped `JoinHandle` does.
    drop(ringloop::create_task(async move {
        if depth >= n {
            // The queue is empty and has room for one: this put never waits, and it cannot
            // fail, because nothing shuts the queue down.
            let _ = done.put(depth).await;
        } else {
            link(depth + 1, n, done);
        }
    }));
}

async fn chained_spawn(p: Params) -> Result<Sample, String> {
    let done = Arc::new(Queue::new(1));
    let start = Instant::now();
    link(1, p.n, done.clone());
    let depth = done
        .get()
        .await
        .map_err(|_| "the chain broke before its end".to_string())?;
    Ok(Sample::new(depth, start.elapsed()))
}

async fn ping_pong(p: Params) -> Result<Sample, String> {
    let ping = Arc::new(Queue::<u64>::new(1));
    let pong = Arc::new(Queue::<u64>::new(1));
    let start = Instant::now();
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        ringloop::create_task(async move {
            let mut echoed = 0u64;
            while let Ok(v) = ping.get().await {
                if pong.put(v).await.is_err() {
                    break;
                }
                echoed += 1;
            }
            echoed
        })
    };
    for i in 0..p.n {
        ping.put(i)
            .await
            .map_err(|_| "the echo task hung up".to_string())?;
        let v = pong
            .get()
            .await
            .map_err(|_| "the echo task hung up".to_string())?;
        expect_eq("ping_pong echo", v, i)?;
    }
    let wall = start.elapsed();
    // tokio's row hangs up by dropping its sender; asyncio's queues hang up with `shutdown`
    // (Python 3.13): the echo task's pending `get` fails and its loop ends.
    ping.shutdown(false);
    let echoed = echo
        .await
        .map_err(|e| format!("the echo task failed: {e}"))?;
    Ok(Sample::new(echoed, wall))
}

/// One echo server task: writes back whatever it reads until end of stream; returns the
/// bytes echoed.
async fn echo(stream: TcpStream) -> Result<u64, String> {
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

/// Reads exactly `buf.len()` bytes (ringloop's `TcpStream` has no `read_exact`: asyncio's
/// `readexactly` lives on the `StreamReader`).
async fn read_exact(stream: &TcpStream, mut buf: &mut [u8]) -> Result<(), String> {
    while !buf.is_empty() {
        match stream.read(buf).await {
            Ok(0) => return Err("the echo server closed the connection early".into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) => return Err(format!("client read: {e}")),
        }
    }
    Ok(())
}

/// One client: `rounds` round trips of a 1 KiB message, each reply checked byte for byte; the
/// stream is closed when the task ends, which ends its echo task.
async fn echo_client(stream: TcpStream, conn: u64, rounds: u64) -> Result<u64, String> {
    let mut msg = workload::echo_message(conn);
    let mut reply = vec![0u8; TCP_MESSAGE];
    for round in 0..rounds {
        workload::stamp_message(&mut msg, conn, round);
        stream
            .write_all(&msg)
            .await
            .map_err(|e| format!("client write: {e}"))?;
        read_exact(&stream, &mut reply).await?;
        if reply != msg {
            return Err(format!("connection {conn}, round trip {round}: wrong echo"));
        }
    }
    Ok(rounds)
}

/// `tcp_echo`: the crate docs describe the shape. Public so that the criterion bench measures
/// the very same body.
pub async fn tcp_echo(p: Params) -> Result<Sample, String> {
    let rounds = workload::round_trips_per_connection(p.n);
    // Set-up, not timed: 64 connections, each accepted and handed to its echo task.
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
        servers.push(ringloop::create_task(echo(server)));
        clients.push(client);
    }
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(0..)
        .map(|(stream, conn)| ringloop::create_task(echo_client(stream, conn, rounds)))
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
