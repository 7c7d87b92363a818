//! The command end to end: the real binary, its `--cell` children, its JSON and its files.
//!
//! One tiny-N suite over every workload but `tcp_echo` and every runtime available here
//! (ringloop's rows join in by themselves once they report available), checked for shape and
//! counts only: no timing is asserted. `tcp_echo` has its own file, `tcp_echo.rs`, one test
//! per runtime, so that a runtime that hangs on sockets fails its own test.

use std::collections::BTreeSet;
use std::process::Command;

use ringloop_bench::runners;
use ringloop_bench::workload::Workload;

const BIN: &str = env!("CARGO_BIN_EXE_ringloop-bench");

fn available() -> Vec<&'static str> {
    runners::all()
        .into_iter()
        .filter(|r| r.available().is_ok())
        .map(|r| r.id())
        .collect()
}

#[test]
fn tiny_suite_on_every_available_runtime_gives_one_json_row_per_cell() {
    let dir = std::env::temp_dir().join(format!("ringloop-bench-cmd-{}", std::process::id()));
    let workloads: Vec<&str> = Workload::ALL
        .iter()
        .filter(|&&w| w != Workload::TcpEcho)
        .map(|w| w.name())
        .collect();
    let out = Command::new(BIN)
        .args([
            "--format",
            "json",
            "-n",
            "64",
            "--reps",
            "1",
            "--timeout",
            "60",
        ])
        .args(["--workload", &workloads.join(",")])
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {}: {stderr}", out.status);
    // The unavailable runtimes are named once each, with a reason.
    for r in runners::all() {
        if let Err(why) = r.available() {
            let line = format!("not run: {}: {why}", r.id());
            assert_eq!(stderr.matches(&line).count(), 1, "{line:?} in {stderr}");
        }
    }

    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let runtimes = available();
    assert_eq!(rows.len(), workloads.len() * runtimes.len());
    let mut seen = BTreeSet::new();
    for row in rows {
        let w = row["workload"].as_str().unwrap();
        let rt = row["runtime"].as_str().unwrap();
        assert!(row.get("error").is_none(), "{w} on {rt}: {}", row["error"]);
        assert_eq!(row["n"], 64, "{w} on {rt}");
        assert_eq!(row["reps"], 1, "{w} on {rt}");
        for key in ["ns_per_op", "wall_ms", "min_ns_per_op", "max_ns_per_op"] {
            assert!(row[key].as_f64().is_some(), "{w} on {rt}: {key}");
        }
        assert!(row["unit"].as_str().is_some_and(|u| !u.is_empty()));
        assert_eq!(
            row.get("ops_per_sec").is_some(),
            w != "lateness",
            "{w} on {rt}"
        );
        assert!(row["min_ns_per_op"].as_f64() <= row["max_ns_per_op"].as_f64());
        assert!(row["peak_rss_kb"].as_u64().unwrap() > 0, "{w} on {rt}");
        assert_eq!(
            row.get("lateness").is_some(),
            w == "lateness",
            "{w} on {rt}"
        );
        assert!(
            seen.insert((w.to_string(), rt.to_string())),
            "{w} on {rt} twice"
        );
    }

    let json = std::fs::read_to_string(dir.join("results.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        serde_json::Value::Array(rows.clone())
    );
    for chart in ["chart.svg", "lateness.svg"] {
        let svg = std::fs::read_to_string(dir.join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
        for rt in &runtimes {
            assert!(svg.contains(rt), "{chart} does not name {rt}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_table_names_every_row_and_the_unavailable_runtimes() {
    let out = Command::new(BIN)
        .args(["--workload", "spawn_join,timer_churn", "--runtime"])
        .arg(format!("{},ringloop-uring-mt", available().join(",")))
        .args(["-n", "32", "--reps", "1"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    for rt in available() {
        for w in ["spawn_join", "timer_churn"] {
            let start = format!("{w:<20} {rt:<18} ");
            assert_eq!(table.matches(&start).count(), 1, "{start:?} in {table}");
        }
    }
    if runners::find("ringloop-uring-mt")
        .unwrap()
        .available()
        .is_err()
    {
        assert!(table.contains("not run: ringloop-uring-mt: "), "{table}");
    }
}

#[test]
fn one_cell_prints_one_checked_sample() {
    let out = Command::new(BIN)
        .args([
            "--cell",
            "--workload",
            "yield_many",
            "--runtime",
            "tokio-ct",
        ])
        .args(["-n", "640", "--seed", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sample: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sample["ops"], 640);
    assert!(sample["wall_ns"].as_u64().unwrap() > 0);
}

#[test]
fn bad_arguments_exit_2_with_the_reason_and_the_usage() {
    for (args, reason) in [
        (
            &["--workload", "udp_echo"][..],
            "unknown workload \"udp_echo\"",
        ),
        (&["--timeout", "0"][..], "--timeout must be at least 1"),
        (&["--runtime", "monoio"][..], "unknown runtime \"monoio\""),
        (&["-n", "0"][..], "-n must be at least 1"),
        (&["--format", "xml"][..], "use table or json"),
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(stderr.contains("USAGE"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_cell_on_an_unavailable_runtime_fails_with_its_reason() {
    for r in runners::all() {
        if let Err(why) = r.available() {
            let out = Command::new(BIN)
                .args(["--cell", "--workload", "spawn_join", "--runtime", r.id()])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1));
            assert!(String::from_utf8_lossy(&out.stderr).contains(&why));
        }
    }
}

#[test]
fn only_unavailable_runtimes_is_an_error_not_an_empty_report() {
    let Some(r) = runners::all().into_iter().find(|r| r.available().is_err()) else {
        return;
    };
    let out = Command::new(BIN)
        .args(["--runtime", r.id(), "-n", "8", "--reps", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("none of the selected runtimes can run here"),
        "{stderr}"
    );
}

#[test]
fn no_python_leaves_out_the_python_rows_with_the_reason_and_runs_the_rest() {
    // What a machine without python3 sees: the Rust rows run, the suite succeeds, and the two
    // Python rows are named once each with why.
    let out = Command::new(BIN)
        .env("RINGLOOP_BENCH_PYTHON", "/nonexistent/python3")
        .args([
            "--runtime",
            "tokio-ct,asyncio,uvloop",
            "--workload",
            "spawn_join",
        ])
        .args(["-n", "16", "--reps", "1"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("spawn_join           tokio-ct"), "{table}");
    for id in ["asyncio", "uvloop"] {
        let line = format!("not run: {id}: no /nonexistent/python3 found");
        assert_eq!(table.matches(&line).count(), 1, "{line:?} in {table}");
    }
}
