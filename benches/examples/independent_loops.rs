//! An upper bound for the multi-thread tcp_echo rows: N independent current-thread io_uring
//! runtimes, one per thread, each running the benchmark's tcp_echo workload (its own 64
//! connections, so N x 64 in all) with nothing shared between them: no task, ring or lock
//! crosses a thread. A work-stealing runtime, whose clients and servers talk across workers,
//! is not expected to beat it.
//!
//! `cargo run --release -p ringloop-bench --example independent_loops -- [round trips] [threads]`
//! (defaults 200000 and 2); prints each runtime's sample and the total round trips per
//! second.

use ringloop::{BackendChoice, Flavor, Runtime};
use ringloop_bench::runners::ringloop::tcp_echo;
use ringloop_bench::workload::Params;
use std::time::Instant;

fn main() {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let n = arg(1, 200_000);
    let threads = arg(2, 2).max(1);
    let start = Instant::now();
    let loops: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let rt = Runtime::builder()
                    .flavor(Flavor::CurrentThread)
                    .backend(BackendChoice::IoUring)
                    .build()
                    .expect("an io_uring runtime");
                rt.block_on(tcp_echo(Params {
                    n: n / threads,
                    seed: 1,
                }))
                .expect("tcp_echo")
            })
        })
        .collect();
    for l in loops {
        println!("{:?}", l.join().expect("a loop panicked"));
    }
    let wall = start.elapsed();
    println!(
        "{threads} independent loops: {:.0} round trips/s",
        n as f64 / wall.as_secs_f64()
    );
}
