//! Semaphore and BoundedSemaphore: concurrency bound, FIFO, permit hand-on, over-release.

use super::*;

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
