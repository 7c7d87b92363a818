//! Which kernel interface a reactor runs on, and how the choice is made.
//!
//! `Auto` (the default) tries io_uring first and falls back to epoll when the kernel says
//! no: `EPERM` (disabled by `kernel.io_uring_disabled` or a seccomp filter, as in many
//! containers), `ENOSYS` (kernel built without it), `ENOMEM` (locked-memory limit too low
//! for the rings), or a kernel whose opcode probe lacks an operation we need. The reactor
//! remembers why it fell back ([`Reactor::fallback_reason`](crate::Reactor::fallback_reason)).
//!
//! Forcing a backend, through [`BackendChoice::Epoll`] / [`BackendChoice::IoUring`] or the
//! environment variable [`ENV_VAR`] (honoured by `Auto` only), never falls back: forcing
//! io_uring where it cannot start is an error that says so.

use std::fmt;
use std::io;

/// The environment variable read by [`BackendChoice::from_env`]: `epoll` or `io_uring`.
pub const ENV_VAR: &str = "RINGLOOP_BACKEND";

/// The kernel interface a reactor actually runs on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Readiness through epoll (via mio), deadlines through a timerfd.
    Epoll,
    /// Readiness through multishot `POLL_ADD`, plus completion-based operations.
    IoUring,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Epoll => "epoll",
            Backend::IoUring => "io_uring",
        })
    }
}

/// What the caller asks for.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum BackendChoice {
    /// io_uring if it starts, epoll otherwise; [`ENV_VAR`] overrides.
    #[default]
    Auto,
    /// epoll, whatever the environment says.
    Epoll,
    /// io_uring, or an error if it cannot start.
    IoUring,
}

impl BackendChoice {
    /// Reads [`ENV_VAR`]: `Ok(None)` when unset or empty, `Ok(Some(..))` for `epoll` or
    /// `io_uring` (also `uring`, `io-uring`, `auto`; any case), and an `InvalidInput` error
    /// naming the variable for anything else.
    pub fn from_env() -> io::Result<Option<BackendChoice>> {
        match std::env::var(ENV_VAR) {
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{ENV_VAR} is not valid UTF-8; expected `epoll` or `io_uring`"),
            )),
            Ok(v) => Self::parse(&v),
        }
    }

    /// Parses a value of [`ENV_VAR`] (see [`from_env`](Self::from_env)).
    pub fn parse(value: &str) -> io::Result<Option<BackendChoice>> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "auto" => Ok(Some(BackendChoice::Auto)),
            "epoll" => Ok(Some(BackendChoice::Epoll)),
            "io_uring" | "io-uring" | "uring" | "iouring" => Ok(Some(BackendChoice::IoUring)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{ENV_VAR}={other:?} is not a backend; expected `epoll` or `io_uring`"),
            )),
        }
    }
}

/// Whether an io_uring setup error means "this machine cannot do io_uring, use epoll".
pub(crate) fn is_fallback_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::ENOSYS) | Some(libc::ENOMEM)
    ) || e.kind() == io::ErrorKind::Unsupported
}
