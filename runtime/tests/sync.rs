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
//! Speed is not asserted anywhere; `figures::ping_pong_round_trip` (ignored) prints it.
//!
//! This file holds the shared helpers; the tests are in `sync/`, one file per primitive family.

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

#[path = "sync/condition_barrier.rs"]
mod condition_barrier;
#[path = "sync/event_lock.rs"]
mod event_lock;
#[path = "sync/figures.rs"]
mod figures;
#[path = "sync/queue.rs"]
mod queue;
#[path = "sync/semaphore.rs"]
mod semaphore;
