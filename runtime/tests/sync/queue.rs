//! Queues: order, limits, task_done/join, cancellation, many producers and consumers, shutdown.

use super::*;

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
