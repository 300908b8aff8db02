#!/usr/bin/env bash
# Random-bit protocols against each other: 100,000 comparisons (each consumes random bits),
# GRR and DN07, n = 3, 5, 7, XOR of dealt bits vs the squaring trick. One RESULT line each.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${QUORATE_BENCH_BUILT:-}" ] || cargo build --release -q -p mpc --example throughput
for parties in 3 5 7; do
  for protocol in grr dn07; do
    for bits in xor squaring; do
      target/release/examples/throughput --parties "$parties" --op lt --n "${N:-100000}" \
        --protocol "$protocol" --random-bits "$bits" | grep '^RESULT'
    done
  done
done
