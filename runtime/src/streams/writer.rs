//! [`StreamWriter`]: asyncio's writing half (`write`, `writelines`, `drain`, `write_eof`,
//! `close`, `wait_closed`), on the connection's write queue (`net/write_queue.rs` has the
//! state machine and the water marks).

use crate::net::conn::PeerAddr;
use crate::net::write_queue::WriteQueue;
use std::io;
use std::sync::Arc;

/// The writing half of a stream connection.
///
/// `write` never waits: bytes the kernel cannot take yet are buffered and sent by a
/// background task. Await [`drain`](StreamWriter::drain) after writing to apply
/// back-pressure: it waits while more than the high-water mark (64 KiB) is buffered, until
/// the buffer is down to the low-water mark (16 KiB). Errors from the background sends are
/// reported by the next `drain`.
pub struct StreamWriter {
    queue: Arc<WriteQueue>,
}

impl StreamWriter {
    pub(crate) fn new(queue: Arc<WriteQueue>) -> StreamWriter {
        StreamWriter { queue }
    }

    /// Queues `data` for sending. Writing after `close` or `write_eof` discards the data and
    /// makes the next `drain` fail with `BrokenPipe`.
    pub fn write(&self, data: &[u8]) {
        self.queue.write(data);
    }

    /// Queues each buffer in order (asyncio's `writelines`; no separators are added).
    pub fn writelines<I, B>(&self, lines: I)
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for line in lines {
            self.queue.write(line.as_ref());
        }
    }

    /// Waits until the buffer is below the low-water mark if it went over the high one;
    /// returns at once otherwise. Reports the first error of the background sends
    /// (`ConnectionReset`, `BrokenPipe`, ...).
    pub async fn drain(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.queue.poll_drain(cx)).await
    }

    /// Half-closes after the buffered bytes are sent: the peer reads end of stream, and the
    /// reader of this connection keeps working.
    pub fn write_eof(&self) {
        self.queue.write_eof();
    }

    /// Whether this transport can half-close (always, for TCP and Unix streams).
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes the connection once the buffered bytes are sent. Both directions are shut down
    /// then; the descriptor is released when the reader is dropped too.
    pub fn close(&self) {
        self.queue.close();
    }

    /// Whether `close` was called (asyncio's `is_closing`).
    pub fn is_closing(&self) -> bool {
        self.queue.is_closing()
    }

    /// Waits until the close requested by [`close`](StreamWriter::close) has happened.
    pub async fn wait_closed(&self) {
        std::future::poll_fn(|cx| self.queue.poll_closed(cx)).await
    }

    /// The peer's address (asyncio's `get_extra_info('peername')`).
    pub fn peer_addr(&self) -> io::Result<PeerAddr> {
        self.queue.conn().peer_name()
    }

    /// Bytes buffered and not yet sent.
    pub fn write_buffer_size(&self) -> usize {
        self.queue.buffer_size()
    }

    /// Sets the water marks (asyncio's `transport.set_write_buffer_limits`): `high` defaults
    /// to 64 KiB, `low` to `high / 4`. `low > high` is an `InvalidInput` error.
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.queue.set_limits(high, low)
    }

    /// The water marks as `(low, high)` (asyncio's `get_write_buffer_limits`).
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        self.queue.limits()
    }
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("buffered", &self.queue.buffer_size())
            .field("closing", &self.queue.is_closing())
            .finish()
    }
}
