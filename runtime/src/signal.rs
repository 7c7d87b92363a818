//! Unix signals as futures: asyncio's `loop.add_signal_handler(sig, callback)`, and tokio's
//! `signal(kind).recv()` / `ctrl_c()`.
//!
//! ```no_run
//! ringloop::run(async {
//!     ringloop::signal::ctrl_c().await.unwrap();
//!     println!("interrupted: cleaning up");
//! });
//! ```
//!
//! # How a signal reaches a task
//!
//! A signal handler may do almost nothing: it interrupts whatever the thread was doing, so it
//! can only touch atomics and make async-signal-safe syscalls such as `write(2)`. The classic
//! answer, asyncio's (`signal.set_wakeup_fd`) and tokio's, is the **self-pipe**:
//!
//! 1. The handler (installed once per signal number through `signal-hook-registry`, which
//!    chains to any handler installed before) sets the signal's `pending` flag and writes one
//!    byte into a pipe. Nothing else.
//! 2. A dispatcher thread sleeps in `read(2)` on the other end. Woken, it takes every pending
//!    flag, bumps that signal's *generation* counter, and wakes the tasks waiting for it.
//! 3. A [`Signal`] remembers the last generation it returned; its [`recv`](Signal::recv)
//!    completes once the generation moves past it.
//!
//! Deliveries coalesce, as the kernel's do: signals that arrive while nobody has called
//! `recv` yet are reported by one `recv`, not one each (a second SIGINT during cleanup is not
//! queued twice). A `Signal` created after a delivery does not see it.
//!
//! # Where ringloop simplifies
//!
//! - One process-wide dispatcher thread (started with the first `Signal`) instead of reading
//!   the pipe in each runtime's reactor: every runtime, and several at once, get the signal,
//!   and no runtime owns the pipe. It costs one sleeping thread.
//! - Once a signal has a `Signal`, its handler stays installed for the life of the process
//!   (tokio does the same): after the last `Signal` is dropped, the signal is ignored rather
//!   than given back its default action (for SIGINT, termination).
//! - asyncio's handler runs a callback on the loop; here the primitive is a future, and
//!   [`LoopHandle::add_signal_handler`](crate::LoopHandle::add_signal_handler) builds the
//!   callback form on it.

use parking_lot::Mutex;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

/// Signal numbers above this are not supported (Linux's real-time signals end at 64).
const MAX_SIGNAL: usize = 64;

/// The signals whose handler must not be replaced: they report faults of the program itself
/// (a handler that returns would re-run the faulting instruction) or cannot be caught at all.
const FORBIDDEN: [libc::c_int; 6] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
];

/// What the handler and the dispatcher share about one signal number.
struct Slot {
    /// Set by the handler, taken by the dispatcher.
    pending: AtomicBool,
    /// Deliveries seen by the dispatcher so far.
    generation: AtomicU64,
    /// The handler is installed (or why it could not be).
    installed: OnceLock<Result<(), (io::ErrorKind, String)>>,
    /// Tasks waiting in `recv`, with the id of their `Signal` (one waker per `Signal`).
    waiters: Mutex<Vec<(u64, Waker)>>,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            pending: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            installed: OnceLock::new(),
            waiters: Mutex::new(Vec::new()),
        }
    }
}

/// A slot per signal number. Static, so the handler and the dispatcher reach them without
/// any initialization (nothing may allocate or lock inside a signal handler).
static SLOTS: [Slot; MAX_SIGNAL + 1] = [const { Slot::new() }; MAX_SIGNAL + 1];

/// Ids of `Signal`s, to find each one's waker.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The write end of the self-pipe, created with the dispatcher thread on first use.
fn pipe_writer() -> io::Result<&'static OwnedFd> {
    static WRITER: OnceLock<Result<OwnedFd, (io::ErrorKind, String)>> = OnceLock::new();
    WRITER
        .get_or_init(|| {
            let start = || -> io::Result<OwnedFd> {
                let (read, write) = ringloop_reactor::sys::pipe()?;
                // The dispatcher sleeps in read(2): make its end blocking again.
                set_blocking(&read)?;
                std::thread::Builder::new()
                    .name("ringloop-signal".into())
                    .spawn(move || dispatch(read))?;
                Ok(write)
            };
            start().map_err(|e| (e.kind(), e.to_string()))
        })
        .as_ref()
        .map_err(|(kind, msg)| io::Error::new(*kind, msg.clone()))
}

fn set_blocking(fd: &OwnedFd) -> io::Result<()> {
    use ringloop_reactor::sys::cvt;
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
    Ok(())
}

/// The dispatcher thread: waits for bytes on the pipe, then turns pending flags into
/// generations and wakes the waiters. Runs for the life of the process.
fn dispatch(read: OwnedFd) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: `buf` is a live, writable buffer of the length given.
        let n = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 || (n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted) {
            // Cannot happen on a pipe whose write end lives forever; do not spin if it does.
            return;
        }
        for slot in &SLOTS {
            if !slot.pending.swap(false, Ordering::AcqRel) {
                continue;
            }
            slot.generation.fetch_add(1, Ordering::AcqRel);
            // Collect under the lock, wake after releasing it.
            let waiters = std::mem::take(&mut *slot.waiters.lock());
            for (_, waker) in waiters {
                waker.wake();
            }
        }
    }
}

/// Installs the self-pipe handler for `signum`, once.
fn install(signum: libc::c_int) -> io::Result<()> {
    let write_fd = pipe_writer()?.as_raw_fd();
    let slot = &SLOTS[signum as usize];
    let result = slot.installed.get_or_init(|| {
        let action = move || {
            // Async-signal-safe only: an atomic store and write(2) (signal-hook-registry saves
            // and restores errno around the action).
            SLOTS[signum as usize]
                .pending
                .store(true, Ordering::Release);
            let byte = 1u8;
            // SAFETY: writes one byte from a live local to the pipe, which is never closed; a
            // full pipe (EAGAIN) is fine: the dispatcher has bytes to read already.
            unsafe { libc::write(write_fd, (&byte as *const u8).cast(), 1) };
        };
        // SAFETY: the action only does async-signal-safe work (see above), as `register`
        // requires, and `signum` was checked not to be a forbidden signal.
        unsafe { signal_hook_registry::register(signum, action) }
            .map(drop)
            .map_err(|e| (e.kind(), e.to_string()))
    });
    result
        .clone()
        .map_err(|(kind, msg)| io::Error::new(kind, msg))
}

/// A stream of deliveries of one signal. Create it with [`signal`].
#[derive(Debug)]
pub struct Signal {
    signum: libc::c_int,
    id: u64,
    /// The generation returned last (or current at creation).
    seen: u64,
}

/// Starts listening for `signum` (a `libc::SIG*` number): deliveries from now on complete
/// [`Signal::recv`].
///
/// Errors (`InvalidInput`) for signals that cannot or must not be handled: SIGKILL, SIGSTOP,
/// the fault signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE), and numbers out of range. Works
/// outside a runtime too (the future can be awaited on any).
pub fn signal(signum: libc::c_int) -> io::Result<Signal> {
    if signum <= 0 || signum as usize > MAX_SIGNAL || FORBIDDEN.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be handled"),
        ));
    }
    install(signum)?;
    Ok(Signal {
        signum,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        seen: SLOTS[signum as usize].generation.load(Ordering::Acquire),
    })
}

/// Waits for the next SIGINT (Ctrl-C in a terminal). While anything waits for it (and after,
/// see the module docs), SIGINT no longer terminates the process.
pub async fn ctrl_c() -> io::Result<()> {
    let mut sig = signal(libc::SIGINT)?;
    sig.recv().await;
    Ok(())
}

impl Signal {
    /// The signal number.
    pub fn signum(&self) -> libc::c_int {
        self.signum
    }

    /// Waits for a delivery after the last one this `Signal` returned (or after its creation).
    /// Several deliveries in between are reported once.
    pub fn recv(&mut self) -> Recv<'_> {
        Recv { signal: self }
    }

    fn slot(&self) -> &'static Slot {
        &SLOTS[self.signum as usize]
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let slot = self.slot();
        let mut waiters = slot.waiters.lock();
        // Checked under the waiters lock: the dispatcher bumps the generation before it takes
        // the lock to wake, so either we see the new generation or it sees our waker.
        let generation = slot.generation.load(Ordering::Acquire);
        if generation != self.seen {
            self.seen = generation;
            return Poll::Ready(());
        }
        match waiters.iter_mut().find(|(id, _)| *id == self.id) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => waiters.push((self.id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.slot().waiters.lock().retain(|(id, _)| *id != self.id);
    }
}

/// The future of [`Signal::recv`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Recv<'a> {
    signal: &'a mut Signal,
}

impl Future for Recv<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.poll_recv(cx)
    }
}
