//! The suite: which cells run, in what order, and how their outcomes become rows.
//!
//! Order matters more than it seems on a shared 2-core machine. The suite runs, for each
//! workload, repetition 1 of every runtime, then repetition 2 of every runtime, and so on
//! (A B C A B C ...), never A A A B B B: a burst of load from a neighbour, a frequency change
//! or a warming page cache then hits every runtime alike instead of whichever ran during it.
//!
//! A runtime that fails a repetition of a workload is not run again on that workload (its row
//! reports the first failure); the other runtimes and workloads go on. A runtime that is not
//! available is never started and is listed once, with the reason.

use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cell::{spawn_cell, CellOutcome};
use crate::cli::{CellArgs, Options};
use crate::report::{fill_ratios, Row};
use crate::runners;

/// What the suite produced.
#[derive(Debug)]
pub struct SuiteResult {
    /// One row per (workload, runtime) that ran, workloads in order, runtimes in order.
    pub rows: Vec<Row>,
    /// The runtimes that were asked for but cannot run here, with the reason.
    pub unavailable: Vec<(String, String)>,
}

impl SuiteResult {
    /// Whether any row failed.
    pub fn any_failed(&self) -> bool {
        self.rows.iter().any(|r| r.error.is_some())
    }
}

/// Splits the asked-for runtimes into those that can run and those that cannot (with why).
pub fn partition_runtimes(ids: &[&'static str]) -> (Vec<&'static str>, Vec<(String, String)>) {
    let mut ok = Vec::new();
    let mut not = Vec::new();
    for id in ids {
        match runners::find(id).map(|r| r.available()) {
            Some(Ok(())) => ok.push(*id),
            Some(Err(why)) => not.push((id.to_string(), why)),
            None => not.push((id.to_string(), "unknown runtime".into())),
        }
    }
    (ok, not)
}

/// Runs every cell of `opts` by re-executing `exe` in `--cell` mode, and builds the rows.
pub fn run(opts: &Options, exe: &Path) -> SuiteResult {
    let (runnable, unavailable) = partition_runtimes(&opts.runtimes);
    let total = opts.workloads.len() as u64 * runnable.len() as u64 * u64::from(opts.reps);
    let bar = progress_bar(total);
    let rows = run_cells(opts, &runnable, |cell, rep| {
        bar.set_message(format!(
            "{} n={} on {}, rep {rep}",
            cell.workload, cell.params.n, cell.runtime
        ));
        let outcome = spawn_cell(exe, cell, opts.cell_timeout());
        bar.inc(1);
        outcome
    });
    bar.finish_and_clear();
    SuiteResult { rows, unavailable }
}

/// The suite's order and bookkeeping, with the cell itself a parameter (the real one is
/// [`spawn_cell`]): for each workload, each repetition, each runtime; a runtime that failed a
/// workload is skipped for its remaining repetitions. Returns the rows, ratios filled in.
pub fn run_cells<F>(opts: &Options, runtimes: &[&'static str], mut cell: F) -> Vec<Row>
where
    F: FnMut(&CellArgs, u32) -> Result<CellOutcome, String>,
{
    let mut rows = Vec::new();
    for &workload in &opts.workloads {
        let params = opts.params(workload);
        let mut outcomes: Vec<Vec<Result<CellOutcome, String>>> = vec![Vec::new(); runtimes.len()];
        for rep in 1..=opts.reps {
            for (i, &runtime) in runtimes.iter().enumerate() {
                if outcomes[i].iter().any(|o| o.is_err()) {
                    continue;
                }
                let args = CellArgs {
                    workload,
                    runtime,
                    params,
                };
                outcomes[i].push(cell(&args, rep));
            }
        }
        for (runtime, outs) in runtimes.iter().zip(&outcomes) {
            rows.push(Row::from_outcomes(workload, runtime, params.n, outs));
        }
    }
    fill_ratios(&mut rows);
    rows
}

/// A progress bar on stderr; indicatif hides it by itself when stderr is not a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} cells  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Sample, Workload};

    fn opts(workloads: &[Workload], reps: u32) -> Options {
        Options {
            workloads: workloads.to_vec(),
            reps,
            n: Some(10),
            ..Options::default()
        }
    }

    fn sample(ns: u64) -> Result<CellOutcome, String> {
        Ok(CellOutcome {
            sample: Sample {
                ops: 10,
                wall_ns: ns,
                lateness_ns: None,
            },
            peak_rss_kb: 1,
            user_ns: 0,
            sys_ns: 0,
        })
    }

    #[test]
    fn repetitions_interleave_across_runtimes() {
        let o = opts(&[Workload::SpawnJoin, Workload::PingPong], 2);
        let mut order = Vec::new();
        let rows = run_cells(&o, &["ringloop-epoll-ct", "tokio-ct", "smol"], |c, rep| {
            order.push(format!("{} {} {rep}", c.workload, c.runtime));
            sample(1000)
        });
        assert_eq!(
            order,
            [
                "spawn_join ringloop-epoll-ct 1",
                "spawn_join tokio-ct 1",
                "spawn_join smol 1",
                "spawn_join ringloop-epoll-ct 2",
                "spawn_join tokio-ct 2",
                "spawn_join smol 2",
                "ping_pong ringloop-epoll-ct 1",
                "ping_pong tokio-ct 1",
                "ping_pong smol 1",
                "ping_pong ringloop-epoll-ct 2",
                "ping_pong tokio-ct 2",
                "ping_pong smol 2",
            ]
        );
        assert_eq!(rows.len(), 6);
        assert!(rows
            .iter()
            .all(|r| r.reps == 2 && r.ns_per_op == Some(100.0)));
        assert_eq!(rows[0].ratio_to_best_peer, Some(1.0));
    }

    #[test]
    fn a_failed_runtime_is_not_rerun_on_that_workload_only() {
        let o = opts(&[Workload::SpawnJoin, Workload::YieldMany], 3);
        let mut calls = Vec::new();
        let rows = run_cells(&o, &["tokio-ct", "smol"], |c, rep| {
            calls.push((c.workload, c.runtime, rep));
            if c.runtime == "smol" && c.workload == Workload::SpawnJoin {
                Err("lost a task".into())
            } else {
                sample(500)
            }
        });
        let smol_spawn = calls
            .iter()
            .filter(|c| c.0 == Workload::SpawnJoin && c.1 == "smol")
            .count();
        assert_eq!(smol_spawn, 1, "smol ran spawn_join again after failing it");
        let smol_yield = calls
            .iter()
            .filter(|c| c.0 == Workload::YieldMany && c.1 == "smol")
            .count();
        assert_eq!(smol_yield, 3);
        assert_eq!(rows[1].error.as_deref(), Some("lost a task"));
        assert!(rows[0].error.is_none() && rows[2].error.is_none() && rows[3].error.is_none());
    }
}
