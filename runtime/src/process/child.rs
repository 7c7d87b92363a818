//! [`Process`]: a running child (asyncio's `asyncio.subprocess.Process`), and how its exit is
//! awaited.

use crate::io::Async;
use crate::streams::{StreamReader, StreamWriter};
use ringloop_reactor::sys::{cvt, Syscall};
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::pin;
use std::process::{Child, ExitStatus};
use std::task::Poll;

/// A child process started by [`Command::spawn`](super::Command::spawn) or
/// [`create_subprocess_exec`](super::create_subprocess_exec).
pub struct Process {
    /// The parent's end of the child's stdin, if it was piped (asyncio's `proc.stdin`).
    /// `close()` it (or drop it) to let the child read end of file.
    pub stdin: Option<StreamWriter>,
    /// The parent's end of the child's stdout, if it was piped (asyncio's `proc.stdout`).
    pub stdout: Option<StreamReader>,
    /// The parent's end of the child's stderr, if it was piped (asyncio's `proc.stderr`).
    pub stderr: Option<StreamReader>,
    /// `None` once reaped and dropped, or handed to the reaper on drop.
    child: Option<Child>,
    exit: ExitWatch,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

/// How the exit is noticed.
enum ExitWatch {
    /// A pidfd in the reactor: readable once the child has exited.
    Pidfd(Async<OwnedFd>),
    /// No pidfd: a blocking-pool job waits (`waitid` with `WNOWAIT`, leaving the reaping to
    /// `try_wait`).
    Pool,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid())
            .field("status", &self.status)
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .finish_non_exhaustive()
    }
}

/// `pidfd_open(2)`: a descriptor for `pid`, close-on-exec, readable once the process exits.
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let fd = ringloop_reactor::sys::call(Syscall::PidfdOpen, || {
        // SAFETY: the raw syscall takes two integers and returns a new descriptor or -1.
        cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) })
    })?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

impl Process {
    pub(super) fn new(
        child: Child,
        stdin: Option<StreamWriter>,
        stdout: Option<StreamReader>,
        stderr: Option<StreamReader>,
        kill_on_drop: bool,
    ) -> io::Result<Process> {
        // The child is not reaped before we hold its pidfd (nothing waits for it yet), so the
        // pid cannot have been reused.
        let exit = match pidfd_open(child.id()) {
            Ok(fd) => match Async::new(fd) {
                Ok(fd) => ExitWatch::Pidfd(fd),
                Err(e) => {
                    let mut child = child;
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            },
            Err(_) => ExitWatch::Pool,
        };
        Ok(Process {
            stdin,
            stdout,
            stderr,
            child: Some(child),
            exit,
            status: None,
            kill_on_drop,
        })
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("the child is kept until the Process drops")
    }

    /// The child's process id (asyncio's `pid`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status if the child has exited, without waiting (asyncio's `returncode`).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child().try_wait()?;
        }
        Ok(self.status)
    }

    /// Waits for the child to exit and returns its status (asyncio's `await proc.wait()`).
    ///
    /// As asyncio warns: with stdout or stderr piped, read them (or use
    /// [`communicate`](Process::communicate)) while waiting, or a child that fills the pipe
    /// blocks forever.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match &self.exit {
                ExitWatch::Pidfd(fd) => {
                    // Readable once the child is a zombie: then `try_wait` reaps it. The
                    // closure's `WouldBlock` makes this wait for the reactor's edge.
                    let child = self.child.as_mut().expect("kept until drop");
                    let status = fd
                        .read_with(|_| {
                            child
                                .try_wait()?
                                .ok_or_else(|| io::ErrorKind::WouldBlock.into())
                        })
                        .await?;
                    self.status = Some(status);
                }
                ExitWatch::Pool => {
                    let pid = self.pid();
                    crate::to_thread(move || wait_exited(pid))
                        .await
                        .map_err(|e| io::Error::other(e.to_string()))??;
                }
            }
        }
    }

    /// Sends `signum` to the child (asyncio's `send_signal`). An error with `ESRCH` (kind
    /// `NotFound`) once the child has been reaped (asyncio raises `ProcessLookupError`).
    pub fn send_signal(&mut self, signum: i32) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // Not reaped (checked just above, and only this object reaps it), so the pid is still
        // this child's.
        // SAFETY: kill(2) takes two integers.
        cvt(unsafe { libc::kill(self.pid() as libc::pid_t, signum) }).map(drop)
    }

    /// Sends SIGTERM (asyncio's `terminate`).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends SIGKILL (asyncio's `kill`).
    pub fn kill(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Sends `input` to the child's stdin (if given and piped) and closes it, reads stdout and
    /// stderr to their end (where piped) at the same time, and waits for the child to exit
    /// (asyncio's `communicate`). Returns what stdout and stderr carried; the streams it used
    /// are consumed (`None` afterwards).
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let stdin = self.stdin.take();
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        let feed = pin!(async move {
            if let Some(stdin) = stdin {
                if let Some(input) = input {
                    stdin.write(input);
                }
                stdin.close();
                // A child that exits without reading its input is not an error (asyncio
                // ignores BrokenPipeError and ConnectionResetError here too).
                stdin.wait_closed().await;
            }
            Ok::<(), io::Error>(())
        });
        let out = pin!(read_all(stdout));
        let err = pin!(read_all(stderr));
        let ((), out, err) = join3(feed, out, err).await?;
        self.wait().await?;
        Ok((out, err))
    }
}

/// Reads a piped stream to its end; nothing for a stream that was not piped.
async fn read_all(stream: Option<StreamReader>) -> io::Result<Vec<u8>> {
    match stream {
        Some(mut s) => s.read_to_end().await,
        None => Ok(Vec::new()),
    }
}

/// Polls three futures together until all are done; the first error wins.
async fn join3<A, B, C>(
    mut a: std::pin::Pin<&mut A>,
    mut b: std::pin::Pin<&mut B>,
    mut c: std::pin::Pin<&mut C>,
) -> io::Result<((), Vec<u8>, Vec<u8>)>
where
    A: Future<Output = io::Result<()>>,
    B: Future<Output = io::Result<Vec<u8>>>,
    C: Future<Output = io::Result<Vec<u8>>>,
{
    let (mut ra, mut rb, mut rc) = (None, None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(r) = a.as_mut().poll(cx) {
                ra = Some(r);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(r) = b.as_mut().poll(cx) {
                rb = Some(r);
            }
        }
        if rc.is_none() {
            if let Poll::Ready(r) = c.as_mut().poll(cx) {
                rc = Some(r);
            }
        }
        if ra.is_some() && rb.is_some() && rc.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    Ok((ra.unwrap()?, rb.unwrap()?, rc.unwrap()?))
}

/// Blocks until `pid` has exited, without reaping it (`waitid` with `WNOWAIT`).
fn wait_exited(pid: u32) -> io::Result<()> {
    loop {
        // SAFETY: siginfo_t is plain old data; all-zero is a valid value to be overwritten.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a live siginfo_t the kernel writes into.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        match cvt(r) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.status.is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = child.kill();
        }
        if let Ok(None) = child.try_wait() {
            // Still running: reap it when it exits, so it does not stay a zombie. A plain
            // thread rather than the blocking pool: the child may outlive the runtime, whose
            // shutdown waits for pool jobs.
            let _ = std::thread::Builder::new()
                .name("ringloop-reaper".into())
                .spawn(move || {
                    let _ = child.wait();
                });
        }
    }
}
