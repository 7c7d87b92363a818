//! `sleep` and `sleep_until`, on every cell of the matrix, on the real and the virtual clock.
//!
//! - **Never early**: a thousand concurrent sleeps of 0.1 to 20 ms each take at least what
//!   they asked for, measured with `Instant::now()` around each (polling's
//!   `tests/precision.rs` does the same for its waits). The upper bound is generous (2 s) and
//!   only catches a sleep that never woke properly; lateness is a benchmark's business.
//! - **`sleep(ZERO)` yields** exactly once, and the tasks that were ready run in between.
//! - **A past deadline** completes at its first poll, without yielding.
//! - **`Duration::MAX`** pends forever: no overflow, no panic, and no spinning, checked on the
//!   CPU clocks of every thread of the runtime while it waits.
//! - **The virtual clock**: an hour's sleep takes no real hour, the clock then reads exactly
//!   the hour later, deadlines round up to the resolution, and several sleeps wake in deadline
//!   order, each at its exact virtual time.

use ringloop::{Flavor, Sleep};
use ringloop_tests::{
    cpu_time, matrix, matrix_cfg, runtime_cpu_clocks, select, Config, Counter, DropCounter, Either,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Wraps a future and counts its polls.
struct CountPolls<F> {
    inner: F,
    polls: usize,
}

impl<F: Future + Unpin> Future for CountPolls<F> {
    type Output = (F::Output, usize);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(out) => Poll::Ready((out, self.polls)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn count_polls<F: Future + Unpin>(inner: F) -> CountPolls<F> {
    CountPolls { inner, polls: 0 }
}

// ---------------------------------------------------------------------------------------------
// Never early.
// ---------------------------------------------------------------------------------------------

/// The i-th duration of an assorted spread over 0.1 to 20 ms (0.1 ms steps, scrambled so that
/// neighbouring tasks sleep very different times).
fn assorted(i: usize) -> Duration {
    Duration::from_micros(100 + (i * 7919 % 200) as u64 * 100)
}

matrix!(thousand_concurrent_sleeps_are_never_early, |rt| {
    rt.block_on(async {
        let tasks: Vec<_> = (0..1_000)
            .map(|i| {
                let d = assorted(i);
                rt.create_task(async move {
                    let start = Instant::now();
                    if i % 2 == 0 {
                        ringloop::sleep(d).await;
                    } else {
                        ringloop::sleep_until(start + d).await;
                    }
                    (d, start.elapsed())
                })
            })
            .collect();
        let mut shortest = Duration::MAX;
        for (i, task) in tasks.into_iter().enumerate() {
            let (asked, took) = task.await.unwrap();
            assert!(
                took >= asked,
                "sleep {i} of {asked:?} woke early, after {took:?}"
            );
            assert!(
                took < asked + Duration::from_secs(2),
                "sleep {i} of {asked:?} took {took:?}"
            );
            shortest = shortest.min(asked);
        }
        assert_eq!(shortest, Duration::from_micros(100));
    });
});

matrix!(sleeps_in_block_on_are_never_early, |rt| {
    rt.block_on(async {
        for i in 0..50 {
            let d = assorted(i * 13) / 4;
            let start = Instant::now();
            ringloop::sleep(d).await;
            let took = start.elapsed();
            assert!(took >= d, "{d:?} woke after {took:?}");
        }
    });
});

// ---------------------------------------------------------------------------------------------
// Zero and past deadlines.
// ---------------------------------------------------------------------------------------------

matrix!(sleep_zero_is_pending_exactly_once, |rt| {
    let in_task = rt.block_on(async {
        rt.create_task(async {
            let (_, polls) = count_polls(ringloop::sleep(Duration::ZERO)).await;
            let (_, polls_yield) = count_polls(ringloop::yield_now()).await;
            (polls, polls_yield)
        })
        .await
        .unwrap()
    });
    assert_eq!(in_task, (2, 2), "pending once, ready at the next poll");
    let (_, in_block_on) = rt.block_on(count_polls(ringloop::sleep(Duration::ZERO)));
    assert_eq!(in_block_on, 2);
});

// Deterministic on the current-thread flavour: the ready task runs before the yielder goes
// on (on the multi-thread flavour the other worker could be running it at that very moment,
// so "in between" has no single answer there).
fn sleep_zero_lets_ready_tasks_run(cfg: Config) {
    assert_eq!(cfg.flavor, Flavor::CurrentThread);
    let rt = cfg.build();
    rt.block_on(async {
        let ran = Counter::new();
        // From block_on's own future.
        for n in 1..=3 {
            let r = ran.clone();
            drop(rt.create_task(async move { r.incr() }));
            assert_eq!(ran.get(), n - 1, "spawned, not run yet");
            ringloop::sleep(Duration::ZERO).await;
            assert_eq!(ran.get(), n, "the ready task ran during the yield");
        }
        // From inside a task.
        let r = ran.clone();
        rt.create_task(async move {
            let r2 = r.clone();
            drop(ringloop::create_task(async move { r2.incr() }));
            assert_eq!(r.get(), 3);
            ringloop::yield_now().await;
            assert_eq!(r.get(), 4, "the ready task ran during the yield");
        })
        .await
        .unwrap();
    });
}

#[test]
fn sleep_zero_lets_ready_tasks_run_epoll_ct() {
    sleep_zero_lets_ready_tasks_run(Config::EPOLL_CT);
}

#[test]
fn sleep_zero_lets_ready_tasks_run_uring_ct() {
    sleep_zero_lets_ready_tasks_run(Config::URING_CT);
}

matrix!(past_deadline_completes_without_yielding, |rt| {
    rt.block_on(async {
        rt.create_task(async {
            // Long before the runtime existed (or as far back as the clock goes).
            let long_ago = Instant::now()
                .checked_sub(Duration::from_millis(50))
                .unwrap_or_else(Instant::now);
            let sleep = ringloop::sleep_until(long_ago);
            assert!(sleep.is_elapsed());
            let (_, polls) = count_polls(sleep).await;
            assert_eq!(polls, 1, "a past deadline is ready at its first poll");

            // A deadline that has passed since: t0 + 1 ms after sleeping 5 ms.
            let t0 = Instant::now();
            ringloop::sleep(Duration::from_millis(5)).await;
            let (_, polls) =
                count_polls(ringloop::sleep_until(t0 + Duration::from_millis(1))).await;
            assert_eq!(polls, 1);
        })
        .await
        .unwrap();
    });
});

// ---------------------------------------------------------------------------------------------
// Duration::MAX.
// ---------------------------------------------------------------------------------------------

/// How long the runtime waits with a `Duration::MAX` sleep pending.
const WINDOW: Duration = Duration::from_millis(200);
/// CPU its threads may use meanwhile, together. An idle runtime uses well under a
/// millisecond; a thread that spun even at a quarter of a core would use 50 ms.
const IDLE_CPU: Duration = Duration::from_millis(20);

matrix_cfg!(duration_max_pends_forever_without_spinning, |cfg| {
    let rt = cfg.build();
    let drops = Counter::new();
    let guard = DropCounter::new(&drops);
    rt.block_on(async {
        // A task parked on Duration::MAX for the rest of the runtime's life, and another
        // racing one against a real timer.
        drop(rt.create_task(async move {
            let _guard = guard;
            ringloop::sleep(Duration::MAX).await;
            unreachable!("Duration::MAX elapsed");
        }));
        let raced = rt.create_task(async {
            select(
                ringloop::sleep(Duration::MAX),
                ringloop::sleep(Duration::from_millis(50)),
            )
            .await
        });
        assert_eq!(raced.await.unwrap(), Either::Right(()));

        // Far deadlines of every form, in block_on's own timer wheel too.
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let ancient_future: Sleep = ringloop::sleep_until(far);
        assert!(!ancient_future.is_elapsed());
        let max = ringloop::sleep(Duration::MAX);
        assert!(
            max.deadline() > far,
            "Duration::MAX saturates beyond any real deadline"
        );

        let clocks = runtime_cpu_clocks(rt.handle());
        let cpu_before: Duration = clocks.iter().map(|&c| cpu_time(c)).sum();
        let begun = Instant::now();
        let out = select(select(max, ancient_future), ringloop::sleep(WINDOW)).await;
        let waited = begun.elapsed();
        let cpu: Duration = clocks.iter().map(|&c| cpu_time(c)).sum::<Duration>() - cpu_before;
        assert_eq!(out, Either::Right(()), "a far sleep completed");
        assert!(waited >= WINDOW);
        assert!(
            cpu < IDLE_CPU,
            "{} runtime threads used {cpu:?} of CPU in {waited:?} with only far timers armed: \
             a spin",
            clocks.len()
        );
        // Still responsive.
        assert_eq!(rt.create_task(async { 1 }).await.unwrap(), 1);
    });
    assert_eq!(drops.get(), 0, "the Duration::MAX task is still pending");
    drop(rt);
    assert_eq!(drops.get(), 1, "shutdown dropped it once");
});

// ---------------------------------------------------------------------------------------------
// The virtual clock.
// ---------------------------------------------------------------------------------------------

const HOUR: Duration = Duration::from_secs(3600);

matrix_cfg!(virtual_hour_passes_at_once, |cfg| {
    let rt = cfg.build_virtual();
    let real_start = Instant::now();
    rt.block_on(async {
        let t0 = ringloop::now();
        // In block_on's own future.
        ringloop::sleep(HOUR).await;
        assert_eq!(ringloop::now() - t0, HOUR, "exactly an hour later");
        assert_eq!(rt.handle().now(), ringloop::now());
        // In a task (a worker's wheel on the multi-thread flavour).
        let (start, end) = rt
            .create_task(async {
                let start = ringloop::now();
                ringloop::sleep(HOUR).await;
                (start, ringloop::now())
            })
            .await
            .unwrap();
        assert_eq!(end - start, HOUR);
        assert_eq!(end - t0, 2 * HOUR);
    });
    // Any bound far below an hour proves the clock was virtual; this one is generous.
    let real = real_start.elapsed();
    assert!(
        real < Duration::from_secs(10),
        "two virtual hours took {real:?}"
    );
});

matrix_cfg!(virtual_sleep_rounds_up_to_the_resolution, |cfg| {
    let ms = Duration::from_millis(1);
    let rt = cfg
        .builder()
        .virtual_time(true)
        .timer_resolution(ms)
        .build()
        .unwrap();
    rt.block_on(async {
        let t0 = ringloop::now();
        // 1.5 ms from 0 rounds up to the 2 ms tick.
        ringloop::sleep(Duration::from_micros(1_500)).await;
        assert_eq!(ringloop::now() - t0, 2 * ms);
        // 2.5 ms from 2 ms: the deadline 4.5 ms rounds up to 5 ms.
        ringloop::sleep(Duration::from_micros(2_500)).await;
        assert_eq!(ringloop::now() - t0, 5 * ms);
        // A whole number of ticks is not rounded.
        ringloop::sleep(3 * ms).await;
        assert_eq!(ringloop::now() - t0, 8 * ms);
    });
});

/// Several sleeps, armed out of deadline order, on a virtual clock.
fn virtual_sleeps_wake_in_deadline_order(cfg: Config) {
    let rt = cfg.build_virtual();
    let real_start = Instant::now();
    // Seconds; duplicates wake together, in either order.
    let secs = [50u64, 10, 30, 20, 40, 10, 3600, 1, 25, 30];
    let woke: Arc<Mutex<Vec<(Duration, Duration)>>> = Arc::default();
    rt.block_on(async {
        let t0 = ringloop::now();
        let tasks: Vec<_> = secs
            .iter()
            .map(|&s| {
                let woke = woke.clone();
                rt.create_task(async move {
                    let asked = Duration::from_secs(s);
                    let start = ringloop::now();
                    ringloop::sleep(asked).await;
                    let at = ringloop::now();
                    woke.lock().unwrap().push((asked, at - t0));
                    at - start
                })
            })
            .collect();
        for (task, &s) in tasks.into_iter().zip(&secs) {
            assert_eq!(task.await.unwrap(), Duration::from_secs(s), "slept exactly");
        }
    });
    // An hour of virtual time in all: any bound far below it proves the clock jumped.
    let real = real_start.elapsed();
    assert!(
        real < Duration::from_secs(5),
        "{cfg:?}: took {real:?} of real time"
    );
    let woke = woke.lock().unwrap();
    assert_eq!(woke.len(), secs.len());
    for &(asked, at) in woke.iter() {
        assert_eq!(at, asked, "woke at its exact virtual deadline");
    }
    let times: Vec<Duration> = woke.iter().map(|&(_, at)| at).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "woke in deadline order");
}

#[test]
fn virtual_sleeps_wake_in_deadline_order_epoll_mt() {
    virtual_sleeps_wake_in_deadline_order(Config::EPOLL_MT);
}

#[test]
fn virtual_sleeps_wake_in_deadline_order_uring_mt() {
    virtual_sleeps_wake_in_deadline_order(Config::URING_MT);
}

// Regression (fixed in 1ee757b): the current-thread loop's non-blocking reactor poll on a
// virtual clock passed the *virtual* now (origin + virtual time) to the reactor as its *real*
// deadline, so after the clock had jumped to T it blocked until real time reached origin + T:
// sleeps of 50, 10 and 30 s armed in that order took 30 s of real time (40 s for this set).
#[test]
fn virtual_sleeps_wake_in_deadline_order_epoll_ct() {
    virtual_sleeps_wake_in_deadline_order(Config::EPOLL_CT);
}

#[test]
fn virtual_sleeps_wake_in_deadline_order_uring_ct() {
    virtual_sleeps_wake_in_deadline_order(Config::URING_CT);
}

matrix_cfg!(virtual_sleep_reset_moves_the_deadline, |cfg| {
    let rt = cfg.build_virtual();
    rt.block_on(async {
        let t0 = ringloop::now();
        let mut sleep = ringloop::sleep(Duration::from_secs(10));
        // Armed at 10 s, then moved later, to 20 s.
        let out = select(&mut sleep, ringloop::sleep(Duration::from_secs(1))).await;
        assert_eq!(out, Either::Right(()));
        sleep.reset(t0 + Duration::from_secs(20));
        (&mut sleep).await;
        assert_eq!(ringloop::now() - t0, Duration::from_secs(20));
        // Moved earlier, to a deadline already past: completes at once.
        sleep.reset(t0 + Duration::from_secs(5));
        let (_, polls) = count_polls(&mut sleep).await;
        assert_eq!(polls, 1);
        assert_eq!(ringloop::now() - t0, Duration::from_secs(20));
        // Moved from a far deadline to a near one: fires at the near one.
        let mut far = ringloop::sleep(HOUR);
        let out = select(&mut far, ringloop::sleep(Duration::from_secs(1))).await;
        assert_eq!(out, Either::Right(()));
        far.reset(ringloop::now() + Duration::from_secs(2));
        far.await;
        assert_eq!(ringloop::now() - t0, Duration::from_secs(23));
    });
});

// ---------------------------------------------------------------------------------------------
// Bad input.
// ---------------------------------------------------------------------------------------------

#[test]
fn sleep_polled_outside_a_runtime_panics_clearly() {
    // Creating it is fine (it reads the real clock); polling it has no wheel to register in.
    let mut sleep = ringloop::sleep(Duration::from_millis(1));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut sleep).poll(&mut cx);
    }));
    let payload = caught.expect_err("polling a sleep outside a runtime panics");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("outside a ringloop runtime"),
        "unclear message: {msg}"
    );
    // Dropping it outside a runtime is fine too.
    drop(sleep);
}

matrix_cfg!(
    zero_resolution_and_zero_workers_are_taken_as_the_minimum,
    |cfg| {
        // worker_threads(0) is one worker; timer_resolution(ZERO) is one nanosecond.
        let rt = cfg
            .builder()
            .worker_threads(0)
            .timer_resolution(Duration::ZERO)
            .virtual_time(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let t0 = ringloop::now();
            let odd = Duration::from_nanos(1_234_567);
            let took = rt
                .create_task(async move {
                    let start = ringloop::now();
                    ringloop::sleep(odd).await;
                    ringloop::now() - start
                })
                .await
                .unwrap();
            assert_eq!(took, odd, "a 1 ns tick rounds nothing");
            assert_eq!(ringloop::now() - t0, odd);
        });
    }
);

// ---------------------------------------------------------------------------------------------
// Sleeps that move between threads.
// ---------------------------------------------------------------------------------------------

matrix!(sleep_moved_between_workers_is_never_early, |rt| {
    // Each task arms its sleep (in the wheel of whichever thread polls it), then yields many
    // times, which on the multi-thread flavour lets the other worker steal it; the next poll
    // of the sleep then moves the timer to the new thread (a remote cancel of the old entry).
    rt.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                rt.create_task(async move {
                    let asked = Duration::from_millis(10 + i % 5);
                    let start = Instant::now();
                    let mut sleep = ringloop::sleep(asked);
                    // Usually arms the timer; on a slow machine the sleep may be due already,
                    // which is no failure (it must only never be early).
                    if select(&mut sleep, ringloop::yield_now()).await == Either::Right(()) {
                        for _ in 0..20 {
                            ringloop::yield_now().await;
                        }
                        sleep.await;
                    }
                    let took = start.elapsed();
                    assert!(took >= asked, "task {i}: {asked:?} woke after {took:?}");
                    // A second sleep armed after the move, dropped before it fires.
                    let mut dropped = ringloop::sleep(Duration::from_secs(3600));
                    let _ = select(&mut dropped, ringloop::yield_now()).await;
                    ringloop::yield_now().await;
                    drop(dropped);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
});

matrix!(sleep_armed_in_a_finished_block_on_still_fires, |rt| {
    // Armed in one block_on's wheel (on the multi-thread flavour, a wheel that goes away
    // with that call), awaited in a task and in a later block_on.
    let (mut in_task, mut in_main) = rt.block_on(async {
        let mut a = ringloop::sleep(Duration::from_millis(20));
        let mut b = ringloop::sleep(Duration::from_millis(30));
        assert_eq!(
            select(&mut a, ringloop::yield_now()).await,
            Either::Right(())
        );
        assert_eq!(
            select(&mut b, ringloop::yield_now()).await,
            Either::Right(())
        );
        (a, b)
    });
    let deadline = in_task.deadline();
    let task = rt.create_task(async move {
        (&mut in_task).await;
        Instant::now()
    });
    let woke = rt.block_on(async {
        let woke = task.await.unwrap();
        (&mut in_main).await;
        woke
    });
    assert!(woke >= deadline, "woke {:?} early", deadline - woke);
    assert!(Instant::now() >= in_main.deadline());
});

matrix_cfg!(virtual_time_stands_still_while_a_task_runs, |cfg| {
    // A task that keeps yielding is never idle, so the clock may not jump past the sleeper's
    // deadline while it runs: the sleeper wakes only after the yielder is done, at exactly
    // its deadline.
    let rt = cfg.build_virtual();
    rt.block_on(async {
        let t0 = ringloop::now();
        let sleeper = rt.create_task(async move {
            ringloop::sleep(Duration::from_secs(1)).await;
            ringloop::now()
        });
        let yielder = rt.create_task(async move {
            for _ in 0..10_000 {
                ringloop::yield_now().await;
                assert_eq!(
                    ringloop::now(),
                    t0,
                    "the clock moved while a task was runnable"
                );
            }
        });
        yielder.await.unwrap();
        assert_eq!(sleeper.await.unwrap() - t0, Duration::from_secs(1));
    });
});
