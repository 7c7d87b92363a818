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
    let mut rows = Vec::new();
    for &workload in &opts.workloads {
        let params = opts.params(workload);
        let mut outcomes: Vec<Vec<Result<CellOutcome, String>>> = vec![Vec::new(); runnable.len()];
        for rep in 1..=opts.reps {
            for (i, &runtime) in runnable.iter().enumerate() {
                bar.set_message(format!("{workload} n={} on {runtime}, rep {rep}", params.n));
                if outcomes[i].iter().any(|o| o.is_err()) {
                    bar.inc(1);
                    continue;
                }
                let cell = CellArgs {
                    workload,
                    runtime,
                    params,
                };
                outcomes[i].push(spawn_cell(exe, &cell, opts.timeout));
                bar.inc(1);
            }
        }
        for (runtime, outs) in runnable.iter().zip(&outcomes) {
            rows.push(Row::from_outcomes(workload, runtime, params.n, outs));
        }
    }
    bar.finish_and_clear();
    fill_ratios(&mut rows);
    SuiteResult { rows, unavailable }
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
