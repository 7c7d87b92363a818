//! The Python rows: `asyncio` (the standard library's default event loop) and `uvloop`
//! (libuv's loop, when `import uvloop` works), through the bundled `asyncio_bench.py`.
//!
//! The script is compiled into this binary (`include_str!`) and fed to
//! `python3 - --loop asyncio --workload W -n N --seed S` on stdin, so the command needs no
//! file beside it. The `--cell` child that calls [`Runner::run`] here waits for the interpreter,
//! so the parent's `wait4` on the child sees the interpreter's peak RSS too (Linux folds a
//! waited-for grandchild's `maxrss` into the child's).
//!
//! The interpreter is `$RINGLOOP_BENCH_PYTHON` if set, else `python3` from `PATH`, resolved once
//! to its real executable (`sys.executable`) so that a version-manager shim in front of it
//! (pyenv's adds a fifth of a second) is not paid on every cell. The suite resolves it once and
//! hands the path to its cells in `RINGLOOP_BENCH_PYTHON_RESOLVED`.

use std::io::{self, Write};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::Runner;
use crate::workload::{Params, Sample, Workload};

/// The bundled script, the same file `python3 benches/asyncio_bench.py` runs by hand.
pub const SCRIPT: &str = include_str!("../../asyncio_bench.py");

/// The environment variable that names the interpreter to use instead of `python3`.
pub const PYTHON_ENV: &str = "RINGLOOP_BENCH_PYTHON";

/// One Python event loop.
pub struct Python {
    uvloop: bool,
}

/// `asyncio` and `uvloop`.
pub fn runners() -> Vec<Box<dyn Runner>> {
    vec![
        Box::new(Python { uvloop: false }),
        Box::new(Python { uvloop: true }),
    ]
}

/// Where the suite hands its resolved interpreter down to the cells (internal to the command).
const RESOLVED_ENV: &str = "RINGLOOP_BENCH_PYTHON_RESOLVED";

/// The environment a cell needs so that it does not resolve the interpreter again: empty when
/// there is no interpreter.
pub fn resolved_env() -> Vec<(&'static str, String)> {
    interpreter()
        .map(|path| vec![(RESOLVED_ENV, path)])
        .unwrap_or_default()
}

/// The interpreter's real path, or why there is none.
pub fn interpreter() -> Result<String, String> {
    static FOUND: OnceLock<Result<String, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Ok(path) = std::env::var(RESOLVED_ENV) {
                return Ok(path);
            }
            let named = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".into());
            let out = Command::new(&named)
                .args(["-c", PROBE])
                .output()
                .map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => format!(
                        "no {named} found (install Python 3.7 or later, or set {PYTHON_ENV})"
                    ),
                    _ => format!("cannot run {named}: {e}"),
                })?;
            if !out.status.success() {
                return Err(format!(
                    "{named} cannot import asyncio: {}",
                    last_line(&out.stderr)
                ));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let mut lines = stdout.lines().map(str::trim);
            let path = lines.next().unwrap_or("").to_string();
            let version = lines.next().unwrap_or("");
            check_version(&named, version)?;
            Ok(if path.is_empty() { named } else { path })
        })
        .clone()
}

/// What the interpreter is asked before it is used: its real path, then its version.
const PROBE: &str =
    "import asyncio, sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])";

/// The oldest Python the script runs on: it needs `asyncio.run` (3.7).
const MIN_PYTHON: (u32, u32) = (3, 7);

/// Checks the `major.minor` the probe printed against [`MIN_PYTHON`].
fn check_version(named: &str, version: &str) -> Result<(), String> {
    let parsed = version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if v >= MIN_PYTHON => Ok(()),
        Some(_) => Err(format!(
            "{named} is Python {version}; the bundled script needs {}.{} or later \
             (set {PYTHON_ENV} to a newer interpreter)",
            MIN_PYTHON.0, MIN_PYTHON.1
        )),
        None => Err(format!("{named} reported no version ({version:?})")),
    }
}

/// The last non-empty line of a process's output, for error messages.
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
        .to_string()
}

impl Python {
    fn loop_name(&self) -> &'static str {
        if self.uvloop {
            "uvloop"
        } else {
            "asyncio"
        }
    }
}

impl Runner for Python {
    fn id(&self) -> &'static str {
        self.loop_name()
    }

    fn available(&self) -> Result<(), String> {
        let python = interpreter()?;
        if self.uvloop {
            let out = Command::new(&python)
                .args(["-c", "import uvloop"])
                .output()
                .map_err(|e| format!("cannot run {python}: {e}"))?;
            if !out.status.success() {
                return Err(format!("{python}: {}", last_line(&out.stderr)));
            }
        }
        Ok(())
    }

    fn run(&self, workload: Workload, params: &Params) -> Result<Sample, String> {
        let python = interpreter()?;
        let n = params.n.to_string();
        let seed = params.seed.to_string();
        let args = ["--loop", self.loop_name(), "--workload", workload.name()];
        let out = run_script(&python, &args, &["-n", &n, "--seed", &seed])
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the Python script failed ({}): {}",
                out.status,
                last_line(&out.stderr)
            ));
        }
        let line = last_line(&out.stdout);
        serde_json::from_str(&line)
            .map_err(|e| format!("the Python script printed {line:?}, not a sample: {e}"))
    }
}

/// Runs the bundled script as `python - ARGS...`, feeding it on stdin (a `-c` argument would
/// put the whole script in every `ps` line), and collects its output.
fn run_script(python: &str, args: &[&str], more: &[&str]) -> io::Result<Output> {
    let mut child = Command::new(python)
        .arg("-")
        .args(args)
        .args(more)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The script (a few KiB) fits in the pipe's buffer, so this write cannot wait on the
    // child; dropping the handle closes the pipe, which is the end of the script.
    let written = child
        .stdin
        .take()
        .map(|mut s| s.write_all(SCRIPT.as_bytes()));
    let out = child.wait_with_output()?;
    match written {
        // A failed write matters only if the interpreter then claims success; otherwise its
        // own stderr says more than EPIPE would.
        Some(Err(e)) if out.status.success() => Err(e),
        _ => Ok(out),
    }
}

/// The first `k` durations (microseconds) as the Python script draws them for `seed`.
pub fn script_durations_us(seed: u64, k: u64) -> Result<Vec<u64>, String> {
    let python = interpreter()?;
    let (seed, k) = (seed.to_string(), k.to_string());
    let out = run_script(&python, &["--seed", &seed], &["--durations", &k])
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(last_line(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().map_err(|e| format!("{l:?}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload;

    #[test]
    fn python_draws_the_same_durations_as_rust() {
        if let Err(why) = interpreter() {
            eprintln!("skipping: {why}");
            return;
        }
        for seed in [workload::DEFAULT_SEED, 1, u64::MAX] {
            let rust: Vec<u64> = workload::durations(seed, 500)
                .iter()
                .map(|d| d.as_micros() as u64)
                .collect();
            assert_eq!(script_durations_us(seed, 500).unwrap(), rust, "seed {seed}");
        }
    }

    #[test]
    fn old_or_odd_interpreters_are_refused_with_the_reason() {
        assert!(check_version("python3", "3.7").is_ok());
        assert!(check_version("python3", "3.13").is_ok());
        assert!(check_version("python3", "4.0").is_ok());
        let e = check_version("python3", "3.6").unwrap_err();
        assert!(e.contains("python3 is Python 3.6"), "{e}");
        assert!(e.contains("needs 3.7 or later"), "{e}");
        assert!(e.contains(PYTHON_ENV), "{e}");
        assert!(check_version("python3", "2.7").is_err());
        assert!(check_version("python3", "").is_err());
    }

    #[test]
    fn a_script_failure_comes_back_as_an_error() {
        if interpreter().is_err() {
            return;
        }
        // -n 0 is refused by the script; the runner must say so, not panic.
        let err = Python { uvloop: false }
            .run(Workload::SpawnJoin, &Params { n: 0, seed: 1 })
            .unwrap_err();
        assert!(err.contains("-n must be at least 1"), "{err}");
    }
}
