//! The waker's state word: the whole coalescing protocol, one atomic byte, two bits.
//!
//! | bit | set by | cleared by | meaning |
//! |---|---|---|---|
//! | `POLLING`  | the poller, just before it blocks | the poller, right after the wait | a wake must write the eventfd to be noticed |
//! | `NOTIFIED` | a wake | the poller, before or after the wait | a wake happened since the poller last looked |
//!
//! Transitions (each one a single atomic operation):
//!
//! - **wake**: `fetch_or(NOTIFIED)`. If the old value was exactly `POLLING` (blocked, not yet
//!   notified), this wake is the first since the poller blocked: it must write the eventfd.
//!   Otherwise no syscall: either nobody is blocked (the next poll will see `NOTIFIED` and not
//!   block), or an earlier wake already wrote.
//! - **begin_poll**: `compare_exchange(0 -> POLLING)`. If it fails, `NOTIFIED` is set: clear
//!   it and poll without blocking. That is the "no lost wake-up" half: a wake that came
//!   before the poller blocked is seen here. A poll that will not block anyway (events in
//!   hand, deadline passed) just clears `NOTIFIED` and never sets `POLLING`.
//! - **end_poll**: `swap(0)`. If the old value was `POLLING | NOTIFIED`, exactly one wake
//!   wrote (or is about to write) the eventfd: the poller drains it, so the next wait starts
//!   clean.
//!
//! Why no wake is lost: wake and begin_poll are read-modify-writes on the same byte, so they
//! are totally ordered. If the wake comes first, begin_poll's exchange fails and the poller
//! does not block. If begin_poll comes first, the wake sees `POLLING` and writes the eventfd,
//! which ends the wait. The loom model at the bottom checks every interleaving.
//!
//! A wake racing with end_poll may write after the drain; the next wait then returns at once,
//! empty. That spurious return is the price of never losing a wake. Only one thread polls at
//! a time (the reactor's poll lock), so `POLLING` has one owner.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU8, Ordering};

const POLLING: u8 = 1;
const NOTIFIED: u8 = 2;

/// The state word.
#[derive(Debug)]
pub(crate) struct WakeWord {
    state: AtomicU8,
}

/// What [`WakeWord::end_poll`] found.
pub(crate) struct EndPoll {
    /// A wake arrived since begin_poll.
    pub(crate) notified: bool,
    /// A wake wrote the eventfd: drain it.
    pub(crate) drain: bool,
}

impl WakeWord {
    pub(crate) fn new() -> WakeWord {
        WakeWord {
            state: AtomicU8::new(0),
        }
    }

    /// Records a wake; returns whether the caller must write the eventfd.
    pub(crate) fn wake(&self) -> bool {
        self.state.fetch_or(NOTIFIED, Ordering::AcqRel) == POLLING
    }

    /// `block` says whether the poller wants to block at all (no events already in hand,
    /// deadline not passed); returns whether it may.
    pub(crate) fn begin_poll(&self, block: bool) -> bool {
        if !block {
            // Not blocking anyway: consume any notification (this poll is the prompt
            // return it asked for) and leave POLLING clear, so concurrent wakes stay free.
            self.state.swap(0, Ordering::AcqRel);
            return false;
        }
        match self
            .state
            .compare_exchange(0, POLLING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED was set while nobody was blocked: consume it, don't block.
                self.state.swap(0, Ordering::AcqRel);
                false
            }
        }
    }

    /// Clears the word after the wait.
    pub(crate) fn end_poll(&self) -> EndPoll {
        let prev = self.state.swap(0, Ordering::AcqRel);
        EndPoll {
            notified: prev & NOTIFIED != 0,
            drain: prev == POLLING | NOTIFIED,
        }
    }

    /// Whether a poller has announced it blocks.
    ///
    /// A read-modify-write (`fetch_or(0)`), not a plain load, on purpose: the io_uring
    /// submitter *stores* the SQ tail and then checks this word, while the poller *sets*
    /// `POLLING` and then reads the tail. With a plain load this is the store-buffer pattern
    /// (x86 may let the load pass the store) and both could miss each other: the poller
    /// blocks without our entry, and we do not enter for it. RMWs on one atomic are totally
    /// ordered: either ours comes after the poller's (we see `POLLING` and enter), or the
    /// poller's comes after ours and acquires our tail store (it submits our entry).
    pub(crate) fn is_polling(&self) -> bool {
        self.state.fetch_or(0, Ordering::AcqRel) & POLLING != 0
    }
}

/// Loom model: `RUSTFLAGS="--cfg loom" cargo test -p ringloop-reactor --lib --release waker`.
///
/// The eventfd is modelled by a counter under a mutex with a condition variable; the poller
/// "blocks in the kernel" by waiting on it. A lost wake-up leaves the poller waiting forever,
/// which loom reports as a deadlock.
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    #[derive(Default)]
    struct FakeEventfd {
        count: Mutex<u64>,
        ready: Condvar,
    }

    impl FakeEventfd {
        fn write(&self) {
            *self.count.lock().unwrap() += 1;
            self.ready.notify_one();
        }
        fn wait_readable(&self) {
            let mut c = self.count.lock().unwrap();
            while *c == 0 {
                c = self.ready.wait(c).unwrap();
            }
        }
        fn drain(&self) -> u64 {
            std::mem::take(&mut *self.count.lock().unwrap())
        }
    }

    struct Shared {
        word: WakeWord,
        fd: FakeEventfd,
    }

    fn poll_once(s: &Shared) -> bool {
        if s.word.begin_poll(true) {
            s.fd.wait_readable();
        }
        let end = s.word.end_poll();
        if end.drain {
            s.fd.drain();
        }
        end.notified
    }

    /// One wake from another thread, one blocking poll: the poll always returns, and at most
    /// one eventfd write happens.
    #[test]
    fn wake_is_never_lost() {
        loom::model(|| {
            let s = Arc::new(Shared {
                word: WakeWord::new(),
                fd: FakeEventfd::default(),
            });
            let s2 = s.clone();
            let waker = thread::spawn(move || {
                if s2.word.wake() {
                    s2.fd.write();
                    1
                } else {
                    0
                }
            });
            poll_once(&s);
            let writes = waker.join().unwrap();
            assert!(writes <= 1);
        });
    }

    /// Two wakes, one blocking poll: still returns; together they write at most once.
    #[test]
    fn two_wakes_coalesce() {
        loom::model(|| {
            let s = Arc::new(Shared {
                word: WakeWord::new(),
                fd: FakeEventfd::default(),
            });
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let s2 = s.clone();
                    thread::spawn(move || {
                        if s2.word.wake() {
                            s2.fd.write();
                            1
                        } else {
                            0
                        }
                    })
                })
                .collect();
            poll_once(&s);
            let writes: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert!(writes <= 1, "{writes} eventfd writes for one blocked poll");
        });
    }
}
