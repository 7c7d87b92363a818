#!/usr/bin/env bash
# Instructions per operation, ringloop against tokio, from callgrind (issue 4).
#
#   benches/insn.sh                                  # every workload below, both runtimes
#   benches/insn.sh yield_many,spawn_join            # some workloads
#   RUNTIMES=ringloop-epoll-ct benches/insn.sh yield_many
#   KEEP=1 benches/insn.sh yield_many                # keep the callgrind files (for
#                                                    # callgrind_annotate) in $OUT
#
# Each (runtime, workload) runs twice under `valgrind --tool=callgrind`, at N and 2N, in the
# `insn` binary (one cell in one process, the bodies of ringloop-bench). Ir/op is
# (Ir(2N) - Ir(N)) / (ops(2N) - ops(N)): building and dropping the runtime cancels out.
# Instruction counts are the same on a loaded and an idle machine, unlike wall time; they are
# not nanoseconds (a cache miss or an atomic read-modify-write costs far more than an add).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOADS="${1:-spawn_join,yield_many,timer_churn,ping_pong,chained_spawn}"
RUNTIMES="${RUNTIMES:-ringloop-epoll-ct,tokio-ct}"
OUT="${OUT:-${CARGO_TARGET_DIR:-target}/insn}"
mkdir -p "$OUT"
cargo build --release --quiet -p ringloop-bench --bin insn
BIN="${CARGO_TARGET_DIR:-target}/release/insn"

# N per workload (the smaller of the two sizes); yield_many's are multiples of its 64 tasks.
base_n() {
    case "$1" in
        yield_many) echo 64000 ;;
        *) echo 20000 ;;
    esac
}

# Runs one cell under callgrind; prints "<Ir> <ops>".
measure() {
    local rt=$1 w=$2 n=$3
    local file="$OUT/callgrind.$rt.$w.$n"
    local ops
    ops=$(valgrind --tool=callgrind --callgrind-out-file="$file" "$BIN" "$rt" "$w" "$n" \
        2>"$file.log" | awk '$1 == "ops" { print $2 }')
    if [ -z "$ops" ]; then
        echo "insn.sh: $rt $w $n failed; see $file.log" >&2
        exit 1
    fi
    local ir
    ir=$(awk '$1 == "summary:" || $1 == "totals:" { print $2; exit }' "$file")
    [ -n "${KEEP:-}" ] || rm -f "$file" "$file.log"
    echo "$ir $ops"
}

printf '%-16s %-20s %12s\n' workload runtime Ir/op
IFS=, read -ra ws <<<"$WORKLOADS"
IFS=, read -ra rts <<<"$RUNTIMES"
for w in "${ws[@]}"; do
    n=$(base_n "$w")
    for rt in "${rts[@]}"; do
        first=$(measure "$rt" "$w" "$n")
        second=$(measure "$rt" "$w" "$((2 * n))")
        read -r ir1 ops1 <<<"$first"
        read -r ir2 ops2 <<<"$second"
        awk -v w="$w" -v rt="$rt" -v a="$ir1" -v b="$ir2" -v p="$ops1" -v q="$ops2" \
            'BEGIN { printf "%-16s %-20s %12.1f\n", w, rt, (b - a) / (q - p) }'
    done
done
