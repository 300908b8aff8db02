#!/usr/bin/env bash
# Runs the engine's throughput example for the figures BENCHMARKS.md quotes and prints them as
# Markdown (command, then the program's own output). Usage: bash scripts/engine-bench.sh > out.md
# Sizes (defaults as quoted): MUL_N=1000000 multiplications, LT_N=100000 comparisons,
# FXMUL_N=1000000 fixed-point products, DIV_N=10000 divisions and roots (smaller for a quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${QUORATE_BENCH_BUILT:-}" ] || cargo build --release -q -p mpc --example throughput
bin=target/release/examples/throughput
mul_n=${MUL_N:-1000000} lt_n=${LT_N:-100000} fxmul_n=${FXMUL_N:-1000000} div_n=${DIV_N:-10000}
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem/{print $2}') GiB; $(rustc --version); commit $(git rev-parse --short HEAD); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
run() {
  echo '```'
  echo "\$ cargo run --release -p mpc --example throughput -- $*"
  "$bin" "$@" 2>&1 | grep -E '^(RESULT|first)'
  echo '```'
}
echo "### Multiplication, 3 parties, batch 10^6"
run --parties 3 --op mul --n $mul_n --protocol grr
run --parties 3 --op mul --n $mul_n --protocol dn07
echo
echo "### Multiplication over QUIC on loopback (3 parties as tasks, real QUIC between them)"
run --parties 3 --op mul --n $mul_n --protocol grr --transport quic
run --parties 3 --op mul --n $mul_n --protocol dn07 --transport quic
echo
echo "### 32-bit comparison and equality, 3 parties, batch 10^5"
run --parties 3 --op lt --n $lt_n --protocol grr
run --parties 3 --op lt --n $lt_n --protocol dn07
run --parties 3 --op eq --n $lt_n --protocol grr
echo
echo "### Fixed point (16 fractional bits), 3 parties"
run --parties 3 --op fxmul --n $fxmul_n --bits 40 --protocol grr
run --parties 3 --op div --n $div_n --bits 24 --protocol grr
run --parties 3 --op sqrt --n $div_n --bits 24 --protocol grr
