//! asyncio's `Task.add_done_callback`, `result()` and `exception()`, on both flavours and on
//! the virtual clock. Each test counts its side effects exactly (callback runs, reports).

use ringloop::{Builder, ExceptionContext, Runtime, TaskRef};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn runtimes() -> Vec<(&'static str, Runtime)> {
    vec![
        (
            "ct",
            Builder::new_current_thread()
                .virtual_time(true)
                .build()
                .unwrap(),
        ),
        (
            "mt",
            Builder::new_multi_thread()
                .worker_threads(2)
                .virtual_time(true)
                .build()
                .unwrap(),
        ),
    ]
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Waits (real time, generous bound) until `done` holds. Done callbacks run after the task's
/// awaiter was woken, so on the multi-thread flavour `block_on` may return before a worker
/// has run them.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Installs an exception handler that records (message, task name, panic message).
type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

fn record(rt: &Runtime) -> Seen {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    rt.handle()
        .set_exception_handler(Some(Arc::new(move |ctx: &ExceptionContext| {
            s.lock().unwrap().push((
                ctx.message.clone(),
                ctx.task_name.clone(),
                ctx.error
                    .as_ref()
                    .and_then(|e| e.panic_message())
                    .map(str::to_owned),
            ));
        })));
    seen
}

#[test]
fn done_callbacks_added_before_completion_run_once_in_order_on_the_finishing_thread() {
    for (name, rt) in runtimes() {
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let finisher = Arc::new(Mutex::new(None));
        let f = finisher.clone();
        let ran_on = Arc::new(Mutex::new(Vec::new()));
        let (r1, r2) = (ran_on.clone(), ran_on.clone());
        let out = rt.block_on(async move {
            let task = ringloop::create_named_task("worker", async move {
                ringloop::sleep(ms(10)).await;
                *f.lock().unwrap() = Some(std::thread::current().id());
                4
            });
            task.add_done_callback(move |t: &TaskRef| {
                r1.lock().unwrap().push(std::thread::current().id());
                l1.lock()
                    .unwrap()
                    .push(format!("first {} done={}", t.name(), t.done()));
            });
            task.add_done_callback(move |t: &TaskRef| {
                r2.lock().unwrap().push(std::thread::current().id());
                l2.lock().unwrap().push(format!("second {}", t.name()));
            });
            task.await.unwrap()
        });
        assert_eq!(out, 4, "{name}");
        eventually(name, || log.lock().unwrap().len() == 2);
        assert_eq!(
            *log.lock().unwrap(),
            vec!["first worker done=true".to_string(), "second worker".into()],
            "{name}: once each, in order, after completion"
        );
        let finisher = finisher.lock().unwrap().unwrap();
        assert_eq!(
            *ran_on.lock().unwrap(),
            vec![finisher, finisher],
            "{name}: on the thread that finished the task"
        );
    }
}

#[test]
fn a_done_callback_added_after_completion_runs_at_once_on_the_caller() {
    for (name, rt) in runtimes() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let (ran_inline, caller, ran_on) = rt.block_on(async move {
            let task = ringloop::create_task(async { 1 });
            while !task.done() {
                ringloop::sleep(ms(1)).await;
            }
            let ran_on = Arc::new(Mutex::new(None));
            let o = ran_on.clone();
            task.add_done_callback(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
                *o.lock().unwrap() = Some(std::thread::current().id());
            });
            let ran_inline = runs.load(Ordering::SeqCst);
            assert_eq!(task.await.unwrap(), 1);
            let on = ran_on.lock().unwrap().take();
            (ran_inline, std::thread::current().id(), on)
        });
        assert_eq!(
            ran_inline, 1,
            "{name}: ran before add_done_callback returned"
        );
        assert_eq!(ran_on, Some(caller), "{name}");
    }
}

#[test]
fn a_done_callback_added_from_another_thread() {
    for (name, rt) in runtimes() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        rt.block_on(async move {
            let task = ringloop::create_task(ringloop::sleep(ms(20)));
            let t = task.as_task_ref();
            std::thread::spawn(move || {
                t.add_done_callback(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                })
            })
            .join()
            .unwrap();
            task.await.unwrap();
        });
        eventually(name, || runs.load(Ordering::SeqCst) == 1);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{name}");
    }
}

/// The race the flag protocol of `harness.rs` is for: callbacks registered from another
/// thread while the task completes on a worker. Every callback runs exactly once.
#[test]
fn add_done_callback_racing_completion_runs_each_exactly_once() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let rounds = if cfg!(miri) { 10 } else { 500 };
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..rounds {
        let task = rt.create_task(async { std::hint::black_box(1) });
        let t = task.as_task_ref();
        let r = runs.clone();
        let registrar = std::thread::spawn(move || {
            for _ in 0..4 {
                let r = r.clone();
                t.add_done_callback(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        registrar.join().unwrap();
        assert_eq!(rt.block_on(task).unwrap(), 1);
    }
    eventually("every callback", || {
        runs.load(Ordering::SeqCst) == rounds * 4
    });
    drop(rt);
    assert_eq!(runs.load(Ordering::SeqCst), rounds * 4);
}

#[test]
fn a_panicking_done_callback_is_reported_and_disturbs_nothing() {
    for (name, rt) in runtimes() {
        let seen = record(&rt);
        let after = Arc::new(AtomicUsize::new(0));
        let a = after.clone();
        let out = rt.block_on(async move {
            let task = ringloop::create_named_task("cb-owner", async {
                ringloop::sleep(ms(5)).await;
                9
            });
            task.add_done_callback(|_| panic!("callback failed"));
            task.add_done_callback(move |_| {
                a.fetch_add(1, Ordering::SeqCst);
            });
            let out = task.await.unwrap();
            // The runtime goes on.
            out + ringloop::create_task(async { 1 }).await.unwrap()
        });
        assert_eq!(out, 10, "{name}");
        eventually(name, || after.load(Ordering::SeqCst) == 1);
        assert_eq!(
            after.load(Ordering::SeqCst),
            1,
            "{name}: the next callback ran"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            vec![(
                "Exception in a done callback".to_string(),
                Some("cb-owner".to_string()),
                Some("callback failed".to_string())
            )],
            "{name}"
        );
    }
}

#[test]
fn done_callbacks_run_for_cancelled_tasks_and_at_shutdown() {
    for (name, rt) in runtimes() {
        let cancelled = Arc::new(Mutex::new(None));
        let c = cancelled.clone();
        let at_shutdown = Arc::new(AtomicUsize::new(0));
        let s = at_shutdown.clone();
        rt.block_on(async move {
            let task = ringloop::create_task(ringloop::sleep(ms(1000)));
            task.add_done_callback(move |t| *c.lock().unwrap() = Some(t.done()));
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
            let forever = ringloop::create_task(std::future::pending::<()>());
            forever.add_done_callback(move |_| {
                s.fetch_add(1, Ordering::SeqCst);
            });
        });
        eventually(name, || cancelled.lock().unwrap().is_some());
        assert_eq!(*cancelled.lock().unwrap(), Some(true), "{name}");
        assert_eq!(
            at_shutdown.load(Ordering::SeqCst),
            0,
            "{name}: still running"
        );
        drop(rt);
        assert_eq!(
            at_shutdown.load(Ordering::SeqCst),
            1,
            "{name}: shutdown cancelled it"
        );
    }
}

#[test]
fn result_on_unfinished_finished_and_cancelled_tasks() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let mut task = ringloop::create_task(async {
                ringloop::sleep(ms(10)).await;
                "value"
            });
            assert!(task.result().is_none(), "{name}: not finished");
            ringloop::sleep(ms(10)).await;
            while !task.done() {
                ringloop::yield_now().await;
            }
            assert_eq!(task.result().unwrap().unwrap(), "value", "{name}");
            assert!(task.result().is_none(), "{name}: taken once");
            assert!(task.exception().is_none(), "{name}");

            let mut cancelled = ringloop::create_task(ringloop::sleep(ms(1000)));
            cancelled.cancel_with("enough");
            while !cancelled.done() {
                ringloop::yield_now().await;
            }
            let err = cancelled.result().unwrap().unwrap_err();
            assert!(err.is_cancelled(), "{name}");
            assert_eq!(err.cancel_message(), Some("enough"), "{name}");
        });
    }
}

#[test]
fn exception_peeks_without_taking() {
    for (name, rt) in runtimes() {
        let seen = record(&rt);
        rt.block_on(async {
            let mut ok = ringloop::create_task(async { 1 });
            let mut failed = ringloop::create_task(async {
                ringloop::sleep(ms(5)).await;
                panic!("bad input")
            });
            assert!(failed.exception().is_none(), "{name}: not finished");
            let cancelled = ringloop::create_task(ringloop::sleep(ms(1000)));
            cancelled.cancel();
            ringloop::sleep(ms(5)).await;
            while !(ok.done() && failed.done() && cancelled.done()) {
                ringloop::yield_now().await;
            }
            assert!(ok.exception().is_none(), "{name}: returned a value");
            assert_eq!(ok.result().unwrap().unwrap(), 1);

            let err = failed.exception().expect("finished with a panic");
            assert_eq!(err.panic_message(), Some("bad input"), "{name}");
            // Still there: peeking does not take it.
            assert!(failed.exception().unwrap().is_panic(), "{name}");
            assert!(failed.result().unwrap().unwrap_err().is_panic(), "{name}");
            assert!(failed.exception().is_none(), "{name}: taken by result()");

            assert!(cancelled.exception().unwrap().is_cancelled(), "{name}");
            // Dropped after exception(): retrieved, so not reported.
            drop(cancelled);
            let peeked = ringloop::create_task(async { panic!("looked at") });
            while !peeked.done() {
                ringloop::yield_now().await;
            }
            assert!(peeked.exception().is_some());
            drop(peeked);
        });
        assert!(
            seen.lock().unwrap().is_empty(),
            "{name}: nothing left unretrieved: {:?}",
            seen.lock().unwrap()
        );
    }
}

#[test]
fn awaiting_a_task_after_result_took_it_fails_with_a_clear_panic() {
    for (name, rt) in runtimes() {
        let err = rt.block_on(async {
            let mut task = ringloop::create_task(async { 3 });
            while !task.done() {
                ringloop::yield_now().await;
            }
            assert_eq!(task.result().unwrap().unwrap(), 3);
            ringloop::create_task(task).await.unwrap_err()
        });
        assert!(
            err.panic_message()
                .is_some_and(|m| m.contains("after its result was taken")),
            "{name}: {err:?}"
        );
    }
}
