#!/usr/bin/env bash
# loom models of the runtime's concurrency protocols (task state word, wake/park).
set -euo pipefail
if ! grep -rq 'cfg(loom)' runtime/src 2>/dev/null; then
    echo "loom: SKIPPED: no loom models in the runtime yet"
    exit 0
fi
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="target/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
cargo test -p ringloop --release --lib -- loom
