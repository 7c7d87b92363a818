//! The command line: what `ringloop-bench` accepts, parsed with lexopt (no derive macros, no
//! dependencies: build time matters on a 2-core machine).
//!
//! Two modes share one binary:
//!
//! - the **suite** (what a person runs): `ringloop-bench [--workload a,b] [--runtime x,y]
//!   [-n N] [--reps R] [--full] [--out DIR] [--format table|json] [--seed S] [--timeout SECS]`;
//! - the hidden **cell** mode the suite re-executes itself in, once per measurement:
//!   `ringloop-bench --cell --workload W --runtime R -n N --seed S`, which prints one JSON
//!   sample (see [`crate::cell`]).
//!
//! Every mistake is an `Err` naming the bad value and what would have been accepted; the binary
//! prints it with the usage and exits with status 2. Nothing here panics.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::runners;
use crate::workload::{Params, Workload, DEFAULT_SEED};

/// The usage text `--help` prints.
pub const USAGE: &str = "\
ringloop-bench: sleep, timer and task benchmarks, ringloop side by side with its peers

USAGE:
    ringloop-bench [OPTIONS]

OPTIONS:
    --workload LIST    comma-separated workloads (default: all)
    --runtime LIST     comma-separated runtime ids (default: all available)
    -n N               size of every selected workload (default: per workload)
    --reps R           repetitions of each cell, interleaved across runtimes (default: 3)
    --full             the sizes of DESIGN.md's table: 1M tasks, 1000 for lateness
    --out DIR          also write results.json, chart.svg and lateness.svg into DIR
    --format FORMAT    table (default) or json, on stdout
    --seed S           seed of the pseudo-random sleep durations (default: 0x5EED)
    --timeout SECS     kill a cell that runs longer than this and report it FAILED
                       (default: 10 for the quick sizes, 300 with --full or -n)
    --list             list the workloads and runtimes, with why any runtime is unavailable
    -h, --help         this text
";

/// What the report on stdout looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An aligned table for people.
    Table,
    /// A JSON array, one object per cell.
    Json,
}

/// The suite's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The workloads to run, in report order.
    pub workloads: Vec<Workload>,
    /// The runtime ids to run, in report order.
    pub runtimes: Vec<&'static str>,
    /// `-n`: one size for every workload, overriding the defaults.
    pub n: Option<u64>,
    /// Repetitions of each cell.
    pub reps: u32,
    /// `--full`: DESIGN.md's sizes instead of the quick ones.
    pub full: bool,
    /// Where to write the JSON and the charts, if anywhere.
    pub out: Option<PathBuf>,
    /// The stdout format.
    pub format: Format,
    /// The seed of the duration generator.
    pub seed: u64,
    /// `--timeout`: how long one cell may run before it is killed; `None` for the default,
    /// [`Options::cell_timeout`].
    pub timeout: Option<Duration>,
}

/// The default cell timeout at the quick sizes: the slowest quick cell (an asyncio one) takes
/// about a second, so a cell still running after this is hung, and the quick suite stays
/// short even when a runtime hangs.
pub const QUICK_TIMEOUT: Duration = Duration::from_secs(10);

/// The default cell timeout with `--full` or `-n`, whose cells can legitimately take minutes
/// (asyncio with a million tasks).
pub const LONG_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for Options {
    fn default() -> Options {
        Options {
            workloads: Workload::ALL.to_vec(),
            runtimes: runners::ids(),
            n: None,
            reps: 3,
            full: false,
            out: None,
            format: Format::Table,
            seed: DEFAULT_SEED,
            timeout: None,
        }
    }
}

impl Options {
    /// The size `workload` runs at under these options.
    pub fn n_for(&self, workload: Workload) -> u64 {
        match self.n {
            Some(n) => n,
            None if self.full => workload.full_n(),
            None => workload.quick_n(),
        }
    }

    /// How long one cell may run before it is killed: `--timeout`, else [`QUICK_TIMEOUT`] at
    /// the quick sizes and [`LONG_TIMEOUT`] with `--full` or `-n`.
    pub fn cell_timeout(&self) -> Duration {
        match self.timeout {
            Some(t) => t,
            None if self.full || self.n.is_some() => LONG_TIMEOUT,
            None => QUICK_TIMEOUT,
        }
    }

    /// The parameters of one `workload` cell.
    pub fn params(&self, workload: Workload) -> Params {
        Params {
            n: self.n_for(workload),
            seed: self.seed,
        }
    }
}

/// One cell, as the hidden `--cell` mode receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellArgs {
    /// The workload.
    pub workload: Workload,
    /// The runtime id.
    pub runtime: &'static str,
    /// Its size and seed.
    pub params: Params,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the suite.
    Run(Options),
    /// Run one cell and print its sample.
    Cell(CellArgs),
    /// List workloads and runtimes.
    List,
    /// Print the usage.
    Help,
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    parse_inner(args).map_err(|e| e.to_string())
}

fn parse_inner<I>(args: I) -> Result<Command, lexopt::Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;

    let mut opts = Options::default();
    let mut cell = false;
    let mut list = false;
    let mut seen_workload = false;
    let mut seen_runtime = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("workload") => {
                opts.workloads = parse_list(&parser.value()?.string()?, parse_workload)?;
                seen_workload = true;
            }
            Long("runtime") => {
                opts.runtimes = parse_list(&parser.value()?.string()?, parse_runtime)?;
                seen_runtime = true;
            }
            Short('n') => opts.n = Some(positive(&parser.value()?.string()?, "-n")?),
            Long("reps") => {
                let reps = positive(&parser.value()?.string()?, "--reps")?;
                opts.reps = u32::try_from(reps).map_err(|_| "--reps is too large")?;
            }
            Long("full") => opts.full = true,
            Long("out") => opts.out = Some(parser.value()?.into()),
            Long("format") => {
                opts.format = match parser.value()?.string()?.as_str() {
                    "table" => Format::Table,
                    "json" => Format::Json,
                    other => return Err(format!("--format {other:?}: use table or json").into()),
                }
            }
            Long("seed") => opts.seed = parse_u64(&parser.value()?.string()?, "--seed")?,
            Long("timeout") => {
                let secs = positive(&parser.value()?.string()?, "--timeout")?;
                opts.timeout = Some(Duration::from_secs(secs));
            }
            Long("cell") => cell = true,
            Long("list") => list = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            _ => return Err(arg.unexpected()),
        }
    }
    if list {
        return Ok(Command::List);
    }
    if !cell {
        return Ok(Command::Run(opts));
    }
    // A cell is exactly one workload on exactly one runtime.
    let one = |seen: bool, len: usize, what: &str| -> Result<(), lexopt::Error> {
        if seen && len == 1 {
            Ok(())
        } else {
            Err(format!("--cell needs exactly one {what}").into())
        }
    };
    one(seen_workload, opts.workloads.len(), "--workload")?;
    one(seen_runtime, opts.runtimes.len(), "--runtime")?;
    let workload = opts.workloads[0];
    Ok(Command::Cell(CellArgs {
        workload,
        runtime: opts.runtimes[0],
        params: opts.params(workload),
    }))
}

/// Splits a comma-separated list, parses each item, and drops repeats (keeping the first).
fn parse_list<T: PartialEq>(
    list: &str,
    item: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, lexopt::Error> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim) {
        let v = item(name)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

fn parse_workload(name: &str) -> Result<Workload, String> {
    Workload::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        format!("unknown workload {name:?}; known: {}", names.join(", "))
    })
}

fn parse_runtime(name: &str) -> Result<&'static str, String> {
    let ids = runners::ids();
    ids.iter()
        .copied()
        .find(|id| *id == name)
        .ok_or_else(|| format!("unknown runtime {name:?}; known: {}", ids.join(", ")))
}

/// A u64 in decimal or with a `0x` prefix.
fn parse_u64(s: &str, what: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("{what} {s:?}: {e}"))
}

/// A u64 of at least 1.
fn positive(s: &str, what: &str) -> Result<u64, String> {
    match parse_u64(s, what)? {
        0 => Err(format!("{what} must be at least 1")),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().copied()) {
            Ok(Command::Run(o)) => o,
            other => panic!("{args:?} parsed to {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(e) => e,
            Ok(c) => panic!("{args:?} was accepted as {c:?}"),
        }
    }

    #[test]
    fn no_arguments_is_the_quick_suite_on_everything() {
        let o = run(&[]);
        assert_eq!(o, Options::default());
        assert_eq!(o.workloads, Workload::ALL);
        assert_eq!(o.workloads.len(), 10);
        assert!(o.workloads.contains(&Workload::TcpEcho));
        assert_eq!(o.runtimes, runners::ids());
        assert_eq!(o.reps, 3);
        assert_eq!(o.format, Format::Table);
        assert_eq!(o.n_for(Workload::SleepMany), Workload::SleepMany.quick_n());
        assert_eq!(o.seed, 0x5EED);
        assert_eq!(o.cell_timeout(), QUICK_TIMEOUT);
    }

    #[test]
    fn lists_sizes_and_flags() {
        let o = run(&[
            "--workload",
            "spawn_join, sleep_many,spawn_join",
            "--runtime=tokio-ct,smol",
            "-n",
            "500",
            "--reps",
            "5",
            "--out",
            "/tmp/x",
            "--format",
            "json",
            "--seed",
            "0x10",
            "--timeout",
            "9",
        ]);
        assert_eq!(o.workloads, [Workload::SpawnJoin, Workload::SleepMany]);
        assert_eq!(o.runtimes, ["tokio-ct", "smol"]);
        assert_eq!(o.n_for(Workload::Lateness), 500);
        assert_eq!(o.reps, 5);
        assert_eq!(o.out, Some(PathBuf::from("/tmp/x")));
        assert_eq!(o.format, Format::Json);
        assert_eq!(o.seed, 16);
        assert_eq!(o.cell_timeout(), Duration::from_secs(9));
    }

    #[test]
    fn tcp_echo_is_a_workload_with_its_own_sizes() {
        let o = run(&["--workload", "tcp_echo,ping_pong"]);
        assert_eq!(o.workloads, [Workload::TcpEcho, Workload::PingPong]);
        assert_eq!(o.n_for(Workload::TcpEcho), 12_800);
        assert_eq!(run(&["--full"]).n_for(Workload::TcpEcho), 1_000_000);
    }

    #[test]
    fn the_cell_timeout_grows_with_the_sizes_unless_given() {
        assert_eq!(run(&[]).cell_timeout(), QUICK_TIMEOUT);
        assert_eq!(run(&["--full"]).cell_timeout(), LONG_TIMEOUT);
        assert_eq!(run(&["-n", "5"]).cell_timeout(), LONG_TIMEOUT);
        let o = run(&["--full", "--timeout", "2"]);
        assert_eq!(o.cell_timeout(), Duration::from_secs(2));
        assert!(err(&["--timeout", "0"]).contains("--timeout must be at least 1"));
    }

    #[test]
    fn full_uses_the_design_table_sizes_and_n_overrides_it() {
        let o = run(&["--full"]);
        assert_eq!(o.n_for(Workload::SleepMany), 1_000_000);
        assert_eq!(o.n_for(Workload::SleepSameDeadline), 1_000_000);
        assert_eq!(o.n_for(Workload::SpawnJoin), 1_000_000);
        assert_eq!(o.n_for(Workload::Lateness), 1_000);
        let o = run(&["--full", "-n", "7"]);
        assert_eq!(o.n_for(Workload::SleepMany), 7);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert!(err(&["--workload", "sleep"]).contains("unknown workload \"sleep\""));
        assert!(err(&["--workload", "sleep"]).contains("sleep_many"));
        assert!(err(&["--runtime", "monoio"]).contains("unknown runtime \"monoio\""));
        assert!(err(&["--runtime", "tokio-ct,"]).contains("unknown runtime \"\""));
        assert!(err(&["-n", "0"]).contains("-n must be at least 1"));
        assert!(err(&["-n", "ten"]).contains("-n \"ten\""));
        assert!(err(&["-n", "-5"]).contains("-n"));
        assert!(err(&["--reps", "0"]).contains("--reps must be at least 1"));
        assert!(err(&["--reps", "99999999999"]).contains("too large"));
        assert!(err(&["--format", "csv"]).contains("use table or json"));
        assert!(err(&["--bogus"]).contains("--bogus"));
        assert!(err(&["-n"]).contains("missing argument"));
        assert!(err(&["stray"]).contains("stray"));
    }

    #[test]
    fn help_and_list() {
        assert_eq!(parse(["--help"]), Ok(Command::Help));
        assert_eq!(parse(["-h"]), Ok(Command::Help));
        assert_eq!(parse(["--list"]), Ok(Command::List));
    }

    #[test]
    fn cell_mode_takes_exactly_one_workload_and_runtime() {
        let c = parse([
            "--cell",
            "--workload",
            "ping_pong",
            "--runtime",
            "smol",
            "-n",
            "9",
            "--seed",
            "3",
        ]);
        assert_eq!(
            c,
            Ok(Command::Cell(CellArgs {
                workload: Workload::PingPong,
                runtime: "smol",
                params: Params { n: 9, seed: 3 },
            }))
        );
        let e = parse(["--cell", "--runtime", "smol"]).unwrap_err();
        assert!(e.contains("exactly one --workload"), "{e}");
        let e = parse(["--cell", "--workload", "yield_many"]).unwrap_err();
        assert!(e.contains("exactly one --runtime"), "{e}");
        let e = parse([
            "--cell",
            "--workload",
            "yield_many,ping_pong",
            "--runtime",
            "smol",
        ]);
        assert!(e.unwrap_err().contains("exactly one --workload"));
    }
}
