//! A watchdog for benches that run in-process (criterion): a runtime that hangs would
//! otherwise hang the whole run with nothing on the screen.
//!
//! The `ringloop-bench` command needs none: it runs every cell in a child process and kills it
//! at the timeout ([`crate::cell`]). A criterion bench measures in its own process, where a
//! spinning or deadlocked runtime cannot be taken down and dropped; the only clean way out is
//! to say so and end the process, which is what the bench's `on_hang` does.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// Calls `on_hang` once if `limit` passes without a [`pet`](Watchdog::pet); dropping the
/// watchdog stops the watch.
pub struct Watchdog {
    /// Each send is a heartbeat; dropping the sender disconnects the watching thread.
    beat: mpsc::Sender<()>,
}

impl Watchdog {
    /// Starts watching: `on_hang` runs on the watchdog's own thread, after `limit` without a
    /// heartbeat.
    pub fn new<F>(limit: Duration, on_hang: F) -> Watchdog
    where
        F: FnOnce() + Send + 'static,
    {
        let (beat, rx) = mpsc::channel::<()>();
        thread::spawn(move || loop {
            match rx.recv_timeout(limit) {
                Ok(()) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    on_hang();
                    return;
                }
            }
        });
        Watchdog { beat }
    }

    /// A heartbeat: the watched work made progress.
    pub fn pet(&self) {
        let _ = self.beat.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_without_heartbeats_and_not_with_them() {
        let (tx, rx) = mpsc::channel();
        let quiet = Watchdog::new(Duration::from_millis(20), move || {
            let _ = tx.send("hung");
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("hung"));
        drop(quiet);

        let (tx, rx) = mpsc::channel();
        let busy = Watchdog::new(Duration::from_millis(200), move || {
            let _ = tx.send("hung");
        });
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(20));
            busy.pet();
        }
        drop(busy);
        // Dropped: the watch ends without firing, and the callback (with its sender) is gone.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected)
        );
    }
}
