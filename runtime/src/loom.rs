//! The concurrency facade: `std` types normally, `loom` types under `cfg(loom)`.
//!
//! Every atomic, cell and lock that takes part in a cross-thread protocol (the task state
//! word, the parker) is imported from here, so `RUSTFLAGS="--cfg loom"` swaps in loom's
//! model-checked versions without touching the code that uses them (tokio's `src/loom/mod.rs`
//! does the same). [`model`] runs a test body under loom, or once, plainly, without it.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::atomic;
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::atomic;
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
