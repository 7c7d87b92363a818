//! Event and Lock: wake-all, FIFO hand-off, cancellation after hand-off, a cancel storm.

use super::*;

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
        getters[0].cancel(); // ... which is cancelled before it runs
        let second = getters.pop().unwrap();
        let first = within(LIMIT, "the cancelled getter", getters.pop().unwrap()).await;
        match first {
            // The first getter won the race (multi-thread: it was already running when the
            // cancel came, so `cancel` returned true and still came too late) and took it.
            Ok(got) => {
                assert_eq!(got, 7);
                second.cancel();
            }
            Err(_) => {
                let got = within(LIMIT, "item wake-up hand-on", second).await;
                assert_eq!(got.unwrap(), 7, "the item went to the second getter");
            }
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
