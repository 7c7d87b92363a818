//! `tcp_echo` on every runtime, at tiny sizes: counts and shape only, no timing asserted.
//!
//! Every cell runs through the real binary (`ringloop-bench --cell`), in a child process with
//! a deadline, as the command runs it: a runtime that hangs on sockets then fails its own test
//! with "hung" instead of hanging the whole test run. Each test makes 64 loopback connections
//! and a few round trips on each; the deadline is a minute, about a thousand times what a
//! cell takes.
//!
//! The two ringloop multi-thread tests pin two runtime bugs this workload found (see each one):
//! they repeat the cell several times.

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ringloop_bench::runners;
use ringloop_bench::workload::Workload;

const BIN: &str = env!("CARGO_BIN_EXE_ringloop-bench");

/// How long one tiny cell may take before the test calls it hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs one `tcp_echo` cell of size `n` on `runtime` and returns the round trips it reports.
fn cell(runtime: &str, n: u64) -> Result<u64, String> {
    let mut child = Command::new(BIN)
        .args(["--cell", "--workload", "tcp_echo", "--runtime", runtime])
        .args(["-n", &n.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {BIN}: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if started.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{runtime}: hung (no result after {DEADLINE:?})"));
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{runtime}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let sample: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{runtime}: not a sample: {e}"))?;
    assert!(
        sample["wall_ns"].as_u64().is_some_and(|ns| ns > 0),
        "{runtime}: {sample}"
    );
    sample["ops"]
        .as_u64()
        .ok_or_else(|| format!("{runtime}: no ops in {sample}"))
}

/// Checks `runtime` at three tiny sizes: one round trip per connection, three, and a size
/// that is not a multiple of 64 (rounded down to one). Skips a runtime that cannot run here
/// (io_uring disabled, no python3, no uvloop), saying why.
fn check(runtime: &str) {
    let runner = runners::find(runtime).unwrap();
    if let Err(why) = runner.available() {
        eprintln!("skipping {runtime}: {why}");
        return;
    }
    for n in [64, 192, 100] {
        let want = Workload::TcpEcho.expected_ops(n);
        match cell(runtime, n) {
            Ok(ops) => assert_eq!(ops, want, "{runtime} with n={n}"),
            Err(e) => panic!("tcp_echo with n={n} on {e}"),
        }
    }
}

/// Runs `runtime` at size `n` `times` times: the hangs the multi-thread tests reproduce are
/// races, each seen in a fraction of the runs.
fn check_repeatedly(runtime: &str, n: u64, times: u32) {
    for run in 1..=times {
        match cell(runtime, n) {
            Ok(ops) => assert_eq!(ops, Workload::TcpEcho.expected_ops(n), "{runtime} n={n}"),
            Err(e) => panic!("run {run} of {times} with n={n} on {e}"),
        }
    }
}

#[test]
fn ringloop_epoll_current_thread() {
    check("ringloop-epoll-ct");
}

#[test]
fn ringloop_uring_current_thread() {
    check("ringloop-uring-ct");
}

/// Regression: this hung in about half the runs. `TcpStream::connect` registered the new socket
/// before `connect(2)`, and a worker waiting in `epoll_wait` at that moment got the unconnected
/// socket's `EPOLLHUP`; the read-closed bit it set never cleared, so every later read of the
/// stream spun inside `Registration::poll_io` (ready, `EAGAIN`, ready, ...) and that worker's
/// other tasks never ran again (fixed in the runtime: register after `connect(2)`, and a
/// `WouldBlock` clears the closed bits; `runtime/tests/net_regressions.rs`).
#[test]
fn ringloop_epoll_multi_thread() {
    check("ringloop-epoll-mt");
    check_repeatedly("ringloop-epoll-mt", 192, 10);
}

/// Regression: this hung in one run in ten to thirty at the quick size (`-n 12800`): an
/// accepted socket held a whole 1 KiB message in its receive queue (`ss` showed it) while its
/// echo task waited in a completion-based read that never completed, every thread idle: the
/// receive's submission had been overwritten in the ring (a non-blocking poll's unlocked look
/// at the SQ wrote back a stale tail; `reactor/tests/uring_pressure.rs`,
/// `submissions_racing_a_non_blocking_poll_are_never_lost`). The stale-hangup spin above hung
/// this configuration too.
#[test]
fn ringloop_uring_multi_thread() {
    check("ringloop-uring-mt");
    check_repeatedly("ringloop-uring-mt", 192, 10);
}

#[test]
fn tokio_and_smol() {
    for runtime in ["tokio-ct", "tokio-mt", "smol"] {
        check(runtime);
    }
}

#[test]
fn asyncio_and_uvloop_where_they_run() {
    for runtime in ["asyncio", "uvloop"] {
        check(runtime);
    }
}

#[test]
fn the_report_gives_round_trips_per_second_and_the_unit() {
    let out = Command::new(BIN)
        .args([
            "--workload",
            "tcp_echo",
            "--runtime",
            "ringloop-epoll-ct,tokio-ct",
        ])
        .args(["-n", "128", "--reps", "2", "--format", "json"])
        .args(["--timeout", "60"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["workload"], "tcp_echo");
        assert_eq!(row["n"], 128);
        assert_eq!(row["reps"], 2);
        assert_eq!(row["unit"], "ns/TCP round trip");
        let ns = row["ns_per_op"].as_f64().unwrap();
        let per_sec = row["ops_per_sec"].as_f64().unwrap();
        assert!((ns * per_sec - 1e9).abs() < 1.0, "{row}");
    }
    assert_eq!(rows[0]["runtime"], "ringloop-epoll-ct");
    assert!(rows[0]["ratio_to_best_peer"].as_f64().is_some());
    assert!(rows[1].get("ratio_to_best_peer").is_none());
}

#[test]
fn a_cell_past_its_timeout_is_a_failed_row_not_a_hang() {
    // A hundred million round trips take minutes on any runtime: the 1 s timeout kills the
    // cell, the row says so, and the command ends (suite.rs checks that a failed runtime is
    // not run again).
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["--workload", "tcp_echo", "--runtime", "ringloop-epoll-ct"])
        .args(["-n", "100000000", "--reps", "2", "--timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("FAILED: killed after the 1 s timeout"),
        "{table}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("some rows FAILED"));
    // Generous: a killed cell, not the minutes the cell would take.
    assert!(started.elapsed() < Duration::from_secs(30), "{table}");
}
