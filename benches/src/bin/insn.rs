//! `insn`: runs ONE cell (one workload on one runtime, in this process) and prints its
//! operation count, for instruction counting under `valgrind --tool=callgrind`.
//!
//! ```sh
//! insn <runtime-id> <workload> <n>      # e.g. insn ringloop-epoll-ct yield_many 64000
//! ```
//!
//! It runs exactly the workload bodies of `ringloop-bench` (the same [`Runner`]s), without the
//! cell protocol, the watchdog or the child process, so that callgrind sees one runtime and
//! nothing else. `benches/insn.sh` runs it at two sizes and divides the difference in
//! instructions by the difference in operations: instructions per operation, net of building
//! and tearing down the runtime. Instruction counts do not depend on the machine's load, which
//! wall-clock figures on a shared 2-core machine do.
//!
//! [`Runner`]: ringloop_bench::runners::Runner

use ringloop_bench::runners;
use ringloop_bench::workload::{Params, Workload, DEFAULT_SEED};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [runtime, workload, n] = args.as_slice() else {
        eprintln!("usage: insn <runtime-id> <workload> <n>");
        eprintln!("runtimes: {}", runners::ids().join(", "));
        return ExitCode::from(2);
    };
    let Some(runner) = runners::find(runtime) else {
        eprintln!("insn: unknown runtime {runtime:?}");
        return ExitCode::from(2);
    };
    let Some(workload) = Workload::from_name(workload) else {
        eprintln!("insn: unknown workload {workload:?}");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<u64>() else {
        eprintln!("insn: n must be a number, got {n:?}");
        return ExitCode::from(2);
    };
    let params = Params {
        n,
        seed: DEFAULT_SEED,
    };
    let sample = match runner.run(workload, &params) {
        Ok(sample) => sample,
        Err(e) => {
            eprintln!("insn: {runtime} {workload}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = sample.check(workload, &params) {
        eprintln!("insn: {runtime} {workload}: {e}");
        return ExitCode::FAILURE;
    }
    // The one line the script reads: how many operations ran.
    println!("ops {}", sample.ops);
    ExitCode::SUCCESS
}
