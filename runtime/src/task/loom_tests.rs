//! loom models of the task state word: every interleaving of the named races is explored, and
//! each checks that the task runs at most once at a time, that nothing is dropped twice, and
//! that the reference count reaches zero exactly once.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p ringloop --release --lib loom` (`.ci/loom.sh`).

use super::state::{State, TransitionToIdle, TransitionToNotified, TransitionToRunning};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A state word plus counters of what the harness would do.
struct Model {
    state: State,
    deallocs: AtomicUsize,
    polls: AtomicUsize,
    outputs_dropped: AtomicUsize,
}

impl Model {
    fn new() -> Arc<Model> {
        Arc::new(Model {
            state: State::new(),
            deallocs: AtomicUsize::new(0),
            polls: AtomicUsize::new(0),
            outputs_dropped: AtomicUsize::new(0),
        })
    }

    fn drop_ref(&self) {
        if self.state.ref_dec() {
            self.deallocs.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Runs a queued notification to completion, as the harness would for a future that is
    /// ready on its first poll. Returns after dropping the notification's reference and (on
    /// completion) the list's.
    fn run_to_completion(&self) {
        match self.state.transition_to_running() {
            TransitionToRunning::Success | TransitionToRunning::Cancelled => {
                self.polls.fetch_add(1, Ordering::SeqCst);
                self.complete();
            }
            TransitionToRunning::Failed => {}
            TransitionToRunning::Dealloc => {
                self.deallocs.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn complete(&self) {
        let snapshot = self.state.transition_to_complete();
        if !snapshot.is_join_interested() {
            self.outputs_dropped.fetch_add(1, Ordering::SeqCst);
        }
        // The poller's reference and the task list's.
        if self.state.transition_to_terminal(2) {
            self.deallocs.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The handle is dropped.
    fn drop_handle(&self) {
        if self.state.unset_join_interested().is_err() {
            self.outputs_dropped.fetch_add(1, Ordering::SeqCst);
        }
        self.drop_ref();
    }
}

#[test]
fn loom_wake_by_val_during_run_reschedules_once() {
    loom::model(|| {
        let m = Model::new();
        assert_eq!(
            m.state.transition_to_running(),
            TransitionToRunning::Success
        );
        m.state.ref_inc(); // a waker clone, sent to another thread
        let m2 = m.clone();
        let waker = thread::spawn(move || {
            if m2.state.transition_to_notified_by_val() == TransitionToNotified::Submit {
                m2.run_to_completion();
            }
        });
        // The first poll returned Pending.
        match m.state.transition_to_idle(false) {
            TransitionToIdle::OkNotified => {
                // Rescheduled by us: our reference passed to the queue entry.
                m.run_to_completion();
            }
            TransitionToIdle::Ok => {}
            TransitionToIdle::OkDealloc | TransitionToIdle::Cancelled => unreachable!(),
        }
        waker.join().unwrap();
        m.drop_handle();
        assert_eq!(m.polls.load(Ordering::SeqCst), 1, "exactly one re-run");
        assert_eq!(m.deallocs.load(Ordering::SeqCst), 1);
        assert_eq!(m.outputs_dropped.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn loom_cancel_races_completion() {
    loom::model(|| {
        let m = Model::new();
        assert_eq!(
            m.state.transition_to_running(),
            TransitionToRunning::Success
        );
        let m2 = m.clone();
        let canceller = thread::spawn(move || {
            if m2.state.transition_to_notified_and_cancel() {
                m2.run_to_completion();
            }
        });
        // The poll finished the future.
        m.complete();
        canceller.join().unwrap();
        m.drop_handle();
        assert_eq!(m.deallocs.load(Ordering::SeqCst), 1);
        assert_eq!(m.outputs_dropped.load(Ordering::SeqCst), 1);
        assert_eq!(
            m.polls.load(Ordering::SeqCst),
            0,
            "a completed task never runs again"
        );
    });
}

#[test]
fn loom_handle_drop_races_completion() {
    loom::model(|| {
        let m = Model::new();
        assert_eq!(
            m.state.transition_to_running(),
            TransitionToRunning::Success
        );
        let m2 = m.clone();
        let handle = thread::spawn(move || m2.drop_handle());
        m.complete();
        handle.join().unwrap();
        assert_eq!(
            m.outputs_dropped.load(Ordering::SeqCst),
            1,
            "output dropped exactly once"
        );
        assert_eq!(m.deallocs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn loom_two_wakers_submit_once() {
    loom::model(|| {
        let m = Model::new();
        assert_eq!(
            m.state.transition_to_running(),
            TransitionToRunning::Success
        );
        assert_eq!(m.state.transition_to_idle(false), TransitionToIdle::Ok);
        m.state.ref_inc();
        m.state.ref_inc();
        let submits = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                let submits = submits.clone();
                thread::spawn(move || match m.state.transition_to_notified_by_val() {
                    TransitionToNotified::Submit => {
                        submits.fetch_add(1, Ordering::SeqCst);
                        m.run_to_completion();
                    }
                    TransitionToNotified::DoNothing => {}
                    TransitionToNotified::Dealloc => {
                        m.deallocs.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        m.drop_handle();
        assert_eq!(
            submits.load(Ordering::SeqCst),
            1,
            "one queue entry for two wakes"
        );
        assert_eq!(m.polls.load(Ordering::SeqCst), 1);
        assert_eq!(m.deallocs.load(Ordering::SeqCst), 1);
    });
}
