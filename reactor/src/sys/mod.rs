//! The syscall layer: every call that reaches the kernel goes through here.
//!
//! # Why one layer
//!
//! A reactor is mostly error handling: `EINTR` when a signal lands during a wait, `EAGAIN`
//! when an eventfd counter is full, `EMFILE` when the process runs out of descriptors,
//! `EBUSY` when io_uring's completion queue is overflowing, `EPERM` when io_uring is
//! disabled by a sandbox. Those paths are hard to reach on purpose, so they rot unless tests
//! can force them. Routing every syscall through [`call`] gives one place to:
//!
//! 1. **count** calls per operation ([`fault::calls`]): the tests prove that 10,000 wakes
//!    cost at most one `eventfd` write by counting them here;
//! 2. **inject faults** ([`fault::inject`]): "make the next 3 `epoll_wait` calls fail with
//!    `EINTR`", without root and without a mock of the OS;
//! 3. turn the C convention (`-1` and `errno`) into `io::Result` once, in [`cvt`].
//!
//! Raw `libc` calls use the [`syscall!`](crate::syscall) macro; calls into mio and the
//! io-uring crate that reach the kernel are wrapped in [`call`] with the matching
//! [`Syscall`] name, so the same counters and faults apply to them.
//!
//! Every descriptor this crate opens is an [`OwnedFd`], created with `CLOEXEC` (not leaked
//! into child processes) and `NONBLOCK` (a reactor must never block in `read`).

pub mod fault;

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The operations the syscall layer counts and can fail on purpose.
///
/// One name per kernel entry point this crate uses. `Epoll*` and `IoUring*` name the calls
/// made on our behalf by mio and the io-uring crate.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Syscall {
    /// `eventfd2(2)`: creating the cross-thread waker.
    EventfdCreate,
    /// `write(2)` on the waker's eventfd: one per wake that had to interrupt a blocked poll.
    EventfdWrite,
    /// `read(2)` on the waker's eventfd: draining it after a wake.
    EventfdRead,
    /// `timerfd_create(2)`: the epoll backend's deadline source.
    TimerfdCreate,
    /// `timerfd_settime(2)`: arming or disarming the deadline.
    TimerfdSettime,
    /// `epoll_create1(2)` (through `mio::Poll::new`).
    EpollCreate,
    /// `epoll_ctl(2)` (through mio's `Registry`): register, reregister, deregister.
    EpollCtl,
    /// `epoll_wait(2)` (through `mio::Poll::poll`).
    EpollWait,
    /// `io_uring_setup(2)`.
    IoUringSetup,
    /// `io_uring_register(2)`: the opcode probe.
    IoUringRegister,
    /// `io_uring_enter(2)`: submitting, waiting, flushing overflowed completions.
    IoUringEnter,
    /// `fcntl(2)`: validating a descriptor before arming an io_uring poll on it.
    Fcntl,
    /// `pipe2(2)`: [`pipe`].
    Pipe,
    /// `pidfd_open(2)`: the runtime's subprocesses, to await a child's exit in the reactor.
    PidfdOpen,
    /// `io_uring_register(2)` with `IORING_REGISTER_PBUF_RING`: the provided-buffer ring of
    /// multishot receives. Failing it leaves the ring without one: streams then receive with
    /// one plain receive per read.
    IoUringRegisterBufRing,
}

impl Syscall {
    /// Number of variants, for the per-thread tables in [`fault`].
    pub(crate) const COUNT: usize = 15;

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Runs `f`, the real call for `op`, unless a fault was injected for `op` on this thread.
///
/// Counts the call either way (an injected failure is still an attempt). This is the one
/// funnel: [`syscall!`](crate::syscall) uses it for raw calls, and the backends use it
/// directly around mio and io-uring calls.
#[inline]
pub fn call<T>(op: Syscall, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    if let Some(errno) = fault::before_call(op) {
        return Err(io::Error::from_raw_os_error(errno));
    }
    f()
}

/// Converts a C return value (`-1` means "look at errno") into an `io::Result`.
#[inline]
pub fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Calls a `libc` function through the syscall layer: `syscall!(Syscall::X, fn(args..))`.
///
/// Expands to [`call`] around the unsafe call and [`cvt`] on its return value. The caller
/// must wrap the macro in an `unsafe` block with a `// SAFETY:` comment arguing the
/// arguments (pointers, lengths, descriptors) are valid.
#[macro_export]
macro_rules! syscall {
    ($op:expr, $fn:ident ( $($arg:expr),* $(,)? )) => {
        $crate::sys::call($op, || $crate::sys::cvt(libc::$fn($($arg),*)))
    };
}

/// Creates a non-blocking, close-on-exec eventfd with counter 0.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the flags are valid constants.
    let fd = unsafe {
        syscall!(
            Syscall::EventfdCreate,
            eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK)
        )
    }?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds 1 to an eventfd's counter. `EAGAIN` means the counter is at its maximum
/// (`u64::MAX - 1`); the caller resets it with [`eventfd_read`] and retries.
pub(crate) fn eventfd_write(fd: RawFd) -> io::Result<()> {
    let one: u64 = 1;
    // SAFETY: `one` is a live 8-byte buffer for the duration of the call, as eventfd requires.
    unsafe {
        syscall!(
            Syscall::EventfdWrite,
            write(fd, (&one as *const u64).cast(), 8)
        )
    }
    .map(drop)
}

/// Reads (and so resets to 0) an eventfd's counter; `Ok(0)` when it was already 0.
pub(crate) fn eventfd_read(fd: RawFd) -> io::Result<u64> {
    let mut value: u64 = 0;
    // SAFETY: `value` is a live, writable 8-byte buffer for the duration of the call.
    let r = unsafe {
        syscall!(
            Syscall::EventfdRead,
            read(fd, (&mut value as *mut u64).cast(), 8)
        )
    };
    match r {
        Ok(_) => Ok(value),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// Creates a non-blocking, close-on-exec timerfd on `CLOCK_MONOTONIC`, the clock behind
/// `std::time::Instant` on Linux.
pub(crate) fn timerfd() -> io::Result<OwnedFd> {
    // SAFETY: timerfd_create takes no pointers; clock and flags are valid constants.
    let fd = unsafe {
        syscall!(
            Syscall::TimerfdCreate,
            timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_CLOEXEC | libc::TFD_NONBLOCK
            )
        )
    }?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Arms a timerfd to expire once, `after` from now (relative), or disarms it (`None`).
///
/// A zero `it_value` would *disarm* the timer, so a zero duration is bumped to 1 ns: the
/// caller asked for "as soon as possible", not "never".
pub(crate) fn timerfd_settime(fd: RawFd, after: Option<Duration>) -> io::Result<()> {
    let value = match after {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        Some(d) => {
            let d = d.max(Duration::from_nanos(1));
            libc::timespec {
                // Far deadlines clamp to the largest representable second count.
                tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: d.subsec_nanos() as _,
            }
        }
    };
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: value,
    };
    // SAFETY: `spec` lives across the call; a null old-value pointer is allowed.
    unsafe {
        syscall!(
            Syscall::TimerfdSettime,
            timerfd_settime(fd, 0, &spec, std::ptr::null_mut())
        )
    }
    .map(drop)
}

/// Checks that `fd` is an open descriptor (`EBADF` otherwise), with `fcntl(F_GETFD)`.
pub(crate) fn check_fd(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD takes no pointer argument; any integer fd is safe to ask about.
    unsafe { syscall!(Syscall::Fcntl, fcntl(fd, libc::F_GETFD)) }.map(drop)
}

/// Creates a pipe, both ends non-blocking and close-on-exec: `(read end, write end)`.
///
/// Public because tests, benches and the runtime need pipes with the same flags.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a live array of two ints, as pipe2 requires.
    unsafe {
        syscall!(
            Syscall::Pipe,
            pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK)
        )
    }?;
    // SAFETY: pipe2 succeeded, so both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether the running kernel is at least `major.minor` (from `uname(2)`): for features
/// whose absence the kernel cannot report more directly (an unknown flag is `EINVAL`, which
/// other mistakes return too).
///
/// ```
/// use ringloop_reactor::sys::kernel_at_least;
/// assert!(kernel_at_least(2, 6));
/// assert!(!kernel_at_least(u32::MAX, 0));
/// ```
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: utsname is plain old data; uname fills it, and the release field is a
    // NUL-terminated string within the array afterwards.
    let release = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return false;
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (maj, min) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (maj, min) >= (major, minor)
}
