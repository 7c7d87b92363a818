//! Condition and Barrier: notify counts, wait_for, notification hand-on, rounds, abort and reset.

use super::*;

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
        within(Duration::from_secs(5), "the two notified waiters", async {
            for _ in 0..2 {
                loop {
                    if let Some(i) = tasks.iter().position(|t| t.done()) {
                        finished.push(tasks.remove(i));
                        break;
                    }
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
            }
        })
        .await;
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
