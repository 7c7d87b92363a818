//! The write side of a connection, as asyncio's transports have it: `write` never blocks,
//! bytes the kernel cannot take now wait in a buffer that a background task flushes, and
//! `drain` applies back-pressure with high and low water marks.
//!
//! # States
//!
//! ```text
//!            write() fits in the kernel           write() leaves a remainder
//!   Idle ────────────────────────────▶ Idle   Idle ──────────────────────────▶ Flushing
//!   (buffer empty, no flusher task)           (the remainder is buffered, a flusher task
//!                                              is spawned; it writes whenever writable)
//!   Flushing ──buffer empty──▶ Idle (doing a requested write_eof / close on the way out)
//!   any ──write error──▶ Failed (buffer dropped; drain and later writes report the error)
//! ```
//!
//! The fast path (asyncio's `_SelectorSocketTransport.write` does the same) sends straight
//! from `write()` when nothing is queued, so a request-response exchange costs no task hop.
//! Order is kept because the fast path runs only when the buffer is empty, under the lock.
//!
//! # Back-pressure
//!
//! When the buffer grows past `high` the queue is *paused*; it resumes when the flusher brings
//! it down to `low`. `drain()` waits while paused (asyncio's `FlowControlMixin`: defaults
//! 64 KiB high, 16 KiB low). Writers that await `drain()` after each `write()` therefore never
//! hold more than about `high` bytes, however slow the reader.

use super::conn::Conn;
use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// asyncio's default high-water mark.
pub(crate) const DEFAULT_HIGH: usize = 64 * 1024;

/// The shared write state of one connection.
pub(crate) struct WriteQueue {
    conn: Arc<dyn Conn>,
    state: Mutex<State>,
}

struct State {
    buf: VecDeque<u8>,
    high: usize,
    low: usize,
    paused: bool,
    flusher_alive: bool,
    eof_requested: bool,
    eof_done: bool,
    closing: bool,
    closed: bool,
    error: Option<SavedError>,
    drainers: Vec<Waker>,
    closed_waiters: Vec<Waker>,
}

/// An `io::Error` kept to be reported to every later caller (`io::Error` is not `Clone`).
#[derive(Clone)]
struct SavedError {
    os: Option<i32>,
    kind: io::ErrorKind,
    message: String,
}

impl SavedError {
    fn new(e: &io::Error) -> SavedError {
        SavedError {
            os: e.raw_os_error(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    fn to_error(&self) -> io::Error {
        match self.os {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.message.clone()),
        }
    }
}

/// Wakers collected under the lock, woken after it is released.
#[derive(Default)]
struct Wakeups(Vec<Waker>);

impl Drop for Wakeups {
    fn drop(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }
}

impl WriteQueue {
    pub(crate) fn new(conn: Arc<dyn Conn>) -> Arc<WriteQueue> {
        Arc::new(WriteQueue {
            conn,
            state: Mutex::new(State {
                buf: VecDeque::new(),
                high: DEFAULT_HIGH,
                low: DEFAULT_HIGH / 4,
                paused: false,
                flusher_alive: false,
                eof_requested: false,
                eof_done: false,
                closing: false,
                closed: false,
                error: None,
                drainers: Vec::new(),
                closed_waiters: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent state (no invariant spans an
        // unwinding call), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection this queue writes to.
    pub(crate) fn conn(&self) -> &Arc<dyn Conn> {
        &self.conn
    }

    /// Queues `data`: sent now if the kernel takes it, otherwise buffered and flushed by a
    /// background task. Never blocks. Errors are reported by `drain` (asyncio's behaviour).
    pub(crate) fn write(self: &Arc<Self>, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.lock();
        if st.error.is_some() {
            return;
        }
        if st.closing || st.eof_requested {
            st.error = Some(SavedError::new(&io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after close() or write_eof()",
            )));
            return;
        }
        let mut rest = data;
        if st.buf.is_empty() && !st.flusher_alive {
            match self.conn.try_write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    st.error = Some(SavedError::new(&e));
                    return;
                }
            }
        }
        if rest.is_empty() {
            return;
        }
        st.buf.extend(rest);
        if st.buf.len() > st.high {
            st.paused = true;
        }
        self.ensure_flusher(&mut st);
    }

    fn ensure_flusher(self: &Arc<Self>, st: &mut State) {
        if st.flusher_alive {
            return;
        }
        let me = self.clone();
        match crate::try_create_task(
            async move { std::future::poll_fn(|cx| me.poll_flush(cx)).await },
        ) {
            Ok(_detached) => st.flusher_alive = true,
            Err(e) => {
                st.error = Some(SavedError::new(&io::Error::other(format!(
                    "cannot start the background writer: {e}"
                ))));
                st.buf.clear();
            }
        }
    }

    /// The flusher task's body: write until the buffer is empty, then finish what was asked
    /// (EOF, close) and exit. By returning Pending we rely on the registration to wake us at
    /// the next writable edge.
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut wake = Wakeups::default();
        let mut st = self.lock();
        loop {
            if st.buf.is_empty() || st.error.is_some() {
                st.flusher_alive = false;
                self.finish_idle(&mut st, &mut wake);
                return Poll::Ready(());
            }
            let (front, _) = st.buf.as_slices();
            match self.conn.poll_write(cx, front) {
                Poll::Ready(Ok(n)) => {
                    st.buf.drain(..n);
                    if st.paused && st.buf.len() <= st.low {
                        st.paused = false;
                        wake.0.append(&mut st.drainers);
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    st.error = Some(SavedError::new(&e));
                    st.buf.clear();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// With nothing left to write: perform a requested half-close or close, wake drainers.
    fn finish_idle(&self, st: &mut State, wake: &mut Wakeups) {
        if st.eof_requested && !st.eof_done && st.error.is_none() {
            st.eof_done = true;
            let _ = self.conn.shutdown(Shutdown::Write);
        }
        if st.closing && !st.closed {
            st.closed = true;
            // The descriptor itself closes when the last owner (reader, writer) drops it;
            // shutting both directions now is what the peer observes as the close.
            let _ = self.conn.shutdown(Shutdown::Both);
            wake.0.append(&mut st.closed_waiters);
        }
        st.paused = false;
        wake.0.append(&mut st.drainers);
    }

    /// Waits while the buffer is over the high-water mark; reports a write error.
    pub(crate) fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.lock();
        if let Some(e) = &st.error {
            return Poll::Ready(Err(e.to_error()));
        }
        if !st.paused {
            return Poll::Ready(Ok(()));
        }
        crate::io::add_waker(&mut st.drainers, cx.waker());
        Poll::Pending
    }

    /// Half-close after the buffered bytes are sent.
    pub(crate) fn write_eof(self: &Arc<Self>) {
        let mut wake = Wakeups::default();
        let mut st = self.lock();
        st.eof_requested = true;
        if !st.flusher_alive {
            self.finish_idle(&mut st, &mut wake);
        }
    }

    /// Close after the buffered bytes are sent (asyncio's `transport.close()`).
    pub(crate) fn close(self: &Arc<Self>) {
        let mut wake = Wakeups::default();
        let mut st = self.lock();
        st.closing = true;
        if !st.flusher_alive {
            self.finish_idle(&mut st, &mut wake);
        }
    }

    /// Close now, dropping what is buffered (asyncio's `transport.abort()`).
    pub(crate) fn abort(self: &Arc<Self>) {
        let mut wake = Wakeups::default();
        let mut st = self.lock();
        st.buf.clear();
        st.closing = true;
        if st.error.is_none() {
            st.error = Some(SavedError::new(&io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the transport was aborted",
            )));
        }
        if !st.flusher_alive {
            self.finish_idle(&mut st, &mut wake);
        }
        // A live flusher sees the error on its next poll and finishes the close.
    }

    /// Ready once a requested close has happened.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.lock();
        if st.closed {
            return Poll::Ready(());
        }
        st.closed_waiters.push(cx.waker().clone());
        Poll::Pending
    }

    pub(crate) fn is_closing(&self) -> bool {
        let st = self.lock();
        st.closing || st.closed
    }

    pub(crate) fn buffer_size(&self) -> usize {
        self.lock().buf.len()
    }

    /// Sets the water marks. `high` defaults to 64 KiB and `low` to `high / 4`; a `low` above
    /// `high` is an `InvalidInput` error, as asyncio's `ValueError`.
    pub(crate) fn set_limits(&self, high: Option<usize>, low: Option<usize>) -> io::Result<()> {
        let high = high.unwrap_or(match low {
            Some(low) => low.saturating_mul(4),
            None => DEFAULT_HIGH,
        });
        let low = low.unwrap_or(high / 4);
        if low > high {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("high ({high}) must be >= low ({low})"),
            ));
        }
        let mut st = self.lock();
        st.high = high;
        st.low = low;
        Ok(())
    }

    pub(crate) fn limits(&self) -> (usize, usize) {
        let st = self.lock();
        (st.low, st.high)
    }
}
