//! Helpers shared by ringloop's integration tests.
//!
//! # One body, four runtimes
//!
//! Every integration test that does not depend on the scheduler's shape runs the same body on
//! the four runtimes of the matrix {epoll, io_uring} x {current-thread, multi-thread with two
//! workers} (tokio's `tests/rt_common.rs` does the same with its flavours). The [`matrix!`]
//! macro writes the four `#[test]` functions:
//!
//! ```
//! use ringloop_tests::matrix;
//!
//! matrix!(adds_up, |rt| {
//!     assert_eq!(rt.block_on(async { 6 * 7 }), 42);
//! });
//! # fn main() {}
//! ```
//!
//! expands to a module `adds_up` holding the body as a function and four tests, `epoll_ct`,
//! `epoll_mt`, `uring_ct` and `uring_mt`, so `cargo test adds_up` runs all four and
//! `cargo test uring_mt` runs one column. (A module rather than four `adds_up_epoll_ct`-style
//! names: gluing identifiers together needs the `paste` crate, which is unmaintained; a path
//! reads as well and needs nothing.) The backend is *forced*, never `Auto`: a machine where
//! io_uring cannot start fails the `uring_*` tests loudly instead of silently testing epoll
//! twice.
//!
//! Each test builds its runtime, lends it to the body, and drops it afterwards: every test also
//! exercises shutdown.
//!
//! # Counting side effects
//!
//! Tests here count what happened rather than trusting that it did: [`DropCounter`] counts
//! drops (of futures, of outputs), [`Counter`] counts anything else. An invariant such as
//! "shutdown drops every future exactly once" is then an `assert_eq!` on a number.
//!
//! # Small futures
//!
//! The tests need no futures library: [`select`] races two futures (enough to time out a
//! `Duration::MAX` sleep) and [`oneshot`] is a channel whose sender wakes from any thread;
//! both are written by hand, so every poll a test relies on is visible here.
//!
//! # Blocking workers on purpose
//!
//! Some races need "nothing runs now" on the multi-thread flavour: [`hold_workers`] parks every
//! worker inside a task that blocks its thread until released, and [`runtime_cpu_clocks`]
//! uses the same trick to learn each worker's CPU clock. Blocking a worker is what a real
//! program must never do; here it is the only way to pin an interleaving from outside.

pub use ringloop;

use ringloop::{BackendChoice, Flavor, Runtime};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Worker threads of the multi-thread column of the matrix.
pub const WORKERS: usize = 2;

/// One cell of the matrix: which backend, which scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The reactor backend, forced.
    pub backend: BackendChoice,
    /// The scheduler.
    pub flavor: Flavor,
}

impl Config {
    /// epoll, current-thread.
    pub const EPOLL_CT: Config = Config::new(BackendChoice::Epoll, Flavor::CurrentThread);
    /// epoll, multi-thread with [`WORKERS`] workers.
    pub const EPOLL_MT: Config = Config::new(BackendChoice::Epoll, Flavor::MultiThread);
    /// io_uring, current-thread.
    pub const URING_CT: Config = Config::new(BackendChoice::IoUring, Flavor::CurrentThread);
    /// io_uring, multi-thread with [`WORKERS`] workers.
    pub const URING_MT: Config = Config::new(BackendChoice::IoUring, Flavor::MultiThread);
    /// The four cells, in the order the matrix names them.
    pub const ALL: [Config; 4] = [
        Config::EPOLL_CT,
        Config::EPOLL_MT,
        Config::URING_CT,
        Config::URING_MT,
    ];

    /// A cell of the matrix.
    pub const fn new(backend: BackendChoice, flavor: Flavor) -> Config {
        Config { backend, flavor }
    }

    /// The builder for this cell: backend forced, two workers on the multi-thread flavour.
    pub fn builder(self) -> ringloop::Builder {
        let builder = Runtime::builder().flavor(self.flavor).backend(self.backend);
        match self.flavor {
            Flavor::CurrentThread => builder,
            Flavor::MultiThread => builder.worker_threads(WORKERS),
        }
    }

    /// Builds this cell's runtime, panicking with the cell's name if it cannot be built.
    pub fn build(self) -> Runtime {
        self.builder()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the {self:?} runtime: {e}"))
    }

    /// The same cell on a virtual clock.
    pub fn build_virtual(self) -> Runtime {
        self.builder()
            .virtual_time(true)
            .build()
            .unwrap_or_else(|e| panic!("cannot build the virtual-time {self:?} runtime: {e}"))
    }
}

/// Writes one test per cell of the matrix for a body that takes `rt: &Runtime`.
///
/// `matrix!(name, |rt| { ... })` makes a module `name` with the tests `epoll_ct`, `epoll_mt`,
/// `uring_ct` and `uring_mt`. Attributes written before the name (`#[ignore = "..."]`, for
/// instance) go on each of the four tests. Inside the body, the items of the enclosing file
/// are in scope (`use super::*`).
#[macro_export]
macro_rules! matrix {
    ($(#[$attr:meta])* $name:ident, |$rt:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            fn body($rt: &$crate::ringloop::Runtime) $body

            $(#[$attr])*
            #[test]
            fn epoll_ct() {
                body(&$crate::Config::EPOLL_CT.build());
            }

            $(#[$attr])*
            #[test]
            fn epoll_mt() {
                body(&$crate::Config::EPOLL_MT.build());
            }

            $(#[$attr])*
            #[test]
            fn uring_ct() {
                body(&$crate::Config::URING_CT.build());
            }

            $(#[$attr])*
            #[test]
            fn uring_mt() {
                body(&$crate::Config::URING_MT.build());
            }
        }
    };
}

/// Like [`matrix!`], for bodies that build their own runtime (to drop it mid-test, or to put it
/// on a virtual clock): the body gets the cell, `cfg: Config`.
#[macro_export]
macro_rules! matrix_cfg {
    ($(#[$attr:meta])* $name:ident, |$cfg:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($cfg: $crate::Config) $body

            $(#[$attr])*
            #[test]
            fn epoll_ct() {
                body($crate::Config::EPOLL_CT);
            }

            $(#[$attr])*
            #[test]
            fn epoll_mt() {
                body($crate::Config::EPOLL_MT);
            }

            $(#[$attr])*
            #[test]
            fn uring_ct() {
                body($crate::Config::URING_CT);
            }

            $(#[$attr])*
            #[test]
            fn uring_mt() {
                body($crate::Config::URING_MT);
            }
        }
    };
}

/// A shared event counter: clone it into tasks, read it from the test.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// A counter at zero.
    pub fn new() -> Counter {
        Counter::default()
    }

    /// Counts one event.
    pub fn incr(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// The count so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A value that counts its drops in a [`Counter`]; embed it in a future or an output.
///
/// Dropping it twice would count two, and leaking it would count zero: an exact count is the
/// proof that it was dropped exactly once.
#[derive(Debug)]
pub struct DropCounter {
    counter: Counter,
    /// Panic (after counting) when dropped, to test panicking destructors.
    panic_on_drop: bool,
}

impl DropCounter {
    /// A value that counts its drop in `counter`.
    pub fn new(counter: &Counter) -> DropCounter {
        DropCounter {
            counter: counter.clone(),
            panic_on_drop: false,
        }
    }

    /// A value that counts its drop, then panics with the message `"expected panic: drop"`
    /// (unless the thread is already unwinding: a double panic would abort the test binary).
    pub fn panicking(counter: &Counter) -> DropCounter {
        DropCounter {
            counter: counter.clone(),
            panic_on_drop: true,
        }
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.counter.incr();
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("{EXPECTED_PANIC}drop");
        }
    }
}

/// The prefix of every panic a test provokes on purpose; [`silence_expected_panics`] keeps them
/// off the test output.
pub const EXPECTED_PANIC: &str = "expected panic: ";

/// Installs (once per test binary) a panic hook that stays silent for panics whose message
/// starts with [`EXPECTED_PANIC`] and reports every other panic as the default hook does.
pub fn silence_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !msg.is_some_and(|m| m.starts_with(EXPECTED_PANIC)) {
                default(info);
            }
        }));
    });
}

/// Which of the two futures given to [`select`] finished first.
#[derive(Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first one.
    Left(A),
    /// The second one.
    Right(B),
}

/// Races two futures: the output of whichever is ready first (the left one if both are), the
/// other one dropped. Both must be `Unpin` (`Sleep` is; pin anything else with `Box::pin`).
pub fn select<A, B>(a: A, b: B) -> Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    Select { a, b }
}

/// The future of [`select`].
#[derive(Debug)]
pub struct Select<A, B> {
    a: A,
    b: B,
}

impl<A: Future + Unpin, B: Future + Unpin> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both are polled with the same waker: whichever fires, the select is polled again.
        if let Poll::Ready(out) = Pin::new(&mut self.a).poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        if let Poll::Ready(out) = Pin::new(&mut self.b).poll(cx) {
            return Poll::Ready(Either::Right(out));
        }
        Poll::Pending
    }
}

/// The CPU-time clock of the calling thread (`pthread_getcpuclockid`), readable from any
/// thread with [`cpu_time`] while the thread lives. A spinning thread shows up here even on a
/// loaded machine; an idle one does not.
pub fn current_thread_cpu_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is the calling thread, alive during the call; `clock` is a valid
    // place for the result. The return value is checked.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    assert_eq!(rc, 0, "pthread_getcpuclockid: error {rc}");
    clock
}

/// The CPU time used so far by the thread whose clock is `clock` (see
/// [`current_thread_cpu_clock`]).
pub fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an invalid clock id is reported through the
    // return value, which is checked.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(
        rc,
        0,
        "clock_gettime(thread cpu clock): {}",
        std::io::Error::last_os_error()
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPU-time clocks of every thread that runs tasks for `handle`'s runtime, as seen from
/// inside `block_on`: the calling thread (which runs everything on the current-thread flavour
/// and its own timers on the multi-thread one) plus, on the multi-thread flavour, each worker.
///
/// The workers are reached the way [`hold_workers`] reaches them (one blocking task per
/// worker, all held at once, so each lands on a different worker); they are released before
/// this returns.
pub fn runtime_cpu_clocks(handle: &ringloop::Handle) -> Vec<libc::clockid_t> {
    let mut clocks = vec![current_thread_cpu_clock()];
    if handle.flavor() == Flavor::CurrentThread {
        return clocks;
    }
    let (clock_tx, clock_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let clock_tx = clock_tx.clone();
        let release_rx = release_rx.clone();
        tasks.push(handle.create_task(async move {
            clock_tx.send(current_thread_cpu_clock()).unwrap();
            // Hold this worker until every worker has reported.
            let _ = release_rx.lock().unwrap().recv();
        }));
    }
    for n in 0..WORKERS {
        let clock = clock_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("only {n} of {WORKERS} workers reported"));
        clocks.push(clock);
    }
    drop(release_tx);
    drop(tasks);
    clocks
}

/// How many tasks the "million tasks" tests run: a million in release, 200,000 in debug, where
/// an unoptimised build would otherwise take most of the suite's minute on two cores. The
/// invariant tested (each runs exactly once, nothing leaks) does not depend on the count.
pub const MANY_TASKS: usize = if cfg!(debug_assertions) {
    200_000
} else {
    1_000_000
};

/// Waits (on the runtime's clock, in 100 µs sleeps) until `cond` holds; panics with `what`
/// after 10 s of real time, so a lost wake-up fails the test instead of hanging it.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waited 10 s for: {what}"
        );
        ringloop::sleep(Duration::from_micros(100)).await;
    }
}

/// Every worker of a multi-thread runtime, held inside a task that blocks its thread, until
/// this guard drops. While held, nothing else runs: a task spawned now is provably not polled
/// before the guard drops (the race "cancel before run" needs that on the multi-thread
/// flavour).
#[derive(Debug)]
pub struct HeldWorkers {
    release: Vec<std::sync::mpsc::Sender<()>>,
}

impl Drop for HeldWorkers {
    fn drop(&mut self) {
        // Dropping the senders ends each blocker's `recv`.
        self.release.clear();
    }
}

/// Blocks every worker of `handle`'s multi-thread runtime (see [`HeldWorkers`]); `None` on the
/// current-thread flavour, where nothing runs while the caller does not yield anyway.
///
/// Call it from `block_on`'s future (not from a task: the caller's own worker would be one of
/// those held). Panics if the workers do not all arrive within 10 s: that would be a task left
/// in a queue while an idle worker sleeps.
pub fn hold_workers(handle: &ringloop::Handle) -> Option<HeldWorkers> {
    if handle.flavor() == Flavor::CurrentThread {
        return None;
    }
    let (arrived_tx, arrived_rx) = std::sync::mpsc::channel();
    let mut release = Vec::with_capacity(WORKERS);
    for _ in 0..WORKERS {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let arrived = arrived_tx.clone();
        // Detached: it ends when the guard drops its sender.
        drop(handle.create_task(async move {
            arrived.send(()).expect("the holder waits for every worker");
            let _ = rx.recv();
        }));
        release.push(tx);
    }
    for n in 0..WORKERS {
        arrived_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("only {n} of {WORKERS} workers picked up a blocker task"));
    }
    Some(HeldWorkers { release })
}

/// A one-value channel whose receiving end is a future and whose sending end may live on any
/// thread: the smallest "foreign wake" there is. [`Sender::send`] stores the value, then wakes
/// the waker the receiver left (after releasing the lock, so the waker may run anything).
pub fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(std::sync::Mutex::new(Slot {
        value: None,
        waker: None,
        polls: 0,
    }));
    (Sender { slot: slot.clone() }, Receiver { slot })
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    waker: Option<std::task::Waker>,
    polls: usize,
}

/// The sending end of [`oneshot`].
#[derive(Debug)]
pub struct Sender<T> {
    slot: Arc<std::sync::Mutex<Slot<T>>>,
}

impl<T> Sender<T> {
    /// Stores `value` and wakes the receiver, if it is waiting.
    pub fn send(self, value: T) {
        let waker = {
            let mut slot = self.slot.lock().unwrap();
            slot.value = Some(value);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving end of [`oneshot`]: a future of the value.
#[derive(Debug)]
pub struct Receiver<T> {
    slot: Arc<std::sync::Mutex<Slot<T>>>,
}

impl<T> Receiver<T> {
    /// How many times this future was polled.
    pub fn polls(&self) -> usize {
        self.slot.lock().unwrap().polls
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.lock().unwrap();
        slot.polls += 1;
        match slot.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                // By returning Pending we promise a wake: the sender will find this waker.
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
