//! The blocking pool (`to_thread`, `Handle::spawn_blocking`, `LoopHandle::run_in_executor`):
//! results and panics, runtime threads never blocked, the thread limit, idle threads exiting,
//! and shutdown, on both flavours.

use ringloop::{Builder, EventLoop, Flavor, LoopError, Runtime, SpawnError};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

/// Every test holds this: `idle_pool_threads_exit_after_the_keep_alive` counts the process's
/// pool threads, which another test running at the same time would add to.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn builders() -> Vec<(&'static str, Builder)> {
    vec![
        ("ct", Builder::new_current_thread()),
        ("mt", Builder::new_multi_thread().worker_threads(2)),
    ]
}

/// Pool threads alive in this process, read from the kernel's thread names.
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("ringloop-blocki"))
        .count()
}

#[test]
fn to_thread_returns_the_value_from_a_pool_thread() {
    let _serial = serial();
    for (name, b) in builders() {
        let rt = b.build().unwrap();
        let (value, thread_name) = rt.block_on(async {
            ringloop::to_thread(|| (6 * 7, thread::current().name().map(String::from)))
                .await
                .unwrap()
        });
        assert_eq!(value, 42, "{name}");
        let thread_name = thread_name.unwrap();
        assert!(
            thread_name.starts_with("ringloop-blocking-"),
            "{name}: {thread_name}"
        );
    }
}

/// The job blocks until a task of the same runtime unblocks it: if the job ran on a runtime
/// thread (the only one, on the current-thread flavour), the task could never run and the job
/// would time out.
#[test]
fn a_blocking_job_does_not_block_the_runtime() {
    let _serial = serial();
    for (name, b) in builders() {
        let rt = b.build().unwrap();
        let unblocked = rt.block_on(async {
            let (tx, rx) = mpsc::channel::<()>();
            let job = ringloop::to_thread(move || rx.recv_timeout(Duration::from_secs(10)).is_ok());
            let sender = ringloop::create_task(async move {
                ringloop::sleep(Duration::from_millis(5)).await;
                tx.send(()).unwrap();
            });
            sender.await.unwrap();
            job.await.unwrap()
        });
        assert!(
            unblocked,
            "{name}: the task never ran while the job blocked"
        );
    }
}

#[test]
fn a_panicking_job_surfaces_at_its_future_and_the_runtime_goes_on() {
    let _serial = serial();
    for (name, b) in builders() {
        let rt = b.build().unwrap();
        let (err, after) = rt.block_on(async {
            let err = ringloop::to_thread(|| -> u32 { panic!("job failed") })
                .await
                .unwrap_err();
            (err, ringloop::to_thread(|| 1).await.unwrap())
        });
        assert!(err.is_panic(), "{name}");
        assert_eq!(err.panic_message(), Some("job failed"), "{name}");
        assert_eq!(after, 1, "{name}");
    }
}

/// Twelve jobs on a pool of at most three threads: never more than three run at once, and
/// every job runs exactly once.
#[test]
fn jobs_beyond_the_thread_limit_wait_their_turn() {
    let _serial = serial();
    for (name, b) in builders() {
        let rt = b.max_blocking_threads(3).build().unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (running.clone(), peak.clone());
        let results = rt.block_on(async move {
            let jobs: Vec<_> = (0..12)
                .map(|i| {
                    let (r, p) = (r.clone(), p.clone());
                    ringloop::to_thread(move || {
                        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                        p.fetch_max(now, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(10));
                        r.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                })
                .collect();
            let mut out = Vec::new();
            for job in jobs {
                out.push(job.await.unwrap());
            }
            out
        });
        assert_eq!(results, (0..12).collect::<Vec<_>>(), "{name}");
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=3).contains(&peak), "{name}: {peak} jobs at once");
    }
}

#[test]
fn idle_pool_threads_exit_after_the_keep_alive() {
    let _serial = serial();
    // A runtime's drop waits for its pool threads, but `shutdown_timeout` leaves a stuck one
    // behind for a while: wait for those to be gone first.
    let settle = Instant::now();
    while pool_threads() > 0 && settle.elapsed() < Duration::from_secs(20) {
        thread::sleep(Duration::from_millis(10));
    }
    let keep_alive = Duration::from_millis(100);
    let rt = Builder::new_current_thread()
        .blocking_keep_alive(keep_alive)
        .build()
        .unwrap();
    let last_end = rt.block_on(async {
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                ringloop::to_thread(|| {
                    thread::sleep(Duration::from_millis(20));
                    Instant::now()
                })
            })
            .collect();
        let mut last = None;
        for job in jobs {
            last = last.max(Some(job.await.unwrap()));
        }
        last.unwrap()
    });
    assert!(pool_threads() > 0, "the jobs' threads are idle, not gone");
    loop {
        let n = pool_threads();
        let now = Instant::now();
        if n == 0 {
            // Never before the keep-alive: the last job ended at `last_end`.
            assert!(
                now >= last_end + keep_alive,
                "exited {:?} early",
                last_end + keep_alive - now
            );
            break;
        }
        assert!(
            now < last_end + Duration::from_secs(10),
            "{n} idle pool threads still alive after 10 s"
        );
        thread::sleep(Duration::from_millis(5));
    }
    // The pool starts threads again on demand.
    assert_eq!(
        rt.block_on(async { ringloop::to_thread(|| 5).await })
            .unwrap(),
        5
    );
}

/// Polls a future once with a no-op waker.
fn poll_once<F: Future>(f: &mut std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.as_mut()
        .poll(&mut Context::from_waker(std::task::Waker::noop()))
}

/// Dropping the runtime waits for the running job, and drops the queued one unrun: its future
/// gives a cancelled error.
#[test]
fn shutdown_waits_for_running_jobs_and_cancels_queued_ones() {
    let _serial = serial();
    for (name, b) in builders() {
        let rt = b.max_blocking_threads(1).build().unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let first_done = Arc::new(AtomicBool::new(false));
        let second_ran = Arc::new(AtomicBool::new(false));
        let (f, s) = (first_done.clone(), second_ran.clone());
        let handle = rt.handle().clone();
        let first = handle.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
            f.store(true, Ordering::SeqCst);
        });
        let second = handle.spawn_blocking(move || s.store(true, Ordering::SeqCst));
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let dropper = thread::spawn(move || drop(rt));
        thread::sleep(Duration::from_millis(20));
        assert!(!dropper.is_finished(), "{name}: the drop did not wait");
        tx.send(()).unwrap();
        dropper.join().unwrap();
        assert!(first_done.load(Ordering::SeqCst), "{name}");
        assert!(
            !second_ran.load(Ordering::SeqCst),
            "{name}: a queued job ran"
        );
        let mut first = pin!(first);
        assert!(
            matches!(poll_once(&mut first), Poll::Ready(Ok(()))),
            "{name}"
        );
        let mut second = pin!(second);
        match poll_once(&mut second) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled(), "{name}: {e}"),
            other => panic!("{name}: {:?}", other.map(|r| r.is_ok())),
        }
        // Nothing more can be queued.
        assert!(matches!(
            handle.try_spawn_blocking(|| ()),
            Err(SpawnError::Shutdown)
        ));
    }
}

#[test]
fn shutdown_timeout_leaves_a_stuck_job_behind() {
    let _serial = serial();
    let rt = Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let job = rt.handle().spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = rx.recv_timeout(Duration::from_secs(10));
        f.store(true, Ordering::SeqCst);
    });
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let t0 = Instant::now();
    assert!(!rt.shutdown_timeout(Duration::from_millis(30)));
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(30), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(!finished.load(Ordering::SeqCst));
    // The job still finishes on its own thread, and its future still gets the result.
    tx.send(()).unwrap();
    let mut job = pin!(job);
    let deadline = Instant::now() + Duration::from_secs(10);
    while poll_once(&mut job).is_pending() {
        assert!(
            Instant::now() < deadline,
            "the left-behind job never finished"
        );
        thread::sleep(Duration::from_millis(1));
    }
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn outside_a_runtime_to_thread_is_a_clear_error() {
    let _serial = serial();
    assert!(matches!(
        ringloop::try_to_thread(|| ()),
        Err(SpawnError::NoRuntime)
    ));
    let panic = std::panic::catch_unwind(|| drop(ringloop::to_thread(|| ()))).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("no ringloop runtime"), "{msg}");
}

/// A panic in a job whose future was dropped is reported to the exception handler, as asyncio
/// logs a future's exception that was never retrieved.
#[test]
fn a_panic_nobody_awaits_is_reported() {
    let _serial = serial();
    for (name, b) in builders() {
        let rt = b.build().unwrap();
        let reports = Arc::new(Mutex::new(Vec::<String>::new()));
        let r = reports.clone();
        rt.handle().set_exception_handler(Some(Arc::new(
            move |ctx: &ringloop::ExceptionContext| r.lock().unwrap().push(ctx.to_string()),
        )));
        let (tx, rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        rt.block_on(async move {
            drop(ringloop::to_thread(move || {
                started_tx.send(()).unwrap();
                rx.recv_timeout(Duration::from_secs(10)).unwrap();
                panic!("nobody listens");
            }));
        });
        // Started, so the shutdown waits for it rather than dropping it unrun.
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        tx.send(()).unwrap();
        drop(rt); // waits for the job
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{name}: {reports:?}");
        assert!(reports[0].contains("nobody listens"), "{name}: {reports:?}");
    }
}

#[test]
fn run_in_executor_runs_on_the_pool_and_a_closed_loop_refuses() {
    let _serial = serial();
    let mut event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let out = event_loop
        .run_until_complete(async move {
            let job = ringloop::get_running_loop()
                .unwrap()
                .run_in_executor(|| thread::current().name().map(String::from))
                .unwrap();
            job.await.unwrap()
        })
        .unwrap();
    assert!(out.unwrap().starts_with("ringloop-blocking-"));
    event_loop.close();
    assert!(matches!(
        handle.run_in_executor(|| ()),
        Err(LoopError::Closed)
    ));
}
