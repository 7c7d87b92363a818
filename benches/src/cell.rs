//! One cell, one process: the protocol between the suite and its `--cell` children, and the
//! peak-RSS measurement.
//!
//! Every measurement (one workload, one runtime, one repetition) runs in a fresh child process,
//! so that no allocator state, no warmed-up thread pool and no leaked memory carries from one
//! runtime to the next, and so that the child's peak resident set is *that cell's* peak.
//!
//! The protocol:
//!
//! 1. The suite runs `current_exe() --cell --workload W --runtime R -n N --seed S` in its own
//!    process group, with stdout and stderr piped ([`spawn_cell`]).
//! 2. The child ([`run_cell`]) finds the runner, runs the workload, checks the sample's counts
//!    against [`crate::workload::Workload::expected_ops`], and prints the [`Sample`] as one
//!    line of JSON on stdout. On any failure it prints the reason on stderr and exits 1.
//! 3. The suite reaps the child with `wait4(2)`, whose `rusage.ru_maxrss` is the child's peak
//!    RSS in KiB, and parses the line. (`getrusage(RUSAGE_CHILDREN)` would give the largest
//!    child *so far*, not this one.) Linux folds the peak of a grandchild the child waited for
//!    into that figure, which is how the Python rows get the interpreter's peak. The same
//!    `rusage` gives the child's CPU time, user and kernel (`ru_utime`, `ru_stime`), again with
//!    the waited-for interpreter's included.
//! 4. A child still running after the timeout is killed with its whole process group (the
//!    Python interpreter included), and the cell fails with that reason.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::cli::CellArgs;
use crate::runners::{self, python};
use crate::workload::Sample;

/// What the suite learns from one child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellOutcome {
    /// The child's sample, counts already checked by the child.
    pub sample: Sample,
    /// The child's peak resident set, in KiB, from `wait4`.
    pub peak_rss_kb: u64,
    /// CPU time the child spent in user space, in ns (`ru_utime`). It covers the whole
    /// process: start-up, the runtime's construction and teardown as well as the workload.
    pub user_ns: u64,
    /// CPU time the kernel spent on the child's behalf, in ns (`ru_stime`): its system calls
    /// and, for loopback TCP, the network stack's work on both ends of the connection.
    pub sys_ns: u64,
}

/// The child side: runs one cell in this process and returns its checked sample.
pub fn run_cell(args: &CellArgs) -> Result<Sample, String> {
    let runner =
        runners::find(args.runtime).ok_or_else(|| format!("unknown runtime {}", args.runtime))?;
    // The availability check is only asked for when the run fails: for the Python rows it
    // costs an interpreter start, which every cell would otherwise pay.
    let sample = runner
        .run(args.workload, &args.params)
        .map_err(|e| match runner.available() {
            Err(why) => format!("{} is unavailable: {why}", args.runtime),
            Ok(()) => e,
        })?;
    sample.check(args.workload, &args.params)?;
    Ok(sample)
}

/// The parent side: runs `exe --cell ...` for `cell`, waits at most `timeout`, and returns the
/// child's sample and peak RSS, or why the cell failed.
pub fn spawn_cell(exe: &Path, cell: &CellArgs, timeout: Duration) -> Result<CellOutcome, String> {
    let mut child = Command::new(exe)
        .arg("--cell")
        .args(["--workload", cell.workload.name()])
        .args(["--runtime", cell.runtime])
        .args(["-n", &cell.params.n.to_string()])
        .args(["--seed", &cell.params.seed.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills the interpreter a Python cell started too.
        .process_group(0)
        // Hand down the interpreter the suite already resolved, so no cell resolves it again.
        .envs(python::resolved_env())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = child.id() as libc::pid_t;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());

    // wait4 blocks, so it runs on its own thread and the timeout is a channel receive.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(wait4(pid));
    });
    let waited = match rx.recv_timeout(timeout) {
        Ok(w) => w,
        Err(_) => {
            kill_group(pid);
            // The kill makes wait4 return; its result no longer matters.
            let _ = rx.recv();
            return Err(format!(
                "killed after the {} s timeout (hung, or slower than that: see --timeout)",
                timeout.as_secs()
            ));
        }
    };
    let (status, rusage) = waited.map_err(|e| format!("wait4: {e}"))?;
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if !exited_ok(status) {
        return Err(format!("{}: {}", describe(status), tail(&err)));
    }
    let line = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let sample: Sample = serde_json::from_str(line)
        .map_err(|e| format!("the cell printed {line:?}, not a sample: {e}"))?;
    sample.check(cell.workload, &cell.params)?;
    Ok(CellOutcome {
        sample,
        peak_rss_kb: u64::try_from(rusage.ru_maxrss).unwrap_or(0),
        user_ns: timeval_ns(rusage.ru_utime),
        sys_ns: timeval_ns(rusage.ru_stime),
    })
}

/// A `timeval` (as `rusage` gives CPU times) in whole nanoseconds; 0 if it is negative.
fn timeval_ns(t: libc::timeval) -> u64 {
    let s = u64::try_from(t.tv_sec).unwrap_or(0);
    let us = u64::try_from(t.tv_usec).unwrap_or(0);
    s.saturating_mul(1_000_000_000).saturating_add(us * 1000)
}

/// Reads a pipe to its end on a thread, so that a child filling one pipe never blocks on the
/// other.
fn read_in_background<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The syscall helper: turns the C convention (`-1` and `errno`) into an `io::Result`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Reaps `pid`, retrying on `EINTR`, and returns its wait status and resource usage.
fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is a plain C struct of integers, for which all-zero bytes are a valid
    // value; wait4 overwrites it.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers point to live, writable locals of the types wait4 expects, and
        // outlive the call. `pid` is our own child, not yet reaped (std's Child never waits
        // unless asked, and we never ask it).
        match cvt(unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) }) {
            Ok(_) => return Ok((status, rusage)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sends SIGKILL to the child's process group.
///
/// Where this simplifies: if the child exited and was reaped in the instant between the timeout
/// and this call, its group id could in principle have been reused; a benchmark tool accepts
/// that window, a process supervisor would use a pidfd.
fn kill_group(pid: libc::pid_t) {
    // SAFETY: kill takes plain integers and touches no memory of ours.
    let _ = cvt(unsafe { libc::kill(-pid, libc::SIGKILL) });
}

fn exited_ok(status: libc::c_int) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

fn describe(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("the cell exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("the cell was killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("the cell ended with wait status {status:#x}")
    }
}

/// The last few lines of a child's stderr, for the error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "(nothing on stderr)".into();
    }
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_cell_checks_counts_and_names_unknown_runtimes() {
        use crate::workload::{Params, Workload};
        let ok = run_cell(&CellArgs {
            workload: Workload::SpawnJoin,
            runtime: "tokio-ct",
            params: Params { n: 50, seed: 1 },
        })
        .unwrap();
        assert_eq!(ok.ops, 50);
        let err = run_cell(&CellArgs {
            workload: Workload::SpawnJoin,
            runtime: "nope",
            params: Params { n: 50, seed: 1 },
        })
        .unwrap_err();
        assert!(err.contains("unknown runtime nope"), "{err}");
    }

    #[test]
    // Both children are reaped, by our own wait4 rather than Child::wait.
    #[allow(clippy::zombie_processes)]
    fn wait4_reports_status_and_peak_rss_of_one_child() {
        // A shell that holds 48 MiB in a variable: its own peak must show it, and a later
        // small child's must not inherit it (what RUSAGE_CHILDREN would get wrong).
        let big = Command::new("sh")
            .args(["-c", "x=$(head -c 50331648 /dev/zero | tr '\\0' a); exit 3"])
            .spawn()
            .unwrap();
        let (status, usage) = wait4(big.id() as libc::pid_t).unwrap();
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 3);
        assert_eq!(describe(status), "the cell exited with status 3");
        assert!(
            usage.ru_maxrss >= 48 * 1024,
            "the shell's peak was {} KiB",
            usage.ru_maxrss
        );

        // Its CPU time: building the 48 MiB string is work in user space (tr) and in the
        // kernel (the pipe, /dev/zero), folded in from the grandchildren the shell waited for.
        assert!(timeval_ns(usage.ru_utime) + timeval_ns(usage.ru_stime) > 1_000_000);

        let small = Command::new("true").spawn().unwrap();
        let (status, usage) = wait4(small.id() as libc::pid_t).unwrap();
        assert!(exited_ok(status));
        assert!(usage.ru_maxrss > 0);
        assert!(
            usage.ru_maxrss < 32 * 1024,
            "true used {} KiB",
            usage.ru_maxrss
        );
    }

    /// Writes an executable shell script standing in for the bench binary.
    fn fake_exe(name: &str, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path =
            std::env::temp_dir().join(format!("ringloop-bench-{}-{name}", std::process::id()));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn tiny_cell() -> CellArgs {
        CellArgs {
            workload: crate::workload::Workload::SpawnJoin,
            runtime: "smol",
            params: crate::workload::Params { n: 3, seed: 1 },
        }
    }

    #[test]
    fn a_hung_cell_and_its_grandchild_are_killed_at_the_timeout() {
        // The "cell" starts a grandchild and hangs; the kill must take the whole group.
        let exe = fake_exe("hang", "sleep 60 & echo $! > \"$0.pid\"; wait");
        let started = std::time::Instant::now();
        let err = spawn_cell(&exe, &tiny_cell(), Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err,
            "killed after the 1 s timeout (hung, or slower than that: see --timeout)"
        );
        assert!(started.elapsed() >= Duration::from_secs(1));
        let pidfile = format!("{}.pid", exe.display());
        let grandchild: libc::pid_t = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is gone (or a zombie of init's) within a moment.
        let path = format!("/proc/{grandchild}/stat");
        let mut gone = false;
        for _ in 0..200 {
            match std::fs::read_to_string(&path) {
                Err(_) => gone = true,
                Ok(stat) => gone = stat.split(' ').nth(2) == Some("Z"),
            }
            if gone {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        assert!(gone, "the grandchild {grandchild} outlived the timeout");
        let _ = std::fs::remove_file(pidfile);
        let _ = std::fs::remove_file(exe);
    }

    #[test]
    fn a_failing_or_lying_cell_is_an_error_not_a_panic() {
        let failing = fake_exe("fail", "echo 'spawn_join: 2 operations' >&2; exit 1");
        let err = spawn_cell(&failing, &tiny_cell(), Duration::from_secs(30)).unwrap_err();
        assert_eq!(
            err,
            "the cell exited with status 1: spawn_join: 2 operations"
        );
        // A child that prints a sample with the wrong count is caught by the parent too.
        let lying = fake_exe("lie", "echo '{\"ops\":2,\"wall_ns\":5}'");
        let err = spawn_cell(&lying, &tiny_cell(), Duration::from_secs(30)).unwrap_err();
        assert!(err.contains("2 operations completed, expected 3"), "{err}");
        let garbage = fake_exe("garbage", "echo hello");
        let err = spawn_cell(&garbage, &tiny_cell(), Duration::from_secs(30)).unwrap_err();
        assert!(err.contains("not a sample"), "{err}");
        let honest = fake_exe("honest", "echo '{\"ops\":3,\"wall_ns\":5}'");
        let ok = spawn_cell(&honest, &tiny_cell(), Duration::from_secs(30)).unwrap();
        assert_eq!(ok.sample.ops, 3);
        assert!(ok.peak_rss_kb > 0);
        for f in [failing, lying, garbage, honest] {
            let _ = std::fs::remove_file(f);
        }
    }

    #[test]
    // Both children are reaped, by our own wait4 rather than Child::wait.
    #[allow(clippy::zombie_processes)]
    fn cpu_times_come_from_wait4_split_into_user_and_kernel() {
        // A shell loop is user time; copying 256 MiB of zeros through the kernel is
        // kernel time. Each shows in its own field.
        let spin_exe = fake_exe("spin", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done");
        let zero_exe = fake_exe("zero", "dd if=/dev/zero of=/dev/null bs=1M count=256");
        let run = |exe: &Path| {
            let child = Command::new(exe).stderr(Stdio::null()).spawn().unwrap();
            wait4(child.id() as libc::pid_t).unwrap().1
        };
        let (spin, zero) = (run(&spin_exe), run(&zero_exe));
        let _ = std::fs::remove_file(spin_exe);
        let _ = std::fs::remove_file(zero_exe);
        let (spin_user, spin_sys) = (timeval_ns(spin.ru_utime), timeval_ns(spin.ru_stime));
        let zero_sys = timeval_ns(zero.ru_stime);
        assert!(
            spin_user > 20_000_000,
            "the loop took {spin_user} ns of user time"
        );
        assert!(
            spin_user > spin_sys,
            "user {spin_user} ns, kernel {spin_sys} ns"
        );
        assert!(
            zero_sys > 1_000_000,
            "the copy took {zero_sys} ns of kernel time"
        );
        assert_eq!(
            timeval_ns(libc::timeval {
                tv_sec: 2,
                tv_usec: 500
            }),
            2_000_500_000
        );
        assert_eq!(
            timeval_ns(libc::timeval {
                tv_sec: -1,
                tv_usec: 0
            }),
            0
        );
    }

    #[test]
    fn tail_keeps_the_last_three_lines() {
        assert_eq!(tail(""), "(nothing on stderr)");
        assert_eq!(tail("a\n\nb\nc\nd\n"), "b | c | d");
    }
}
