//! Shutdown and leaks: what dropping a runtime promises, and what a spawn gets after it.
//!
//! - **Every remaining future is dropped exactly once** when the runtime is dropped: tasks
//!   pending on a long sleep, tasks never polled (still queued), tasks parked on a waker that a
//!   foreign thread holds (and wakes after the runtime is gone). Each future carries its own
//!   drop slot, so "exactly once" is checked per task, not as a total that a double drop and a
//!   leak could balance.
//! - **Handles outlive the runtime**: a `Task` polled after shutdown reports a cancel.
//! - **Spawning is an error, never a crash**: through a saved `Handle` after shutdown
//!   (`SpawnError::Shutdown`), outside any runtime (`SpawnError::NoRuntime`); the panicking
//!   variants say why in their message; the rejected future is dropped once.
//! - **Nothing leaks**: a counting global allocator shows live heap bytes back at their
//!   baseline after `MANY_TASKS` tasks have come and gone and the runtime was dropped.
//!
//! Every test here takes the `SERIAL` lock: the allocator counts the whole process, so the
//! memory test must run alone, and the others are fast enough not to mind.

use ringloop::{Flavor, SpawnError, Task};
use ringloop_tests::{
    hold_workers, matrix_cfg, oneshot, silence_expected_panics, wait_until, Config, Counter,
    DropCounter, Sender, MANY_TASKS,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::{pending, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The counting allocator.
// ---------------------------------------------------------------------------------------------

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, SeqCst) + n;
    PEAK.fetch_max(live, SeqCst);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counters are plain atomics
// and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds alloc's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds alloc_zeroed's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator (that is, from System) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds realloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), SeqCst);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time in this binary (see the module doc).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Every remaining future dropped exactly once.
// ---------------------------------------------------------------------------------------------

/// Per-task drop slots: slot `i` counts the drops of task `i`'s future.
struct Slots(Vec<AtomicU8>);

impl Slots {
    fn new(n: usize) -> Arc<Slots> {
        Arc::new(Slots((0..n).map(|_| AtomicU8::new(0)).collect()))
    }

    /// The tasks whose future was not dropped exactly once, with their count (at most ten).
    fn wrong(&self) -> Vec<(usize, u8)> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.load(SeqCst)))
            .filter(|&(_, n)| n != 1)
            .take(10)
            .collect()
    }
}

/// Counts its drop in its slot.
struct Tracked {
    slots: Arc<Slots>,
    index: usize,
    /// Futures spawned from this destructor, and their drops.
    late: (Counter, Counter),
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.slots.0[self.index].fetch_add(1, SeqCst);
        // A destructor that runs during shutdown and tries to spawn. On the thread that drops
        // the runtime there is no runtime (`NoRuntime`); on a worker the spawn may be refused
        // (`Shutdown`) or accepted; either way, the spawned future must be dropped once too
        // and nothing may panic or hang.
        if self.index % 7 == 0 {
            let (attempts, drops) = &self.late;
            attempts.incr();
            let guard = DropCounter::new(drops);
            let _ = ringloop::try_create_task(async move { drop(guard) });
        }
    }
}

const PENDING_ON_SLEEP: usize = 100;
const NEVER_POLLED: usize = 100;
const ON_FOREIGN_WAKER: usize = 100;

matrix_cfg!(shutdown_drops_every_remaining_future_once, |cfg| {
    let _serial = serial();
    let n = PENDING_ON_SLEEP + NEVER_POLLED + ON_FOREIGN_WAKER;
    let slots = Slots::new(n);
    let polled = Counter::new();
    let late = (Counter::new(), Counter::new());
    let track = |index: usize| Tracked {
        slots: slots.clone(),
        index,
        late: late.clone(),
    };
    let rt = cfg.build();
    let mut handles: Vec<Task<()>> = Vec::new();
    let mut senders: Vec<Sender<()>> = Vec::new();

    // Pending on a long (real) sleep, each polled once.
    for i in 0..PENDING_ON_SLEEP {
        let (t, p) = (track(i), polled.clone());
        handles.push(rt.create_task(async move {
            let _t = t;
            p.incr();
            ringloop::sleep(Duration::from_secs(3600)).await;
        }));
    }
    // Parked on a waker held by the test (a foreign thread), each polled once.
    for i in PENDING_ON_SLEEP..PENDING_ON_SLEEP + ON_FOREIGN_WAKER {
        let (t, p) = (track(i), polled.clone());
        let (tx, rx) = oneshot::<()>();
        senders.push(tx);
        drop(rt.create_task(async move {
            let _t = t;
            p.incr();
            rx.await;
        }));
    }
    let polled_first = PENDING_ON_SLEEP + ON_FOREIGN_WAKER;
    rt.block_on(wait_until("every parked task's first poll", || {
        polled.get() == polled_first
    }));

    // Never polled: on the current-thread flavour nothing runs outside block_on; on the
    // multi-thread flavour the workers are held in blocking tasks, released by another thread
    // while the runtime is already shutting down.
    let held = rt.block_on(async { hold_workers(rt.handle()) });
    for i in polled_first..n {
        let (t, p) = (track(i), polled.clone());
        drop(rt.create_task(async move {
            let _t = t;
            p.incr();
            pending::<()>().await;
        }));
    }
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
    });

    assert!(
        slots.0.iter().all(|s| s.load(SeqCst) == 0),
        "nothing dropped yet"
    );
    drop(rt);
    releaser.join().unwrap();

    let wrong = slots.wrong();
    assert!(
        wrong.is_empty(),
        "{cfg:?}: futures not dropped once (task, drops): {wrong:?}"
    );
    if cfg.flavor == Flavor::CurrentThread {
        assert_eq!(polled.get(), polled_first, "queued tasks never ran");
    }
    let (attempts, late_drops) = &late;
    assert_eq!(attempts.get(), n.div_ceil(7));
    assert_eq!(
        late_drops.get(),
        attempts.get(),
        "futures spawned by destructors at shutdown"
    );

    // The foreign thread wakes its wakers after the runtime is gone: nothing is polled,
    // nothing dropped again, nothing crashes.
    let polls_before = polled.get();
    std::thread::spawn(move || senders.into_iter().for_each(|tx| tx.send(())))
        .join()
        .unwrap();
    assert_eq!(polled.get(), polls_before);
    assert!(slots.wrong().is_empty());

    // Handles outlive their runtime: each reports the cancel.
    let mut cx = Context::from_waker(Waker::noop());
    for mut task in handles {
        assert!(task.done());
        match Pin::new(&mut task).poll(&mut cx) {
            Poll::Ready(Err(err)) => assert!(err.is_cancelled(), "{err:?}"),
            Poll::Ready(Ok(())) => panic!("a task pending on an hour's sleep returned"),
            Poll::Pending => panic!("a task of a dropped runtime is still pending"),
        }
    }
});

// ---------------------------------------------------------------------------------------------
// Spawn errors.
// ---------------------------------------------------------------------------------------------

/// The message of a caught panic.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

matrix_cfg!(spawn_after_shutdown_is_an_error, |cfg| {
    let _serial = serial();
    silence_expected_panics();
    let rt = cfg.build();
    let handle = rt.handle().clone();
    assert_eq!(rt.block_on(handle.create_task(async { 3 })).unwrap(), 3);
    drop(rt);

    let drops = Counter::new();
    let guard = DropCounter::new(&drops);
    let err = handle
        .try_create_task(async move { drop(guard) })
        .unwrap_err();
    assert_eq!(err, SpawnError::Shutdown);
    assert_eq!(drops.get(), 1, "the rejected future is dropped, once");
    assert_eq!(
        err.to_string(),
        "the ringloop runtime has shut down; cannot spawn"
    );
    let err = handle.try_create_named_task("late", async {}).unwrap_err();
    assert_eq!(err, SpawnError::Shutdown);

    // The panicking form says why. (The test's panic hook stays quiet only for panics marked
    // as expected; this one is printed, which is harmless.)
    let guard = DropCounter::new(&drops);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        drop(handle.create_task(async move { drop(guard) }))
    }));
    let msg = panic_message(caught.expect_err("create_task after shutdown panics"));
    assert_eq!(
        msg,
        "ringloop::create_task: the ringloop runtime has shut down; cannot spawn"
    );
    assert_eq!(drops.get(), 2);
    assert_eq!(handle.num_tasks(), 0);
});

#[test]
fn spawn_outside_a_runtime_is_no_runtime() {
    let _serial = serial();
    let drops = Counter::new();
    let guard = DropCounter::new(&drops);
    let err = ringloop::try_create_task(async move { drop(guard) }).unwrap_err();
    assert_eq!(err, SpawnError::NoRuntime);
    assert_eq!(drops.get(), 1);
    assert!(err
        .to_string()
        .contains("no ringloop runtime on this thread"));

    let caught = catch_unwind(|| drop(ringloop::create_task(async {})));
    let msg = panic_message(caught.expect_err("create_task outside a runtime panics"));
    assert!(
        msg.starts_with("ringloop::create_task: no ringloop runtime on this thread"),
        "{msg}"
    );
    let caught = catch_unwind(|| drop(ringloop::create_named_task("x", async {})));
    let msg = panic_message(caught.expect_err("create_named_task outside a runtime panics"));
    assert!(msg.contains("no ringloop runtime on this thread"), "{msg}");

    // A foreign thread, while a runtime runs elsewhere, is still outside it.
    let rt = Config::EPOLL_MT.build();
    let foreign = std::thread::spawn(|| ringloop::try_create_task(async {}).map(drop));
    assert_eq!(foreign.join().unwrap(), Err(SpawnError::NoRuntime));
    // Inside, the free function finds its runtime.
    let inside = rt.block_on(async { ringloop::try_create_task(async { 9 }).unwrap().await });
    assert_eq!(inside.unwrap(), 9);
}

// ---------------------------------------------------------------------------------------------
// No task leaks.
// ---------------------------------------------------------------------------------------------

/// Live heap bytes may differ by this much from the baseline once the runtime is gone
/// (lazily initialised statics of std and the test harness).
const SLACK: usize = 64 * 1024;

/// MANY_TASKS tasks (see its doc for the debug scaling) of every kind: returned and awaited,
/// detached, cancelled while parked, panicked, and left pending for shutdown to cancel.
fn churn(cfg: Config) {
    let rt = cfg.build();
    rt.block_on(async {
        let n = MANY_TASKS;
        let mut handles = Vec::with_capacity(n / 4);
        let mut panicked = Vec::with_capacity(n / 8);
        let finished = Counter::new();
        for i in 0..n {
            let f = finished.clone();
            match i % 8 {
                // Awaited below.
                0 | 1 => handles.push(rt.create_task(async move {
                    ringloop::yield_now().await;
                    f.incr();
                })),
                // Cancelled while parked.
                2 => {
                    let t = rt.create_task(async move {
                        let _f = f;
                        pending::<()>().await;
                    });
                    t.cancel();
                    drop(t);
                }
                // Panics (quietly: the message is marked as expected), and is awaited, as an
                // exception nobody retrieves is reported on stderr, which the test harness
                // would capture into memory of its own.
                3 => panicked.push(rt.create_task(async move {
                    f.incr();
                    panic!("{}leak test", ringloop_tests::EXPECTED_PANIC);
                })),
                // Left pending on a sleep for shutdown to cancel.
                4 if i % 64 == 4 => drop(rt.create_task(async move {
                    let _f = f;
                    ringloop::sleep(Duration::from_secs(3600)).await;
                })),
                // Detached.
                _ => drop(rt.create_task(async move { f.incr() })),
            }
        }
        for h in handles {
            h.await.unwrap();
        }
        for p in panicked {
            assert!(p.await.unwrap_err().is_panic());
        }
        // Awaited (2/8), panicked (1/8) and detached (the other 4/8, less the sleepers).
        let sleepers = (0..n).filter(|i| i % 64 == 4).count();
        let expected = n / 8 * 2 + n / 8 + n / 8 * 4 - sleepers;
        wait_until("the detached tasks finish", || finished.get() == expected).await;
    });
}

matrix_cfg!(memory_returns_to_baseline_after_many_tasks, |cfg| {
    let _serial = serial();
    silence_expected_panics();
    // Warm up the process's lazy statics (thread-local keys, parking_lot's table, crossbeam's
    // epoch collector, the panic machinery) on a small run first.
    churn_small(cfg);
    flush_deferred_frees();
    let before = LIVE.load(SeqCst);
    PEAK.store(before, SeqCst);
    churn(cfg);
    flush_deferred_frees();
    let peak = PEAK.load(SeqCst);
    let after = LIVE.load(SeqCst);
    // Shown with --nocapture: the figures behind the verdict.
    eprintln!(
        "{cfg:?}: {MANY_TASKS} tasks: live bytes before {before}, peak {peak}, after {after} \
         ({:+})",
        after as isize - before as isize
    );
    // Non-vacuous: the tasks were really counted while they lived (32 bytes each at least).
    assert!(
        peak - before > MANY_TASKS / 4 * 32,
        "the allocator saw only {} bytes over the baseline",
        peak - before
    );
    assert!(
        after <= before + SLACK,
        "{cfg:?}: {} bytes still live after the runtime was dropped \
         (baseline {before}, peak {peak}, after {after})",
        after - before
    );
});

/// Frees what crossbeam-deque handed to its epoch collector.
///
/// A work-stealing queue that grows replaces its buffer and defers freeing the old one until
/// no thread can still be reading it (crossbeam-epoch); those frees run when some thread next
/// pins the collector. After the workers have exited nobody does, and a 128 or 256 KiB
/// buffer would sit in the collector's garbage and look like a leak (it showed up in about
/// one run in four on the multi-thread flavour). Pinning and flushing here runs them.
fn flush_deferred_frees() {
    for _ in 0..256 {
        crossbeam_epoch::pin().flush();
    }
}

/// A small churn, for warming up.
fn churn_small(cfg: Config) {
    let rt = cfg.build();
    rt.block_on(async {
        let tasks: Vec<_> = (0..1_000)
            .map(|i| {
                rt.create_task(async move {
                    ringloop::yield_now().await;
                    if i % 3 == 0 {
                        ringloop::sleep(Duration::from_micros(100)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let p = rt.create_task(async { panic!("{}warm-up", ringloop_tests::EXPECTED_PANIC) });
        assert!(p.await.unwrap_err().is_panic());
        drop(rt.create_task(ringloop::sleep(Duration::from_secs(3600))));
    });
}

#[test]
fn run_cancels_leftover_tasks_on_return() {
    let _serial = serial();
    // asyncio.run cancels what main left running, and waits for it, before it returns.
    let drops = Counter::new();
    let guard = DropCounter::new(&drops);
    let out = ringloop::run(async move {
        drop(ringloop::create_task(async move {
            let _guard = guard;
            pending::<()>().await;
        }));
        ringloop::yield_now().await;
        "main's output"
    });
    assert_eq!(out, "main's output");
    assert_eq!(
        drops.get(),
        1,
        "the leftover task's future is dropped by the time run returns"
    );
}

/// The last reference to a multi-thread runtime dropped inside one of its own tasks, on a
/// worker thread: shutdown must not wait for that very thread (a self-join would hang), must
/// not panic, and the task's future is still dropped exactly once.
fn drop_last_runtime_in_its_own_task(cfg: Config) {
    let _serial = serial();
    let rt = Arc::new(cfg.build());
    let inner = rt.clone();
    let drops = Counter::new();
    let guard = DropCounter::new(&drops);
    let (tx, rx) = std::sync::mpsc::channel();
    drop(rt.create_task(async move {
        let _guard = guard;
        ringloop::sleep(Duration::from_millis(10)).await;
        let panicked = catch_unwind(AssertUnwindSafe(|| drop(inner))).is_err();
        tx.send(panicked).unwrap();
    }));
    drop(rt);
    let panicked = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("dropping the runtime from its own task returned");
    assert!(!panicked, "dropping the runtime from its own task panicked");
    let start = std::time::Instant::now();
    while drops.get() == 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(drops.get(), 1, "the task's future was dropped once");
}

#[test]
fn drop_last_runtime_in_its_own_task_epoll_mt() {
    drop_last_runtime_in_its_own_task(Config::EPOLL_MT);
}

#[test]
fn drop_last_runtime_in_its_own_task_uring_mt() {
    drop_last_runtime_in_its_own_task(Config::URING_MT);
}
