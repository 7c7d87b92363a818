//! The workloads: their names, their sizes, the pseudo-random durations, and the count each
//! cell must reach.
//!
//! A workload is a *shape*, not code: every runner (tokio, smol, ringloop, the Python script)
//! implements the same shape with its own primitives, and this module holds what they share so
//! that "the same shape" can be checked rather than trusted:
//!
//! - [`Workload`]: the ten names, their default sizes in the quick suite and in `--full`.
//! - [`SplitMix64`] and [`durations`]: the pseudo-random sleep durations of `sleep_many`. The
//!   Python script carries a line-by-line copy (masked to 64 bits); a test runs both and
//!   compares them.
//! - [`Params`], [`Sample`]: what a runner is handed and what it hands back.
//! - [`Workload::expected_ops`]: the count a cell must report, checked in the child before it
//!   prints anything, so a runner that loses a task fails loudly instead of looking fast.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default seed of the duration generator (`--seed` changes it).
pub const DEFAULT_SEED: u64 = 0x5EED;

/// The longest pseudo-random sleep of `sleep_many`, in microseconds (exclusive).
pub const MAX_SLEEP_US: u64 = 50_000;

/// The common deadline of `sleep_same_deadline` and the sleep of `lateness`.
pub const SHARED_DEADLINE: Duration = Duration::from_millis(50);

/// The long sleep that `timer_churn` creates and cancels, and the limit of `timeout_ready`:
/// long enough that it never fires during a cell.
pub const LONG_SLEEP: Duration = Duration::from_secs(1);

/// How many tasks `yield_many` spreads its yields over.
pub const YIELD_TASKS: u64 = 64;

/// How many connections `tcp_echo` spreads its round trips over.
pub const TCP_CONNECTIONS: u64 = 64;

/// The size of one `tcp_echo` message, sent and echoed back whole: 1 KiB.
pub const TCP_MESSAGE: usize = 1024;

/// The read buffer of every `tcp_echo` server task: whatever one read returns is written back.
pub const ECHO_BUF: usize = 4096;

/// One benchmark shape. The crate documentation describes each one in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// N tasks, task i sleeps `durations(seed, N)[i]`; wait for all.
    SleepMany,
    /// N tasks sleep until one deadline, start + 50 ms; wait for all.
    SleepSameDeadline,
    /// In one task, N times: create a 1 s sleep, poll it once, drop it.
    TimerChurn,
    /// In one task, N times: await `timeout(1 s, ready(i))`.
    TimeoutReady,
    /// N tasks sleep 50 ms from a common start and record how late they woke.
    Lateness,
    /// Spawn N trivial tasks returning their index, await every handle, sum.
    SpawnJoin,
    /// 64 tasks each yield N/64 times.
    YieldMany,
    /// Each task spawns the next, N deep; the last one signals completion.
    ChainedSpawn,
    /// Two tasks exchange N round trips over two bounded(1) channels.
    PingPong,
    /// 64 TCP connections on 127.0.0.1, each N/64 round trips of a 1 KiB message through an
    /// echo server task.
    TcpEcho,
}

impl Workload {
    /// Every workload, in the order the report lists them.
    pub const ALL: [Workload; 10] = [
        Workload::SleepMany,
        Workload::SleepSameDeadline,
        Workload::TimerChurn,
        Workload::TimeoutReady,
        Workload::Lateness,
        Workload::SpawnJoin,
        Workload::YieldMany,
        Workload::ChainedSpawn,
        Workload::PingPong,
        Workload::TcpEcho,
    ];

    /// The workload's fixed name, as `--workload` takes it and the report prints it.
    pub fn name(self) -> &'static str {
        match self {
            Workload::SleepMany => "sleep_many",
            Workload::SleepSameDeadline => "sleep_same_deadline",
            Workload::TimerChurn => "timer_churn",
            Workload::TimeoutReady => "timeout_ready",
            Workload::Lateness => "lateness",
            Workload::SpawnJoin => "spawn_join",
            Workload::YieldMany => "yield_many",
            Workload::ChainedSpawn => "chained_spawn",
            Workload::PingPong => "ping_pong",
            Workload::TcpEcho => "tcp_echo",
        }
    }

    /// Looks a workload up by its name.
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// N in the quick suite (no `--full`, no `-n`).
    ///
    /// Chosen so that the whole quick suite, every runtime with three repetitions, stays under
    /// a minute on a 2-core machine: the Python runtimes are the slowest cells, and every
    /// runtime must run the same N.
    pub fn quick_n(self) -> u64 {
        match self {
            Workload::SleepMany | Workload::SleepSameDeadline => 10_000,
            Workload::TimerChurn | Workload::TimeoutReady => 20_000,
            Workload::Lateness => 1_000,
            Workload::SpawnJoin | Workload::ChainedSpawn => 10_000,
            Workload::YieldMany => 32_000,
            Workload::PingPong => 10_000,
            Workload::TcpEcho => 12_800,
        }
    }

    /// N with `--full`: the sizes of DESIGN.md's performance table (1M tasks for the sleep
    /// workloads and `spawn_join`, 1000 tasks for `lateness`) and 1M operations elsewhere.
    pub fn full_n(self) -> u64 {
        match self {
            Workload::Lateness => 1_000,
            _ => 1_000_000,
        }
    }

    /// What `ns_per_op` means for this workload, for the table and the chart.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::Lateness => "median lateness, ns",
            Workload::PingPong => "ns per round trip",
            Workload::TcpEcho => "ns per 1 KiB TCP round trip",
            Workload::SpawnJoin | Workload::ChainedSpawn => "ns per task",
            Workload::SleepMany | Workload::SleepSameDeadline => "ns per sleeping task",
            Workload::TimerChurn => "ns per create+cancel",
            Workload::TimeoutReady => "ns per timeout",
            Workload::YieldMany => "ns per yield",
        }
    }

    /// The short unit of the table's `unit` column: what one operation is.
    pub fn short_unit(self) -> &'static str {
        match self {
            Workload::Lateness => "ns late (p50)",
            Workload::PingPong => "ns/round trip",
            Workload::TcpEcho => "ns/TCP round trip",
            Workload::SpawnJoin | Workload::ChainedSpawn => "ns/task",
            Workload::SleepMany | Workload::SleepSameDeadline => "ns/task",
            Workload::TimerChurn => "ns/timer",
            Workload::TimeoutReady => "ns/timeout",
            Workload::YieldMany => "ns/yield",
        }
    }

    /// Whether `ns_per_op` is a time per operation, so that its inverse is a throughput
    /// (operations per second): every workload but `lateness`, whose figure is a delay.
    pub fn has_throughput(self) -> bool {
        self != Workload::Lateness
    }

    /// The number of operations a correct cell of size `n` completes, which its `Sample::ops`
    /// must equal: `n` everywhere except `yield_many`, which runs
    /// [`yield_per_task`]`(n)` yields in each of its 64 tasks, and `tcp_echo`, which runs
    /// [`round_trips_per_connection`]`(n)` round trips on each of its 64 connections.
    pub fn expected_ops(self, n: u64) -> u64 {
        match self {
            Workload::YieldMany => YIELD_TASKS * yield_per_task(n),
            Workload::TcpEcho => TCP_CONNECTIONS * round_trips_per_connection(n),
            _ => n,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The yields each of `yield_many`'s 64 tasks makes: N/64, but at least one, so a tiny N still
/// measures something.
pub fn yield_per_task(n: u64) -> u64 {
    (n / YIELD_TASKS).max(1)
}

/// The round trips each of `tcp_echo`'s 64 connections makes: N/64, but at least one.
pub fn round_trips_per_connection(n: u64) -> u64 {
    (n / TCP_CONNECTIONS).max(1)
}

/// The first `tcp_echo` message of connection `conn`: its first 8 bytes are stamped with the
/// round trip by [`stamp_message`], the other 1016 are the connection's number (low byte), so
/// a reply that comes back on the wrong connection or from the wrong round trip differs.
pub fn echo_message(conn: u64) -> Vec<u8> {
    let mut msg = vec![conn as u8; TCP_MESSAGE];
    stamp_message(&mut msg, conn, 0);
    msg
}

/// Stamps `msg` for round trip `round` of connection `conn`: its first 8 bytes become
/// `conn << 32 | round`, little-endian. The Python script stamps the same bytes.
pub fn stamp_message(msg: &mut [u8], conn: u64, round: u64) {
    msg[..8].copy_from_slice(&((conn << 32) | (round & 0xFFFF_FFFF)).to_le_bytes());
}

/// The bytes `tcp_echo`'s server tasks must have echoed in all: every round trip's message.
pub fn echo_bytes(n: u64) -> u64 {
    Workload::TcpEcho.expected_ops(n) * TCP_MESSAGE as u64
}

/// The sum `spawn_join` must find: the task indices `0 + 1 + ... + (n - 1)`.
pub fn index_sum(n: u64) -> u64 {
    // u128 so that no N a u64 can hold overflows the product.
    (u128::from(n) * u128::from(n.saturating_sub(1)) / 2) as u64
}

/// What a runner is handed for one cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The workload's size.
    pub n: u64,
    /// The seed of the duration generator.
    pub seed: u64,
}

/// What one cell measured, as the child prints it (one JSON object on one line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Operations completed, counted by the workload itself; must equal
    /// [`Workload::expected_ops`].
    pub ops: u64,
    /// Wall time of the workload body, from before the first spawn to after the last
    /// completion; runtime construction and teardown are outside it.
    pub wall_ns: u64,
    /// For `lateness` only: each task's wake time minus its deadline, in nanoseconds;
    /// negative for a wake-up before the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lateness_ns: Option<Vec<i64>>,
}

impl Sample {
    /// A sample of `ops` operations that took `wall`.
    pub fn new(ops: u64, wall: Duration) -> Sample {
        Sample {
            ops,
            wall_ns: duration_ns(wall),
            lateness_ns: None,
        }
    }

    /// Checks the sample against the workload's expected count; the error says what was
    /// expected and what came back.
    pub fn check(&self, workload: Workload, params: &Params) -> Result<(), String> {
        let want = workload.expected_ops(params.n);
        if self.ops != want {
            return Err(format!(
                "{workload} with n={}: {} operations completed, expected {want}",
                params.n, self.ops
            ));
        }
        if workload == Workload::Lateness {
            match &self.lateness_ns {
                Some(v) if v.len() as u64 == params.n => {}
                Some(v) => {
                    return Err(format!(
                        "lateness with n={}: {} wake times recorded",
                        params.n,
                        v.len()
                    ))
                }
                None => return Err("lateness: the sample carries no wake times".into()),
            }
        }
        Ok(())
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (584 years).
pub fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How late a wake-up at `woke` was for `deadline`, in nanoseconds: negative when the timer
/// fired early (which a correct runtime never does, and the report counts).
pub fn lateness_ns(deadline: std::time::Instant, woke: std::time::Instant) -> i64 {
    match woke.checked_duration_since(deadline) {
        Some(late) => i64::try_from(late.as_nanos()).unwrap_or(i64::MAX),
        None => -i64::try_from((deadline - woke).as_nanos()).unwrap_or(i64::MAX),
    }
}

/// SplitMix64 (Steele, Lea and Flood; Vigna's reference constants): a tiny generator whose
/// whole state is one `u64`, so the Python script can repeat it exactly.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The `n` sleep durations of `sleep_many`: duration i is `next() % 50_000` microseconds of a
/// SplitMix64 seeded with `seed`. (The modulo's slight bias towards small values does not
/// matter here: every runtime gets the same list.)
pub fn durations(seed: u64, n: u64) -> Vec<Duration> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| Duration::from_micros(rng.next_u64() % MAX_SLEEP_US))
        .collect()
}

/// The `p`-th percentile (0 to 100) of `sorted` by the nearest-rank method, or 0 when empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_outputs() {
        // The first outputs of Vigna's splitmix64.c seeded with 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821,
            ]
        );
    }

    #[test]
    fn durations_are_below_fifty_ms_and_repeat_for_a_seed() {
        let a = durations(DEFAULT_SEED, 1000);
        assert_eq!(a, durations(DEFAULT_SEED, 1000));
        assert_ne!(a, durations(DEFAULT_SEED + 1, 1000));
        assert!(a.iter().all(|d| *d < Duration::from_millis(50)));
        // Spread over the range, not stuck at one value.
        assert!(a.iter().any(|d| *d < Duration::from_millis(5)));
        assert!(a.iter().any(|d| *d > Duration::from_millis(45)));
    }

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
        assert_eq!(Workload::from_name("sleep"), None);
    }

    #[test]
    fn expected_ops_and_sums() {
        assert_eq!(Workload::SleepMany.expected_ops(10), 10);
        assert_eq!(Workload::YieldMany.expected_ops(640), 640);
        assert_eq!(Workload::YieldMany.expected_ops(700), 640);
        assert_eq!(Workload::YieldMany.expected_ops(1), 64);
        assert_eq!(Workload::TcpEcho.expected_ops(12_800), 12_800);
        assert_eq!(Workload::TcpEcho.expected_ops(200), 192);
        assert_eq!(Workload::TcpEcho.expected_ops(1), 64);
        assert_eq!(echo_bytes(128), 128 * 1024);
        assert_eq!(index_sum(0), 0);
        assert_eq!(index_sum(1), 0);
        assert_eq!(index_sum(4), 6);
        assert_eq!(index_sum(1_000_000), 499_999_500_000);
    }

    #[test]
    fn echo_messages_differ_by_connection_and_round() {
        let mut a = echo_message(3);
        assert_eq!(a.len(), TCP_MESSAGE);
        assert_eq!(&a[..8], &(3u64 << 32).to_le_bytes());
        assert!(a[8..].iter().all(|&b| b == 3));
        let first = a.clone();
        stamp_message(&mut a, 3, 1);
        assert_ne!(a, first);
        assert_eq!(a[8..], first[8..]);
        assert_ne!(echo_message(4), first);
    }

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile::<i64>(&[], 50.0), 0);
        assert_eq!(percentile(&[-5i64, 3], 50.0), -5);
        assert_eq!(percentile(&[7], 90.0), 7);
    }

    #[test]
    fn lateness_is_signed() {
        let t = std::time::Instant::now();
        let ms = Duration::from_millis(1);
        assert_eq!(lateness_ns(t, t + ms), 1_000_000);
        assert_eq!(lateness_ns(t + ms, t), -1_000_000);
        assert_eq!(lateness_ns(t, t), 0);
    }

    #[test]
    fn check_rejects_a_lost_task() {
        let p = Params { n: 10, seed: 1 };
        let ok = Sample::new(10, Duration::from_millis(1));
        assert!(ok.check(Workload::SpawnJoin, &p).is_ok());
        let lost = Sample::new(9, Duration::from_millis(1));
        let err = lost.check(Workload::SpawnJoin, &p).unwrap_err();
        assert!(err.contains("9 operations completed, expected 10"), "{err}");
        // lateness needs one wake time per task.
        let mut s = Sample::new(10, Duration::from_millis(1));
        assert!(s.check(Workload::Lateness, &p).is_err());
        s.lateness_ns = Some(vec![0; 10]);
        assert!(s.check(Workload::Lateness, &p).is_ok());
    }
}
