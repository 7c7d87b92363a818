//! `ringloop-bench`: sleep, timer and task benchmarks, ringloop side by side with its peers in
//! one run, reported as ratios.
//!
//! ```sh
//! cargo run --release --bin ringloop-bench            # the quick suite, under a minute
//! cargo run --release --bin ringloop-bench -- --full  # DESIGN.md's sizes (1M tasks)
//! cargo run --release --bin ringloop-bench -- --workload lateness --runtime smol,tokio-ct \
//!     --reps 5 --out target/bench --format json
//! ```
//!
//! # What is measured
//!
//! Ten workloads, each a *shape* that every runtime implements with its own primitives, on the
//! same sizes and the same pseudo-random durations. N is the workload's size (`-n`, or the
//! quick and `--full` defaults in [`workload::Workload`]).
//!
//! | workload | shape | `ns_per_op` |
//! |---|---|---|
//! | `sleep_many` | spawn N tasks, task i sleeps duration i (below); wait for all | wall / N |
//! | `sleep_same_deadline` | deadline = start + 50 ms; N tasks sleep until it; wait for all | wall / N |
//! | `timer_churn` | in one task, N times: create a 1 s sleep, poll it once with a no-op waker so it registers its timer, drop it | wall / N |
//! | `timeout_ready` | in one task, N times: await `timeout(1 s, ready(i))`; the values must sum to N(N-1)/2 | wall / N |
//! | `lateness` | N tasks (1000 by default) sleep until start + 50 ms; each records wake time minus deadline (negative if early: the report counts early wake-ups) | median lateness, ns |
//! | `spawn_join` | spawn N trivial tasks returning their index, await every handle, sum (must be N(N-1)/2) | wall / N |
//! | `yield_many` | 64 tasks each yield max(1, N/64) times | wall / yields |
//! | `chained_spawn` | each task spawns the next, N deep; the last one signals its depth (must be N) | wall / N |
//! | `ping_pong` | two tasks exchange N round trips over two bounded(1) channels; every echo checked | wall / N |
//! | `tcp_echo` | 64 TCP connections on 127.0.0.1, each with an echo server task; each connection's client task makes max(1, N/64) round trips of a 1 KiB message, every reply checked byte for byte, and the server tasks' byte count checked at the end | wall / round trips |
//!
//! `tcp_echo` is bounded: 64 connections, loopback only, N round trips. Its set-up (bind, 64
//! connects and accepts, one echo task spawned per accepted socket, `TCP_NODELAY` on both
//! ends) is outside the wall time, which runs from spawning the 64 client tasks to the last
//! one's end. Each runtime uses its own idiomatic TCP API: ringloop's and tokio's
//! `net::{TcpListener, TcpStream}`, smol's `net` (async-net), and asyncio's streams
//! (`start_server`, `open_connection`) in the Python rows. Its `ns_per_op` is ns per round
//! trip, and `ops_per_sec` round trips per second, DESIGN.md's unit for it.
//! Durations: SplitMix64 seeded with `--seed` (default `0x5EED`); duration i is
//! `next() % 50_000` microseconds ([`workload::durations`]). The Python script has an exact
//! copy, and a test compares the two.
//!
//! Wall time runs from just before the first spawn to just after the last completion, inside
//! the runtime: building and tearing down the runtime, and computing the durations, are
//! outside it. Every workload body itself runs inside a spawned task, in every runtime.
//!
//! # The runtimes
//!
//! `ringloop-{epoll,uring}-{ct,mt}` (see [`runners::ringloop`]), `tokio-ct`, `tokio-mt`,
//! `smol`, and, when `python3` is on `PATH`, `asyncio` and `uvloop` (where it imports) through
//! the bundled `asyncio_bench.py`. The table in [`runners`] says exactly what each id runs.
//!
//! # How it is measured
//!
//! - **A fresh process per cell** ([`cell`]): the command re-executes itself with a hidden
//!   `--cell` mode that runs one workload on one runtime and prints one JSON sample. No
//!   allocator state or thread pool carries over, and `wait4`'s `ru_maxrss` is that cell's peak
//!   RSS (the memory target of DESIGN.md is for a million sleeping tasks: `--full`).
//! - **Counts are checked**: the child refuses to print a sample whose operation count is not
//!   the workload's ([`workload::Workload::expected_ops`]), runners check sums and echoes, and
//!   the parent checks again. A wrong count fails the row loudly.
//! - **Interleaved repetitions** ([`suite`]): A B C A B C, so drift on a shared machine hits
//!   every runtime alike. The report gives the median with min and max ([`report`]).
//! - **Ratios, not absolutes**: each ringloop row is divided by the best peer's median in the
//!   same run: below 1.00, ringloop is faster.
//!
//! # Output
//!
//! A table on stdout (or a JSON array with `--format json`, one object per row with
//! `workload`, `runtime`, `n`, `unit`, `ns_per_op`, `wall_ms`, `min_ns_per_op`,
//! `max_ns_per_op`, `ops_per_sec`, `peak_rss_kb`, `cpu_ns_per_op`, `sys_ns_per_op`,
//! `ratio_to_best_peer` for ringloop rows, and
//! `lateness` percentiles for `lateness`); with `--out DIR`, also `results.json`,
//! `chart.svg` and `lateness.svg` ([`chart`]). A progress bar is drawn on stderr when it is a
//! terminal. The exit status is 1 when any row failed, 2 on bad arguments.
//!
//! A cell that does not finish within the timeout (`--timeout`; 10 s at the quick sizes, 300 s
//! with `--full` or `-n`) is killed with its process group and its row reads
//! `FAILED: killed after the 10 s timeout ...`: a runtime that hangs costs the suite one
//! timeout per workload, not the whole run.
//!
//! A runtime that cannot run here is left out and named once, with the reason, under the
//! table: no io_uring in the kernel, no `python3` on `PATH` (or one older than 3.7), or no
//! `uvloop` module. The quick suite still runs everything else.

pub mod cell;
pub mod chart;
pub mod cli;
pub mod report;
pub mod runners;
pub mod suite;
pub mod watchdog;
pub mod workload;
