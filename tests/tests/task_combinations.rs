//! Every combination of a task's life, with its side effects counted exactly.
//!
//! Modelled on tokio's `tests/task_combinations.rs`. A task's life is five independent choices:
//!
//! | axis | choices |
//! |---|---|
//! | the future's poll | returns an output, or panics (`expected panic: poll`) |
//! | the future's drop | quiet, or panics (`expected panic: drop`) |
//! | cancellation | none; before the first poll; during a poll by the task itself; while suspended, by another task; after completion |
//! | the `Task` handle | dropped at once (detached); kept until done and dropped unread; awaited |
//!
//! and the output, when there is one, is either read (awaited) or dropped unread (by the handle,
//! or by the runtime when the handle is gone). That is 2 x 2 x 5 x 3 = 60 lives; each runs on a
//! fresh runtime of every cell of the matrix, and the test then checks, once the runtime is
//! dropped and every effect has settled:
//!
//! - the future was dropped exactly once, whatever happened;
//! - it was polled once, or never when cancelled before its first poll;
//! - its code after the await point ran only if it was not cancelled;
//! - an output was made only if the task returned, and dropped exactly once;
//! - the handle saw the right result: the output, a cancel with its message, or a panic with
//!   its message (a future that panics in its destructor while being cancelled reports that
//!   panic, as tokio does);
//! - the runtime went on: a task spawned afterwards on the same runtime returns its value.
//!
//! The named tests after the loop pin single races whose names say which one.

use ringloop::{Runtime, TaskError};
use ringloop_tests::{
    hold_workers, matrix, matrix_cfg, oneshot, select, silence_expected_panics, wait_until, Config,
    Counter, DropCounter, Either, EXPECTED_PANIC,
};
use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

const MSG: &str = "stop it";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnPoll {
    Return,
    Panic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnDrop {
    Quiet,
    Panic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    Never,
    BeforeRun,
    FromInside,
    FromOtherTask,
    AfterCompletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinHandle {
    DropAtOnce,
    DropWhenDone,
    Await,
}

#[derive(Debug, Clone, Copy)]
struct Life {
    poll: OnPoll,
    drop: OnDrop,
    cancel: Cancel,
    handle: JoinHandle,
}

impl Life {
    fn all() -> impl Iterator<Item = Life> {
        let polls = [OnPoll::Return, OnPoll::Panic];
        let drops = [OnDrop::Quiet, OnDrop::Panic];
        let cancels = [
            Cancel::Never,
            Cancel::BeforeRun,
            Cancel::FromInside,
            Cancel::FromOtherTask,
            Cancel::AfterCompletion,
        ];
        let handles = [
            JoinHandle::DropAtOnce,
            JoinHandle::DropWhenDone,
            JoinHandle::Await,
        ];
        polls.into_iter().flat_map(move |poll| {
            drops.into_iter().flat_map(move |drop| {
                cancels.into_iter().flat_map(move |cancel| {
                    handles.into_iter().map(move |handle| Life {
                        poll,
                        drop,
                        cancel,
                        handle,
                    })
                })
            })
        })
    }

    /// Does the cancellation cut the future short (before its code after the await point)?
    fn cut_short(self) -> bool {
        matches!(
            self.cancel,
            Cancel::BeforeRun | Cancel::FromInside | Cancel::FromOtherTask
        )
    }

    /// Does the task return an output?
    fn returns(self) -> bool {
        !self.cut_short() && self.poll == OnPoll::Return
    }
}

/// What happened, counted.
#[derive(Debug, Default)]
struct Counts {
    polls: Counter,
    reached_end: Counter,
    future_drops: Counter,
    outputs_made: Counter,
    output_drops: Counter,
}

/// The task's output: a value and a drop counter.
#[derive(Debug)]
struct Output {
    value: u32,
    _drops: DropCounter,
}

/// The future under test: a drop guard (quiet or panicking) around an async body. The guard
/// is a field of this struct, not a local of the body, so it drops when the runtime drops the
/// future, not inside the final poll.
struct Combi {
    _guard: DropCounter,
    body: Pin<Box<dyn Future<Output = Output> + Send>>,
}

impl Future for Combi {
    type Output = Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        self.body.as_mut().poll(cx)
    }
}

fn combi(life: Life, counts: &Counts) -> Combi {
    let guard = match life.drop {
        OnDrop::Quiet => DropCounter::new(&counts.future_drops),
        OnDrop::Panic => DropCounter::panicking(&counts.future_drops),
    };
    let polls = counts.polls.clone();
    let reached_end = counts.reached_end.clone();
    let outputs_made = counts.outputs_made.clone();
    let output_drops = counts.output_drops.clone();
    let body = async move {
        polls.incr();
        match life.cancel {
            Cancel::FromInside => {
                let me = ringloop::current_task().expect("a task sees itself");
                assert!(me.cancel_with(MSG), "a running task is not done");
                // The next await point is where the cancellation lands.
                pending::<()>().await;
            }
            // Parked for good: only the cancel from the other task ends it.
            Cancel::FromOtherTask => pending::<()>().await,
            // Suspend once, so "during run" is a real await point for the others too.
            _ => ringloop::yield_now().await,
        }
        reached_end.incr();
        if life.poll == OnPoll::Panic {
            panic!("{EXPECTED_PANIC}poll");
        }
        outputs_made.incr();
        Output {
            value: 7,
            _drops: DropCounter::new(&output_drops),
        }
    };
    Combi {
        _guard: guard,
        body: Box::pin(body),
    }
}

/// Checks what the handle reported.
fn check_result(life: Life, res: Result<Output, TaskError>, counts: &Counts) {
    let expect_panic = |err: &TaskError, what: &str| {
        assert!(err.is_panic(), "{life:?}: expected a panic, got {err:?}");
        assert!(!err.is_cancelled(), "{life:?}");
        assert_eq!(
            err.panic_message(),
            Some(format!("{EXPECTED_PANIC}{what}").as_str()),
            "{life:?}"
        );
    };
    match res {
        Ok(out) => {
            assert!(life.returns(), "{life:?}: unexpected output");
            assert_eq!(out.value, 7);
            assert_eq!(
                counts.output_drops.get(),
                0,
                "{life:?}: read output dropped"
            );
            drop(out);
            assert_eq!(counts.output_drops.get(), 1, "{life:?}");
        }
        Err(err) if life.cut_short() && life.drop == OnDrop::Panic => expect_panic(&err, "drop"),
        Err(err) if life.cut_short() => {
            assert!(
                err.is_cancelled(),
                "{life:?}: expected a cancel, got {err:?}"
            );
            assert!(!err.is_panic());
            assert_eq!(err.cancel_message(), Some(MSG), "{life:?}");
            assert_eq!(err.panic_message(), None);
        }
        Err(err) => {
            assert_eq!(life.poll, OnPoll::Panic, "{life:?}: unexpected {err:?}");
            expect_panic(&err, "poll");
        }
    }
}

fn run_life(cfg: Config, life: Life) {
    let counts = Counts::default();
    let rt: Runtime = cfg.build();
    rt.block_on(async {
        // Before run: nothing may poll the task between its spawn and its cancel.
        let held = match life.cancel {
            Cancel::BeforeRun => hold_workers(rt.handle()),
            _ => None,
        };
        let task = rt.create_task(combi(life, &counts));
        let tref = task.as_task_ref();
        if life.cancel == Cancel::BeforeRun {
            assert!(tref.cancel_with(MSG), "{life:?}: a queued task is not done");
            assert_eq!(tref.cancelling(), 1);
        }
        drop(held);
        let mut task = match life.handle {
            JoinHandle::DropAtOnce => {
                drop(task);
                None
            }
            _ => Some(task),
        };
        if life.cancel == Cancel::FromOtherTask {
            let target = tref.clone();
            let polls = counts.polls.clone();
            let canceller = rt.create_task(async move {
                wait_until("the target's first poll", || polls.get() == 1).await;
                target.cancel_with(MSG)
            });
            assert!(canceller.await.unwrap(), "{life:?}: cancel of a live task");
        }
        if life.cancel == Cancel::AfterCompletion {
            wait_until("the task completes", || tref.done()).await;
            assert!(!tref.cancel_with(MSG), "{life:?}: cancel after completion");
            assert_eq!(
                tref.cancelling(),
                0,
                "{life:?}: a refused cancel counts nothing"
            );
        }
        match life.handle {
            JoinHandle::Await => {
                let res = task.take().unwrap().await;
                assert!(tref.done());
                check_result(life, res, &counts);
            }
            JoinHandle::DropWhenDone => {
                let task = task.take().unwrap();
                wait_until("the task completes", || task.done()).await;
                let cancelled = life.cut_short() && life.drop == OnDrop::Quiet;
                assert_eq!(task.cancelled(), cancelled, "{life:?}: cancelled()");
                drop(task);
                // The handle held the output: it dropped it.
                let dropped = usize::from(life.returns());
                assert_eq!(
                    counts.output_drops.get(),
                    dropped,
                    "{life:?}: unread output"
                );
            }
            JoinHandle::DropAtOnce => {
                wait_until("the detached task completes", || tref.done()).await;
            }
        }
        // The runtime goes on.
        let after = rt.create_task(async { 42 });
        assert_eq!(after.await.unwrap(), 42, "{life:?}: runtime after the task");
    });
    drop(rt);

    // Everything has settled: the runtime and its threads are gone.
    assert_eq!(counts.future_drops.get(), 1, "{life:?}: future drops");
    let polls = usize::from(life.cancel != Cancel::BeforeRun);
    assert_eq!(counts.polls.get(), polls, "{life:?}: polls");
    let reached = usize::from(!life.cut_short());
    assert_eq!(
        counts.reached_end.get(),
        reached,
        "{life:?}: code after the await"
    );
    let outputs = usize::from(life.returns());
    assert_eq!(counts.outputs_made.get(), outputs, "{life:?}: outputs made");
    assert_eq!(counts.output_drops.get(), outputs, "{life:?}: output drops");
}

matrix_cfg!(every_life, |cfg| {
    silence_expected_panics();
    let mut n = 0;
    for life in Life::all() {
        run_life(cfg, life);
        n += 1;
    }
    assert_eq!(n, 60);
});

matrix!(panic_surfaces_at_the_handle_and_others_go_on, |rt| {
    silence_expected_panics();
    rt.block_on(async {
        let tasks: Vec<_> = (0..20u32)
            .map(|i| {
                rt.create_task(async move {
                    ringloop::yield_now().await;
                    if i % 2 == 0 {
                        panic!("{EXPECTED_PANIC}task {i}");
                    }
                    i
                })
            })
            .collect();
        for (i, task) in (0u32..).zip(tasks) {
            match task.await {
                Ok(v) => assert_eq!(v, i),
                Err(err) => {
                    assert_eq!(i % 2, 0, "task {i} failed: {err:?}");
                    let expected = format!("{EXPECTED_PANIC}task {i}");
                    assert_eq!(err.panic_message(), Some(expected.as_str()));
                    assert_eq!(err.to_string(), format!("task panicked: {expected}"));
                    // The payload itself, for resume_unwind.
                    let payload = err.try_into_panic().expect("a panic");
                    assert_eq!(payload.downcast_ref::<String>(), Some(&expected));
                }
            }
        }
    });
});

matrix!(cancel_without_message, |rt| {
    rt.block_on(async {
        let task = rt.create_task(pending::<()>());
        ringloop::yield_now().await;
        assert!(task.cancel());
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.cancel_message(), None);
        assert_eq!(err.to_string(), "task was cancelled");
        assert!(err.try_into_panic().unwrap_err().is_cancelled());
    });
});

matrix!(cancel_twice_counts_two_requests, |rt| {
    rt.block_on(async {
        let drops = Counter::new();
        let guard = DropCounter::new(&drops);
        // Both requests must reach a task that is not done yet: hold the workers meanwhile
        // (the first request could otherwise complete the task before the second).
        let held = hold_workers(rt.handle());
        let task = rt.create_task(async move {
            let _guard = guard;
            pending::<()>().await
        });
        assert!(task.cancel_with("first"));
        assert!(task.cancel_with("second"));
        assert_eq!(task.cancelling(), 2);
        drop(held);
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
        // The last message wins, as in asyncio, where each cancel(msg) replaces the last.
        assert_eq!(err.cancel_message(), Some("second"));
        assert_eq!(drops.get(), 1);
    });
});

/// Multi-thread only: the cancel arrives while another thread is inside the task's poll.
/// The poll then returns `Pending`, and the cancellation lands right there.
fn cancel_while_polled(cfg: Config, finish_with_ready: bool) {
    let rt = cfg.build();
    let drops = Counter::new();
    let guard = DropCounter::new(&drops);
    let (in_poll_tx, in_poll_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let task = rt.create_task(async move {
        let _guard = guard;
        in_poll_tx.send(()).unwrap();
        // Blocks the worker: the task is RUNNING while the test thread cancels it.
        go_rx.recv().unwrap();
        if !finish_with_ready {
            pending::<()>().await;
        }
        5
    });
    in_poll_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the task is polled");
    assert!(task.cancel_with(MSG), "a running task is not done");
    go_tx.send(()).unwrap();
    let res = rt.block_on(task);
    if finish_with_ready {
        // The request came too late to be delivered at an await point: the result stands.
        assert_eq!(res.unwrap(), 5);
    } else {
        let err = res.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(err.cancel_message(), Some(MSG));
    }
    assert_eq!(drops.get(), 1);
    drop(rt);
    assert_eq!(drops.get(), 1);
}

#[test]
fn cancel_while_polled_on_another_thread_epoll() {
    cancel_while_polled(Config::EPOLL_MT, false);
}

#[test]
fn cancel_while_polled_on_another_thread_uring() {
    cancel_while_polled(Config::URING_MT, false);
}

#[test]
fn cancel_during_final_poll_keeps_the_result_epoll() {
    cancel_while_polled(Config::EPOLL_MT, true);
}

#[test]
fn cancel_during_final_poll_keeps_the_result_uring() {
    cancel_while_polled(Config::URING_MT, true);
}

matrix!(wake_after_completion_is_ignored, |rt| {
    // A waker kept past the task's completion, woken many times: the task is never polled
    // again (it would count a poll, or crash on its consumed future).
    rt.block_on(async {
        let polls = Counter::new();
        let p = polls.clone();
        let task = rt.create_task(std::future::poll_fn(move |cx| {
            p.incr();
            Poll::Ready(cx.waker().clone())
        }));
        let waker = task.await.unwrap();
        assert_eq!(polls.get(), 1);
        for _ in 0..100 {
            waker.wake_by_ref();
        }
        let other = std::thread::spawn(move || {
            for _ in 0..100 {
                waker.wake_by_ref();
            }
            waker.wake();
        });
        other.join().unwrap();
        ringloop::sleep(Duration::from_millis(5)).await;
        assert_eq!(polls.get(), 1);
    });
});

// ---------------------------------------------------------------------------------------------
// Races between the handle, the task and other threads.
// ---------------------------------------------------------------------------------------------

const RACERS: usize = 2_000;

matrix!(handle_drop_on_a_foreign_thread_races_completion, |rt| {
    // Each task returns an output that counts its drops, while a foreign thread drops the
    // handle: whichever side comes second must drop the output, and only that one.
    let output_drops = Counter::new();
    let future_drops = Counter::new();
    let (handles_tx, handles_rx) = mpsc::channel::<ringloop::Task<DropCounter>>();
    let dropper = std::thread::spawn(move || handles_rx.into_iter().for_each(drop));
    let finished = Counter::new();
    for _ in 0..RACERS {
        let (o, f, fin) = (output_drops.clone(), future_drops.clone(), finished.clone());
        let guard = DropCounter::new(&f);
        let task = rt.create_task(async move {
            let _guard = guard;
            fin.incr();
            DropCounter::new(&o)
        });
        handles_tx.send(task).unwrap();
    }
    drop(handles_tx);
    dropper.join().unwrap();
    rt.block_on(wait_until("every racer finished", || {
        finished.get() == RACERS && output_drops.get() == RACERS
    }));
    assert_eq!(future_drops.get(), RACERS);
    assert_eq!(
        output_drops.get(),
        RACERS,
        "each output dropped exactly once"
    );
});

matrix!(cancel_from_a_foreign_thread_races_completion, |rt| {
    // Tasks that finish after a yield or two, cancelled from a foreign thread at whatever
    // moment it gets to them: each ends either with its output or cancelled, never both,
    // never neither, and its future and output are dropped exactly once.
    let output_drops = Counter::new();
    let future_drops = Counter::new();
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (o, f) = (output_drops.clone(), future_drops.clone());
            let guard = DropCounter::new(&f);
            rt.create_task(async move {
                let _guard = guard;
                for _ in 0..i % 3 {
                    ringloop::yield_now().await;
                }
                DropCounter::new(&o)
            })
        })
        .collect();
    let refs: Vec<_> = tasks.iter().map(|t| t.as_task_ref()).collect();
    let canceller = std::thread::spawn(move || {
        refs.iter()
            .map(|t| usize::from(t.cancel_with(MSG)))
            .sum::<usize>()
    });
    let (ok, cancelled) = rt.block_on(async {
        let (mut ok, mut cancelled) = (0, 0);
        for task in tasks {
            match task.await {
                Ok(out) => {
                    ok += 1;
                    drop(out);
                }
                Err(err) => {
                    assert!(err.is_cancelled(), "{err:?}");
                    assert_eq!(err.cancel_message(), Some(MSG));
                    cancelled += 1;
                }
            }
        }
        (ok, cancelled)
    });
    let accepted = canceller.join().unwrap();
    assert_eq!(ok + cancelled, RACERS);
    assert!(cancelled <= accepted, "a refused cancel cancelled a task");
    assert_eq!(future_drops.get(), RACERS);
    assert_eq!(output_drops.get(), ok, "outputs made are the outputs read");
});

matrix!(join_waker_follows_the_handle_between_tasks, |rt| {
    // Task A polls the handle (its waker is stored), gives up on it after 5 ms, and passes it
    // to task B, whose waker must replace A's: B is woken when the target completes.
    rt.block_on(async {
        let (go_tx, go_rx) = oneshot::<()>();
        let target = rt.create_task(async move {
            go_rx.await;
            99
        });
        // A hands the (unfinished) handle back through its output, on purpose.
        #[allow(clippy::async_yields_async)]
        let a = rt.create_task(async move {
            let mut target = target;
            match select(&mut target, ringloop::sleep(Duration::from_millis(5))).await {
                Either::Left(_) => panic!("the target is not released yet"),
                Either::Right(()) => target,
            }
        });
        let target = a.await.unwrap();
        let b = rt.create_task(async move { target.await.unwrap() });
        ringloop::sleep(Duration::from_millis(5)).await;
        go_tx.send(());
        let got = select(b, ringloop::sleep(Duration::from_secs(10))).await;
        match got {
            Either::Left(v) => assert_eq!(v.unwrap(), 99),
            Either::Right(()) => panic!("B was never woken: the join waker stayed A's"),
        }
    });
});

matrix!(panic_with_a_non_string_payload, |rt| {
    let err = rt
        .block_on(rt.create_task(async {
            // Not a string, so the panic hook prints it: harmless noise on stderr.
            std::panic::panic_any(42u32);
        }))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), None);
    assert_eq!(err.to_string(), "task panicked");
    let payload = err.try_into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
});
