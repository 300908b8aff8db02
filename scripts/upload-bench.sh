#!/usr/bin/env bash
# Measures an upload of 1,000,000 integer values to a local 3-worker cluster (release build) and
# prints the command and its timing as Markdown. Usage: bash scripts/upload-bench.sh [VALUES]
# (1000000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
values=${1:-1000000}
[ -n "${QUORATE_BENCH_BUILT:-}" ] || cargo build --release -q --bin quorate
bin=$PWD/target/release/quorate
dir=$(mktemp -d)
trap 'kill $(cat "$dir/up.pid" 2>/dev/null) 2>/dev/null; rm -rf "$dir"' EXIT
"$bin" cluster init "$dir/cluster" --workers 3 > /dev/null
"$bin" identity new acme --cluster "$dir/cluster" > /dev/null
"$bin" cluster up "$dir/cluster" > "$dir/up.log" 2>&1 &
echo $! > "$dir/up.pid"
python3 - "$values" <<'PY' > "$dir/million.csv"
import random, sys
random.seed(1)
print('value')
for i in range(int(sys.argv[1])): print(random.randint(-10**12, 10**12))
PY
sleep 2
echo '```'
echo "\$ quorate upload --cluster DIR --as acme --dataset million --csv million.csv   # $values integers, 3 workers on loopback"
/usr/bin/time -f "RESULT bench=upload values=$values wall_s=%e user_s=%U sys_s=%S max_rss_kb=%M" "$bin" upload --cluster "$dir/cluster" --as acme --dataset million --csv "$dir/million.csv" 2>&1 | grep -v '^uploading'
echo '```'
