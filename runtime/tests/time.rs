//! Timers that move between threads: a sleep registered in one thread's wheel, then polled or
//! dropped on another (a stolen task). The owner's wheel is never touched from the other
//! thread: the key goes to the owner's cancel inbox.

use ringloop::{Builder, Flavor};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Polls `f` once and returns it: registers a sleep's timer on the polling thread.
async fn poll_once<F: Future + Unpin>(mut f: F) -> F {
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let _ = Pin::new(&mut f).poll(cx);
        Poll::Ready(())
    })
    .await;
    f
}

#[test]
fn a_sleep_registered_on_one_thread_completes_on_another_never_early() {
    for flavor in [Flavor::MultiThread, Flavor::CurrentThread] {
        let rt = Builder::new_multi_thread()
            .flavor(flavor)
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..50 {
                let start = Instant::now();
                // Registered in the block_on thread's wheel...
                let sleep = poll_once(ringloop::sleep(Duration::from_millis(3))).await;
                // ...awaited on a worker: the timer moves there.
                ringloop::create_task(sleep).await.unwrap();
                assert!(start.elapsed() >= Duration::from_millis(3), "{flavor:?}");
            }
        });
    }
}

#[test]
fn a_sleep_dropped_on_another_thread_is_cancelled_in_its_owner() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..1000 {
            let sleep = poll_once(ringloop::sleep(Duration::from_secs(3600))).await;
            // Dropped on a worker: the key is posted to the block_on thread's inbox.
            ringloop::create_task(async move { drop(sleep) })
                .await
                .unwrap();
        }
        // The owner applies the cancels at its next turn and stays responsive.
        ringloop::sleep(Duration::from_millis(5)).await;
    });
}

#[test]
fn duration_max_and_far_deadlines_never_panic() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let forever = ringloop::wait_for(ringloop::sleep(Duration::MAX), Duration::from_millis(5));
        assert!(forever.await.is_err());
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        assert!(
            ringloop::wait_for(ringloop::sleep_until(far), Duration::from_millis(5))
                .await
                .is_err()
        );
    });
}

#[test]
fn a_current_thread_runtime_dropped_inside_another_runtime_shuts_down() {
    let outer = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    outer.block_on(async {
        ringloop::create_task(async {
            let inner = Builder::new_current_thread().build().unwrap();
            drop(inner.create_task(ringloop::sleep(Duration::from_secs(3600))));
            drop(inner); // shuts down from inside a task of `outer`
        })
        .await
        .unwrap();
    });
}
