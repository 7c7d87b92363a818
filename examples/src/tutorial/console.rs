//! `Console`: where the tutorial's programs print, so tests can read what they printed.
//!
//! A program prints a line with [`Console::print`]; the console records it with the time
//! since its first use, read on the *runtime's* clock ([`ringloop::now`]): virtual when the
//! program runs on a virtual-time runtime, real otherwise. [`Console::stdout`] also prints each
//! line, as the tutorial's `print` does; [`Console::recording`] only records (for tests).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A line sink that records `(time since the first use, line)`. Cheap to clone; clones share
/// the record.
#[derive(Clone, Debug)]
pub struct Console {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    echo: bool,
    /// The runtime clock and the wall clock at the first use.
    origin: Mutex<Option<(Instant, SystemTime)>>,
    lines: Mutex<Vec<(Duration, String)>>,
}

impl Console {
    /// A console that prints every line to stdout and records it.
    pub fn stdout() -> Console {
        Console::new(true)
    }

    /// A console that only records (for tests).
    pub fn recording() -> Console {
        Console::new(false)
    }

    fn new(echo: bool) -> Console {
        Console {
            inner: Arc::new(Inner {
                echo,
                origin: Mutex::new(None),
                lines: Mutex::new(Vec::new()),
            }),
        }
    }

    fn origin(&self) -> (Instant, SystemTime) {
        *lock(&self.inner.origin).get_or_insert_with(|| (ringloop::now(), SystemTime::now()))
    }

    /// Time since the console's first use, on the runtime's clock.
    pub fn elapsed(&self) -> Duration {
        let (start, _) = self.origin();
        ringloop::now().saturating_duration_since(start)
    }

    /// Prints `line` (Python's `print`): records it, and writes it to stdout if this console
    /// echoes.
    pub fn print(&self, line: impl Into<String>) {
        let line = line.into();
        let at = self.elapsed();
        if self.inner.echo {
            println!("{line}");
        }
        lock(&self.inner.lines).push((at, line));
    }

    /// The wall-clock time of day as `HH:MM:SS` (Python's `time.strftime('%X')`): the wall
    /// clock at the first use plus [`elapsed`](Console::elapsed), so on a virtual clock it moves
    /// with the virtual time. Simplified: always UTC (Python's `%X` is local time; a time zone
    /// database is more than this example needs).
    pub fn wall_clock(&self) -> String {
        let (_, wall) = self.origin();
        let now = wall + self.elapsed();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        format!("{h:02}:{m:02}:{s:02}")
    }

    /// Every line printed so far, with the time it was printed at.
    pub fn lines(&self) -> Vec<(Duration, String)> {
        lock(&self.inner.lines).clone()
    }

    /// Every line printed so far, without the times.
    pub fn texts(&self) -> Vec<String> {
        self.lines().into_iter().map(|(_, line)| line).collect()
    }
}

/// Locks a mutex, ignoring poisoning: a panic elsewhere leaves the record readable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
