//! The asyncio tutorial's examples, run as tests: each program's body (from
//! `examples/src/tutorial/`) runs on a virtual clock, so the seconds it sleeps pass at once,
//! and every line it prints is checked, with its order and the virtual time it was printed at.
//!
//! The bodies are compiled into this test as they are (`#[path]`), since they depend on
//! nothing but `ringloop`: no dev-dependency on the examples crate is needed.
//!
//! Where two lines come from sleeps that end at the same instant, the loop promises no order
//! between them (asyncio does not either): such lines are compared as a set, at their time.

#[path = "../../examples/src/tutorial/mod.rs"]
mod tutorial;

use ringloop::{Builder, Flavor, Runtime};
use tutorial::console::Console;

const FLAVORS: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread];

/// A builder for a virtual-clock runtime of `flavor` (two workers for multi-thread).
fn virtual_builder(flavor: Flavor) -> Builder {
    Builder::new_multi_thread()
        .flavor(flavor)
        .worker_threads(2)
        .virtual_time(true)
}

fn virtual_rt(flavor: Flavor) -> Runtime {
    virtual_builder(flavor).build().unwrap()
}

/// What a program printed, as (milliseconds since its first line, line).
fn printed(console: &Console) -> Vec<(u128, String)> {
    console
        .lines()
        .into_iter()
        .map(|(at, line)| (at.as_millis(), line))
        .collect()
}

fn owned(expected: &[(u128, &str)]) -> Vec<(u128, String)> {
    expected
        .iter()
        .map(|(ms, line)| (*ms, line.to_string()))
        .collect()
}

/// Splits a timeline into runs of lines printed at the same time, each run sorted.
fn by_instant(lines: &[(u128, String)]) -> Vec<(u128, Vec<String>)> {
    let mut groups: Vec<(u128, Vec<String>)> = Vec::new();
    for (ms, line) in lines {
        match groups.last_mut() {
            Some((at, group)) if at == ms => group.push(line.clone()),
            _ => groups.push((*ms, vec![line.clone()])),
        }
    }
    for (_, group) in &mut groups {
        group.sort();
    }
    groups
}

/// Asserts the program printed `expected` at exactly those virtual times, in that order except
/// between lines of the same instant.
fn assert_timeline(console: &Console, expected: &[(u128, &str)], context: &str) {
    let got = printed(console);
    assert_eq!(
        by_instant(&got),
        by_instant(&owned(expected)),
        "{context}: printed {got:#?}"
    );
}

#[test]
fn sequential_prints_hello_after_abc_returned() {
    let console = Console::recording();
    tutorial::sequential::main(&console);
    assert_eq!(printed(&console), owned(&[(0, "Hello")]));
}

#[test]
fn never_awaited_shows_the_future_and_never_runs_its_body() {
    let console = Console::recording();
    tutorial::never_awaited::main(&console);
    let texts = console.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].starts_with("<future "), "{}", texts[0]);
    assert!(texts[0].contains("never_awaited::hello"), "{}", texts[0]);
    assert!(texts[0].ends_with("never polled>"), "{}", texts[0]);
    assert!(!texts.iter().any(|t| t == "Hello"));
}

#[test]
fn welcome_prints_welcome() {
    for flavor in FLAVORS {
        let console = Console::recording();
        virtual_rt(flavor).block_on(tutorial::welcome::main(console.clone()));
        assert_eq!(printed(&console), owned(&[(0, "Welcome")]), "{flavor:?}");
    }
    // And as the example runs it: `ringloop::run`, real clock, printing.
    let console = Console::stdout();
    ringloop::run(tutorial::welcome::main(console.clone()));
    assert_eq!(console.texts(), ["Welcome"]);
}

#[test]
fn new_name_prints_harry_two_seconds_later() {
    for flavor in FLAVORS {
        let console = Console::recording();
        virtual_rt(flavor).block_on(tutorial::new_name::main(console.clone()));
        // One coroutine: the order is exact, same-instant lines included.
        assert_eq!(
            printed(&console),
            owned(&[
                (0, "old name is John"),
                (2000, "new name is :"),
                (2000, "Harry"),
            ]),
            "{flavor:?}"
        );
    }
}

#[test]
fn two_coroutines_interleave_as_the_tutorial_lists() {
    // The tutorial's listing, with the time of each line; at 3 s and 6 s both coroutines wake
    // at once and either order is right.
    let listing = [
        (0, "cor 2 started"),
        (0, "cor 1 started"),
        (1000, "cor2 0"),
        (1500, "cor1 0"),
        (2000, "cor2 1"),
        (3000, "cor2 2"),
        (3000, "cor1 1"),
        (4000, "cor2 3"),
        (4500, "cor1 2"),
        (5000, "cor2 4"),
        (6000, "cor1 3"),
        (6000, "cor2 5"),
        (7000, "cor2 6"),
        (7500, "cor1 4"),
        (8000, "cor2 7"),
    ];
    for flavor in FLAVORS {
        let console = Console::recording();
        tutorial::two_coroutines::main(&console, &virtual_builder(flavor)).unwrap();
        assert_timeline(&console, &listing, &format!("{flavor:?}"));
        if flavor == Flavor::CurrentThread {
            // One thread: the tasks start in the order they were given to the loop.
            assert_eq!(console.texts()[..2], ["cor 2 started", "cor 1 started"]);
        }
    }
}

/// Seconds since midnight of an `HH:MM:SS` string.
fn seconds_of_day(hms: &str) -> u64 {
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3, "{hms}");
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

#[test]
fn create_task_runs_both_tasks_in_one_second_not_two() {
    for flavor in FLAVORS {
        let console = Console::recording();
        virtual_rt(flavor).block_on(tutorial::create_task::main(console.clone()));
        let got = printed(&console);
        let texts = console.texts();
        assert_eq!(got.len(), 4, "{flavor:?}: {got:#?}");
        let started = texts
            .iter()
            .find_map(|t| t.strip_prefix("started at "))
            .unwrap();
        let finished = texts[3].strip_prefix("finished at ").unwrap();
        // Exactly one (virtual) second, on the printed wall clock too.
        assert_eq!(
            (seconds_of_day(finished) + 86_400 - seconds_of_day(started)) % 86_400,
            1,
            "{flavor:?}: {texts:?}"
        );
        let expected = [
            (0, format!("started at {started}")),
            (0, "task 1".to_string()),
            (0, "task 2".to_string()),
            (1000, format!("finished at {finished}")),
        ];
        let expected: Vec<(u128, &str)> = expected.iter().map(|(t, s)| (*t, s.as_str())).collect();
        if flavor == Flavor::CurrentThread {
            // asyncio's model: creating a task does not run it; main prints first.
            assert_eq!(got, owned(&expected));
        } else {
            assert_timeline(&console, &expected, "multi-thread");
        }
    }
}

#[test]
fn gather_wait_for_prints_every_half_second_until_time_over() {
    for flavor in FLAVORS {
        let console = Console::recording();
        let rt = virtual_rt(flavor);
        rt.block_on(tutorial::gather_wait_for::main(console.clone()));
        let got = printed(&console);
        // Every printer left its loop on the cancellation: nothing is left running, and
        // nothing more is printed however long the loop goes on (a finished task may take a
        // moment to leave the task list on a worker thread).
        let handle = rt.handle().clone();
        rt.block_on(async move {
            for _ in 0..100 {
                if handle.num_tasks() == 0 {
                    break;
                }
                ringloop::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(handle.num_tasks(), 0, "{flavor:?}");
            ringloop::sleep(std::time::Duration::from_secs(5)).await;
        });
        assert_eq!(
            printed(&console),
            got,
            "{flavor:?}: printed after Time over"
        );
        let mut expected = Vec::new();
        for round in 0..6 {
            for line in ["A Message", "B Calling", "C Meeting"] {
                expected.push((round * 500, line));
            }
        }
        // At 3 s a printer's sixth sleep and the timeout end together: a printer may print
        // once more at 3 s before it is cancelled (see the example's doc), never later.
        let extra: Vec<(u128, &str)> = got[expected.len()..got.len() - 1]
            .iter()
            .map(|(t, s)| (*t, s.as_str()))
            .collect();
        assert!(extra.len() <= 3, "{flavor:?}: {got:#?}");
        for (t, line) in &extra {
            assert_eq!(*t, 3000, "{flavor:?}: {got:#?}");
            assert!(["A Message", "B Calling", "C Meeting"].contains(line));
        }
        expected.extend(extra);
        expected.push((3000, "Time over"));
        assert_timeline(&console, &expected, &format!("{flavor:?}"));
        assert_eq!(got.last().unwrap().1, "Time over");
        if flavor == Flavor::CurrentThread {
            // One thread: each round prints in the order the printers were gathered.
            let first: Vec<String> = console.texts()[..3].to_vec();
            assert_eq!(first, ["A Message", "B Calling", "C Meeting"]);
        }
    }
}
