//! Tests of `ringloop::sync`: asyncio's primitives and queues.
//!
//! Three kinds of test:
//!
//! - **Interleavings driven by hand** (`manual_*`): futures polled one step at a time with a
//!   counting waker, so a race (a waiter dropped just after being handed the lock) is pinned
//!   exactly, with no runtime in between. These also prove the primitives are runtime-agnostic.
//! - **On both runtime flavours** (`both(...)`): the same body on the current-thread runtime
//!   and on the multi-thread runtime with two workers. Order-sensitive tests queue each waiter
//!   before spawning the next (see `Queued`), so they are deterministic on both.
//! - **Stress with exact counts** on the multi-thread runtime: many producers and consumers,
//!   every item counted once.
//!
//! Speed is not asserted anywhere; `ping_pong_round_trip` (ignored) prints it.

use ringloop::sync::{
    Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, LifoQueue, Lock,
    PriorityQueue, Queue, QueueShutDown, ReleaseError, Semaphore, TaskDoneError, TryGetError,
    TryPutError,
};
use ringloop::{Flavor, Runtime};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers

fn runtime(flavor: Flavor) -> Runtime {
    Runtime::builder()
        .flavor(flavor)
        .worker_threads(2)
        .build()
        .expect("build runtime")
}

/// Runs the body on the current-thread runtime, then on the multi-thread one.
fn both<F, Fut>(body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = runtime(flavor);
        rt.block_on(body());
    }
}

/// A waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let c = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// Polls a future once with `waker`.
fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Wraps a future and sets `queued` once it has been polled (and so has joined any line it
/// had to join). The test awaits `queued` before starting the next waiter, which makes
/// arrival order deterministic on the multi-thread runtime too.
struct Queued<F> {
    inner: Pin<Box<F>>,
    queued: Arc<Event>,
}

impl<F: Future> Future for Queued<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = self.inner.as_mut().poll(cx);
        self.queued.set();
        out
    }
}

/// `fut`, plus an event set once it has been polled once.
fn queued<F: Future>(fut: F) -> (Queued<F>, Arc<Event>) {
    let ev = Arc::new(Event::new());
    (
        Queued {
            inner: Box::pin(fut),
            queued: ev.clone(),
        },
        ev,
    )
}

/// `fut`'s output, or a panic naming `what` if it takes longer than `limit`: a lost wake-up
/// fails the test instead of hanging it.
async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut timer = ringloop::sleep(limit);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if Pin::new(&mut timer).poll(cx).is_ready() {
            panic!("{what}: still pending after {limit:?} (a lost wake-up?)");
        }
        Poll::Pending
    })
    .await
}

/// A ten-line executor that is not ringloop: parks the thread until woken.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unparker(std::thread::Thread);
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            return out;
        }
        std::thread::park();
    }
}

// ---------------------------------------------------------------------------------------------
// Event

#[test]
fn event_set_wakes_every_waiter_once() {
    both(|| async {
        let ev = Arc::new(Event::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (ev2, woken2) = (ev.clone(), woken.clone());
            let (fut, q) = queued(async move { ev2.wait().await });
            tasks.push(ringloop::create_task(async move {
                fut.await;
                woken2.fetch_add(1, SeqCst);
            }));
            q.wait().await;
        }
        assert_eq!(woken.load(SeqCst), 0);
        ev.set();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(woken.load(SeqCst), 20);
        assert!(ev.is_set());
        // Set: waits return at once.
        ev.wait().await;
    });
}

#[test]
fn manual_event_waiter_woken_by_set_returns_even_if_cleared_before_it_runs() {
    let ev = Event::new();
    let (count, w) = counting_waker();
    let mut fut = ev.wait();
    assert!(poll(&mut fut, &w).is_pending());
    ev.set();
    ev.clear();
    assert_eq!(count.0.load(SeqCst), 1);
    assert!(
        poll(&mut fut, &w).is_ready(),
        "asyncio: a set() wakes current waiters for good"
    );
    // A new waiter after clear() waits again.
    let mut late = ev.wait();
    assert!(poll(&mut late, &w).is_pending());
    drop(late);
    ev.set();
    assert_eq!(count.0.load(SeqCst), 1, "a dropped waiter is not woken");
}

// ---------------------------------------------------------------------------------------------
// Lock

#[test]
fn lock_is_fifo() {
    both(|| async {
        let lock = Arc::new(Lock::new());
        let order = Arc::new(Mutex::new(Vec::new()));
        let guard = lock.acquire().await;
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (lock2, order2) = (lock.clone(), order.clone());
            let (fut, q) = queued(async move { drop(lock2.acquire().await) });
            tasks.push(ringloop::create_task(async move {
                fut.await;
                order2.lock().unwrap().push(i);
            }));
            q.wait().await;
        }
        // A newcomer arriving while others wait queues behind them (no barging).
        assert!(lock.try_acquire().is_none());
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        assert!(!lock.locked());
    });
}

#[test]
fn lock_excludes_across_workers_exact_count() {
    let rt = runtime(Flavor::MultiThread);
    rt.block_on(async {
        let lock = Arc::new(Lock::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (lock, inside, total) = (lock.clone(), inside.clone(), total.clone());
                ringloop::create_task(async move {
                    for _ in 0..500 {
                        let _g = lock.acquire().await;
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                        // A non-atomic read-modify-write with a yield in the middle.
                        let t = total.load(SeqCst);
                        ringloop::yield_now().await;
                        total.store(t + 1, SeqCst);
                        inside.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(total.load(SeqCst), 8 * 500);
    });
}

#[test]
fn manual_lock_waiter_dropped_after_handoff_passes_the_lock_on() {
    let lock = Lock::new();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let guard = lock.try_acquire().unwrap();
    let mut a = lock.acquire();
    let mut b = lock.acquire();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    drop(guard); // hands the lock to `a`
    assert_eq!((ca.0.load(SeqCst), cb.0.load(SeqCst)), (1, 0));
    assert!(lock.locked(), "handed over, not unlocked");
    drop(a); // cancelled before it ran: must hand the lock to `b`
    assert_eq!(cb.0.load(SeqCst), 1);
    let Poll::Ready(gb) = poll(&mut b, &wb) else {
        panic!("b was handed the lock")
    };
    drop(gb);
    assert!(!lock.locked());
}

#[test]
fn lock_cancelled_waiting_task_loses_nothing() {
    both(|| async {
        let lock = Arc::new(Lock::new());
        let got = Arc::new(AtomicUsize::new(0));
        let guard = lock.acquire().await;
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (lock2, got2) = (lock.clone(), got.clone());
            let (fut, q) = queued(async move { drop(lock2.acquire().await) });
            tasks.push(ringloop::create_task(async move {
                fut.await;
                got2.fetch_add(1, SeqCst);
            }));
            q.wait().await;
        }
        // Cancel every other waiter, including the first in line, then release.
        for t in tasks.iter().step_by(2) {
            assert!(t.cancel());
        }
        drop(guard);
        let mut cancelled = 0;
        for t in tasks {
            match t.await {
                Ok(()) => {}
                Err(e) if e.is_cancelled() => cancelled += 1,
                Err(e) => panic!("unexpected task error: {e:?}"),
            }
        }
        assert_eq!((got.load(SeqCst), cancelled), (3, 3));
        assert!(
            !lock.locked(),
            "the lock was not lost to a cancelled waiter"
        );
        drop(lock.acquire().await);
    });
}

/// A task is handed the lock (or a permit, or told an item is ready) and cancelled before it
/// gets to run. On the current-thread runtime that order is exact; on the multi-thread one the
/// task may win the race and finish first, which is fine too. Either way the next waiter gets
/// what the cancelled one did not use.
#[test]
fn task_cancelled_right_after_handoff_passes_it_on() {
    const LIMIT: Duration = Duration::from_secs(5);
    both(|| async {
        // Lock.
        let lock = Arc::new(Lock::new());
        let guard = lock.acquire().await;
        let mut waiters = Vec::new();
        for _ in 0..2 {
            let lock2 = lock.clone();
            let (fut, q) = queued(async move { drop(lock2.acquire().await) });
            waiters.push(ringloop::create_task(fut));
            q.wait().await;
        }
        drop(guard); // hands the lock to waiters[0] ...
        waiters[0].cancel(); // ... which is cancelled before it runs
        let second = waiters.pop().unwrap();
        within(LIMIT, "lock hand-on", second)
            .await
            .expect("the second waiter got the lock");
        assert!(!lock.locked());

        // Semaphore.
        let sem = Arc::new(Semaphore::new(1));
        let permit = sem.acquire().await;
        let mut waiters = Vec::new();
        for _ in 0..2 {
            let sem2 = sem.clone();
            let (fut, q) = queued(async move { drop(sem2.acquire().await) });
            waiters.push(ringloop::create_task(fut));
            q.wait().await;
        }
        drop(permit);
        waiters[0].cancel();
        within(LIMIT, "permit hand-on", waiters.pop().unwrap())
            .await
            .expect("the second waiter got a permit");
        assert_eq!(sem.available_permits(), 1);

        // Queue::get.
        let queue = Arc::new(Queue::new(0));
        let mut getters = Vec::new();
        for _ in 0..2 {
            let q2 = queue.clone();
            let (fut, q) = queued(async move { q2.get().await.unwrap() });
            getters.push(ringloop::create_task(fut));
            q.wait().await;
        }
        queue.put_nowait(7).unwrap(); // tells getters[0] ...
        let first_cancelled = getters[0].cancel(); // ... which is cancelled before it runs
        let second = getters.pop().unwrap();
        if first_cancelled {
            let got = within(LIMIT, "item wake-up hand-on", second).await;
            assert_eq!(got.unwrap(), 7, "the item went to the second getter");
        } else {
            // The first getter won the race (multi-thread) and took the item.
            assert_eq!(getters.pop().unwrap().await.unwrap(), 7);
            second.cancel();
        }
        assert!(queue.empty());
    });
}

/// Cancels waiters at random moments on the multi-thread runtime while others hand the lock
/// and the permits around: whatever the interleaving (a waiter cancelled on one worker just as
/// the lock is handed to it from another), nothing is lost and nothing is doubled.
#[test]
fn lock_and_semaphore_survive_a_cancel_storm() {
    /// Counts holders: entering returns how many were inside before; dropping leaves, so a
    /// holder cancelled mid-section still leaves.
    struct Inside<'a>(usize, &'a AtomicUsize);
    impl<'a> Inside<'a> {
        fn enter(count: &'a AtomicUsize) -> Inside<'a> {
            Inside(count.fetch_add(1, SeqCst), count)
        }
    }
    impl Drop for Inside<'_> {
        fn drop(&mut self) {
            self.1.fetch_sub(1, SeqCst);
        }
    }

    let rt = runtime(Flavor::MultiThread);
    rt.block_on(async {
        let lock = Arc::new(Lock::new());
        let sem = Arc::new(Semaphore::new(2));
        let in_lock = Arc::new(AtomicUsize::new(0));
        let in_sem = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (lock, sem, in_lock, in_sem) =
                (lock.clone(), sem.clone(), in_lock.clone(), in_sem.clone());
            tasks.push(ringloop::create_task(async move {
                for _ in 0..50 {
                    {
                        let _g = lock.acquire().await;
                        // Declared after the guard, so dropped before it, even when the task
                        // is cancelled at the yield below.
                        let inside = Inside::enter(&in_lock);
                        assert_eq!(inside.0, 0, "two lock holders");
                        ringloop::yield_now().await;
                    }
                    let _p = sem.acquire().await;
                    let inside = Inside::enter(&in_sem);
                    assert!(inside.0 < 2, "three permit holders");
                    ringloop::yield_now().await;
                }
            }));
        }
        // Cancel every third task, spread over the run.
        let mut cancelled = 0;
        for (i, t) in tasks.iter().enumerate() {
            ringloop::yield_now().await;
            if i % 3 == 0 && t.cancel() {
                cancelled += 1;
            }
        }
        let mut finished = 0;
        for t in tasks {
            match t.await {
                Ok(()) => finished += 1,
                Err(e) => assert!(e.is_cancelled(), "{e:?}"),
            }
        }
        assert!(finished >= 40 - cancelled);
        assert!(!lock.locked(), "the lock leaked to a cancelled waiter");
        assert_eq!(sem.available_permits(), 2, "a permit leaked");
        assert_eq!((in_lock.load(SeqCst), in_sem.load(SeqCst)), (0, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Semaphore

#[test]
fn semaphore_bounds_concurrency_exact_count() {
    both(|| async {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (sem, inside, peak, done) =
                    (sem.clone(), inside.clone(), peak.clone(), done.clone());
                ringloop::create_task(async move {
                    for _ in 0..20 {
                        let _p = sem.acquire().await;
                        let now = inside.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        ringloop::yield_now().await;
                        inside.fetch_sub(1, SeqCst);
                        done.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(peak.load(SeqCst) <= 3, "peak {}", peak.load(SeqCst));
        assert_eq!(done.load(SeqCst), 240);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn semaphore_is_fifo() {
    both(|| async {
        let sem = Arc::new(Semaphore::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let permit = sem.acquire().await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (sem2, order2) = (sem.clone(), order.clone());
            let (fut, q) = queued(async move { drop(sem2.acquire().await) });
            tasks.push(ringloop::create_task(async move {
                fut.await;
                order2.lock().unwrap().push(i);
            }));
            q.wait().await;
        }
        drop(permit);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    });
}

#[test]
fn manual_semaphore_waiter_dropped_after_handoff_passes_the_permit_on() {
    let sem = Semaphore::new(1);
    let (_ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let p = sem.try_acquire().unwrap();
    let mut a = sem.acquire();
    let mut b = sem.acquire();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    drop(p);
    assert_eq!(
        sem.available_permits(),
        0,
        "handed to `a`, not counted free"
    );
    drop(a);
    assert_eq!(cb.0.load(SeqCst), 1);
    assert!(poll(&mut b, &wb).is_ready());
    drop(b);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn bounded_semaphore_over_release_is_an_error_not_a_panic() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(ReleaseError));
    let p = sem.try_acquire().unwrap();
    p.forget();
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.release(), Err(ReleaseError));
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(
        ReleaseError.to_string(),
        "BoundedSemaphore released too many times"
    );
}

#[test]
fn semaphore_release_wakes_a_waiter_and_forget_keeps_a_permit() {
    both(|| async {
        let sem = Arc::new(Semaphore::new(0));
        assert!(sem.locked());
        let waiter = ringloop::create_task({
            let sem = sem.clone();
            async move { sem.acquire().await.forget() }
        });
        ringloop::yield_now().await;
        sem.release();
        waiter.await.unwrap();
        assert_eq!(sem.available_permits(), 0, "the waiter forgot its permit");
        sem.release();
        assert_eq!(sem.available_permits(), 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Condition

#[test]
fn condition_notify_n_wakes_exactly_n_then_notify_all_the_rest() {
    both(|| async {
        let cond = Arc::new(Condition::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (cond2, woken2) = (cond.clone(), woken.clone());
            let (fut, q) = queued(async move {
                let g = cond2.acquire().await;
                drop(g.wait().await);
            });
            tasks.push(ringloop::create_task(async move {
                fut.await;
                woken2.fetch_add(1, SeqCst);
            }));
            // Polled once: it took the lock, joined the line, released the lock. (The lock
            // was free, so the first poll went all the way to the condition's line.)
            q.wait().await;
        }
        let g = cond.acquire().await;
        assert_eq!(g.notify(2), 2);
        drop(g);
        // The two woken tasks finish; the other three stay waiting.
        let mut finished = Vec::new();
        for _ in 0..2 {
            loop {
                if let Some(i) = tasks.iter().position(|t| t.done()) {
                    finished.push(tasks.remove(i));
                    break;
                }
                ringloop::sleep(Duration::from_millis(1)).await;
            }
        }
        ringloop::sleep(Duration::from_millis(20)).await;
        assert_eq!(woken.load(SeqCst), 2);
        let g = cond.acquire().await;
        assert_eq!(g.notify_all(), 3);
        drop(g);
        for t in tasks.into_iter().chain(finished) {
            t.await.unwrap();
        }
        assert_eq!(woken.load(SeqCst), 5);
    });
}

#[test]
fn condition_wait_for_checks_the_predicate_under_the_lock() {
    both(|| async {
        let cond = Arc::new(Condition::new());
        let value = Arc::new(AtomicUsize::new(0));
        let checks = Arc::new(AtomicUsize::new(0));
        let waiter = ringloop::create_task({
            let (cond, value, checks) = (cond.clone(), value.clone(), checks.clone());
            async move {
                let g = cond.acquire().await;
                let g = g
                    .wait_for(|| {
                        checks.fetch_add(1, SeqCst);
                        value.load(SeqCst) == 3
                    })
                    .await;
                assert!(g.condition().locked());
                value.load(SeqCst)
            }
        });
        for v in 1..=3 {
            ringloop::sleep(Duration::from_millis(2)).await;
            let g = cond.acquire().await;
            value.store(v, SeqCst);
            g.notify_all();
        }
        assert_eq!(waiter.await.unwrap(), 3);
        // Checked once up front, then once per wake-up that reached it (at most 3).
        let n = checks.load(SeqCst);
        assert!((2..=4).contains(&n), "{n} checks");
        assert!(!cond.locked());
    });
}

#[test]
fn manual_condition_waiter_dropped_after_notify_passes_the_notification_on() {
    let cond = Condition::new();
    let (_ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = block_on(cond.acquire()).wait();
    assert!(poll(&mut a, &wa).is_pending());
    let mut b = block_on(cond.acquire()).wait();
    assert!(poll(&mut b, &wb).is_pending());
    assert!(!cond.locked(), "both waiters released the lock");
    let g = block_on(cond.acquire());
    assert_eq!(g.notify(1), 1); // meant for `a`
    drop(g);
    drop(a); // cancelled before it ran: `b` gets the wake-up
    assert_eq!(cb.0.load(SeqCst), 1);
    let Poll::Ready(gb) = poll(&mut b, &wb) else {
        panic!("b was notified and the lock is free")
    };
    assert!(cond.locked());
    drop(gb);
    assert!(!cond.locked());
}

#[test]
fn condition_adopt_accepts_its_own_lock_only() {
    let shared = Arc::new(Lock::new());
    let c1 = Condition::with_lock(shared.clone());
    let c2 = Condition::with_lock(shared.clone());
    let other = Condition::new();
    let g = block_on(c1.acquire()).into_lock_guard();
    let g = c2.adopt(g).expect("same lock");
    let g = other
        .adopt(g.into_lock_guard())
        .expect_err("different lock");
    drop(g);
    assert!(!shared.locked());
}

// ---------------------------------------------------------------------------------------------
// Barrier

#[test]
fn barrier_releases_each_round_with_distinct_indices() {
    both(|| async {
        let parties = 4;
        let barrier = Arc::new(Barrier::new(parties).unwrap());
        let tasks: Vec<_> = (0..parties)
            .map(|_| {
                let b = barrier.clone();
                ringloop::create_task(async move {
                    let mut idx = Vec::new();
                    for _ in 0..5 {
                        idx.push(b.wait().await.unwrap());
                    }
                    idx
                })
            })
            .collect();
        let mut per_round = vec![Vec::new(); 5];
        for t in tasks {
            for (round, i) in t.await.unwrap().into_iter().enumerate() {
                per_round[round].push(i);
            }
        }
        for mut r in per_round {
            r.sort();
            assert_eq!(r, vec![0, 1, 2, 3]);
        }
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn barrier_abort_breaks_waiters_until_reset() {
    both(|| async {
        let barrier = Arc::new(Barrier::new(3).unwrap());
        let (fut, q) = queued({
            let b = barrier.clone();
            async move { b.wait().await }
        });
        let waiter = ringloop::create_task(fut);
        q.wait().await;
        assert_eq!(barrier.n_waiting(), 1);
        barrier.abort();
        assert_eq!(waiter.await.unwrap(), Err(BrokenBarrierError));
        assert!(barrier.broken());
        assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
        barrier.reset();
        assert!(!barrier.broken());
        let b2 = barrier.clone();
        let b3 = barrier.clone();
        let t2 = ringloop::create_task(async move { b2.wait().await });
        let t3 = ringloop::create_task(async move { b3.wait().await });
        let mine = barrier.wait().await.unwrap();
        let mut all = vec![mine, t2.await.unwrap().unwrap(), t3.await.unwrap().unwrap()];
        all.sort();
        assert_eq!(all, vec![0, 1, 2]);
    });
}

#[test]
fn manual_barrier_reset_breaks_current_waiters_only() {
    let barrier = Barrier::new(2).unwrap();
    let (_c, w) = counting_waker();
    let mut a = barrier.wait();
    assert!(poll(&mut a, &w).is_pending());
    barrier.reset();
    assert_eq!(poll(&mut a, &w), Poll::Ready(Err(BrokenBarrierError)));
    assert!(!barrier.broken());
    // A fresh round works.
    let mut b = barrier.wait();
    assert!(poll(&mut b, &w).is_pending());
    let mut c = barrier.wait();
    assert_eq!(poll(&mut c, &w), Poll::Ready(Ok(1)));
    assert_eq!(poll(&mut b, &w), Poll::Ready(Ok(0)));
}

#[test]
fn manual_barrier_dropped_waiter_leaves_the_round() {
    let barrier = Barrier::new(2).unwrap();
    let (_c, w) = counting_waker();
    let mut a = barrier.wait();
    assert!(poll(&mut a, &w).is_pending());
    assert_eq!(barrier.n_waiting(), 1);
    drop(a);
    assert_eq!(barrier.n_waiting(), 0);
    let mut b = barrier.wait();
    assert!(poll(&mut b, &w).is_pending(), "one party is not enough");
}

#[test]
fn barrier_of_zero_parties_is_an_error() {
    assert!(Barrier::new(0).is_err());
    let one = Barrier::new(1).unwrap();
    assert_eq!(block_on(one.wait()), Ok(0));
}

// ---------------------------------------------------------------------------------------------
// Queues: order and limits

#[test]
fn queue_kinds_order_fifo_lifo_smallest_first() {
    let fifo = Queue::new(0);
    let lifo = LifoQueue::new(0);
    let prio = PriorityQueue::new(0);
    for x in [5, 1, 4, 2, 3] {
        fifo.put_nowait(x).unwrap();
        lifo.put_nowait(x).unwrap();
        prio.put_nowait(x).unwrap();
    }
    let drain = |f: &dyn Fn() -> Result<i32, TryGetError>| -> Vec<i32> {
        std::iter::from_fn(|| f().ok()).collect()
    };
    assert_eq!(drain(&|| fifo.get_nowait()), vec![5, 1, 4, 2, 3]);
    assert_eq!(drain(&|| lifo.get_nowait()), vec![3, 2, 4, 1, 5]);
    assert_eq!(drain(&|| prio.get_nowait()), vec![1, 2, 3, 4, 5]);
}

#[test]
fn priority_queue_orders_tuples_like_heapq() {
    both(|| async {
        let q = PriorityQueue::new(0);
        for (p, name) in [(2, "b"), (0, "z"), (1, "a"), (1, "_")] {
            q.put((p, name)).await.unwrap();
        }
        let mut out = Vec::new();
        while let Ok(item) = q.get_nowait() {
            out.push(item);
        }
        assert_eq!(out, vec![(0, "z"), (1, "_"), (1, "a"), (2, "b")]);
    });
}

#[test]
fn queue_nowait_errors_give_the_item_back() {
    let q = Queue::new(1);
    assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
    q.put_nowait("a").unwrap();
    assert!(q.full());
    match q.put_nowait("b") {
        Err(e) => {
            assert!(e.is_full());
            assert_eq!(e.into_inner(), "b");
        }
        Ok(()) => panic!("put into a full queue"),
    }
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get_nowait(), Ok("a"));
    assert!(q.empty());
    assert!(!Queue::<u8>::new(0).full(), "maxsize 0 is unbounded");
}

#[test]
fn queue_put_waits_for_room_in_fifo_order() {
    both(|| async {
        let q = Arc::new(Queue::new(1));
        q.put(0).await.unwrap();
        let mut putters = Vec::new();
        for i in 1..=5 {
            let q2 = q.clone();
            let (fut, queued_ev) = queued(async move { q2.put(i).await.unwrap() });
            putters.push(ringloop::create_task(fut));
            queued_ev.wait().await;
        }
        assert_eq!(q.qsize(), 1);
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(q.get().await.unwrap());
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        for p in putters {
            p.await.unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Queues: task_done / join

#[test]
fn queue_join_waits_for_every_task_done() {
    both(|| async {
        let q = Arc::new(Queue::new(0));
        for i in 0..10 {
            q.put(i).await.unwrap();
        }
        let joined = Arc::new(AtomicBool::new(false));
        let joiner = ringloop::create_task({
            let (q, joined) = (q.clone(), joined.clone());
            async move {
                q.join().await;
                joined.store(true, SeqCst);
            }
        });
        for _ in 0..10 {
            q.get().await.unwrap();
            ringloop::yield_now().await;
            assert!(!joined.load(SeqCst), "join returned before every task_done");
            q.task_done().unwrap();
        }
        joiner.await.unwrap();
        assert!(joined.load(SeqCst));
        assert_eq!(q.unfinished_tasks(), 0);
        q.join().await; // nothing unfinished: returns at once
    });
}

#[test]
fn queue_task_done_too_many_times_is_an_error() {
    let q = Queue::new(0);
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.put_nowait(1).unwrap();
    q.get_nowait().unwrap();
    assert_eq!(q.task_done(), Ok(()));
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(q.unfinished_tasks(), 0);
}

// ---------------------------------------------------------------------------------------------
// Queues: cancellation

#[test]
fn manual_queue_getter_dropped_after_notify_passes_the_item_on() {
    let q = Queue::new(0);
    let (_ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = q.get();
    let mut b = q.get();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    q.put_nowait(42).unwrap(); // wakes `a`
    assert_eq!(cb.0.load(SeqCst), 0);
    drop(a); // cancelled before it ran
    assert_eq!(cb.0.load(SeqCst), 1, "the wake-up went to `b`");
    assert_eq!(poll(&mut b, &wb), Poll::Ready(Ok(42)));
}

#[test]
fn manual_queue_putter_dropped_after_notify_passes_room_on() {
    let q = Queue::new(1);
    q.put_nowait(0).unwrap();
    let (_ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = q.put(1);
    let mut b = q.put(2);
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    assert_eq!(q.get_nowait(), Ok(0)); // room: wakes `a`
    drop(a); // its item is dropped, never put
    assert_eq!(cb.0.load(SeqCst), 1);
    assert_eq!(poll(&mut b, &wb), Poll::Ready(Ok(())));
    assert_eq!(q.get_nowait(), Ok(2));
    assert_eq!(
        q.unfinished_tasks(),
        2,
        "items 0 and 2 were put; 1 never was"
    );
}

#[test]
fn manual_notified_getter_robbed_by_get_nowait_keeps_its_place() {
    let q = Queue::new(0);
    let (ca, wa) = counting_waker();
    let (_cb, wb) = counting_waker();
    let mut a = q.get();
    let mut b = q.get();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    q.put_nowait(1).unwrap(); // wakes `a`
    assert_eq!(q.get_nowait(), Ok(1)); // a non-waiting getter takes it first
    assert!(
        poll(&mut a, &wa).is_pending(),
        "nothing left: `a` waits again"
    );
    q.put_nowait(2).unwrap();
    assert_eq!(
        ca.0.load(SeqCst),
        2,
        "`a` went back to the front of the line"
    );
    assert_eq!(poll(&mut a, &wa), Poll::Ready(Ok(2)));
    assert!(poll(&mut b, &wb).is_pending());
}

#[test]
fn queue_cancelled_consumers_lose_no_item() {
    both(|| async {
        const N: usize = 200;
        let q = Arc::new(Queue::new(4));
        let received = Arc::new(Mutex::new(Vec::new()));
        // Consumers that take one item each, half of them cancelled while waiting.
        let mut consumers = Vec::new();
        for _ in 0..N {
            let (q2, rec) = (q.clone(), received.clone());
            consumers.push(ringloop::create_task(async move {
                let item = q2.get().await.unwrap();
                rec.lock().unwrap().push(item);
            }));
        }
        ringloop::yield_now().await;
        let producer = ringloop::create_task({
            let q = q.clone();
            async move {
                for i in 0..N {
                    q.put(i).await.unwrap();
                }
            }
        });
        let mut cancelled = 0;
        for (i, c) in consumers.iter().enumerate() {
            if i % 2 == 1 && c.cancel() {
                cancelled += 1;
            }
            if i % 16 == 0 {
                ringloop::yield_now().await;
            }
        }
        // Drain what the cancelled consumers did not take.
        let mut rest = Vec::new();
        while rest.len() + received.lock().unwrap().len() < N {
            match q.get_nowait() {
                Ok(x) => rest.push(x),
                Err(_) => ringloop::sleep(Duration::from_millis(1)).await,
            }
        }
        producer.await.unwrap();
        let mut completed = 0;
        for c in consumers {
            if c.await.is_ok() {
                completed += 1;
            }
        }
        let mut all = received.lock().unwrap().clone();
        assert_eq!(all.len(), completed);
        assert!(completed >= N - cancelled);
        all.extend(rest);
        all.sort();
        assert_eq!(all, (0..N).collect::<Vec<_>>(), "every item exactly once");
    });
}

// ---------------------------------------------------------------------------------------------
// Queues: many producers and consumers

#[test]
fn queue_many_producers_many_consumers_exact_counts() {
    let rt = runtime(Flavor::MultiThread);
    rt.block_on(async {
        const PRODUCERS: usize = 4;
        const CONSUMERS: usize = 4;
        const PER: usize = if cfg!(miri) { 50 } else { 5_000 };
        let q = Arc::new(Queue::new(16));
        let seen = Arc::new(
            (0..PRODUCERS * PER)
                .map(|_| AtomicUsize::new(0))
                .collect::<Vec<_>>(),
        );
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                ringloop::create_task(async move {
                    for i in 0..PER {
                        q.put(p * PER + i).await.unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (q, seen) = (q.clone(), seen.clone());
                ringloop::create_task(async move {
                    let mut n = 0usize;
                    while let Ok(x) = q.get().await {
                        seen[x].fetch_add(1, SeqCst);
                        q.task_done().unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        q.join().await;
        q.shutdown(false);
        let mut total = 0;
        for c in consumers {
            total += c.await.unwrap();
        }
        assert_eq!(total, PRODUCERS * PER);
        assert!(
            seen.iter().all(|c| c.load(SeqCst) == 1),
            "each item exactly once"
        );
        assert!(q.empty());
    });
}

#[test]
fn queue_works_between_plain_threads_without_a_runtime() {
    let q = Arc::new(Queue::new(2));
    let producer = std::thread::spawn({
        let q = q.clone();
        move || {
            block_on(async {
                for i in 0..1000u64 {
                    q.put(i).await.unwrap();
                }
                q.shutdown(false);
            })
        }
    });
    let sum = block_on(async {
        let mut sum = 0;
        while let Ok(x) = q.get().await {
            sum += x;
        }
        sum
    });
    producer.join().unwrap();
    assert_eq!(sum, 999 * 1000 / 2);
}

// ---------------------------------------------------------------------------------------------
// Queues: shutdown (Python 3.13)

#[test]
fn queue_shutdown_drains_then_fails_and_wakes_blocked_callers() {
    both(|| async {
        let q = Arc::new(Queue::new(1));
        let getter_q = Arc::new(Queue::<u32>::new(0));
        let getter = ringloop::create_task({
            let g = getter_q.clone();
            async move { g.get().await }
        });
        q.put(1).await.unwrap();
        let (fut, queued_ev) = queued({
            let q = q.clone();
            async move { q.put(2).await }
        });
        let putter = ringloop::create_task(fut);
        queued_ev.wait().await;
        ringloop::yield_now().await;
        q.shutdown(false);
        getter_q.shutdown(false);
        assert_eq!(putter.await.unwrap(), Err(QueueShutDown(2)));
        assert_eq!(getter.await.unwrap(), Err(QueueShutDown(())));
        assert!(matches!(q.put_nowait(3), Err(TryPutError::ShutDown(3))));
        assert_eq!(
            q.get().await,
            Ok(1),
            "items put before shutdown are still served"
        );
        assert_eq!(q.get().await, Err(QueueShutDown(())));
        assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
    });
}

#[test]
fn queue_shutdown_immediate_drops_items_and_releases_join() {
    both(|| async {
        let q = Arc::new(Queue::new(0));
        let item = Arc::new(());
        for _ in 0..3 {
            q.put(item.clone()).await.unwrap();
        }
        let joiner = ringloop::create_task({
            let q = q.clone();
            async move { q.join().await }
        });
        ringloop::yield_now().await;
        q.shutdown(true);
        joiner.await.unwrap();
        assert_eq!(Arc::strong_count(&item), 1, "the queued items were dropped");
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
    });
}

// ---------------------------------------------------------------------------------------------
// Figures (ignored: run by hand, in release)

/// Ping-pong between two tasks over two `Queue::new(1)`, against a baseline measured in the
/// same run: the same ping-pong over two hand-written one-slot channels (a std `Mutex` holding
/// the item and the waker), the least a queue could cost. Prints ns per round trip and the
/// ratio; asserts nothing about speed.
///
/// `cargo test -p ringloop --release --test sync -- --ignored --nocapture ping_pong`
#[test]
#[ignore]
fn ping_pong_round_trip() {
    const ROUNDS: u64 = 50_000;
    const REPEATS: usize = 21;

    #[derive(Default)]
    struct Slot(Mutex<(Option<u64>, Option<Waker>, Option<Waker>)>);
    impl Slot {
        fn send(&self, v: u64) -> impl Future<Output = ()> + '_ {
            let mut v = Some(v);
            std::future::poll_fn(move |cx| {
                let mut s = self.0.lock().unwrap();
                if s.0.is_some() {
                    s.2 = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                s.0 = v.take();
                let w = s.1.take();
                drop(s);
                if let Some(w) = w {
                    w.wake();
                }
                Poll::Ready(())
            })
        }
        fn recv(&self) -> impl Future<Output = u64> + '_ {
            std::future::poll_fn(move |cx| {
                let mut s = self.0.lock().unwrap();
                match s.0.take() {
                    Some(v) => {
                        let w = s.2.take();
                        drop(s);
                        if let Some(w) = w {
                            w.wake();
                        }
                        Poll::Ready(v)
                    }
                    None => {
                        s.1 = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
        }
    }

    /// Spawns `echo` and `drive` as two tasks and returns ns per round trip of `drive`.
    async fn time_pair<E, D>(echo: E, drive: D) -> f64
    where
        E: Future<Output = ()> + Send + 'static,
        D: Future<Output = ()> + Send + 'static,
    {
        let echo = ringloop::create_task(echo);
        let start = Instant::now();
        ringloop::create_task(drive).await.unwrap();
        let ns = start.elapsed().as_nanos() as f64 / ROUNDS as f64;
        echo.await.unwrap();
        ns
    }

    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = runtime(flavor);
        let (queue_ns, slot_ns) = rt.block_on(async {
            // Interleaved, so both see the same machine load; min and median over the repeats.
            let (mut qs, mut ss) = (Vec::new(), Vec::new());
            for _ in 0..REPEATS {
                let (ping, pong) = (Arc::new(Queue::new(1)), Arc::new(Queue::new(1)));
                let (p2, q2) = (ping.clone(), pong.clone());
                let q = time_pair(
                    async move {
                        for _ in 0..ROUNDS {
                            let v = p2.get().await.unwrap();
                            q2.put(v + 1).await.unwrap();
                        }
                    },
                    async move {
                        for i in 0..ROUNDS {
                            ping.put(i).await.unwrap();
                            assert_eq!(pong.get().await.unwrap(), i + 1);
                        }
                    },
                )
                .await;

                let (a, b) = (Arc::new(Slot::default()), Arc::new(Slot::default()));
                let (a2, b2) = (a.clone(), b.clone());
                let s = time_pair(
                    async move {
                        for _ in 0..ROUNDS {
                            let v = a2.recv().await;
                            b2.send(v + 1).await;
                        }
                    },
                    async move {
                        for i in 0..ROUNDS {
                            a.send(i).await;
                            assert_eq!(b.recv().await, i + 1);
                        }
                    },
                )
                .await;
                qs.push(q);
                ss.push(s);
            }
            qs.sort_by(f64::total_cmp);
            ss.sort_by(f64::total_cmp);
            ((qs[0], qs[REPEATS / 2]), (ss[0], ss[REPEATS / 2]))
        });
        println!(
            "ping-pong {flavor:?} (ns/round trip, min / median of {REPEATS}): \
             Queue(1) {:.0} / {:.0}, bare one-slot baseline {:.0} / {:.0}, \
             ratio of medians {:.2}",
            queue_ns.0,
            queue_ns.1,
            slot_ns.0,
            slot_ns.1,
            queue_ns.1 / slot_ns.1
        );
    }
}

/// The queue's own cost per operation, with no runtime: one thread, futures polled by hand
/// with a no-op waker, against the bare one-slot `Mutex` channel of `ping_pong_round_trip`
/// doing the same steps. Prints ns per step; asserts nothing about speed.
///
/// `cargo test -p ringloop --release --test sync -- --ignored --nocapture queue_operation_costs`
#[test]
#[ignore]
fn queue_operation_costs() {
    const N: u32 = 1_000_000;
    let waker = Waker::noop();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_nanos() as f64 / f64::from(N)
    };
    let q = Queue::new(1);
    let bare: Mutex<(Option<u32>, Option<Waker>)> = Mutex::new((None, None));
    let (mut nowait, mut cycle, mut base_nowait, mut base_cycle) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..11 {
        // put_nowait + get_nowait: the uncontended path.
        nowait.push(time(&mut || {
            for i in 0..N {
                q.put_nowait(i).unwrap();
                std::hint::black_box(q.get_nowait().unwrap());
            }
        }));
        base_nowait.push(time(&mut || {
            for i in 0..N {
                bare.lock().unwrap().0 = Some(i);
                std::hint::black_box(bare.lock().unwrap().0.take().unwrap());
            }
        }));
        // A get that waits: poll (Pending, joins the line), put_nowait (wakes it), poll (Ready).
        cycle.push(time(&mut || {
            for i in 0..N {
                let mut get = q.get();
                assert!(poll(&mut get, waker).is_pending());
                q.put_nowait(i).unwrap();
                assert_eq!(poll(&mut get, waker), Poll::Ready(Ok(i)));
            }
        }));
        base_cycle.push(time(&mut || {
            for i in 0..N {
                {
                    let mut s = bare.lock().unwrap();
                    assert!(s.0.is_none());
                    s.1 = Some(waker.clone());
                }
                let w = {
                    let mut s = bare.lock().unwrap();
                    s.0 = Some(i);
                    s.1.take()
                };
                w.unwrap().wake();
                assert_eq!(bare.lock().unwrap().0.take(), Some(i));
            }
        }));
    }
    println!(
        "queue op costs (ns, median of 11 x {N}): put_nowait+get_nowait {:.1} (bare {:.1}); \
         waiting get cycle {:.1} (bare {:.1})",
        median(nowait),
        median(base_nowait),
        median(cycle),
        median(base_cycle)
    );
}
