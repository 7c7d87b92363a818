//! The [`Protocol`] trait: asyncio's callback-style connection handler.
//!
//! A protocol never reads: the runtime reads for it and calls it back. The order of calls on
//! one connection is fixed (asyncio's state machine, `asyncio/protocols.py`):
//!
//! ```text
//! connection_made ─▶ data_received* ─▶ eof_received? ─▶ connection_lost
//! ```
//!
//! `connection_made` comes exactly once, first; `connection_lost` exactly once, last (with the
//! error, or `None` after an orderly close). The callbacks run on the connection's task, one
//! at a time, so a protocol needs no locking of its own; they must not block.

use super::Transport;
use std::io;

/// A connection's callbacks (asyncio's `asyncio.Protocol`). Every method has a do-nothing
/// default, so a protocol implements only what it needs.
///
/// ```
/// use ringloop::net::{Protocol, Transport};
///
/// /// Echoes every byte back.
/// struct Echo(Option<Transport>);
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: Transport) {
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(data);
///     }
/// }
/// ```
pub trait Protocol: Send + 'static {
    /// The connection is up; keep `transport` to write, close, or pause reading.
    fn connection_made(&mut self, transport: Transport) {
        let _ = transport;
    }

    /// Bytes arrived (any amount: message boundaries are not kept, this is a byte stream).
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The peer half-closed (no more data will come). Return `true` to keep the connection
    /// open for writing; `false` (the default) closes it, as in asyncio.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is closed: `None` after an orderly close, else the error (a reset, a
    /// broken pipe). Called exactly once, last.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
}
