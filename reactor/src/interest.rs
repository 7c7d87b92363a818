//! Tokens, interests and readiness: the vocabulary of the readiness path.
//!
//! A caller registers a descriptor with a [`Token`] (its own name for it, typically an
//! index into its table of I/O resources) and an [`Interest`]; [`poll`](crate::Reactor::poll)
//! later reports [`Readiness`] under that token. Both backends report the same bits.

use std::fmt;
use std::ops::BitOr;

/// The caller's name for a registration or an operation, echoed back in events.
///
/// Two values are reserved for the reactor's own descriptors ([`Token::is_reserved`]);
/// registering with them is an `InvalidInput` error.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

impl Token {
    /// The waker's eventfd (epoll backend).
    pub(crate) const WAKER: Token = Token(usize::MAX);
    /// The deadline timerfd (epoll backend).
    pub(crate) const TIMER: Token = Token(usize::MAX - 1);

    /// Whether this token is reserved by the reactor (`usize::MAX` and `usize::MAX - 1`).
    pub fn is_reserved(self) -> bool {
        self == Self::WAKER || self == Self::TIMER
    }
}

/// What a registration waits for: [`READABLE`](Interest::READABLE),
/// [`WRITABLE`](Interest::WRITABLE), or both (`READABLE | WRITABLE`).
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Wake when the descriptor becomes readable (or its read side closes).
    pub const READABLE: Interest = Interest(1);
    /// Wake when the descriptor becomes writable (or its write side closes).
    pub const WRITABLE: Interest = Interest(2);
    /// Also report urgent data (`EPOLLPRI`, `POLLPRI`: TCP out-of-band data pending) as
    /// [`Readiness::is_priority`]. Added to the others, never alone.
    pub const PRIORITY: Interest = Interest(4);

    /// Whether readability is asked for.
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether writability is asked for.
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// Both interests: `a | b`, usable in a `const`.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// Whether urgent data is to be reported.
    pub fn is_priority(self) -> bool {
        self.0 & 4 != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.is_readable(), "READABLE"),
            (self.is_writable(), "WRITABLE"),
            (self.is_priority(), "PRIORITY"),
        ];
        let mut first = true;
        for (_, name) in names.iter().filter(|(on, _)| *on) {
            if !first {
                f.write_str(" | ")?;
            }
            f.write_str(name)?;
            first = false;
        }
        Ok(())
    }
}

/// What the kernel reported for a registration in one poll.
///
/// Edge-triggered: it says what *changed*, so after a readable event the caller reads until
/// `WouldBlock` before it may expect another (see the crate docs).
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash)]
pub struct Readiness(u8);

impl Readiness {
    pub(crate) const READABLE: u8 = 1;
    pub(crate) const WRITABLE: u8 = 2;
    pub(crate) const READ_CLOSED: u8 = 4;
    pub(crate) const WRITE_CLOSED: u8 = 8;
    pub(crate) const ERROR: u8 = 16;
    pub(crate) const PRIORITY: u8 = 32;

    pub(crate) fn from_bits(bits: u8) -> Readiness {
        Readiness(bits)
    }

    /// Translates a `poll(2)` event mask (io_uring's `POLL_ADD` result).
    pub(crate) fn from_poll_mask(mask: u32) -> Readiness {
        let has = |bit: libc::c_short| mask & (bit as u16 as u32) != 0;
        let mut r = 0;
        if has(libc::POLLIN) || has(libc::POLLPRI) {
            r |= Self::READABLE;
        }
        if has(libc::POLLPRI) {
            r |= Self::PRIORITY;
        }
        if has(libc::POLLOUT) {
            r |= Self::WRITABLE;
        }
        if has(libc::POLLRDHUP) || has(libc::POLLHUP) {
            r |= Self::READ_CLOSED;
        }
        if has(libc::POLLHUP) {
            r |= Self::WRITE_CLOSED;
        }
        if has(libc::POLLERR) {
            r |= Self::ERROR;
        }
        Readiness(r)
    }

    /// Data (or a connection, or EOF) can be read without blocking.
    pub fn is_readable(self) -> bool {
        self.0 & Self::READABLE != 0
    }

    /// Data can be written without blocking.
    pub fn is_writable(self) -> bool {
        self.0 & Self::WRITABLE != 0
    }

    /// The peer closed its write side (reads will reach EOF) or the descriptor hung up.
    pub fn is_read_closed(self) -> bool {
        self.0 & Self::READ_CLOSED != 0
    }

    /// The descriptor hung up: writes will fail.
    pub fn is_write_closed(self) -> bool {
        self.0 & Self::WRITE_CLOSED != 0
    }

    /// An error is pending on the descriptor (read it with `SO_ERROR` or by doing I/O).
    pub fn is_error(self) -> bool {
        self.0 & Self::ERROR != 0
    }

    /// Urgent data is pending (TCP out-of-band data; only with [`Interest::PRIORITY`]). A
    /// TCP read stops short at the urgent mark, with bytes behind it.
    pub fn is_priority(self) -> bool {
        self.0 & Self::PRIORITY != 0
    }
}

impl BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, rhs: Readiness) -> Readiness {
        Readiness(self.0 | rhs.0)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::READ_CLOSED, "READ_CLOSED"),
            (Self::WRITE_CLOSED, "WRITE_CLOSED"),
            (Self::ERROR, "ERROR"),
            (Self::PRIORITY, "PRIORITY"),
        ];
        let mut list = f.debug_set();
        for (bit, name) in names {
            if self.0 & bit != 0 {
                list.entry(&format_args!("{name}"));
            }
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_mask_translation() {
        let m = |bits: libc::c_short| bits as u16 as u32;
        let r = Readiness::from_poll_mask(m(libc::POLLIN));
        assert!(r.is_readable() && !r.is_writable() && !r.is_read_closed());
        let r = Readiness::from_poll_mask(m(libc::POLLIN | libc::POLLRDHUP));
        assert!(r.is_readable() && r.is_read_closed() && !r.is_write_closed());
        let r = Readiness::from_poll_mask(m(libc::POLLHUP | libc::POLLERR));
        assert!(r.is_read_closed() && r.is_write_closed() && r.is_error());
        assert!(Readiness::from_poll_mask(m(libc::POLLOUT)).is_writable());
        let r = Readiness::from_poll_mask(m(libc::POLLIN | libc::POLLPRI));
        assert!(r.is_readable() && r.is_priority());
        assert!(!Readiness::from_poll_mask(m(libc::POLLIN)).is_priority());
        assert_eq!(format!("{:?}", Readiness::from_poll_mask(0)), "{}");
    }

    #[test]
    fn interest_combines() {
        let both = Interest::READABLE | Interest::WRITABLE;
        assert!(both.is_readable() && both.is_writable());
        assert!(!Interest::READABLE.is_writable());
        assert_eq!(format!("{both:?}"), "READABLE | WRITABLE");
        let all = both | Interest::PRIORITY;
        assert!(all.is_priority() && !both.is_priority());
        assert_eq!(format!("{all:?}"), "READABLE | WRITABLE | PRIORITY");
        assert!(Token(usize::MAX).is_reserved() && !Token(0).is_reserved());
    }
}
