//! [`StreamReader`]: asyncio's buffered reading (`read`, `readline`, `readexactly`,
//! `readuntil`) on a connection.
//!
//! asyncio's reader is *fed* by a protocol callback; ringloop's *pulls*: each method reads
//! from the socket only when its buffer cannot answer yet, in chunks of up to 64 KiB. The
//! buffer keeps what a read brought beyond what the caller asked for, so a separator split
//! across two reads (`"...\r"` then `"\n..."`) is found, and nothing is ever dropped.
//!
//! The limit (64 KiB by default, as asyncio's `_DEFAULT_LIMIT`) bounds how much `readuntil`
//! buffers while looking for a separator: past it, [`LimitOverrunError`]. The same
//! [`readuntil`](StreamReader::readuntil) algorithm as asyncio's: search only the bytes that
//! are new (minus the separator's length, for a separator that straddles the boundary).

use super::error::{IncompleteReadError, LimitOverrunError};
use crate::net::conn::Conn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// asyncio's default buffer limit for streams (`asyncio.streams._DEFAULT_LIMIT`).
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// The most one socket read asks for.
const CHUNK: usize = 64 * 1024;

/// The reading half of a stream connection.
pub struct StreamReader {
    conn: Arc<dyn Conn>,
    /// Bytes read from the socket and not yet returned: `buf[pos..end]`. `buf` stays
    /// initialized up to its length, so refilling it never zeroes memory again.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    limit: usize,
}

impl StreamReader {
    pub(crate) fn new(conn: Arc<dyn Conn>, limit: usize) -> StreamReader {
        StreamReader {
            conn,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            limit,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.advance(n);
        out
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
    }

    /// Reads more from the socket into the buffer; at end of stream sets `eof`.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pos > 0 && self.pos >= self.end / 2 {
            // Compact: move the live bytes to the front so the buffer does not grow forever.
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() < self.end + CHUNK {
            self.buf.resize(self.end + CHUNK, 0);
        }
        let res = self
            .conn
            .poll_read(cx, &mut self.buf[self.end..self.end + CHUNK]);
        if let Poll::Ready(Ok(n)) = &res {
            self.end += n;
        }
        match res {
            Poll::Ready(Ok(0)) => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Reads up to `n` bytes: what is buffered, or else one read from the socket. An empty
    /// vector means end of stream (or `n == 0`).
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered().is_empty() && !self.eof {
            self.fill().await?;
        }
        let take = n.min(self.buffered().len());
        Ok(self.take(take))
    }

    /// Reads until end of stream (asyncio's `read()` / `read(-1)`).
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while !self.eof {
            self.fill().await?;
        }
        let n = self.buffered().len();
        Ok(self.take(n))
    }

    /// Reads exactly `n` bytes. End of stream first is an error of kind `UnexpectedEof`
    /// carrying an [`IncompleteReadError`] with the bytes that did arrive (consumed).
    pub async fn readexactly(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buffered().len() < n {
            if self.eof {
                let have = self.buffered().len();
                let partial = self.take(have);
                return Err(IncompleteReadError {
                    partial,
                    expected: Some(n),
                }
                .into_io());
            }
            self.fill().await?;
        }
        Ok(self.take(n))
    }

    /// Reads up to and including `separator`.
    ///
    /// - End of stream before it: `UnexpectedEof` with an [`IncompleteReadError`] holding the
    ///   whole rest of the stream (consumed).
    /// - More than the limit buffered without it, or found beyond the limit: `InvalidData`
    ///   with a [`LimitOverrunError`]; the data stays buffered.
    /// - An empty separator: `InvalidInput`.
    pub async fn readuntil(&mut self, separator: &[u8]) -> io::Result<Vec<u8>> {
        if separator.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "readuntil: the separator must be at least one byte",
            ));
        }
        let mut offset = 0;
        loop {
            let buffered = self.buffered();
            if let Some(i) = find(&buffered[offset..], separator) {
                let isep = offset + i;
                if isep > self.limit {
                    return Err(LimitOverrunError {
                        consumed: isep,
                        limit: self.limit,
                    }
                    .into_io());
                }
                return Ok(self.take(isep + separator.len()));
            }
            // The next search starts where a separator could still begin.
            offset = (buffered.len() + 1).saturating_sub(separator.len());
            if buffered.len() > self.limit {
                return Err(LimitOverrunError {
                    consumed: buffered.len(),
                    limit: self.limit,
                }
                .into_io());
            }
            if self.eof {
                let have = buffered.len();
                let partial = self.take(have);
                return Err(IncompleteReadError {
                    partial,
                    expected: None,
                }
                .into_io());
            }
            self.fill().await?;
        }
    }

    /// Reads one line, `\n` included. At end of stream returns the partial last line (empty
    /// when nothing is left), as asyncio does. A line longer than the limit is an
    /// `InvalidData` error carrying a [`LimitOverrunError`]; as in asyncio, the over-long line
    /// is discarded (up to its `\n` if buffered, else the whole buffer), so the next call
    /// reads on.
    pub async fn readline(&mut self) -> io::Result<Vec<u8>> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(e) => {
                if let Some(inc) = IncompleteReadError::from_io(&e) {
                    return Ok(inc.partial.clone());
                }
                if let Some(over) = LimitOverrunError::from_io(&e) {
                    let buffered = self.buffered();
                    let discard = if buffered.get(over.consumed) == Some(&b'\n') {
                        over.consumed + 1
                    } else {
                        buffered.len()
                    };
                    self.advance(discard);
                }
                Err(e)
            }
        }
    }

    /// Whether the stream ended and everything buffered was read (asyncio's `at_eof`).
    pub fn at_eof(&self) -> bool {
        self.eof && self.buffered().is_empty()
    }

    /// The buffer limit (`readuntil`'s bound).
    pub fn limit(&self) -> usize {
        self.limit
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|b| *b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl futures_io::AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buffered().is_empty() && !this.eof {
            // Nothing buffered: read straight into the caller's buffer.
            return match this.conn.poll_read(cx, out) {
                Poll::Ready(Ok(0)) if !out.is_empty() => {
                    this.eof = true;
                    Poll::Ready(Ok(0))
                }
                other => other,
            };
        }
        let n = out.len().min(this.buffered().len());
        out[..n].copy_from_slice(&this.buffered()[..n]);
        this.advance(n);
        Poll::Ready(Ok(n))
    }
}

impl futures_io::AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.buffered().is_empty() && !this.eof {
            match this.poll_fill(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(this.buffered()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let amt = amt.min(this.buffered().len());
        this.advance(amt);
    }
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.buffered().len())
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish()
    }
}
