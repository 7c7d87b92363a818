//! Subprocesses: asyncio's `create_subprocess_exec`, `create_subprocess_shell` and its
//! `Process` object, whose pipes are [`StreamReader`]s and a
//! [`StreamWriter`](crate::streams::StreamWriter).
//!
//! ```
//! use ringloop::process::{Command, Stdio};
//!
//! ringloop::run(async {
//!     let mut child = Command::new("echo")
//!         .arg("hello")
//!         .stdout(Stdio::piped())
//!         .spawn()
//!         .unwrap();
//!     let line = child.stdout.as_mut().unwrap().readline().await.unwrap();
//!     assert_eq!(line, b"hello\n");
//!     assert!(child.wait().await.unwrap().success());
//! });
//! ```
//!
//! # How it works
//!
//! - **Spawning** is `std::process::Command` (fork and exec, or `posix_spawn`): it is a
//!   syscall sequence with nothing to wait for, so it runs on the calling thread.
//! - **The pipes** are Unix socket pairs, one end in the child as its stdin, stdout or
//!   stderr, the other in the runtime's reactor like any [`UnixStream`], so reading a child's
//!   output is reading a socket. (asyncio uses pipes for stdout and stderr and a socket pair
//!   for stdin; a socket pair can be half-closed, which is what closing the child's stdin
//!   needs.)
//! - **Waiting** uses a *pidfd* (`pidfd_open(2)`, Linux 5.3+): a descriptor that becomes
//!   readable when the process exits, registered with the reactor; then `waitpid` reaps it at
//!   once. No SIGCHLD handler, no polling, and no race with a reused pid, since an unreaped
//!   child keeps its pid. Without pidfds (an older kernel, or seccomp refusing the call) the
//!   wait runs on the blocking pool instead (`waitid` with `WNOWAIT`, then the same reap).
//!
//! # Differences from asyncio
//!
//! - [`Command`] is the builder (tokio's shape); [`create_subprocess_exec`] and
//!   [`create_subprocess_shell`] are asyncio's spelling of the common cases, with stdin,
//!   stdout and stderr inherited, as asyncio's defaults.
//! - `returncode` is [`Process::try_wait`]; the exit status is `std`'s `ExitStatus`, where a
//!   death by signal is `status.signal()` rather than a negative code.
//! - Dropping a [`Process`] does not kill the child (as asyncio; `kill_on_drop(true)` asks for
//!   it); an exited child that was never waited for is reaped on the blocking pool, so no
//!   zombie is left behind.

mod child;

pub use child::Process;

use crate::net::UnixStream;
use crate::streams::StreamReader;
use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output};

/// What a child's stdin, stdout or stderr is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdio(Kind);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inherit,
    Piped,
    Null,
}

impl Stdio {
    /// The parent's own (asyncio's `None`, the default).
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// A new pipe to the parent (asyncio's `asyncio.subprocess.PIPE`): [`Process::stdin`],
    /// [`Process::stdout`] or [`Process::stderr`] holds the parent's end.
    pub fn piped() -> Stdio {
        Stdio(Kind::Piped)
    }

    /// `/dev/null` (asyncio's `DEVNULL`).
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }
}

/// A process to start: program, arguments, environment, working directory, and where its
/// standard streams go.
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    kill_on_drop: bool,
}

impl Command {
    /// A command that runs `program` (found on `PATH` if it has no slash), with no arguments,
    /// the parent's environment and directory, and inherited standard streams.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: std::process::Command::new(program),
            stdin: Stdio::inherit(),
            stdout: Stdio::inherit(),
            stderr: Stdio::inherit(),
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Where the child's stdin comes from.
    pub fn stdin(&mut self, stdio: Stdio) -> &mut Command {
        self.stdin = stdio;
        self
    }

    /// Where the child's stdout goes.
    pub fn stdout(&mut self, stdio: Stdio) -> &mut Command {
        self.stdout = stdio;
        self
    }

    /// Where the child's stderr goes.
    pub fn stderr(&mut self, stdio: Stdio) -> &mut Command {
        self.stderr = stdio;
        self
    }

    /// Kill the child (SIGKILL) when its [`Process`] is dropped before it was waited for.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Starts the child. Must be called inside a runtime (the pipes and the exit notification
    /// register with its reactor). Errors: the program was not found or not executable
    /// (`NotFound`, `PermissionDenied`), no runtime, out of descriptors or processes.
    pub fn spawn(&mut self) -> io::Result<Process> {
        let (stdin_theirs, stdin) = pipe_end(self.stdin)?;
        let (stdout_theirs, stdout) = pipe_end(self.stdout)?;
        let (stderr_theirs, stderr) = pipe_end(self.stderr)?;
        self.inner
            .stdin(stdin_theirs)
            .stdout(stdout_theirs)
            .stderr(stderr_theirs);
        let spawned = self.inner.spawn();
        // `std` keeps the child's ends in the command: drop them now, or the parent would hold
        // the child's stdout open and never read end of stream.
        self.inner
            .stdin(std::process::Stdio::inherit())
            .stdout(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit());
        let child = spawned?;
        Process::new(
            child,
            stdin.map(|s| crate::streams::from_unix(s).1),
            stdout.map(reader_of),
            stderr.map(reader_of),
            self.kill_on_drop,
        )
    }

    /// Runs the child to its end with stdout and stderr piped (unless set otherwise) and
    /// collects them (asyncio's `communicate()` after `create_subprocess_exec`).
    pub async fn output(&mut self) -> io::Result<Output> {
        if self.stdout == Stdio::inherit() {
            self.stdout = Stdio::piped();
        }
        if self.stderr == Stdio::inherit() {
            self.stderr = Stdio::piped();
        }
        let mut child = self.spawn()?;
        let (stdout, stderr) = child.communicate(None).await?;
        let status = child.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Runs the child to its end and returns its exit status.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }
}

/// For one standard stream: what the child gets, and the parent's end if it is a pipe.
fn pipe_end(stdio: Stdio) -> io::Result<(std::process::Stdio, Option<UnixStream>)> {
    Ok(match stdio.0 {
        Kind::Inherit => (std::process::Stdio::inherit(), None),
        Kind::Null => (std::process::Stdio::null(), None),
        Kind::Piped => {
            // Both ends close-on-exec (std creates them so); the child's end is duplicated
            // onto 0, 1 or 2 in the child, which clears that flag on the copy only.
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
            (
                std::process::Stdio::from(std::os::fd::OwnedFd::from(theirs)),
                Some(UnixStream::from_std(ours)?),
            )
        }
    })
}

fn reader_of(stream: UnixStream) -> StreamReader {
    crate::streams::from_unix(stream).0
}

/// Starts `program` with `args`, its standard streams inherited (asyncio's
/// `await asyncio.create_subprocess_exec(program, *args)`). Use [`Command`] to pipe them.
pub async fn create_subprocess_exec<I, S>(
    program: impl AsRef<OsStr>,
    args: I,
) -> io::Result<Process>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program).args(args).spawn()
}

/// Runs `cmd` through `/bin/sh -c` (asyncio's `create_subprocess_shell`), its standard streams
/// inherited. The usual warning applies: never build `cmd` from untrusted input.
pub async fn create_subprocess_shell(cmd: impl AsRef<OsStr>) -> io::Result<Process> {
    Command::new("/bin/sh").arg("-c").arg(cmd).spawn()
}
