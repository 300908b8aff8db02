#!/usr/bin/env bash
# Measures an upload of 1,000,000 integer values to a local 3-worker cluster (release build) and
# prints the command and its timing as Markdown. Usage: bash scripts/upload-bench.sh [VALUES]
# (1000000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
values=${1:-1000000}
source scripts/cluster-lib.sh
cluster_init 3
"$bin" identity new acme --cluster "$c" > /dev/null
cluster_up
python3 - "$values" <<'PY' > "$dir/million.csv"
import random, sys
random.seed(1)
print('value')
for i in range(int(sys.argv[1])): print(random.randint(-10**12, 10**12))
PY
echo '```'
echo "\$ quorate upload --cluster DIR --as acme --dataset million --csv million.csv   # $values integers, 3 workers on loopback"
/usr/bin/time -f "RESULT bench=upload values=$values wall_s=%e user_s=%U sys_s=%S max_rss_kb=%M" "$bin" upload --cluster "$c" --as acme --dataset million --csv "$dir/million.csv" 2>&1 | grep -v '^uploading'
echo '```'
