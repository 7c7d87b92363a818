//! The scheduler's promises, on every cell of the matrix.
//!
//! - **Every task runs exactly once** to completion, however many there are and wherever they
//!   were spawned from (the injector from outside, a worker's local queue from inside).
//! - **No lost wake-ups**: a task spawned from a foreign thread while every worker is parked
//!   runs; a waker woken from a foreign thread gets its task polled, whether the wake lands
//!   while the task is parked or while it is still being polled.
//! - **One poller at a time**: a task woken from many threads at once is never polled by two
//!   threads together.
//! - **Fairness**: a task that wakes itself forever (a `yield_now` loop, or two tasks waking
//!   each other through the LIFO slot) starves neither a timer nor a newly spawned task.
//! - **Introspection**: `current_task`, `all_tasks`, task names and ids, as asyncio has them.
//!
//! Tests that could hang on a lost wake-up have a 10 s real-time bound that turns the hang
//! into a failure naming what was lost; none asserts how fast anything is.

use ringloop::Flavor;
use ringloop_tests::{
    matrix, oneshot, select, silence_expected_panics, wait_until, Config, Counter, Either,
    MANY_TASKS,
};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Every task runs exactly once.
// ---------------------------------------------------------------------------------------------

// MANY_TASKS is a million in release and 200,000 in debug (see its doc): the invariant does
// not depend on the count, and the debug suite must stay within a minute on two cores.
matrix!(many_tasks_each_run_exactly_once, |rt| {
    let n = MANY_TASKS;
    let runs: Arc<Vec<AtomicU8>> = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
    let half = n / 2;
    rt.block_on(async {
        // The first half from outside the workers: the injector on the multi-thread flavour.
        let mut handles = Vec::with_capacity(half);
        for i in 0..half {
            let runs = runs.clone();
            handles.push(rt.create_task(async move {
                runs[i].fetch_add(1, SeqCst);
                i
            }));
        }
        // The second half from inside a task: a worker's local queue, stolen by the other.
        let inner_runs = runs.clone();
        let spawner = rt.create_task(async move {
            let finished = Counter::new();
            for i in half..n {
                let runs = inner_runs.clone();
                let finished = finished.clone();
                // Detached: the handle is dropped, the task still runs.
                drop(ringloop::create_task(async move {
                    runs[i].fetch_add(1, SeqCst);
                    finished.incr();
                }));
            }
            wait_until("every detached task finished", || {
                finished.get() == n - half
            })
            .await;
        });
        let mut sum = 0usize;
        for h in handles {
            sum += h.await.expect("a trivial task returns");
        }
        assert_eq!(sum, half * (half - 1) / 2, "every awaited task's output");
        spawner.await.unwrap();
    });
    let wrong: Vec<(usize, u8)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.load(SeqCst)))
        .filter(|&(_, r)| r != 1)
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "tasks not run exactly once (index, runs): {wrong:?}"
    );
});

// ---------------------------------------------------------------------------------------------
// No lost wake-ups.
// ---------------------------------------------------------------------------------------------

const ROUNDS: usize = 300;

// The runtime idles (every worker parked, or the current-thread loop in the reactor) between
// rounds; a foreign std thread then spawns a task and waits for it to run. Odd rounds leave
// the runtime 2 ms to fall asleep, even ones spawn right away, to hit the "about to park"
// window too.
matrix!(spawn_from_foreign_thread_while_parked_runs, |rt| {
    let handle = rt.handle().clone();
    let (done_tx, done_rx) = oneshot::<usize>();
    let spawner = std::thread::spawn(move || {
        let mut ran = 0;
        for round in 0..ROUNDS {
            if round % 2 == 1 {
                std::thread::sleep(Duration::from_millis(2));
            }
            let (tx, rx) = mpsc::channel();
            drop(handle.create_task(async move { tx.send(round).unwrap() }));
            let got = rx.recv_timeout(Duration::from_secs(10));
            assert_eq!(
                got,
                Ok(round),
                "the task spawned in round {round} never ran"
            );
            ran += 1;
        }
        done_tx.send(ran);
    });
    // block_on's own future waits on a foreign wake too; meanwhile the runtime idles.
    let ran = rt.block_on(done_rx);
    spawner.join().unwrap();
    assert_eq!(ran, ROUNDS);
});

// A task waits on a oneshot whose sender a foreign thread holds. The thread sends at once
// (the wake often lands while the task is still inside the poll that registered the waker),
// or after a pause (the task is idle and its worker parked).
matrix!(wake_from_foreign_thread_polls_the_task, |rt| {
    let (senders_tx, senders_rx) = mpsc::channel::<ringloop_tests::Sender<usize>>();
    let waker_thread = std::thread::spawn(move || {
        let mut round = 0;
        while let Ok(sender) = senders_rx.recv() {
            if round % 3 == 2 {
                std::thread::sleep(Duration::from_micros(500));
            }
            sender.send(round);
            round += 1;
        }
        round
    });
    let task = rt.create_task(async move {
        let mut extra_polls = 0;
        for round in 0..ROUNDS {
            let (tx, rx) = oneshot();
            senders_tx.send(tx).unwrap();
            let mut rx = rx;
            // Bounded: a lost wake fails the round instead of hanging the test.
            match select(&mut rx, ringloop::sleep(Duration::from_secs(10))).await {
                Either::Left(got) => assert_eq!(got, round),
                Either::Right(()) => panic!("round {round}: the foreign wake was lost"),
            }
            // One poll to register, one after the wake; the value may also be there at once.
            assert!(rx.polls() <= 2, "round {round}: {} polls", rx.polls());
            extra_polls += rx.polls() - 1;
        }
        extra_polls
    });
    let extra = rt.block_on(task).unwrap();
    assert_eq!(waker_thread.join().unwrap(), ROUNDS);
    assert!(extra <= ROUNDS);
});

// Four foreign threads hammer one task's waker while it runs; the task notes whether two
// threads were ever inside its poll at once. It must never be, and it must still finish.
matrix!(task_is_never_polled_by_two_threads_at_once, |rt| {
    struct Watched {
        in_poll: Arc<AtomicBool>,
        overlaps: Counter,
        polls: Counter,
        waker: Arc<Mutex<Option<Waker>>>,
        stop: Arc<AtomicBool>,
    }
    impl Future for Watched {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.in_poll.swap(true, SeqCst) {
                self.overlaps.incr();
            }
            self.polls.incr();
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            // Widen the window in which a second poller would be caught.
            for _ in 0..200 {
                std::hint::spin_loop();
            }
            let stop = self.stop.load(SeqCst);
            self.in_poll.store(false, SeqCst);
            if stop {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }
    let waker = Arc::new(Mutex::new(None::<Waker>));
    let stop = Arc::new(AtomicBool::new(false));
    let overlaps = Counter::new();
    let polls = Counter::new();
    let task = rt.create_task(Watched {
        in_poll: Arc::new(AtomicBool::new(false)),
        overlaps: overlaps.clone(),
        polls: polls.clone(),
        waker: waker.clone(),
        stop: stop.clone(),
    });
    rt.block_on(async {
        wait_until("the first poll", || polls.get() > 0).await;
    });
    let wakers: Vec<_> = (0..4)
        .map(|_| {
            let waker = waker.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    let w = waker.lock().unwrap().clone();
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            })
        })
        .collect();
    for t in wakers {
        t.join().unwrap();
    }
    stop.store(true, SeqCst);
    let last = waker.lock().unwrap().clone().unwrap();
    last.wake();
    rt.block_on(task).unwrap();
    assert_eq!(overlaps.get(), 0, "polled by two threads at once");
    assert!(polls.get() >= 2, "the stop wake got it polled");
});

// ---------------------------------------------------------------------------------------------
// Fairness.
// ---------------------------------------------------------------------------------------------

/// How a spinner keeps its worker busy forever.
#[derive(Debug, Clone, Copy)]
enum Spinner {
    /// `loop { yield_now().await }`.
    YieldLoop,
    /// Two tasks that wake each other from inside their polls: on the multi-thread flavour
    /// each wake lands in the LIFO slot, the path tokio had to cap to stop it starving the
    /// local queue.
    PingPong,
}

/// What must still get its turn.
#[derive(Debug, Clone, Copy)]
enum Victim {
    /// A task that sleeps 10 ms (the timer wheel of a busy worker).
    Sleep,
    /// A task spawned from outside the workers (the injector).
    Spawned,
}

/// Ends when `stop` is set, or after 10 s of real time; returns how it ended.
fn spin_until(stop: Arc<AtomicBool>, rounds: Counter) -> impl Future<Output = bool> + Send {
    let start = Instant::now();
    poll_fn(move |cx| {
        if stop.load(SeqCst) {
            return Poll::Ready(true);
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Poll::Ready(false);
        }
        rounds.incr();
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Two futures that wake each other: see [`Spinner::PingPong`].
fn ping_pong(
    me: usize,
    slots: Arc<[Mutex<Option<Waker>>; 2]>,
    stop: Arc<AtomicBool>,
    rounds: Counter,
) -> impl Future<Output = bool> + Send {
    let start = Instant::now();
    poll_fn(move |cx| {
        if stop.load(SeqCst) {
            // Let the partner see the stop too.
            if let Some(w) = slots[1 - me].lock().unwrap().take() {
                w.wake();
            }
            return Poll::Ready(true);
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Poll::Ready(false);
        }
        rounds.incr();
        *slots[me].lock().unwrap() = Some(cx.waker().clone());
        let partner = slots[1 - me].lock().unwrap().take();
        if let Some(w) = partner {
            w.wake();
        }
        Poll::Pending
    })
}

fn no_starvation(rt: &ringloop::Runtime, spinner: Spinner, victim: Victim) {
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Counter::new();
    // More spinners than workers, so every worker has one.
    let spinners = match rt.handle().flavor() {
        Flavor::CurrentThread => 1,
        Flavor::MultiThread => ringloop_tests::WORKERS + 1,
    };
    let mut tasks = Vec::new();
    for _ in 0..spinners {
        match spinner {
            Spinner::YieldLoop => {
                tasks.push(rt.create_task(spin_until(stop.clone(), rounds.clone())));
            }
            Spinner::PingPong => {
                let slots = Arc::new([Mutex::new(None), Mutex::new(None)]);
                for me in 0..2 {
                    let fut = ping_pong(me, slots.clone(), stop.clone(), rounds.clone());
                    tasks.push(rt.create_task(fut));
                }
            }
        }
    }
    rt.block_on(async {
        // The spinners are spinning before the victim arrives (on the current-thread
        // flavour this wait's own 100 µs sleeps already need the timers to stay fair).
        wait_until("the spinners spin", || rounds.get() >= 1_000).await;
        let stop2 = stop.clone();
        let victim_task = match victim {
            Victim::Sleep => rt.create_task(async move {
                // Spawned from inside a task, so the timer lands in a busy worker's wheel.
                ringloop::create_task(async move {
                    let begun = Instant::now();
                    ringloop::sleep(Duration::from_millis(10)).await;
                    assert!(begun.elapsed() >= Duration::from_millis(10), "early");
                    stop2.store(true, SeqCst);
                })
                .await
                .unwrap();
            }),
            Victim::Spawned => rt.create_task(async move { stop2.store(true, SeqCst) }),
        };
        victim_task.await.unwrap();
        for task in tasks {
            assert!(
                task.await.unwrap(),
                "{spinner:?} starved the {victim:?} victim for 10 s"
            );
        }
    });
}

matrix!(yield_loop_does_not_starve_a_sleep, |rt| {
    no_starvation(rt, Spinner::YieldLoop, Victim::Sleep);
});

matrix!(yield_loop_does_not_starve_a_spawned_task, |rt| {
    no_starvation(rt, Spinner::YieldLoop, Victim::Spawned);
});

matrix!(ping_pong_pair_does_not_starve_a_sleep, |rt| {
    no_starvation(rt, Spinner::PingPong, Victim::Sleep);
});

matrix!(ping_pong_pair_does_not_starve_a_spawned_task, |rt| {
    no_starvation(rt, Spinner::PingPong, Victim::Spawned);
});

// ---------------------------------------------------------------------------------------------
// current_task, all_tasks, names.
// ---------------------------------------------------------------------------------------------

#[test]
fn introspection_outside_a_runtime_is_empty() {
    assert!(ringloop::current_task().is_none());
    assert!(ringloop::all_tasks().is_empty());
    assert!(ringloop::Handle::try_current().is_none());
}

matrix!(current_task_is_the_task_being_polled, |rt| {
    rt.block_on(async {
        // block_on's own future is not a task (asyncio: the main coroutine is one; here it
        // is not, and current_task says so).
        assert!(ringloop::current_task().is_none());
        assert!(ringloop::Handle::try_current().is_some());
        let task = rt.create_task(async {
            let me = ringloop::current_task().expect("inside a task");
            ringloop::yield_now().await;
            // Still itself after a suspension (possibly on another worker).
            let again = ringloop::current_task().unwrap();
            assert_eq!(me, again);
            (me.id(), me.name())
        });
        let id = task.id();
        let (seen_id, seen_name) = task.await.unwrap();
        assert_eq!(seen_id, id);
        assert_eq!(seen_name, format!("Task-{id}"));
    });
});

matrix!(task_names_and_ids, |rt| {
    rt.block_on(async {
        let named = ringloop::create_named_task("worker-7", async {
            ringloop::current_task().unwrap().name()
        });
        assert_eq!(named.name(), "worker-7");
        assert_eq!(named.await.unwrap(), "worker-7");

        let named = rt
            .handle()
            .try_create_named_task("via-handle", async {})
            .unwrap();
        assert_eq!(named.name(), "via-handle");
        named.await.unwrap();

        let a = rt.create_task(async {});
        let b = rt.create_task(async {});
        assert_ne!(a.id(), b.id(), "ids are unique");
        assert!(b.id() > a.id(), "ids grow");
        assert_eq!(a.name(), format!("Task-{}", a.id()));
        a.set_name("renamed");
        assert_eq!(a.name(), "renamed");
        // The rename is visible through every handle to the task.
        assert_eq!(a.as_task_ref().name(), "renamed");
        a.await.unwrap();
        b.await.unwrap();

        // A task renaming itself, as asyncio's set_name from inside.
        let t = rt.create_task(async {
            ringloop::current_task().unwrap().set_name("self-named");
            ringloop::yield_now().await;
        });
        let r = t.as_task_ref();
        t.await.unwrap();
        assert_eq!(r.name(), "self-named");
    });
});

matrix!(all_tasks_lists_the_live_ones, |rt| {
    rt.block_on(async {
        let (tx, rx) = oneshot::<()>();
        let parked = ringloop::create_named_task("parked", rx);
        let done = rt.create_task(async {});
        let done_ref = done.as_task_ref();
        done.await.unwrap();
        let live = ringloop::all_tasks();
        assert!(live.iter().any(|t| t.name() == "parked"));
        assert!(
            !live.iter().any(|t| t.id() == done_ref.id()),
            "done tasks are not live"
        );
        assert!(live.iter().all(|t| !t.done()));
        assert!(rt.handle().num_tasks() >= 1);
        // From inside a task, the list includes the task itself.
        let me_listed = rt
            .create_task(async {
                let me = ringloop::current_task().unwrap();
                ringloop::all_tasks().contains(&me)
            })
            .await
            .unwrap();
        assert!(me_listed);
        tx.send(());
        let parked_ref = parked.as_task_ref();
        parked.await.unwrap();
        assert!(parked_ref.done());
        assert!(!ringloop::all_tasks().contains(&parked_ref));
    });
});

// ---------------------------------------------------------------------------------------------
// Runtimes, block_on and handles.
// ---------------------------------------------------------------------------------------------

matrix!(tasks_outlive_one_block_on_and_finish_in_the_next, |rt| {
    // asyncio: tasks created in one run_until_complete keep going in the next.
    let ran = Counter::new();
    let r = ran.clone();
    // Returning the Task (not awaiting it) out of block_on is the point here.
    #[allow(clippy::async_yields_async)]
    let task = rt.block_on(async move {
        ringloop::create_task(async move {
            ringloop::sleep(Duration::from_millis(20)).await;
            r.incr();
            11
        })
    });
    assert_eq!(rt.block_on(task).unwrap(), 11);
    assert_eq!(ran.get(), 1);
});

matrix!(a_task_of_one_runtime_is_awaited_from_another, |rt| {
    // The join waker crosses runtimes: the other runtime's thread wakes this one's.
    let other = Config::EPOLL_MT.build();
    let task = other.create_task(async {
        ringloop::sleep(Duration::from_millis(10)).await;
        5
    });
    let got = rt.block_on(async { rt.create_task(task).await.unwrap() });
    assert_eq!(got.unwrap(), 5);
    // And the other way round, through a handle found inside a task.
    let handle = rt.block_on(async {
        rt.create_task(async { ringloop::Handle::try_current() })
            .await
            .unwrap()
    });
    let handle = handle.expect("a task sees its runtime's handle");
    assert_eq!(handle.flavor(), rt.handle().flavor());
    let task = handle.create_task(async { 6 });
    // This runtime's block_on drives its task (the current-thread flavour runs tasks only
    // there); the other runtime's task waits for it.
    let waiter = other.create_task(task);
    assert_eq!(rt.block_on(waiter).unwrap().unwrap(), 6);
});

matrix!(block_on_inside_a_runtime_panics_clearly, |rt| {
    silence_expected_panics();
    let other = Config::EPOLL_CT.build();
    let other = Arc::new(other);
    // From a task.
    let o = other.clone();
    let err = rt
        .block_on(rt.create_task(async move { o.block_on(async { 1 }) }))
        .unwrap_err();
    assert!(err.is_panic());
    let msg = err.panic_message().unwrap_or_default().to_string();
    assert!(msg.contains("already running"), "unclear message: {msg}");
    // From block_on's own future: the panic unwinds out of the inner call only.
    let caught = rt.block_on(async {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| other.block_on(async { 1 })))
            .is_err()
    });
    assert!(caught);
    // Both runtimes still work.
    assert_eq!(rt.block_on(async { 2 }), 2);
    assert_eq!(other.block_on(async { 3 }), 3);
});
