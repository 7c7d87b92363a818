//! Tests of the task harness alone, driven by a tiny scheduler (a locked queue): no reactor, no
//! threads unless a test makes them, so they run under miri
//! (`cargo +nightly miri test -p ringloop --lib task::tests`).
//!
//! Each test counts side effects exactly: polls, future drops, output drops.

use super::*;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A scheduler that only queues.
struct TestSched {
    queue: Mutex<VecDeque<Notified>>,
    tasks: TaskList,
    hooks: crate::hooks::Hooks,
}

impl Default for TestSched {
    fn default() -> TestSched {
        TestSched {
            queue: Mutex::default(),
            tasks: TaskList::new(),
            hooks: crate::hooks::Hooks::new(None),
        }
    }
}

impl Schedule for Arc<TestSched> {
    fn schedule(&self, task: Notified) {
        self.queue.lock().push_back(task);
    }

    fn release(&self, task: RawTask) -> bool {
        self.tasks.remove(task)
    }

    fn hooks(&self) -> &crate::hooks::Hooks {
        &self.hooks
    }
}

impl TestSched {
    fn new() -> Arc<TestSched> {
        Arc::new(TestSched::default())
    }

    fn spawn<F>(self: &Arc<Self>, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (notified, handle) = spawn(f, self.clone(), &self.tasks, None).unwrap();
        self.schedule(notified);
        handle
    }

    /// Runs queued tasks until the queue is empty; returns how many runs happened.
    fn run_all(&self) -> usize {
        let mut runs = 0;
        loop {
            let next = self.queue.lock().pop_front();
            match next {
                Some(task) => {
                    task.run();
                    runs += 1;
                }
                None => return runs,
            }
        }
    }
}

/// Counts drops of whatever holds it.
#[derive(Clone, Default)]
struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct Tracked(DropCounter);

impl Drop for Tracked {
    fn drop(&mut self) {
        (self.0).0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that is pending `pending` times (waking itself if `self_wake`), counting polls.
struct Steps {
    pending: usize,
    polls: Arc<AtomicUsize>,
    self_wake: bool,
    panic_on_poll: bool,
    _tracked: Tracked,
}

impl Future for Steps {
    type Output = Tracked;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Tracked> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.panic_on_poll {
            panic!("boom in poll");
        }
        if self.pending == 0 {
            return Poll::Ready(Tracked(self._tracked.0.clone()));
        }
        self.pending -= 1;
        if self.self_wake {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// Polls a `Task` handle once with a counting waker.
fn poll_handle<T>(task: &mut Task<T>, waker: &Waker) -> Poll<Result<T, TaskError>> {
    Pin::new(task).poll(&mut Context::from_waker(waker))
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let w = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (w.clone(), Waker::from(w))
}

#[test]
fn ready_task_output_is_read_once_and_dropped_once() {
    let sched = TestSched::new();
    let future_drops = DropCounter::default();
    let output_drops = DropCounter::default();
    let polls = Arc::new(AtomicUsize::new(0));
    let fut = Steps {
        pending: 0,
        polls: polls.clone(),
        self_wake: false,
        panic_on_poll: false,
        _tracked: Tracked(future_drops.clone()),
    };
    let mut out_counter = Some(output_drops.clone());
    let mut handle = sched.spawn(async move {
        let t = fut.await;
        drop(t);
        Tracked(out_counter.take().unwrap())
    });
    assert_eq!(sched.run_all(), 1);
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    assert!(handle.done());
    let (_, waker) = counting_waker();
    let Poll::Ready(Ok(out)) = poll_handle(&mut handle, &waker) else {
        panic!("not ready")
    };
    assert_eq!(output_drops.count(), 0);
    drop(out);
    assert_eq!(output_drops.count(), 1);
    drop(handle);
    assert_eq!(
        future_drops.count(),
        2,
        "the inner Steps and its output Tracked"
    );
    assert_eq!(sched.tasks.len(), 0);
}

#[test]
fn self_wake_reschedules_once_per_poll() {
    let sched = TestSched::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::default();
    let handle = sched.spawn(Steps {
        pending: 3,
        polls: polls.clone(),
        self_wake: true,
        panic_on_poll: false,
        _tracked: Tracked(drops.clone()),
    });
    assert_eq!(sched.run_all(), 4);
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    assert!(handle.done());
    drop(handle);
    assert_eq!(drops.count(), 2, "the future and its output");
    // Each cell holds a clone of the scheduler until it is freed: back to one means the task's
    // memory was released, so no poll leaked a reference.
    assert_eq!(Arc::strong_count(&sched), 1);
}

#[test]
fn join_waker_is_woken_at_completion_and_can_be_replaced() {
    let sched = TestSched::new();
    let (tx, rx) = std::sync::mpsc::channel::<Waker>();
    let mut first = true;
    let mut handle = sched.spawn(std::future::poll_fn(move |cx| {
        // Pending on the first poll, handing our waker out; ready on the second.
        if std::mem::take(&mut first) {
            tx.send(cx.waker().clone()).unwrap();
            Poll::Pending
        } else {
            Poll::Ready(7)
        }
    }));
    sched.run_all();
    let (first, w1) = counting_waker();
    let (second, w2) = counting_waker();
    assert!(poll_handle(&mut handle, &w1).is_pending());
    assert!(poll_handle(&mut handle, &w2).is_pending());
    rx.recv().unwrap().wake();
    sched.run_all();
    assert_eq!(
        first.0.load(Ordering::SeqCst),
        0,
        "the replaced waker is not woken"
    );
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
    assert!(matches!(poll_handle(&mut handle, &w2), Poll::Ready(Ok(7))));
}

#[test]
fn panic_in_poll_surfaces_at_handle_and_drops_future_once() {
    let sched = TestSched::new();
    let drops = DropCounter::default();
    let mut handle = sched.spawn(Steps {
        pending: 0,
        polls: Arc::default(),
        self_wake: false,
        panic_on_poll: true,
        _tracked: Tracked(drops.clone()),
    });
    sched.run_all();
    assert_eq!(drops.count(), 1);
    let (_, waker) = counting_waker();
    let Poll::Ready(Err(err)) = poll_handle(&mut handle, &waker) else {
        panic!("expected the panic")
    };
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("boom in poll"));
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("boom in drop");
    }
}

#[test]
fn panic_while_dropping_a_cancelled_future_is_caught() {
    let sched = TestSched::new();
    let mut handle = sched.spawn(async {
        let _guard = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    sched.run_all();
    assert!(handle.cancel());
    sched.run_all();
    let (_, waker) = counting_waker();
    let Poll::Ready(Err(err)) = poll_handle(&mut handle, &waker) else {
        panic!("expected an error")
    };
    assert!(
        err.is_panic(),
        "a panic in the destructor is reported: {err:?}"
    );
}

#[test]
fn cancel_before_first_poll_never_polls() {
    let sched = TestSched::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::default();
    let mut handle = sched.spawn(Steps {
        pending: 1,
        polls: polls.clone(),
        self_wake: false,
        panic_on_poll: false,
        _tracked: Tracked(drops.clone()),
    });
    assert!(handle.cancel_with("stop"));
    sched.run_all();
    assert_eq!(polls.load(Ordering::SeqCst), 0);
    assert_eq!(drops.count(), 1);
    assert_eq!(
        Arc::strong_count(&sched),
        2,
        "the handle keeps the cell alive"
    );
    let (_, waker) = counting_waker();
    let Poll::Ready(Err(err)) = poll_handle(&mut handle, &waker) else {
        panic!("expected cancellation")
    };
    assert_eq!(err.cancel_message(), Some("stop"));
    assert!(handle.cancelled());
    assert!(!handle.cancel(), "cancel on a finished task returns false");
}

#[test]
fn cancel_during_run_drops_at_the_await_point() {
    let sched = TestSched::new();
    let drops = DropCounter::default();
    let tracked = Tracked(drops.clone());
    let mut handle = sched.spawn(async move {
        let _t = tracked;
        let me = current::get().expect("inside a task");
        me.cancel();
        // The request is seen when this poll returns Pending.
        std::future::pending::<()>().await;
    });
    assert_eq!(sched.run_all(), 1);
    assert_eq!(drops.count(), 1);
    let (_, waker) = counting_waker();
    assert!(matches!(poll_handle(&mut handle, &waker), Poll::Ready(Err(e)) if e.is_cancelled()));
}

#[test]
fn detached_task_drops_its_output_itself() {
    let sched = TestSched::new();
    let drops = DropCounter::default();
    let d = drops.clone();
    let handle = sched.spawn(async move { Tracked(d) });
    drop(handle);
    sched.run_all();
    assert_eq!(drops.count(), 1);
    assert_eq!(sched.tasks.len(), 0);
}

#[test]
fn shutdown_drops_pending_futures_exactly_once() {
    let sched = TestSched::new();
    let drops = DropCounter::default();
    let mut handles = Vec::new();
    for _ in 0..10 {
        let t = Tracked(drops.clone());
        handles.push(sched.spawn(async move {
            let _t = t;
            std::future::pending::<()>().await;
        }));
    }
    sched.run_all();
    assert_eq!(sched.tasks.len(), 10);
    shutdown_all(&sched.tasks);
    assert_eq!(drops.count(), 10);
    for mut h in handles {
        let (_, waker) = counting_waker();
        assert!(matches!(poll_handle(&mut h, &waker), Poll::Ready(Err(e)) if e.is_cancelled()));
    }
    // Spawning after shutdown fails, and the refused future is dropped at once.
    let refused = Tracked(drops.clone());
    let err = spawn(
        async move { drop(refused) },
        sched.clone(),
        &sched.tasks,
        None,
    )
    .err()
    .expect("spawn after shutdown fails");
    assert_eq!(err, SpawnError::Shutdown);
    assert_eq!(drops.count(), 11);
}

#[test]
fn wake_from_another_thread() {
    let sched = TestSched::new();
    let (tx, rx) = std::sync::mpsc::channel::<Waker>();
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let handle = sched.spawn(async move {
        let mut sent = false;
        std::future::poll_fn(|cx| {
            if !sent {
                sent = true;
                tx.send(cx.waker().clone()).unwrap();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        d.fetch_add(1, Ordering::SeqCst);
    });
    sched.run_all();
    let waker = rx.recv().unwrap();
    std::thread::spawn(move || waker.wake()).join().unwrap();
    sched.run_all();
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert!(handle.done());
    drop(handle);
    // The cell (which holds a scheduler clone) was freed: the idle transition dropped the
    // poller's reference.
    assert_eq!(Arc::strong_count(&sched), 1);
}

#[test]
fn names_and_ids() {
    let sched = TestSched::new();
    let (n, named) = spawn(async {}, sched.clone(), &sched.tasks, Some("worker".into())).unwrap();
    let anon = sched.spawn(async {});
    assert_eq!(named.name(), "worker");
    assert_eq!(anon.name(), format!("Task-{}", anon.id()));
    anon.set_name("renamed");
    assert_eq!(anon.name(), "renamed");
    assert_ne!(named.id(), anon.id());
    sched.schedule(n);
    sched.run_all();
}

#[test]
fn task_size_of() {
    // The bytes of one task running `async { sleep(d).await }`: the figure quoted in raw.rs.
    let header = std::mem::size_of::<raw::Header>();
    let sleep = std::mem::size_of::<crate::Sleep>();
    let future = size_of_future(async {
        crate::sleep(std::time::Duration::from_millis(1)).await;
    });
    let cell = raw::cell_size_of(async {
        crate::sleep(std::time::Duration::from_millis(1)).await;
    });
    println!("header {header} B, Sleep {sleep} B, sleeping future {future} B, task cell {cell} B");
    assert!(header <= 64, "the header fits a cache line: {header}");
}

fn size_of_future<F: Future>(_: F) -> usize {
    std::mem::size_of::<F>()
}
