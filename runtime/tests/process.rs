//! Subprocesses (`ringloop::process`), on {epoll, io_uring} x {current-thread, multi-thread}:
//! pipes as asyncio streams, exit statuses, signals, `communicate`, errors, and no zombie or
//! descriptor left behind. The children are `/bin/sh` and coreutils, as on any Linux.

#[path = "net_support/mod.rs"]
mod net_support;

use net_support::each;
use ringloop::process::{create_subprocess_exec, create_subprocess_shell, Command, Stdio};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Every test holds this: one of them counts the process's descriptors and zombie children,
/// which a test running beside it would change.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn stdout_is_a_stream_reader_and_the_exit_status_comes_back() {
    let _serial = serial();
    each(LIMIT, |_| async {
        let mut child = Command::new("/bin/sh")
            .args(["-c", "echo one; echo two; exit 3"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.as_mut().unwrap();
        assert_eq!(out.readline().await.unwrap(), b"one\n");
        assert_eq!(out.readline().await.unwrap(), b"two\n");
        assert_eq!(out.readline().await.unwrap(), b"", "end of stream");
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        // Asked again, the same status (asyncio's returncode).
        assert_eq!(child.try_wait().unwrap(), Some(status));
        assert_eq!(child.wait().await.unwrap(), status);
    });
}

#[test]
fn stdin_is_a_stream_writer_and_closing_it_ends_the_childs_input() {
    let _serial = serial();
    each(LIMIT, |_| async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        // More than a socket buffer, so writing and reading must overlap.
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = ringloop::create_task(async move {
            for chunk in data.chunks(64 * 1024) {
                stdin.write(chunk);
                stdin.drain().await.unwrap();
            }
            stdin.close();
            stdin.wait_closed().await;
        });
        let got = child.stdout.as_mut().unwrap().read_to_end().await.unwrap();
        writer.await.unwrap();
        assert!(
            got == expected,
            "{} of {} bytes, or different",
            got.len(),
            expected.len()
        );
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn communicate_feeds_input_and_collects_both_outputs() {
    let _serial = serial();
    each(LIMIT, |_| async {
        let mut child = Command::new("/bin/sh")
            .args(["-c", "tr a-z A-Z; echo warning >&2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, err) = child.communicate(Some(b"hello\n")).await.unwrap();
        assert_eq!(out, b"HELLO\n");
        assert_eq!(err, b"warning\n");
        assert!(child.try_wait().unwrap().unwrap().success());
        // A child that exits without reading its input.
        let output = Command::new("true")
            .stdin(Stdio::piped())
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
    });
}

#[test]
fn output_and_status_and_the_asyncio_spellings() {
    let _serial = serial();
    each(LIMIT, |_| async {
        let output = Command::new("/bin/sh")
            .args(["-c", "printf out; printf err >&2; exit 1"])
            .output()
            .await
            .unwrap();
        assert_eq!(
            (output.stdout.as_slice(), output.stderr.as_slice()),
            (&b"out"[..], &b"err"[..])
        );
        assert_eq!(output.status.code(), Some(1));
        let status = Command::new("true")
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let mut p = create_subprocess_exec("/bin/sh", ["-c", "exit 7"])
            .await
            .unwrap();
        assert_eq!(p.wait().await.unwrap().code(), Some(7));
        let mut p = create_subprocess_shell("exit 9").await.unwrap();
        assert_eq!(p.wait().await.unwrap().code(), Some(9));
    });
}

/// A child that ignores its stdin and sleeps is ended by a signal: the status says which, and
/// signalling a reaped child is asyncio's `ProcessLookupError`.
#[test]
fn terminate_and_kill_end_the_child_and_a_reaped_child_cannot_be_signalled() {
    let _serial = serial();
    each(LIMIT, |_| async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        child.terminate().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        let err = child.kill().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    });
}

/// The wait is a reactor wake-up, not a blocked worker: the child exits only once another
/// task of the runtime has written its input, which that task can do only if the wait leaves
/// the runtime running (on the current-thread flavour, the wait's own thread).
#[test]
fn waiting_for_a_child_leaves_the_runtime_running() {
    let _serial = serial();
    each(LIMIT, |_| async {
        let mut child = Command::new("/bin/sh")
            .args(["-c", "read line; test \"$line\" = go"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let feeder = ringloop::create_task(async move {
            for _ in 0..5 {
                ringloop::sleep(Duration::from_millis(1)).await;
            }
            stdin.write(b"go\n");
            stdin.close();
            stdin.wait_closed().await;
        });
        let status = child.wait().await.unwrap();
        assert!(status.success(), "{status:?}");
        feeder.await.unwrap();
    });
}

#[test]
fn a_missing_program_is_a_not_found_error() {
    let _serial = serial();
    each(LIMIT, |_| async {
        let err = Command::new("/nonexistent/ringloop-test-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = create_subprocess_exec("/nonexistent/x", [""; 0])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    });
}

/// Pids of this process's zombie children.
fn zombie_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
            // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            let (head, rest) = stat.rsplit_once(')')?;
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?;
            (state == "Z" && ppid == me).then(|| head.split(' ').next()?.parse().ok())?
        })
        .collect()
}

/// Dropping a `Process` never leaves a zombie: an exited child is reaped at once, a running
/// one when it exits; `kill_on_drop` kills it. No descriptor is left open.
#[test]
fn dropped_processes_leave_no_zombie_and_no_descriptor() {
    let _serial = serial();
    let before = net_support::open_fds();
    let mut pids = Vec::new();
    each(LIMIT, |_| async {
        let exited = Command::new("true").spawn().unwrap();
        ringloop::sleep(Duration::from_millis(50)).await;
        drop(exited);
        let running = Command::new("sleep").arg("0.1").spawn().unwrap();
        drop(running);
        let killed = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        drop(killed);
    });
    // The reaper threads wait for the running children: give them time, bounded.
    for _ in 0..500 {
        pids = zombie_children();
        if pids.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(pids.is_empty(), "zombie children: {pids:?}");
    let after = net_support::open_fds();
    assert_eq!(before, after, "descriptors leaked");
}

/// Without pidfds (a kernel before 5.3, or a seccomp filter refusing the call: here
/// `pidfd_open` fails with ENOSYS through the reactor's fault injection), the wait runs on the
/// blocking pool and gives the same answers.
#[test]
fn without_pidfd_the_wait_falls_back_to_the_blocking_pool() {
    let _serial = serial();
    use ringloop_reactor::sys::{fault, Syscall};
    // Injected faults are per thread: the current-thread flavour spawns on this thread.
    let rt = ringloop::Builder::new_current_thread().build().unwrap();
    fault::inject(Syscall::PidfdOpen, 2, libc::ENOSYS);
    rt.block_on(async {
        let mut child = Command::new("/bin/sh")
            .args(["-c", "exit 4"])
            .spawn()
            .unwrap();
        assert_eq!(child.wait().await.unwrap().code(), Some(4));
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    });
    assert_eq!(
        fault::pending(Syscall::PidfdOpen),
        0,
        "both spawns tried a pidfd"
    );
    fault::reset();
}

/// A `Process`, a `Signal` and a `Blocking` future move into tasks of the multi-thread
/// flavour.
#[test]
fn process_signal_and_blocking_handles_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<ringloop::process::Process>();
    assert_send::<ringloop::process::Command>();
    assert_send::<ringloop::signal::Signal>();
    assert_send::<ringloop::Blocking<Vec<u8>>>();
}
