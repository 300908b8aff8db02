#!/usr/bin/env bash
# Regenerates every figure BENCHMARKS.md quotes, one part after another, and writes each
# part's output (its commands and the programs' RESULT lines) to OUT_DIR/NAME.md, with the load
# average at its start.
#
#   bash scripts/bench-all.sh [OUT_DIR] [NAME...]     OUT_DIR defaults to bench-out/all
#
# NAME picks some of the parts below (default: all), named as in BENCHMARKS.md's summary table:
#   engine random-bits comparison malicious            the engine (`mpc`), in memory and QUIC
#   upload stats dp median memory settlement matching  protocols, engine in memory
#   cluster-stats cluster-security cluster-auction cluster-jobs cluster-scale latency chaos
#                                                      a coordinator and 3 workers on loopback
#   simulator                                          virtual time
# The whole set takes hours on a 2-core machine (the cluster auction uploads 1,200 curves, the
# 31-party simulations and the 10^6-row MEDIAN take minutes each, the chaos campaigns about
# 5 minutes a seed); run it on a quiet machine. Some parts need more memory than a shared
# machine gives a benchmark: `memory` (10^7 rows in one process: 3.7 GB) and `cluster-scale`
# (three workers of up to 1.7 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out/all}
shift || true
mkdir -p "$out"

engine()          { bash scripts/engine-bench.sh; }
random-bits()     { bash scripts/random-bits-bench.sh; }
comparison()      { bash scripts/comparison-cost-bench.sh; }
upload()          { bash scripts/upload-bench.sh; }
# Prints a command as Markdown shows it, with the load, then runs it.
show() {
    echo "\$ $*   # load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$@"
}
throughput() { show cargo run --release -q -p mpc --example throughput -- "$@"; }
stats_bench() { show cargo run --release -q -p protocols --example stats_bench -- "$@"; }
malicious() {
    # Each level beside the other, as BENCHMARKS.md's "Malicious level" quotes them.
    for p in grr dn07; do
        for s in semi-honest malicious; do
            throughput --parties 3 --op mul --n 1000000 --protocol $p --security $s
        done
    done
    throughput --parties 3 --op lt --n 100000 --chunk 25000 --protocol grr --randomness dealt \
        --security semi-honest
    for p in grr dn07; do
        throughput --parties 3 --op lt --n 100000 --chunk 25000 --protocol $p --security malicious
    done
    throughput --parties 3 --op lt --n 100000 --chunk 25000 --protocol grr --randomness dealt \
        --security malicious
    # The owners' input check in memory.
    stats_bench 10000 avg_stddev grr malicious
    stats_bench 10000 avg_stddev grr semi-honest
    # The level in the simulated benchmark matrix (virtual time).
    show cargo run --release -q -- bench --parties 3 --ops mul,lt --protocol grr,dn07 \
        --network lan,wan --security semi-honest,malicious --batch 1000
}
stats() {
    stats_bench 1000000 avg_stddev
    stats_bench 100000 groupby8_where_avg,groupby8_where_sums
}
dp() {
    for _ in 1 2 3; do
        stats_bench 100000 avg_stddev grr
        stats_bench 100000 avg_stddev grr 1
    done
    stats_bench 100000 groupby8_where_sums grr
    stats_bench 100000 groupby8_where_sums grr 1
}
median() {
    for selection in binary quaternary; do
        show /usr/bin/time -f "cpu_user_s=%U cpu_sys_s=%S wall_s=%e max_rss_kb=%M" \
            cargo run --release -q -p protocols --example stats_bench -- 100000 median grr \
            "$selection"
    done
    stats_bench 100000 percentile90
    stats_bench 100000 groupby8_where_median
}
memory() {
    show cargo run -q -p protocols --example where_cost -- 1 9000
    show cargo run -q -p protocols --example where_cost -- 4 4000
    for args in "100000 63 3" "100000 63 5 dn07" "10000 48 3" "10000 48 7" "100000 32 3" \
        "1000000 32 3" "10000000 32 3"; do
        # shellcheck disable=SC2086
        show /usr/bin/time -f "wall_s=%e max_rss_kb=%M" \
            cargo run --release -q -p protocols --example stats_at_size -- $args
    done
}
settlement() {
    for args in "100 10000" "100 10000 grr hidden" "100 1000 grr" "100 100000 grr"; do
        # shellcheck disable=SC2086
        show cargo run --release -q -p protocols --example settlement_bench -- $args
    done
}
matching() {
    for args in "auction 1200 4000" "orders 10000 64" "records 100000 2"; do
        for p in grr dn07; do
            # shellcheck disable=SC2086
            show cargo run --release -q -p protocols --example matching_bench -- $args $p
        done
    done
    show cargo run --release -q -p protocols --example matching_bench -- orders 10000 2 grr
}
cluster-stats()   { bash scripts/cluster-stats-bench.sh grr; }
cluster-auction() { bash scripts/cluster-auction-bench.sh 1200 4000; }
cluster-jobs()    { bash scripts/cluster-jobs-bench.sh grr; }
cluster-security() {
    for s in semi-honest malicious; do bash scripts/cluster-stats-bench.sh grr $s 10000; done
    for s in semi-honest malicious; do bash scripts/cluster-auction-bench.sh 100 200 $s; done
}
cluster-scale() {
    # AVG, STDDEV_SAMP over 10^7 rows (the cap raised as in the quoted run), then MEDIAN over
    # 10^6 rows at the default limits.
    JOB_MEMORY_MIB=32768 bash scripts/cluster-scale-bench.sh grr 1000000 0
    bash scripts/cluster-scale-bench.sh grr 1000 100000
}
latency()         { bash scripts/latency-bench.sh 10; }
chaos() {
    for seed in 1 2 3; do
        QUORATE_CHAOS_FAULTS=100 QUORATE_CHAOS_SEED=$seed \
            cargo test -q -p quorate --test chaos -- --nocapture 2>&1 | grep '^RESULT'
    done
    cargo test -q -p quorate --test faults_e2e a_worker_stopped -- --nocapture 2>&1 |
        grep '^RESULT'
}
simulator() {
    local sim=(cargo run --release -q -p simulations --example)
    mkdir -p "$out/simulator"
    bash simulations/scripts/bench-notes.sh "$out/simulator"
    show "${sim[@]}" simulate -- simulations/scenarios/measure/mul-31-100k.toml
    show "${sim[@]}" bench -- --parties 3 --ops lt --protocols grr,dn07 --randomness dealt,prss \
        --networks wan --batch 20000
    show "${sim[@]}" bench -- --parties 3 --ops lt --protocols grr,dn07 --randomness prss \
        --networks wan --batch 100000
    show "${sim[@]}" bench -- --jobs auction:1200x4000,stats:100000 --parties 3 --networks lan \
        --sites frankfurt+ireland+virginia --out "$out/simulator/jobs"
    show "${sim[@]}" simulate -- simulations/scenarios/auction-3-regions.toml \
        --out "$out/simulator/auction-3-regions"
    show "${sim[@]}" simulate -- simulations/scenarios/settlement-crash.toml
    show "${sim[@]}" bench -- --jobs stats:100000 --parties 31 --networks lan
    # The same 31 workers across three regions (party i at sites[i mod 3]).
    local regions="$out/simulator/large-31-stats-3-regions.toml"
    sed -e 's/^\[network\]$/[network]\nsites = ["frankfurt", "ireland", "virginia"]\nsite_bandwidth_mbps = 1000.0/' \
        simulations/scenarios/large-31-stats.toml > "$regions"
    show "${sim[@]}" simulate -- "$regions"
    show "${sim[@]}" bench -- --jobs auction:12x400 --parties 31 --networks lan --protocols dn07
    show "${sim[@]}" job_speed -- simulations/scenarios/payroll-groupby-7.toml
    # The model against a real cluster: rounds and bytes of the same auction sizes.
    for size in "12 40" "1200 4000"; do
        # shellcheck disable=SC2086
        bash scripts/cluster-auction-bench.sh $size
        show "${sim[@]}" bench -- --jobs "auction:${size/ /x}" --parties 3 --networks lan \
            --protocols grr --out "$out/simulator/auction-${size/ /x}"
        grep -rhoE '"compute_(rounds|bytes)": ?[0-9]+' "$out/simulator/auction-${size/ /x}" || true
    done
    show "${sim[@]}" simulate -- simulations/scenarios/measure/auction-lan-measured.toml
}

all=(engine random-bits comparison malicious upload stats dp median memory settlement matching
    cluster-stats cluster-security cluster-auction cluster-jobs cluster-scale latency chaos
    simulator)
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
