//! Scenario tests of `timeout` / `timeout_at` (asyncio's `asyncio.timeout`), and of the
//! cancellation corners around it: on both flavours and on the virtual clock, so the times
//! asserted are exact and the tests finish at once.

use ringloop::{catch_cancel, task_group, timeout, timeout_at, wait_for, Builder, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Runs `body` as a task of its own (timeouts cancel the task they run in) and returns its
/// output with the virtual time it took.
fn in_task<T, F>(rt: &Runtime, body: F) -> (T, Duration)
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    rt.block_on(async move {
        ringloop::create_task(async move {
            let start = ringloop::now();
            let out = body.await;
            (out, ringloop::now() - start)
        })
        .await
        .unwrap()
    })
}

#[test]
fn a_timeout_that_fires_drops_the_work_and_one_that_does_not_returns_its_value() {
    for (name, rt) in runtimes() {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let ((fired, expired, cancelling), elapsed) = in_task(&rt, async move {
            let t = timeout(ms(50), async move {
                let _g = Guard(d);
                ringloop::sleep(ms(1000)).await;
            });
            let cm = t.handle();
            let fired = t.await;
            let me = ringloop::current_task().unwrap();
            (fired, cm.expired(), me.cancelling())
        });
        assert_eq!(fired, Err(ringloop::TimeoutError::default()), "{name}");
        assert!(expired, "{name}");
        assert_eq!(cancelling, 0, "{name}: the timeout took its request back");
        assert_eq!(elapsed, ms(50), "{name}");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}");

        let ((out, expired), elapsed) = in_task(&rt, async {
            let t = timeout(ms(50), async {
                ringloop::sleep(ms(20)).await;
                7
            });
            let cm = t.handle();
            (t.await, cm.expired())
        });
        assert_eq!(out, Ok(7), "{name}");
        assert!(!expired, "{name}");
        assert_eq!(elapsed, ms(20), "{name}");
    }
}

#[test]
fn when_reports_the_deadline_and_max_means_none() {
    for (name, rt) in runtimes() {
        let (whens, _) = in_task(&rt, async {
            let start = ringloop::now();
            let a = timeout(ms(30), async {}).handle().when();
            let b = timeout(Duration::MAX, async {}).handle().when();
            let c = timeout_at(start + ms(5), async {}).handle().when();
            (a.map(|w| w - start), b, c.map(|w| w - start))
        });
        assert_eq!(whens, (Some(ms(30)), None, Some(ms(5))), "{name}");

        // No deadline: the future runs as long as it likes.
        let (out, elapsed) = in_task(&rt, async {
            timeout(Duration::MAX, async {
                ringloop::sleep(ms(500)).await;
                1
            })
            .await
        });
        assert_eq!(out, Ok(1), "{name}");
        assert_eq!(elapsed, ms(500), "{name}");
    }
}

#[test]
fn a_deadline_moved_later_from_inside_the_timed_future() {
    for (name, rt) in runtimes() {
        let ((out, when), elapsed) = in_task(&rt, async {
            let start = ringloop::now();
            let slot: Arc<Mutex<Option<ringloop::TimeoutHandle>>> = Arc::default();
            let s = slot.clone();
            let t = timeout(ms(50), async move {
                ringloop::sleep(ms(40)).await;
                // Not done yet: 100 ms more from now (asyncio's `cm.reschedule(loop.time() + 0.1)`).
                let cm = s.lock().unwrap().take().unwrap();
                assert!(cm.reschedule(Some(ringloop::now() + ms(100))));
                ringloop::sleep(ms(70)).await;
                "finished"
            });
            let cm = t.handle();
            *slot.lock().unwrap() = Some(cm.clone());
            (t.await, cm.when().map(|w| w - start))
        });
        assert_eq!(
            out,
            Ok("finished"),
            "{name}: 110 ms < the moved deadline of 140 ms"
        );
        assert_eq!(when, Some(ms(140)), "{name}");
        assert_eq!(elapsed, ms(110), "{name}");
    }
}

#[test]
fn a_deadline_moved_earlier_by_another_task() {
    for (name, rt) in runtimes() {
        let ((out, expired), elapsed) = in_task(&rt, async {
            let t = timeout(ms(1000), ringloop::sleep(ms(500)));
            let cm = t.handle();
            let mover = cm.clone();
            let other = ringloop::create_task(async move {
                ringloop::sleep(ms(10)).await;
                mover.reschedule(Some(ringloop::now() + ms(20)))
            });
            let out = t.await;
            assert!(other.await.unwrap());
            (out, cm.expired())
        });
        assert!(out.is_err(), "{name}");
        assert!(expired, "{name}");
        assert_eq!(
            elapsed,
            ms(30),
            "{name}: 10 ms, then 20 ms from the reschedule"
        );
    }
}

#[test]
fn a_deadline_moved_into_the_past_expires_at_once() {
    for (name, rt) in runtimes() {
        let (out, elapsed) = in_task(&rt, async {
            let start = ringloop::now();
            let t = timeout(ms(1000), ringloop::sleep(ms(500)));
            let cm = t.handle();
            let other = ringloop::create_task(async move {
                ringloop::sleep(ms(10)).await;
                cm.reschedule(Some(start))
            });
            let out = t.await;
            assert!(other.await.unwrap());
            out
        });
        assert!(out.is_err(), "{name}");
        assert_eq!(elapsed, ms(10), "{name}: expired when moved, not later");
    }
}

#[test]
fn a_deadline_removed_lets_the_work_finish_and_a_finished_timeout_cannot_move() {
    for (name, rt) in runtimes() {
        let ((out, moved_after, when), elapsed) = in_task(&rt, async {
            let t = timeout(ms(20), async {
                ringloop::sleep(ms(100)).await;
                5
            });
            let cm = t.handle();
            let remover = cm.clone();
            let other = ringloop::create_task(async move {
                ringloop::sleep(ms(10)).await;
                remover.reschedule(None)
            });
            let out = t.await;
            assert!(other.await.unwrap());
            (out, cm.reschedule(Some(ringloop::now())), cm.when())
        });
        assert_eq!(out, Ok(5), "{name}");
        assert!(!moved_after, "{name}: a finished timeout refuses to move");
        assert_eq!(when, None, "{name}");
        assert_eq!(elapsed, ms(100), "{name}");
    }
}

#[test]
fn an_expired_timeout_refuses_to_move_and_a_timeout_can_move_before_it_is_awaited() {
    for (name, rt) in runtimes() {
        let ((refused, early), elapsed) = in_task(&rt, async {
            let t = timeout(ms(10), ringloop::sleep(ms(100)));
            let cm = t.handle();
            assert!(t.await.is_err());
            let refused = !cm.reschedule(None);
            // Moved before the first poll: the new deadline is the one armed.
            let t = timeout(ms(100), ringloop::sleep(ms(50)));
            assert!(t.handle().reschedule(Some(ringloop::now() + ms(5))));
            (refused, t.await.is_err())
        });
        assert!(refused, "{name}");
        assert!(early, "{name}");
        assert_eq!(elapsed, ms(15), "{name}");
    }
}

#[test]
fn a_timeout_waits_for_the_cleanup_of_its_inner_work() {
    for (name, rt) in runtimes() {
        let ((out, expired_during), elapsed) = in_task(&rt, async {
            let slot: Arc<Mutex<Option<ringloop::TimeoutHandle>>> = Arc::default();
            let s = slot.clone();
            let t = timeout(ms(50), async move {
                if catch_cancel(ringloop::sleep(ms(1000))).await.is_err() {
                    let expired = s.lock().unwrap().as_ref().unwrap().expired();
                    ringloop::sleep(ms(25)).await; // cleanup
                    return expired;
                }
                false
            });
            *slot.lock().unwrap() = Some(t.handle());
            let out = t.await;
            let expired = slot.lock().unwrap().as_ref().unwrap().expired();
            (out, expired)
        });
        assert!(out.is_err(), "{name}");
        assert!(expired_during, "{name}");
        assert_eq!(elapsed, ms(75), "{name}: the deadline, then the cleanup");
    }
}

#[test]
fn nested_timeouts_the_outer_fires_first() {
    for (name, rt) in runtimes() {
        let ((outer, inner_expired, outer_expired), elapsed) = in_task(&rt, async {
            let inner = timeout(ms(100), ringloop::sleep(ms(1000)));
            let inner_cm = inner.handle();
            let outer = timeout(ms(30), inner);
            let outer_cm = outer.handle();
            let out = outer.await;
            (out, inner_cm.expired(), outer_cm.expired())
        });
        assert!(outer.is_err(), "{name}: the outer's TimeoutError");
        assert!(!inner_expired, "{name}");
        assert!(outer_expired, "{name}");
        assert_eq!(elapsed, ms(30), "{name}");
    }
}

#[test]
fn nested_timeouts_the_inner_fires_first() {
    for (name, rt) in runtimes() {
        let ((outer, inner_expired, outer_expired, cancelling), elapsed) = in_task(&rt, async {
            let inner = timeout(ms(10), ringloop::sleep(ms(1000)));
            let inner_cm = inner.handle();
            let outer = timeout(ms(100), inner);
            let outer_cm = outer.handle();
            let out = outer.await;
            let me = ringloop::current_task().unwrap();
            (out, inner_cm.expired(), outer_cm.expired(), me.cancelling())
        });
        assert_eq!(
            outer.map(|inner| inner.is_err()),
            Ok(true),
            "{name}: the outer passes on the inner's TimeoutError"
        );
        assert!(inner_expired, "{name}");
        assert!(!outer_expired, "{name}");
        assert_eq!(cancelling, 0, "{name}");
        assert_eq!(elapsed, ms(10), "{name}");
    }
}

#[test]
fn outside_a_task_the_inner_future_is_dropped_at_the_deadline() {
    for (name, rt) in runtimes() {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let (out, elapsed) = rt.block_on(async move {
            let start = ringloop::now();
            let out = timeout(ms(15), async move {
                let _g = Guard(d);
                ringloop::sleep(ms(100)).await;
            })
            .await;
            (out, ringloop::now() - start)
        });
        assert!(out.is_err(), "{name}");
        assert_eq!(elapsed, ms(15), "{name}");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}");
    }
}

#[test]
fn timeout_at_a_past_instant_still_lets_a_ready_future_finish() {
    for (name, rt) in runtimes() {
        let (out, _) = in_task(&rt, async {
            let past = ringloop::now();
            ringloop::sleep(ms(5)).await;
            let a = timeout_at(past, async { 1 }).await;
            let b = timeout_at(past, ringloop::sleep(ms(5))).await;
            let c = wait_for(async { 3 }, Duration::ZERO).await;
            (a, b.is_err(), c)
        });
        assert_eq!(out, (Ok(1), true, Ok(3)), "{name}");
    }
}

/// A task cancelled again while it cleans up in a `catch_cancel` handler: the second request
/// is delivered at its next await point (the cleanup's sleep), which drops the rest of it.
#[test]
fn cancel_during_cleanup_is_delivered_at_the_next_await() {
    for (name, rt) in runtimes() {
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let l = log.clone();
        let (err, cancelling) = rt.block_on(async move {
            let task = ringloop::create_task(async move {
                if let Err(c) = catch_cancel(ringloop::sleep(ms(1000))).await {
                    l.lock().unwrap().push(format!("first {:?}", c.message()));
                    ringloop::sleep(ms(50)).await; // cleanup; the second cancel lands here
                    l.lock().unwrap().push("cleanup finished".into()); // never reached
                }
            });
            ringloop::sleep(ms(10)).await;
            task.cancel_with("one");
            ringloop::sleep(ms(10)).await;
            task.cancel_with("two");
            let cancelling = task.cancelling();
            (task.await.unwrap_err(), cancelling)
        });
        assert!(err.is_cancelled(), "{name}");
        assert_eq!(err.cancel_message(), Some("two"), "{name}");
        assert_eq!(cancelling, 2, "{name}");
        assert_eq!(
            *log.lock().unwrap(),
            vec!["first Some(\"one\")".to_string()],
            "{name}"
        );
    }
}

/// The same, with a second `catch_cancel` around the cleanup: it takes the second request.
#[test]
fn cancel_during_cleanup_caught_by_a_second_boundary() {
    for (name, rt) in runtimes() {
        let (out, elapsed) = rt.block_on(async move {
            let start = ringloop::now();
            let task = ringloop::create_task(async move {
                let first = catch_cancel(ringloop::sleep(ms(1000))).await.is_err();
                let second = catch_cancel(ringloop::sleep(ms(50))).await.is_err();
                (first, second)
            });
            ringloop::sleep(ms(10)).await;
            task.cancel();
            ringloop::sleep(ms(10)).await;
            task.cancel();
            (task.await.unwrap(), ringloop::now() - start)
        });
        assert_eq!(out, (true, true), "{name}");
        assert_eq!(elapsed, ms(20), "{name}");
    }
}

/// A TaskGroup whose child fails while another child is still cleaning up after a cancel:
/// every error is reported, and no task outlives the group.
#[test]
fn task_group_child_fails_while_a_sibling_is_cancelling() {
    for (name, rt) in runtimes() {
        let cleaned = Arc::new(AtomicUsize::new(0));
        let c = cleaned.clone();
        let refs: Arc<Mutex<Vec<ringloop::TaskRef>>> = Arc::default();
        let r = refs.clone();
        let (err, elapsed) = rt.block_on(async move {
            let t0 = ringloop::now();
            let err = task_group(|tg| async move {
                // Cancelled by the test at 10 ms; its cleanup takes 30 ms and declines the
                // group's cancellation (a second request, delivered at the cleanup's await),
                // then fails too.
                let slow = tg.create_task(async move {
                    if catch_cancel(ringloop::sleep(ms(1000))).await.is_err() {
                        let end = ringloop::now() + ms(30);
                        let mut interrupted = 0;
                        while catch_cancel(ringloop::sleep_until(end)).await.is_err() {
                            interrupted += 1;
                        }
                        assert_eq!(interrupted, 1, "the group's cancel reached the cleanup");
                        c.fetch_add(1, Ordering::SeqCst);
                        panic!("failed in cleanup");
                    }
                });
                // Fails at 20 ms, while `slow` is cleaning up.
                let failing = tg.create_task(async {
                    ringloop::sleep(ms(20)).await;
                    panic!("first failure");
                });
                let bystander = tg.create_task(ringloop::sleep(ms(1000)));
                r.lock().unwrap().extend([
                    slow.as_task_ref(),
                    failing.as_task_ref(),
                    bystander.as_task_ref(),
                ]);
                let slow_ref = slow.as_task_ref();
                drop((slow, failing, bystander));
                ringloop::sleep(ms(10)).await;
                slow_ref.cancel();
                ringloop::sleep(ms(5000)).await;
            })
            .await
            .unwrap_err();
            (err, ringloop::now() - t0)
        });
        let mut msgs: Vec<&str> = err
            .errors()
            .iter()
            .filter_map(|e| e.panic_message())
            .collect();
        msgs.sort();
        assert_eq!(msgs, ["failed in cleanup", "first failure"], "{name}");
        assert_eq!(
            cleaned.load(Ordering::SeqCst),
            1,
            "{name}: the cleanup ran to its end"
        );
        assert_eq!(elapsed, ms(40), "{name}: the group waited for the cleanup");
        for t in refs.lock().unwrap().iter() {
            assert!(t.done(), "{name}: {} outlived the group", t.name());
        }
    }
}

#[test]
fn timeout_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<ringloop::TimeoutHandle>();
    fn assert_send<T: Send>(_: &T) {}
    let t = timeout(ms(1), async {});
    assert_send(&t);
    let _: Option<Instant> = t.handle().when();
}
