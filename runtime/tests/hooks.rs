//! The exception handler (errors nobody retrieved) and debug mode (slow polls), on both
//! flavours.

use ringloop::{Builder, ExceptionContext, Flavor, Runtime};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn runtime(flavor: Flavor, debug: bool) -> Runtime {
    Builder::new_multi_thread()
        .flavor(flavor)
        .worker_threads(2)
        .debug(debug)
        .build()
        .unwrap()
}

/// What the recording handler saw: (message, task name).
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Installs a handler that records what it is told.
fn record(rt: &Runtime) -> Seen {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    rt.handle()
        .set_exception_handler(Some(Arc::new(move |ctx: &ExceptionContext| {
            s.lock()
                .unwrap()
                .push((ctx.message.clone(), ctx.task_name.clone()));
        })));
    seen
}

#[test]
fn a_detached_task_that_panics_is_reported_and_the_runtime_goes_on() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = runtime(flavor, false);
        let seen = record(&rt);
        let out = rt.block_on(async {
            drop(ringloop::create_named_task("doomed", async {
                panic!("lost")
            }));
            ringloop::sleep(Duration::from_millis(20)).await;
            ringloop::create_task(async { 5 }).await.unwrap()
        });
        assert_eq!(out, 5, "{flavor:?}: other tasks go on");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{flavor:?}: {seen:?}");
        assert_eq!(seen[0].0, "Task exception was never retrieved");
        assert_eq!(seen[0].1.as_deref(), Some("doomed"));
    }
}

#[test]
fn a_handle_dropped_unread_after_a_panic_is_reported() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = runtime(flavor, false);
        let seen = record(&rt);
        rt.block_on(async {
            let task = ringloop::create_task(async { panic!("unread") });
            while !task.done() {
                ringloop::sleep(Duration::from_millis(1)).await;
            }
            drop(task);
        });
        assert_eq!(seen.lock().unwrap().len(), 1, "{flavor:?}");
    }
}

#[test]
fn an_awaited_panic_or_a_cancellation_is_not_reported() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = runtime(flavor, false);
        let seen = record(&rt);
        rt.block_on(async {
            let err = ringloop::create_task(async { panic!("read") })
                .await
                .unwrap_err();
            assert!(err.is_panic());
            let t = ringloop::create_task(ringloop::sleep(Duration::from_secs(10)));
            t.cancel();
            drop(t);
            ringloop::sleep(Duration::from_millis(10)).await;
        });
        assert!(seen.lock().unwrap().is_empty(), "{flavor:?}");
    }
}

#[test]
fn debug_mode_reports_a_slow_poll_with_the_task_name() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = runtime(flavor, true);
        let seen = record(&rt);
        rt.block_on(async {
            ringloop::create_named_task("blocker", async {
                // Blocks its thread for longer than the 100 ms threshold.
                std::thread::sleep(Duration::from_millis(150));
            })
            .await
            .unwrap();
            ringloop::create_named_task("quick", async {})
                .await
                .unwrap();
        });
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{flavor:?}: {seen:?}");
        assert!(
            seen[0].0.starts_with("Executing task blocker took "),
            "{seen:?}"
        );
        assert_eq!(seen[0].1.as_deref(), Some("blocker"));
    }
}

#[test]
fn a_panicking_handler_does_not_take_the_runtime_down() {
    let rt = runtime(Flavor::MultiThread, false);
    rt.handle()
        .set_exception_handler(Some(Arc::new(|_: &ExceptionContext| panic!("handler"))));
    let out = rt.block_on(async {
        drop(ringloop::create_task(async { panic!("lost") }));
        ringloop::sleep(Duration::from_millis(10)).await;
        ringloop::create_task(async { 1 }).await.unwrap()
    });
    assert_eq!(out, 1);
}
