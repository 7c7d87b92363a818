#!/usr/bin/env bash
# Miri on the unsafe-bearing and pure-data crates. Optional: skipped, with the reason, when
# the nightly miri component is not installed.
set -uo pipefail
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: SKIPPED: the nightly miri component is not installed (see .ci/setup.sh)"
    exit 0
fi
set -e
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-strict-provenance}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-build"
cargo +nightly miri test -p ringloop-timers
# The task harness, driven by its in-process test scheduler (no reactor: miri cannot run
# epoll or io_uring).
cargo +nightly miri test -p ringloop --lib task::
