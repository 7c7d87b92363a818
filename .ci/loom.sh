#!/usr/bin/env bash
# loom models of the concurrency protocols: the reactor's wake state word, the runtime's task
# state word, and the park/unpark and idle protocol of the multi-thread scheduler.
set -euo pipefail
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
cargo test -p ringloop-reactor --release --lib -- waker
cargo test -p ringloop --release --lib -- loom
