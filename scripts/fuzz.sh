#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for a fixed number of executions, one after
# another, and prints one `RESULT fuzz_target=NAME runs=N` line per target.
#
#   scripts/fuzz.sh [RUNS] [TARGET...]     RUNS defaults to 10000000 (10^7); all targets by default
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Built without a
# sanitizer (`-s none`: our crates forbid unsafe code; what we look for is a panic, an
# overflow, a hang or a runaway allocation) and with debug assertions (`-a`), so arithmetic
# overflow panics. Each target starts from fuzz/seeds/TARGET (committed) and grows
# fuzz/corpus/TARGET (not committed). A crash stops the script; its input is in
# fuzz/artifacts/TARGET: keep it as a regression test in the crate's ordinary tests.
# Environment: FUZZ_MAX_LEN (default 8192), FUZZ_RSS_MB (default 2048), FUZZ_MAX_SECONDS (a
# time limit per target, default none: a target stopped by it reports the executions reached).
set -euo pipefail

RUNS=${1:-10000000}
shift || true
cd "$(dirname "$0")/../fuzz"

FLAGS=(-s none -a)
cargo +nightly fuzz build "${FLAGS[@]}"
if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

mkdir -p logs
for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    log="logs/$target.log"
    start=$(date +%s)
    cargo +nightly fuzz run "${FLAGS[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -runs="$RUNS" -max_len="${FUZZ_MAX_LEN:-8192}" -timeout=10 \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -max_total_time="${FUZZ_MAX_SECONDS:-0}" \
        -print_final_stats=1 >"$log" 2>&1 || {
        echo "fuzz target $target failed: see fuzz/$log and fuzz/artifacts/$target" >&2
        tail -n 40 "$log" >&2
        exit 1
    }
    secs=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")
    echo "RESULT fuzz_target=$target runs=$execs seconds=$secs cov=$cov crashes=0"
done
