//! `ringloop-bench`: the command. See the `ringloop_bench` crate docs for what it measures.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ringloop_bench::cli::{self, Command, Format, Options, USAGE};
use ringloop_bench::workload::Workload;
use ringloop_bench::{cell, chart, report, runners, suite};

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringloop-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::List => {
            list();
            ExitCode::SUCCESS
        }
        Command::Cell(args) => match cell::run_cell(&args) {
            Ok(sample) => match serde_json::to_string(&sample) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot encode the sample: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("{} on {}: {e}", args.workload, args.runtime);
                ExitCode::FAILURE
            }
        },
        Command::Run(opts) => run(&opts),
    }
}

fn list() {
    println!("workloads (quick n, --full n, unit):");
    for w in Workload::ALL {
        println!(
            "  {:<20} {:>8} {:>9}  {}",
            w.name(),
            w.quick_n(),
            w.full_n(),
            w.unit()
        );
    }
    println!("runtimes:");
    for r in runners::all() {
        match r.available() {
            Ok(()) => println!("  {:<18} available", r.id()),
            Err(why) => println!("  {:<18} unavailable: {why}", r.id()),
        }
    }
}

fn run(opts: &Options) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringloop-bench: cannot find its own executable to re-run cells: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = suite::run(opts, &exe);
    if result.rows.is_empty() {
        for (id, why) in &result.unavailable {
            eprintln!("not run: {id}: {why}");
        }
        eprintln!("ringloop-bench: none of the selected runtimes can run here");
        return ExitCode::FAILURE;
    }
    let text = match opts.format {
        Format::Table => report::to_table(&result.rows, &result.unavailable),
        Format::Json => {
            for (id, why) in &result.unavailable {
                eprintln!("not run: {id}: {why}");
            }
            report::to_json(&result.rows) + "\n"
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        eprintln!("ringloop-bench: cannot write the report: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(dir) = &opts.out {
        if let Err(e) = write_out(dir, &result.rows) {
            eprintln!("ringloop-bench: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!(
            "ringloop-bench: wrote results.json and charts to {}",
            dir.display()
        );
    }
    if result.any_failed() {
        eprintln!("ringloop-bench: some rows FAILED (see the report)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn write_out(dir: &Path, rows: &[report::Row]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = dir.join("results.json");
    std::fs::write(&json, report::to_json(rows) + "\n")
        .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    chart::write_bars(&dir.join("chart.svg"), rows)?;
    if rows.iter().any(|r| !r.lateness_ns.is_empty()) {
        chart::write_lateness(&dir.join("lateness.svg"), rows)?;
    }
    Ok(())
}
