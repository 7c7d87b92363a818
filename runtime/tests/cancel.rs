//! Scenario tests of the cancellation model (`ringloop::cancel`), on both flavours and on the
//! virtual clock, so the times asserted are exact and the tests finish at once.

use ringloop::{catch_cancel, shield, wait_for, Builder, Runtime};
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

/// Counts drops.
struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn plain_task_stops_at_its_await_point_and_runs_destructors() {
    for (name, rt) in runtimes() {
        let drops = Arc::new(AtomicUsize::new(0));
        let reached = Arc::new(AtomicUsize::new(0));
        let (d, r) = (drops.clone(), reached.clone());
        let err = rt.block_on(async move {
            let task = ringloop::create_task(async move {
                let _g = Guard(d);
                ringloop::sleep(ms(1000)).await;
                r.fetch_add(1, Ordering::SeqCst); // never reached
            });
            ringloop::sleep(ms(10)).await;
            assert!(task.cancel_with("stop now"));
            let err = task.await.unwrap_err();
            err.cancel_message().map(str::to_owned)
        });
        assert_eq!(err.as_deref(), Some("stop now"), "{name}");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}");
        assert_eq!(reached.load(Ordering::SeqCst), 0, "{name}");
    }
}

#[test]
fn catch_cancel_cleans_up_with_awaits_and_declines() {
    for (name, rt) in runtimes() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let (value, cancelled, cancelling) = rt.block_on(async move {
            let task = ringloop::create_task(async move {
                let start = ringloop::now();
                let caught = catch_cancel(ringloop::sleep(ms(1000))).await;
                let err = caught.unwrap_err();
                l.lock()
                    .unwrap()
                    .push(format!("caught {:?}", err.message()));
                // Cleanup that awaits, as an `except CancelledError:` block may.
                ringloop::sleep(ms(20)).await;
                l.lock().unwrap().push("cleaned up".to_string());
                (ringloop::now() - start).as_millis() as u64
            });
            ringloop::sleep(ms(10)).await;
            task.cancel_with("please");
            let cancelling = task.cancelling();
            let value = task.as_task_ref();
            let out = task.await.expect("declined: the task returned normally");
            (out, value.done(), cancelling)
        });
        assert_eq!(
            value, 30,
            "{name}: 10 ms until the cancel, then 20 ms of cleanup"
        );
        assert!(cancelled, "{name}");
        assert_eq!(cancelling, 1, "{name}");
        assert_eq!(
            *log.lock().unwrap(),
            vec!["caught Some(\"please\")".to_string(), "cleaned up".into()],
            "{name}"
        );
    }
}

#[test]
fn wait_for_times_out_a_plain_future_at_once() {
    for (name, rt) in runtimes() {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let elapsed = rt.block_on(async move {
            ringloop::create_task(async move {
                let start = ringloop::now();
                let inner = async move {
                    let _g = Guard(d);
                    ringloop::sleep(ms(1000)).await;
                };
                assert!(wait_for(inner, ms(50)).await.is_err());
                ringloop::now() - start
            })
            .await
            .unwrap()
        });
        assert_eq!(elapsed, ms(50), "{name}");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}");
    }
}

#[test]
fn wait_for_waits_for_the_inner_cleanup() {
    for (name, rt) in runtimes() {
        let (elapsed, cancelling) = rt.block_on(async move {
            ringloop::create_task(async move {
                let start = ringloop::now();
                let inner = async {
                    if catch_cancel(ringloop::sleep(ms(1000))).await.is_err() {
                        ringloop::sleep(ms(25)).await; // cleanup
                    }
                };
                assert!(wait_for(inner, ms(50)).await.is_err());
                let me = ringloop::current_task().unwrap();
                (ringloop::now() - start, me.cancelling())
            })
            .await
            .unwrap()
        });
        assert_eq!(
            elapsed,
            ms(75),
            "{name}: timeout, then the cleanup, then TimeoutError"
        );
        assert_eq!(cancelling, 0, "{name}: wait_for took its own request back");
    }
}

#[test]
fn wait_for_cancels_an_awaited_task_and_waits_for_it() {
    for (name, rt) in runtimes() {
        let cleaned = Arc::new(AtomicUsize::new(0));
        let c = cleaned.clone();
        let elapsed = rt.block_on(async move {
            ringloop::create_task(async move {
                let start = ringloop::now();
                let child = ringloop::create_task(async move {
                    if catch_cancel(ringloop::sleep(ms(1000))).await.is_err() {
                        ringloop::sleep(ms(5)).await;
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                });
                assert!(wait_for(child, ms(20)).await.is_err());
                ringloop::now() - start
            })
            .await
            .unwrap()
        });
        assert_eq!(cleaned.load(Ordering::SeqCst), 1, "{name}");
        assert_eq!(elapsed, ms(25), "{name}");
    }
}

#[test]
// The outer task must be a task of its own that awaits the child: the async block is the point.
#[allow(clippy::redundant_async_block)]
fn cancelling_a_task_cancels_the_task_it_awaits() {
    for (name, rt) in runtimes() {
        let (child_cancelled, outer) = rt.block_on(async move {
            let child = ringloop::create_task(ringloop::sleep(ms(1000)));
            let child_ref = child.as_task_ref();
            let outer = ringloop::create_task(async move { child.await });
            ringloop::sleep(ms(10)).await;
            outer.cancel_with("cascade");
            let outer = outer.await;
            ringloop::sleep(ms(1)).await;
            (child_ref.done(), outer)
        });
        assert!(
            child_cancelled,
            "{name}: the awaited task was cancelled too"
        );
        let err = outer.unwrap_err();
        assert!(err.is_cancelled(), "{name}");
        assert_eq!(err.cancel_message(), Some("cascade"), "{name}");
    }
}

#[test]
fn a_child_that_declines_gives_its_value_to_the_awaiting_task() {
    for (name, rt) in runtimes() {
        let out = rt.block_on(async move {
            let child = ringloop::create_task(async {
                let _ = catch_cancel(ringloop::sleep(ms(1000))).await;
                7
            });
            let outer = ringloop::create_task(async move { child.await.unwrap() * 6 });
            ringloop::sleep(ms(10)).await;
            outer.cancel();
            outer.await
        });
        assert_eq!(out.unwrap(), 42, "{name}");
    }
}

#[test]
fn shield_keeps_the_inner_work_running() {
    for (name, rt) in runtimes() {
        let finished = Arc::new(AtomicUsize::new(0));
        let f = finished.clone();
        let outer = rt.block_on(async move {
            let outer = ringloop::create_task(async move {
                shield(async move {
                    ringloop::sleep(ms(30)).await;
                    f.fetch_add(1, Ordering::SeqCst);
                })
                .await
            });
            ringloop::sleep(ms(10)).await;
            outer.cancel();
            let outer = outer.await;
            ringloop::sleep(ms(40)).await;
            outer
        });
        assert!(outer.unwrap_err().is_cancelled(), "{name}");
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "{name}: shielded work finished"
        );
    }
}

#[test]
fn nested_wait_for_the_inner_deadline_first() {
    for (name, rt) in runtimes() {
        let (outer_ok, elapsed) = rt.block_on(async move {
            ringloop::create_task(async move {
                let start = ringloop::now();
                let inner = wait_for(ringloop::sleep(ms(1000)), ms(10));
                let outer = wait_for(inner, ms(100)).await;
                (outer.map(|inner| inner.is_err()), ringloop::now() - start)
            })
            .await
            .unwrap()
        });
        assert_eq!(
            outer_ok,
            Ok(true),
            "{name}: the outer got the inner's TimeoutError"
        );
        assert_eq!(elapsed, ms(10), "{name}");
    }
}

#[test]
fn zero_timeout_lets_a_ready_future_finish_and_max_means_none() {
    for (name, rt) in runtimes() {
        let (a, b) = rt.block_on(async {
            let a = wait_for(async { 1 }, Duration::ZERO).await;
            let b = wait_for(
                async {
                    ringloop::sleep(ms(5)).await;
                    2
                },
                Duration::MAX,
            )
            .await;
            (a, b)
        });
        assert_eq!(a, Ok(1), "{name}");
        assert_eq!(b, Ok(2), "{name}");
    }
}

#[test]
fn a_pending_cancel_wins_over_an_await_that_completed_meanwhile() {
    // asyncio's `_must_cancel`: a task resumed with a cancellation pending gets
    // `CancelledError` at its await point, even though the awaited sleep completed.
    let rt = Builder::new_current_thread()
        .virtual_time(true)
        .build()
        .unwrap();
    let caught = rt.block_on(async {
        let task =
            ringloop::create_task(async { catch_cancel(ringloop::sleep(ms(10))).await.is_err() });
        // Both the sleep's timer and the cancel land before the task runs again.
        ringloop::sleep(ms(10)).await;
        task.cancel();
        task.await.unwrap()
    });
    assert!(caught);
}

#[test]
fn cancelling_after_the_awaited_task_finished_cancels_the_awaiting_one() {
    for (name, rt) in runtimes() {
        let outer = rt.block_on(async {
            let slot: Arc<Mutex<Option<ringloop::TaskRef>>> = Arc::default();
            let s = slot.clone();
            // The child cancels the task awaiting it, then finishes normally: the request
            // reaches the awaiting task after the child's completion, so it is cancelled (a
            // request passed on to a running child that declines would have been absorbed).
            let child = ringloop::create_task(async move {
                ringloop::sleep(ms(10)).await;
                s.lock().unwrap().take().unwrap().cancel();
                1
            });
            let outer = ringloop::create_task(async move { child.await.unwrap() });
            *slot.lock().unwrap() = Some(outer.as_task_ref());
            outer.await
        });
        assert!(outer.unwrap_err().is_cancelled(), "{name}");
    }
}
