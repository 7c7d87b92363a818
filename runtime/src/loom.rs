//! The concurrency facade: `std` types normally, `loom` types under `cfg(loom)`.
//!
//! Every atomic, cell and lock that takes part in a cross-thread protocol (the task state
//! word, the parker) is imported from here, so `RUSTFLAGS="--cfg loom"` swaps in loom's
//! model-checked versions without touching the code that uses them (tokio's `src/loom/mod.rs`
//! does the same). [`model`] runs a test body under loom, or once, plainly, without it.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use parking_lot::{Mutex, MutexGuard};
    pub(crate) use std::sync::atomic;
    use std::time::Instant;

    /// parking_lot's condition variable with a by-value guard API, which loom's can match.
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(parking_lot::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut guard);
            guard
        }

        /// Returns the guard and whether the deadline passed.
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = self.0.wait_until(&mut guard, deadline).timed_out();
            (guard, timed_out)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::sync::MutexGuard;
    use std::time::Instant;

    /// loom's mutex with parking_lot's `lock()` signature.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    /// loom's condition variable. loom has no clock: a deadline wait is modelled as a wait
    /// without one (the models never rely on timeouts).
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap()
        }

        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            _deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            (self.0.wait(guard).unwrap(), false)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

/// Runs `f` under every interleaving loom explores, or once without loom.
#[cfg(all(test, loom))]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    loom::model(f);
}

/// Runs `f` under every interleaving loom explores, or once without loom.
#[cfg(all(test, not(loom)))]
#[allow(dead_code)]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    f();
}
