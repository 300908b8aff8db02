#!/usr/bin/env bash
# Issue 17: the 32-bit comparison's cost, old path (dealt randomness, bit circuit on field
# elements) against PRSS + edaBits (bit circuit in GF(2^8)), 3 parties, in memory and over QUIC,
# with bytes per comparison, cold and warm passes and peak memory. Prints Markdown (command,
# then the program's own output, and the load average when each run started).
# Usage: bash scripts/comparison-cost-bench.sh > out.md   (sizes: LT_N=100000 comparisons per
# run, in chunks of half; BIG_N=1000000 in one batch; smaller for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${QUORATE_BENCH_BUILT:-}" ] || cargo build --release -q -p mpc --example throughput
bin=target/release/examples/throughput
lt_n=${LT_N:-100000} big_n=${BIG_N:-1000000}
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem/{print $2}') GiB; $(rustc --version); commit $(git rev-parse --short HEAD)."
echo
run() {
  echo '```'
  echo "\$ cargo run --release -p mpc --example throughput -- $*   # load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$bin" "$@" 2>&1 | grep -E '^(RESULT|first)'
  echo '```'
}
for transport in memory quic; do
  echo "#### 10^5 32-bit lt, $transport"
  for protocol in grr dn07; do
    run --op lt --n "$lt_n" --protocol "$protocol" --randomness prss --transport "$transport"
    # The old path in chunks of 50,000 (a batch of 10^5 holds 3.2 GB (GRR) to 7.9 GB (DN07)).
    run --op lt --n "$lt_n" --chunk $((lt_n / 2)) --protocol "$protocol" --randomness dealt --transport "$transport"
  done
done
echo "#### 10^6 32-bit lt in one batch (PRSS; the engine streams it in chunks from its memory budget)"
run --op lt --n "$big_n" --chunk "$big_n" --protocol grr --randomness prss
