#!/usr/bin/env bash
# Regenerates every figure BENCHMARKS.md quotes, one part after another, and writes each
# part's output (its commands and the programs' RESULT lines) to OUT_DIR/NAME.md, with the load
# average at its start.
#
#   bash scripts/bench-all.sh [--quick] [OUT_DIR] [NAME...]   OUT_DIR defaults to bench-out/all
#
# --quick (or QUICK=1 in the environment) runs every part at small sizes, seconds to a minute
# each, to check that the whole set still runs: the figures it prints are not the ones to quote.
# Each part's output is checked: it must exit 0 and print at least one `RESULT` (or cluster
# `job_s=`) line, and no line may say `check=`, `status=` or `within_bound=` anything but ok
# (yes); a part that fails is named with the tail of its log (OUT_DIR/NAME.log) and the script
# exits 1 after running the others.
#
# Every binary and example is built once up front (release, the whole workspace) and run from
# target/release; each part shows the `cargo run` command it stands for.
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
if [ "${1:-}" = --quick ]; then
    QUICK=1
    shift
fi
out=${1:-bench-out/all}
shift || true
mkdir -p "$out"
out=$(cd "$out" && pwd)

# quick: true in a quick run. pick FULL QUICK: the size of a full run or of a quick one.
quick() { [ -n "${QUICK:-}" ]; }
pick() { if quick; then echo "$2"; else echo "$1"; fi; }

engine() {
    if quick; then export MUL_N=20000 LT_N=2000 FXMUL_N=20000 DIV_N=200; fi
    bash scripts/engine-bench.sh
}
random-bits()     { N=$(pick 100000 2000) bash scripts/random-bits-bench.sh; }
comparison() {
    if quick; then export LT_N=2000 BIG_N=20000; fi
    bash scripts/comparison-cost-bench.sh
}
upload()          { bash scripts/upload-bench.sh "$(pick 1000000 10000)"; }
# Prints a command as Markdown shows it, with the load, then runs it.
show() {
    echo "\$ $*   # load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$@"
}
target=${CARGO_TARGET_DIR:-target}
# example PACKAGE NAME ARG...: shows `cargo run --release -q -p PACKAGE --example NAME -- ARG...`
# with the load, then runs that example as built up front (see `build` below); under
# /usr/bin/time with TIME_FORMAT set.
example() {
    local package=$1 name=$2 timed=()
    shift 2
    if [ -n "${TIME_FORMAT:-}" ]; then timed=(/usr/bin/time -f "$TIME_FORMAT"); fi
    echo "\$ ${TIME_FORMAT:+/usr/bin/time -f \"$TIME_FORMAT\" }cargo run --release -q -p $package" \
        "--example $name -- $*   # load $(cut -d' ' -f1-3 /proc/loadavg)"
    "${timed[@]}" "$target/release/examples/$name" "$@"
}
# quorate ARG...: `cargo run --release -q -- ARG...`, likewise.
quorate() {
    echo "\$ cargo run --release -q -- $*   # load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$target/release/quorate" "$@"
}
throughput() { example mpc throughput "$@"; }
stats_bench() { example protocols stats_bench "$@"; }
malicious() {
    # Each level beside the other, as BENCHMARKS.md's "Malicious level" quotes them.
    local mul lt chunk rows
    mul=$(pick 1000000 20000) lt=$(pick 100000 2000) chunk=$(pick 25000 1000)
    rows=$(pick 10000 1000)
    for p in grr dn07; do
        for s in semi-honest malicious; do
            throughput --parties 3 --op mul --n "$mul" --protocol $p --security $s
        done
    done
    throughput --parties 3 --op lt --n "$lt" --chunk "$chunk" --protocol grr --randomness dealt \
        --security semi-honest
    for p in grr dn07; do
        throughput --parties 3 --op lt --n "$lt" --chunk "$chunk" --protocol $p --security malicious
    done
    throughput --parties 3 --op lt --n "$lt" --chunk "$chunk" --protocol grr --randomness dealt \
        --security malicious
    # The owners' input check in memory.
    stats_bench "$rows" avg_stddev grr malicious
    stats_bench "$rows" avg_stddev grr semi-honest
    # The level in the simulated benchmark matrix (virtual time).
    quorate bench --parties 3 --ops mul,lt --protocol grr,dn07 \
        --network lan,wan --security semi-honest,malicious --batch "$(pick 1000 100)"
}
stats() {
    stats_bench "$(pick 1000000 10000)" avg_stddev
    stats_bench "$(pick 100000 2000)" groupby8_where_avg,groupby8_where_sums
}
dp() {
    local rows
    rows=$(pick 100000 2000)
    for _ in $(pick "1 2 3" 1); do
        stats_bench "$rows" avg_stddev grr
        stats_bench "$rows" avg_stddev grr 1
    done
    stats_bench "$rows" groupby8_where_sums grr
    stats_bench "$rows" groupby8_where_sums grr 1
}
median() {
    local rows
    rows=$(pick 100000 2000)
    for selection in binary quaternary; do
        TIME_FORMAT="cpu_user_s=%U cpu_sys_s=%S wall_s=%e max_rss_kb=%M" \
            stats_bench "$rows" median grr "$selection"
    done
    stats_bench "$rows" percentile90
    stats_bench "$rows" groupby8_where_median
}
memory() {
    # Memory does not depend on the profile (where_cost's doc): the release build of the others.
    example protocols where_cost 1 "$(pick 9000 500)"
    example protocols where_cost 4 "$(pick 4000 300)"
    local sizes=("100000 63 3" "100000 63 5 dn07" "10000 48 3" "10000 48 7" "100000 32 3"
        "1000000 32 3" "10000000 32 3")
    if quick; then
        sizes=("1000 63 3" "1000 63 5 dn07" "1000 48 3" "1000 48 7" "1000 32 3" "10000 32 3")
    fi
    for args in "${sizes[@]}"; do
        # shellcheck disable=SC2086
        TIME_FORMAT="wall_s=%e max_rss_kb=%M" example protocols stats_at_size $args
    done
}
settlement() {
    local sizes=("100 10000" "100 10000 grr hidden" "100 1000 grr" "100 100000 grr")
    if quick; then sizes=("10 100" "10 100 grr hidden" "10 50 grr" "10 200 grr"); fi
    for args in "${sizes[@]}"; do
        # shellcheck disable=SC2086
        example protocols settlement_bench $args
    done
}
matching() {
    local sizes=("auction 1200 4000" "orders 10000 64" "records 100000 2") orders
    if quick; then sizes=("auction 12 40" "orders 200 16" "records 1000 2"); fi
    for args in "${sizes[@]}"; do
        for p in grr dn07; do
            # shellcheck disable=SC2086
            example protocols matching_bench $args $p
        done
    done
    orders=$(pick 10000 200)
    example protocols matching_bench orders "$orders" 2 grr
}
cluster-stats()   { bash scripts/cluster-stats-bench.sh grr semi-honest "$(pick 100000 1000)"; }
cluster-auction() {
    # shellcheck disable=SC2046
    bash scripts/cluster-auction-bench.sh $(pick "1200 4000" "12 40")
}
cluster-jobs() {
    if quick; then
        export ORDERS_PER_FIRM=50 RECORD_IDS=500 SETTLEMENT_FIRMS=10 OBLIGATIONS_PER_FIRM=10
    fi
    bash scripts/cluster-jobs-bench.sh grr
}
cluster-security() {
    local rows
    rows=$(pick 10000 500)
    for s in semi-honest malicious; do bash scripts/cluster-stats-bench.sh grr $s "$rows"; done
    for s in semi-honest malicious; do
        # shellcheck disable=SC2046
        bash scripts/cluster-auction-bench.sh $(pick "100 200" "6 20") $s
    done
}
cluster-scale() {
    # AVG, STDDEV_SAMP over 10^7 rows (the cap raised as in the quoted run), then MEDIAN over
    # 10^6 rows at the default limits.
    if quick; then
        bash scripts/cluster-scale-bench.sh grr 10000 1000
        return
    fi
    JOB_MEMORY_MIB=32768 bash scripts/cluster-scale-bench.sh grr 1000000 0
    bash scripts/cluster-scale-bench.sh grr 1000 100000
}
latency()         { bash scripts/latency-bench.sh "$(pick 10 2)"; }
chaos() {
    # The debug build, as `cargo test` runs it; a quick run has one campaign of 3 faults.
    for seed in $(pick "1 2 3" 1); do
        QUORATE_CHAOS_FAULTS=$(pick 100 3) QUORATE_CHAOS_SEED=$seed \
            cargo test -q -p quorate --test chaos -- --nocapture 2>&1 | grep '^RESULT'
    done
    cargo test -q -p quorate --test faults_e2e a_worker_stopped -- --nocapture 2>&1 |
        grep '^RESULT'
}
simulator() {
    # sim NAME [--] ARG...: the simulations crate's example NAME.
    sim() {
        local name=$1
        shift
        if [ "${1:-}" = -- ]; then shift; fi
        example simulations "$name" "$@"
    }
    mkdir -p "$out/simulator"
    # A scenario file as shipped, or (quick) a copy of it at small sizes.
    small() {
        if ! quick; then
            echo "$1"
            return
        fi
        local copy
        copy="$out/simulator/quick-$(basename "$1")"
        sed -e 's/^bidders = 1200$/bidders = 12/' -e 's/max = 4099/max = 139/' \
            -e 's/^rows = [0-9]*$/rows = 1000/' -e 's/^batch = 100000$/batch = 1000/' "$1" > "$copy"
        echo "$copy"
    }
    # The notes quote the full sizes: a quick run leaves them alone.
    quick || bash simulations/scripts/bench-notes.sh "$out/simulator"
    sim simulate -- "$(small simulations/scenarios/measure/mul-31-100k.toml)"
    sim bench -- --parties 3 --ops lt --protocols grr,dn07 --randomness dealt,prss \
        --networks wan --batch "$(pick 20000 200)"
    sim bench -- --parties 3 --ops lt --protocols grr,dn07 --randomness prss \
        --networks wan --batch "$(pick 100000 1000)"
    sim bench -- --jobs "$(pick auction:1200x4000,stats:100000 auction:12x40,stats:1000)" \
        --parties 3 --networks lan --sites frankfurt+ireland+virginia --out "$out/simulator/jobs"
    sim simulate -- "$(small simulations/scenarios/auction-3-regions.toml)" \
        --out "$out/simulator/auction-3-regions"
    # Fails by design (a worker crashes mid-round): its line says status=failed.
    sim simulate -- simulations/scenarios/settlement-crash.toml
    sim bench -- --jobs "stats:$(pick 100000 1000)" --parties "$(pick 31 7)" \
        --networks lan
    # The same 31 workers across three regions (party i at sites[i mod 3]).
    local regions="$out/simulator/large-31-stats-3-regions.toml"
    sed -e 's/^\[network\]$/[network]\nsites = ["frankfurt", "ireland", "virginia"]\nsite_bandwidth_mbps = 1000.0/' \
        "$(small simulations/scenarios/large-31-stats.toml)" > "$regions"
    sim simulate -- "$regions"
    sim bench -- --jobs "auction:$(pick 12x400 12x40)" --parties "$(pick 31 7)" \
        --networks lan --protocols dn07
    sim job_speed -- "$(small simulations/scenarios/payroll-groupby-7.toml)"
    # The model against a real cluster: rounds and bytes of the same auction sizes.
    local sizes=("12 40" "1200 4000")
    if quick; then sizes=("12 40"); fi
    for size in "${sizes[@]}"; do
        # shellcheck disable=SC2086
        bash scripts/cluster-auction-bench.sh $size
        sim bench -- --jobs "auction:${size/ /x}" --parties 3 --networks lan \
            --protocols grr --out "$out/simulator/auction-${size/ /x}"
        grep -rhoE '"compute_(rounds|bytes)": ?[0-9]+' "$out/simulator/auction-${size/ /x}" || true
    done
    sim simulate -- "$(small simulations/scenarios/measure/auction-lan-measured.toml)"
}

# check NAME: NAME's output printed at least one RESULT (or cluster job_s=) line, and none says
# check=, status= or within_bound= anything but ok (yes), but for the scenarios that fail by
# design (settlement-crash: status=failed).
check() {
    python3 - "$out/$1.md" <<'PY'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
results = [l for l in lines if l.startswith("RESULT") or re.search(r"\bjob_s=", l)]
bad = []
for l in results:
    crash = re.search(r"\bscenario=\S*crash", l)
    for key, value in re.findall(r"\b(check|status|within_bound)=(\S+)", l):
        if crash and key == "status":
            ok = value == "failed"
        else:
            ok = value in ("ok", "yes")
        if not ok:
            bad.append(l)
if not results:
    sys.exit(f"no RESULT or job_s= line in {sys.argv[1]}")
if bad:
    sys.exit("\n".join(["lines not ok:"] + bad))
print(f"{len(results)} result lines, all ok")
PY
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
done
failed=()
start=$(date +%s)
# Every binary and example, built once up front and for the whole workspace: a `cargo build -p`
# of one package resolves the dependencies' features for that package alone and rebuilds
# much of the tree (minutes on 2 cores). The scripts the parts call skip their own build when
# QUORATE_BENCH_BUILT is set. (`chaos` builds its test in the debug profile, as `cargo test`.)
echo "== build (release, workspace binaries and examples)   # load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cargo build --release -q --workspace --bins --examples
export QUORATE_BENCH_BUILT=1
echo "   build: $(($(date +%s) - start)) s" >&2
for name in "${names[@]}"; do
    echo "== $name${QUICK:+ (quick)}   # load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    t0=$(date +%s)
    # Each part in a subshell with errexit on (not in an `if`, which would switch it off).
    set +e
    (
        set -e
        echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)${QUICK:+ (quick run)}"
        echo
        "$name"
    ) > "$out/$name.md" 2> "$out/$name.log"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        echo "FAILED $name: exit $rc; the tail of $out/$name.log:" >&2
        tail -n 20 "$out/$name.log" >&2
        failed+=("$name")
    elif ! check "$name" >&2; then
        echo "FAILED $name: see $out/$name.md" >&2
        failed+=("$name")
    fi
    echo "   $name: $(($(date +%s) - t0)) s" >&2
done
echo "bench-all${QUICK:+ --quick}: ${#names[@]} parts in $(($(date +%s) - start)) s," \
    "${#failed[@]} failed${failed[*]:+: ${failed[*]}}" >&2
[ ${#failed[@]} -eq 0 ]
