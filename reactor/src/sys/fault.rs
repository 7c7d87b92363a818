//! Fault injection and call counting: **public API for tests**.
//!
//! ```
//! use ringloop_reactor::sys::{fault, Syscall};
//! use ringloop_reactor::{BackendChoice, Reactor, Backend};
//!
//! fault::reset();
//! // io_uring_setup fails as it does under a seccomp sandbox: Auto falls back to epoll.
//! fault::inject(Syscall::IoUringSetup, 1, libc::EPERM);
//! let reactor = Reactor::new(BackendChoice::Auto).unwrap();
//! assert_eq!(reactor.backend(), Backend::Epoll);
//! assert_eq!(fault::calls(Syscall::IoUringSetup), 1);
//! ```
//!
//! # Scope: per thread
//!
//! Faults and counters are **thread-local**: [`inject`] affects only calls made later *on
//! the injecting thread*, and [`calls`] counts only that thread's calls. Parallel tests
//! (cargo runs each test on its own thread) therefore never see each other's faults or
//! counts, with no global test mutex. The price: to count the calls another thread makes
//! (for example `eventfd` writes by waking threads), read [`calls`] *on that thread* and
//! send the number back. A reactor polled on thread A only fails on faults injected on A.
//!
//! The cost when no fault is armed is one thread-local access and an add per syscall.

use std::cell::RefCell;

use super::Syscall;

#[derive(Default)]
struct Table {
    /// Per operation: how many of the next calls fail, and with which errno.
    faults: [(u64, i32); Syscall::COUNT],
    /// Per operation: calls attempted on this thread since the last [`reset`].
    calls: [u64; Syscall::COUNT],
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

/// Makes the next `count` calls of `op` on this thread fail with `errno` (e.g.
/// `libc::EINTR`), without reaching the kernel. Replaces any fault already armed for `op`.
pub fn inject(op: Syscall, count: u64, errno: i32) {
    let _ = TABLE.try_with(|t| t.borrow_mut().faults[op.index()] = (count, errno));
}

/// How many calls of `op` this thread has attempted since its last [`reset`], including
/// the ones that failed by injection.
pub fn calls(op: Syscall) -> u64 {
    TABLE
        .try_with(|t| t.borrow().calls[op.index()])
        .unwrap_or(0)
}

/// How many injected failures for `op` are still armed on this thread.
pub fn pending(op: Syscall) -> u64 {
    TABLE
        .try_with(|t| t.borrow().faults[op.index()].0)
        .unwrap_or(0)
}

/// Clears this thread's faults and counters.
pub fn reset() {
    let _ = TABLE.try_with(|t| *t.borrow_mut() = Table::default());
}

/// Called by [`super::call`] before every real call: counts it and returns the errno to
/// fail with, if a fault is armed.
#[inline]
pub(crate) fn before_call(op: Syscall) -> Option<i32> {
    // `try_with` fails only while this thread's locals are being destroyed (a reactor
    // dropped from a thread-local destructor); then the call simply goes through uncounted.
    TABLE
        .try_with(|t| {
            let mut t = t.borrow_mut();
            t.calls[op.index()] += 1;
            let fault = &mut t.faults[op.index()];
            if fault.0 > 0 {
                fault.0 -= 1;
                Some(fault.1)
            } else {
                None
            }
        })
        .ok()
        .flatten()
}
