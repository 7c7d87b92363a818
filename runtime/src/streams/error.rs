//! The two stream errors asyncio raises, carried inside `io::Error`.
//!
//! Every stream method returns `io::Result`, so `?` works as everywhere else in Rust; the
//! asyncio-specific details ride in the error's payload. Take them back out with
//! [`IncompleteReadError::from_io`] and [`LimitOverrunError::from_io`].

use std::fmt;
use std::io;

/// End of stream before the expected bytes (asyncio's `IncompleteReadError`), with the bytes
/// that did arrive. Its `io::ErrorKind` is `UnexpectedEof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteReadError {
    /// The bytes read before end of stream (removed from the reader's buffer).
    pub partial: Vec<u8>,
    /// How many bytes were expected: `Some(n)` from `readexactly(n)`, `None` from `readuntil`.
    pub expected: Option<usize>,
}

impl IncompleteReadError {
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::UnexpectedEof, self)
    }

    /// The `IncompleteReadError` inside `err`, if that is what it carries.
    pub fn from_io(err: &io::Error) -> Option<&IncompleteReadError> {
        err.get_ref()?.downcast_ref()
    }
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "{} bytes read on a total of undefined expected bytes",
                self.partial.len()
            ),
        }
    }
}

impl std::error::Error for IncompleteReadError {}

/// The separator was not found within the reader's limit (asyncio's `LimitOverrunError`).
/// Its `io::ErrorKind` is `InvalidData`. The bytes stay in the buffer, as in asyncio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOverrunError {
    /// How many bytes to consume to get past the overrun (asyncio's `consumed`).
    pub consumed: usize,
    /// The reader's limit.
    pub limit: usize,
}

impl LimitOverrunError {
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// The `LimitOverrunError` inside `err`, if that is what it carries.
    pub fn from_io(err: &io::Error) -> Option<&LimitOverrunError> {
        err.get_ref()?.downcast_ref()
    }
}

impl fmt::Display for LimitOverrunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "separator not found within the limit of {} bytes ({} bytes buffered)",
            self.limit, self.consumed
        )
    }
}

impl std::error::Error for LimitOverrunError {}
