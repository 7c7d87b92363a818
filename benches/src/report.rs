//! From samples to the report: medians, ratios to the best peer, the table and the JSON.
//!
//! Each (workload, runtime) pair ran `reps` times, each time in its own process. For every
//! repetition the figure of merit is `ns_per_op` = wall / operations (for `lateness`, the
//! median lateness of that repetition instead). The report gives the **median** over the
//! repetitions with the **min** and **max** beside it, so a reader sees the spread, and the
//! largest peak RSS any repetition reached. `ops_per_sec` is the median turned into a
//! throughput (1e9 / `ns_per_op`): round trips per second for `tcp_echo`, the figure DESIGN.md
//! states its TCP target in. The `unit` column says what one operation is.
//!
//! Ratios: for each workload the *best peer* is the lowest median `ns_per_op` among the
//! rows that are not ringloop. Each ringloop row shows its median divided by that: below 1.00
//! ringloop is faster. A workload with no peer that ran shows no ratio.
//!
//! Lateness percentiles (p50, p90, p99, max, in µs) are taken over the wake times of all
//! repetitions pooled together.
//!
//! CPU: `cpu_ns_per_op` is the median over repetitions of the cell process's CPU time (user
//! and kernel, from `wait4`) per operation, and `sys_ns_per_op` the median of the kernel's part
//! of it. It counts the whole process (start-up, runtime construction and teardown), so
//! it is a fair per-operation figure only where the workload dominates the process, as at the
//! `--full` sizes. For `tcp_echo` it shows what no runtime can remove: loopback TCP's kernel
//! work, on both ends of each connection, is most of every round trip. On a machine whose
//! cores are all busy, a runtime's round trips per second can exceed a peer's by at most the
//! peer's `cpu ns/op` over the runtime's `sys ns/op`: the runtime's kernel time alone.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cell::CellOutcome;
use crate::runners::is_ringloop_id;
use crate::workload::{percentile, Workload};

/// The lateness percentiles of one row, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    /// Wake-ups *before* their deadline, over all repetitions: a timer that fires early
    /// breaks asyncio's contract (and ringloop's invariant); they enter the percentiles as
    /// negative lateness.
    pub early: u64,
    /// Median lateness.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// The latest wake-up.
    pub max_us: f64,
}

/// One row of the report: one workload on one runtime, over all its repetitions.
///
/// In JSON a failed row carries `error` and none of the figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The workload's name.
    pub workload: String,
    /// The runtime id.
    pub runtime: String,
    /// The workload's size.
    pub n: u64,
    /// What one operation is, and so what `ns_per_op` measures (`ns/TCP round trip`, ...).
    pub unit: String,
    /// Repetitions that succeeded.
    pub reps: u32,
    /// Median over repetitions of ns per operation (median lateness in ns for `lateness`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns_per_op: Option<f64>,
    /// The fastest repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ns_per_op: Option<f64>,
    /// The slowest repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ns_per_op: Option<f64>,
    /// The median as a throughput: operations per second, `1e9 / ns_per_op` (round trips per
    /// second for `tcp_echo`). Absent for `lateness`, whose figure is a delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops_per_sec: Option<f64>,
    /// Median wall time of the workload body, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<f64>,
    /// The largest peak RSS of any repetition's process, in KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
    /// Median over repetitions of the process's CPU time (user and kernel) per operation, in
    /// ns; absent for `lateness`, whose operations are waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ns_per_op: Option<f64>,
    /// Median over repetitions of the kernel's part of that CPU time per operation, in ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_ns_per_op: Option<f64>,
    /// For ringloop rows: `ns_per_op` over the best peer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_best_peer: Option<f64>,
    /// For `lateness`: percentiles over all repetitions' wake-ups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lateness: Option<Lateness>,
    /// Why the row failed, if any repetition did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every repetition's wake-up lateness in ns, pooled (for the chart; not in the JSON).
    #[serde(skip)]
    pub lateness_ns: Vec<i64>,
}

impl Row {
    /// Builds a row from its repetitions' outcomes; any failure makes the row a failure.
    pub fn from_outcomes(
        workload: Workload,
        runtime: &str,
        n: u64,
        outcomes: &[Result<CellOutcome, String>],
    ) -> Row {
        let mut row = Row {
            workload: workload.name().into(),
            runtime: runtime.into(),
            n,
            unit: workload.short_unit().into(),
            reps: 0,
            ns_per_op: None,
            min_ns_per_op: None,
            max_ns_per_op: None,
            ops_per_sec: None,
            wall_ms: None,
            peak_rss_kb: None,
            cpu_ns_per_op: None,
            sys_ns_per_op: None,
            ratio_to_best_peer: None,
            lateness: None,
            error: None,
            lateness_ns: Vec::new(),
        };
        if let Some(Err(e)) = outcomes.iter().find(|o| o.is_err()) {
            row.error = Some(e.clone());
            return row;
        }
        let ok: Vec<&CellOutcome> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        if ok.is_empty() {
            row.error = Some("no repetition ran".into());
            return row;
        }
        let mut per_op = Vec::new();
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        let mut sys = Vec::new();
        for o in &ok {
            let s = &o.sample;
            let ops = s.ops.max(1) as f64;
            cpu.push(o.user_ns.saturating_add(o.sys_ns) as f64 / ops);
            sys.push(o.sys_ns as f64 / ops);
            per_op.push(match &s.lateness_ns {
                Some(late) if workload == Workload::Lateness => {
                    let mut sorted = late.clone();
                    sorted.sort_unstable();
                    percentile(&sorted, 50.0) as f64
                }
                _ => s.wall_ns as f64 / s.ops.max(1) as f64,
            });
            wall.push(s.wall_ns as f64 / 1e6);
            row.lateness_ns
                .extend(s.lateness_ns.iter().flatten().copied());
        }
        row.reps = ok.len() as u32;
        row.ns_per_op = Some(median(&per_op));
        row.min_ns_per_op = per_op.iter().copied().reduce(f64::min);
        row.max_ns_per_op = per_op.iter().copied().reduce(f64::max);
        row.ops_per_sec = row
            .ns_per_op
            .filter(|&ns| workload.has_throughput() && ns > 0.0)
            .map(|ns| 1e9 / ns);
        row.wall_ms = Some(median(&wall));
        row.peak_rss_kb = ok.iter().map(|o| o.peak_rss_kb).max();
        if workload != Workload::Lateness {
            row.cpu_ns_per_op = Some(median(&cpu));
            row.sys_ns_per_op = Some(median(&sys));
        }
        if workload == Workload::Lateness {
            row.lateness_ns.sort_unstable();
            let us = |p: f64| percentile(&row.lateness_ns, p) as f64 / 1e3;
            row.lateness = Some(Lateness {
                early: row.lateness_ns.iter().filter(|&&l| l < 0).count() as u64,
                p50_us: us(50.0),
                p90_us: us(90.0),
                p99_us: us(99.0),
                max_us: us(100.0),
            });
        }
        row
    }

    /// Whether this row is one of ringloop's.
    pub fn is_ringloop(&self) -> bool {
        is_ringloop_id(&self.runtime)
    }
}

/// The median of `v` (the mean of the middle two for an even count); 0 when empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    }
}

/// Fills in every ringloop row's ratio to the best peer of its workload.
pub fn fill_ratios(rows: &mut [Row]) {
    let workloads: Vec<String> = rows.iter().map(|r| r.workload.clone()).collect();
    for w in workloads {
        let best = rows
            .iter()
            .filter(|r| r.workload == w && !r.is_ringloop())
            .filter_map(|r| r.ns_per_op)
            .reduce(f64::min);
        for r in rows
            .iter_mut()
            .filter(|r| r.workload == w && r.is_ringloop())
        {
            r.ratio_to_best_peer = match (r.ns_per_op, best) {
                (Some(mine), Some(best)) if best > 0.0 => Some(mine / best),
                _ => None,
            };
        }
    }
}

/// The rows as a pretty-printed JSON array.
pub fn to_json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|e| format!("[] // {e}"))
}

/// A human number: at most four significant figures, no exponent.
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "-".into())
}

/// A rate with a k or M suffix: `78.1k`, `1.23M`; `-` when there is none.
fn rate(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1e6 => format!("{:.3}M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1}k", v / 1e3),
        Some(v) => format!("{v:.0}"),
    }
}

/// The table for stdout: one line per row, a ratio column for ringloop and the unit last,
/// then the lateness percentiles, then every failure with its reason.
pub fn to_table(rows: &[Row], unavailable: &[(String, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<18} {:>8} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}  unit",
        "workload",
        "runtime",
        "n",
        "ns/op",
        "min",
        "max",
        "ops/s",
        "wall ms",
        "peak MB",
        "cpu ns/op",
        "sys ns/op",
        "vs best"
    );
    let mut last = "";
    for r in rows {
        if r.workload != last && !last.is_empty() {
            out.push('\n');
        }
        last = &r.workload;
        if let Some(e) = &r.error {
            let _ = writeln!(
                out,
                "{:<20} {:<18} {:>8} FAILED: {}",
                r.workload,
                r.runtime,
                r.n,
                first_line(e)
            );
            continue;
        }
        let ratio = match (r.is_ringloop(), r.ratio_to_best_peer) {
            (true, Some(x)) => format!("{x:.2}"),
            (true, None) => "no peer".into(),
            (false, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<20} {:<18} {:>8} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}  {}",
            r.workload,
            r.runtime,
            r.n,
            opt(r.ns_per_op),
            opt(r.min_ns_per_op),
            opt(r.max_ns_per_op),
            rate(r.ops_per_sec),
            opt(r.wall_ms),
            r.peak_rss_kb
                .map(|kb| format!("{:.1}", kb as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
            opt(r.cpu_ns_per_op),
            opt(r.sys_ns_per_op),
            ratio,
            r.unit
        );
    }
    let late: Vec<&Row> = rows.iter().filter(|r| r.lateness.is_some()).collect();
    if !late.is_empty() {
        let _ = writeln!(
            out,
            "\nlateness (wake-up minus deadline, µs, all repetitions pooled)"
        );
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>10} {:>10} {:>10} {:>10} {:>7}",
            "runtime", "n", "p50", "p90", "p99", "max", "early"
        );
        for r in late {
            if let Some(l) = &r.lateness {
                let _ = writeln!(
                    out,
                    "{:<18} {:>8} {:>10} {:>10} {:>10} {:>10} {:>7}",
                    r.runtime,
                    r.n,
                    num(l.p50_us),
                    num(l.p90_us),
                    num(l.p99_us),
                    num(l.max_us),
                    l.early
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nns/op: median of the repetitions, in the row's unit (lateness: median lateness in ns); \
         ops/s: the median as a throughput (tcp_echo: round trips per second);\n\
         cpu ns/op: the cell process's CPU time (user + kernel, start-up included) per operation; \
         sys ns/op: the kernel's part of it;\n\
         vs best: ringloop's ns/op over the best peer's, below 1.00 is faster."
    );
    for (id, why) in unavailable {
        let _ = writeln!(out, "not run: {id}: {why}");
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Sample;

    fn outcome(ops: u64, wall_ns: u64, rss: u64) -> Result<CellOutcome, String> {
        Ok(CellOutcome {
            sample: Sample {
                ops,
                wall_ns,
                lateness_ns: None,
            },
            peak_rss_kb: rss,
            user_ns: 0,
            sys_ns: 0,
        })
    }

    fn row(w: Workload, rt: &str, walls: &[u64]) -> Row {
        let o: Vec<_> = walls.iter().map(|&w| outcome(100, w, 2048)).collect();
        Row::from_outcomes(w, rt, 100, &o)
    }

    #[test]
    fn median_min_max_and_peak() {
        let o = [
            outcome(100, 30_000, 10),
            outcome(100, 10_000, 30),
            outcome(100, 20_000, 20),
        ];
        let r = Row::from_outcomes(Workload::SpawnJoin, "tokio-ct", 100, &o);
        assert_eq!(r.ns_per_op, Some(200.0));
        assert_eq!(r.min_ns_per_op, Some(100.0));
        assert_eq!(r.max_ns_per_op, Some(300.0));
        assert_eq!(r.wall_ms, Some(0.02));
        assert_eq!(r.peak_rss_kb, Some(30));
        assert_eq!(r.ops_per_sec, Some(5_000_000.0));
        assert_eq!(r.unit, "ns/task");
        assert_eq!(r.reps, 3);
        assert_eq!(median(&[1.0, 4.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn cpu_and_kernel_time_per_op_are_medians_over_repetitions() {
        let cell = |user_ns, sys_ns| {
            Ok(CellOutcome {
                sample: Sample {
                    ops: 1000,
                    wall_ns: 5_000_000,
                    lateness_ns: None,
                },
                peak_rss_kb: 1,
                user_ns,
                sys_ns,
            })
        };
        // CPU per round trip 10, 20 and 40 µs, of which the kernel's 5, 16 and 36 µs.
        let o = [
            cell(5_000_000, 5_000_000),
            cell(4_000_000, 16_000_000),
            cell(4_000_000, 36_000_000),
        ];
        let r = Row::from_outcomes(Workload::TcpEcho, "tokio-mt", 1000, &o);
        assert_eq!(r.cpu_ns_per_op, Some(20_000.0));
        assert_eq!(r.sys_ns_per_op, Some(16_000.0));
        let table = to_table(std::slice::from_ref(&r), &[]);
        let line = table.lines().nth(1).unwrap();
        assert!(line.contains(" 20000      16000 "), "{line}");
        let v: serde_json::Value = serde_json::from_str(&to_json(&[r])).unwrap();
        assert_eq!(v[0]["cpu_ns_per_op"], 20_000.0);
        assert_eq!(v[0]["sys_ns_per_op"], 16_000.0);

        // Lateness operations are waits: CPU per wait means nothing, so there is none.
        let late = Ok(CellOutcome {
            sample: Sample {
                ops: 2,
                wall_ns: 1,
                lateness_ns: Some(vec![1, 2]),
            },
            peak_rss_kb: 1,
            user_ns: 7,
            sys_ns: 7,
        });
        let r = Row::from_outcomes(Workload::Lateness, "smol", 2, &[late]);
        assert_eq!((r.cpu_ns_per_op, r.sys_ns_per_op), (None, None));
    }

    #[test]
    fn one_failed_repetition_fails_the_row() {
        let o = [outcome(100, 1, 1), Err("lost a task".to_string())];
        let r = Row::from_outcomes(Workload::SpawnJoin, "smol", 100, &o);
        assert_eq!(r.error.as_deref(), Some("lost a task"));
        assert_eq!(r.ns_per_op, None);
        assert!(to_table(&[r], &[]).contains("FAILED: lost a task"));
    }

    #[test]
    fn ratio_is_against_the_best_peer_of_the_same_workload() {
        let mut rows = vec![
            row(Workload::SpawnJoin, "ringloop-epoll-ct", &[5_000]),
            row(Workload::SpawnJoin, "tokio-ct", &[20_000]),
            row(Workload::SpawnJoin, "smol", &[10_000]),
            row(Workload::YieldMany, "ringloop-epoll-ct", &[5_000]),
            row(Workload::YieldMany, "tokio-ct", &[2_500]),
            row(Workload::PingPong, "ringloop-uring-mt", &[5_000]),
        ];
        fill_ratios(&mut rows);
        assert_eq!(rows[0].ratio_to_best_peer, Some(0.5));
        assert_eq!(rows[1].ratio_to_best_peer, None);
        assert_eq!(rows[2].ratio_to_best_peer, None);
        assert_eq!(rows[3].ratio_to_best_peer, Some(2.0));
        // No peer ran ping_pong: no ratio, and the table says so.
        assert_eq!(rows[5].ratio_to_best_peer, None);
        let table = to_table(
            &rows,
            &[("uvloop".into(), "No module named 'uvloop'".into())],
        );
        assert!(table.contains("no peer"));
        assert!(table.contains("0.50"));
        assert!(table.contains("not run: uvloop: No module named 'uvloop'"));
    }

    #[test]
    fn tcp_echo_rows_give_round_trips_per_second_and_say_so() {
        // 12 800 round trips in 128 ms: 10 µs each, 100 000 per second.
        let o = [outcome(12_800, 128_000_000, 9000)];
        let r = Row::from_outcomes(Workload::TcpEcho, "tokio-mt", 12_800, &o);
        assert_eq!(r.ns_per_op, Some(10_000.0));
        assert_eq!(r.ops_per_sec, Some(100_000.0));
        assert_eq!(r.unit, "ns/TCP round trip");
        let table = to_table(&[r], &[]);
        let line = table.lines().nth(1).unwrap();
        assert!(line.starts_with("tcp_echo"), "{table}");
        assert!(line.contains(" 100.0k "), "{line}");
        assert!(line.ends_with("ns/TCP round trip"), "{line}");
        assert!(table.lines().next().unwrap().ends_with("unit"), "{table}");
        assert_eq!(rate(Some(1_234_567.0)), "1.235M");
        assert_eq!(rate(Some(999.0)), "999");
        assert_eq!(rate(None), "-");
    }

    #[test]
    fn json_shape_has_the_documented_keys() {
        let late = Ok(CellOutcome {
            sample: Sample {
                ops: 5,
                wall_ns: 60_000_000,
                lateness_ns: Some(vec![4_000, 1_000, 3_000, 2_000, -500]),
            },
            peak_rss_kb: 5000,
            user_ns: 0,
            sys_ns: 0,
        });
        let mut rows = vec![
            Row::from_outcomes(Workload::Lateness, "smol", 5, &[late]),
            row(Workload::SleepMany, "tokio-mt", &[1_000_000]),
            Row::from_outcomes(Workload::PingPong, "asyncio", 100, &[Err("boom".into())]),
        ];
        fill_ratios(&mut rows);
        let v: serde_json::Value = serde_json::from_str(&to_json(&rows)).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 3);
        for key in [
            "workload",
            "runtime",
            "n",
            "ns_per_op",
            "wall_ms",
            "min_ns_per_op",
            "max_ns_per_op",
            "peak_rss_kb",
            "unit",
        ] {
            assert!(arr[0].get(key).is_some(), "lateness row lacks {key}");
            assert!(arr[1].get(key).is_some(), "sleep row lacks {key}");
        }
        assert_eq!(arr[0]["ns_per_op"], 2000.0);
        let l = &arr[0]["lateness"];
        assert_eq!(l["p50_us"], 2.0);
        assert_eq!(l["p90_us"], 4.0);
        assert_eq!(l["max_us"], 4.0);
        assert_eq!(l["early"], 1);
        assert!(arr[1].get("lateness").is_none());
        assert_eq!(arr[0]["unit"], "ns late (p50)");
        assert!(
            arr[0].get("ops_per_sec").is_none(),
            "lateness is no throughput"
        );
        assert_eq!(arr[1]["ops_per_sec"], 100_000.0);
        assert_eq!(arr[1]["unit"], "ns/task");
        assert!(arr[0].get("lateness_ns").is_none(), "raw samples stay out");
        assert_eq!(arr[1]["ns_per_op"], 10_000.0);
        assert_eq!(arr[1]["n"], 100);
        assert_eq!(arr[2]["error"], "boom");
        assert!(arr[2].get("ns_per_op").is_none());
    }
}
