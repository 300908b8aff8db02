#!/usr/bin/env bash
# Regenerates every figure of BENCHMARKS.md's summary table, one command after another, and
# writes each command's output (Markdown with RESULT lines) to OUT_DIR/NAME.md.
#
#   bash scripts/bench-all.sh [OUT_DIR] [NAME...]     OUT_DIR defaults to bench-out/all
#
# NAME picks some of: engine random-bits comparison upload stats settlement matching
# cluster-stats cluster-auction cluster-jobs latency simulator (default: all). The whole set
# takes hours on a 2-core machine (the cluster auction uploads 1,200 curves; the 31-party
# simulations take minutes each); run it on a quiet machine and record `uptime` with it: the
# load average is written at the top of each file.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out/all}
shift || true
mkdir -p "$out"

engine()          { bash scripts/engine-bench.sh; }
random-bits()     { bash scripts/random-bits-bench.sh; }
comparison()      { bash scripts/comparison-cost-bench.sh; }
upload()          { bash scripts/upload-bench.sh; }
stats() {
    for shapes in "1000000 avg_stddev" "100000 groupby8_where_avg,groupby8_where_sums" \
        "100000 median" "100000 percentile90"; do
        # shellcheck disable=SC2086
        cargo run --release -q -p protocols --example stats_bench -- $shapes
    done
}
settlement() {
    cargo run --release -q -p protocols --example settlement_bench -- 100 10000
    cargo run --release -q -p protocols --example settlement_bench -- 100 10000 grr hidden
}
matching() {
    for args in "auction 1200 4000" "orders 10000 64" "records 100000 2"; do
        for p in grr dn07; do
            # shellcheck disable=SC2086
            cargo run --release -q -p protocols --example matching_bench -- $args $p
        done
    done
}
cluster-stats()   { bash scripts/cluster-stats-bench.sh grr; }
cluster-auction() { bash scripts/cluster-auction-bench.sh 1200 4000; }
cluster-jobs()    { bash scripts/cluster-jobs-bench.sh grr; }
latency()         { bash scripts/latency-bench.sh 10; }
simulator() {
    bash simulations/scripts/bench-notes.sh "$out/simulator"
    cargo run --release -q -p simulations --example bench -- --parties 3 --ops lt \
        --protocols grr,dn07 --randomness prss --networks wan --batch 100000
}

all=(engine random-bits comparison upload stats settlement matching cluster-stats
    cluster-auction cluster-jobs latency simulator)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for name in "${names[@]}"; do
    if ! printf '%s\n' "${all[@]}" | grep -qx -- "$name"; then
        echo "unknown benchmark '$name' (expected one of: ${all[*]})" >&2
        exit 2
    fi
    echo "== $name" >&2
    { echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"; echo; "$name"; } \
        > "$out/$name.md"
done
