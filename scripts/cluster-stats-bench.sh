#!/usr/bin/env bash
# Issue 6's statistics targets on a real local cluster (a coordinator and 3 worker processes,
# release build, QUIC on loopback), upload time apart: AVG and STDDEV_SAMP over 1,000,000 rows
# from 10 owners; MEDIAN over 100,000 rows; an 8-group GROUP BY with WHERE over 100,000 rows.
# Prints Markdown with the commands and, per query, the job's time on the cluster (from
# submission to its outcome on the ledger) and the client's wall time.
# Usage: bash scripts/cluster-stats-bench.sh [PROTOCOL] [SECURITY] [ROWS_PER_OWNER]
#   PROTOCOL grr (default) or dn07; SECURITY semi-honest (default) or malicious: then every query
#   runs twice, the first over each dataset version paying the owners' input check, the second
#   with it remembered by every worker (TRUST.md); ROWS_PER_OWNER of the big table (100,000;
#   the small one has a tenth).
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-grr}
security=${2:-semi-honest}
big_rows=${3:-100000}
source scripts/cluster-lib.sh
cluster_init 3
"$bin" identity new analyst --cluster "$c" > /dev/null
for f in 0 1 2 3 4 5 6 7 8 9; do "$bin" identity new "firm$f" --cluster "$c" > /dev/null; done
cluster_up
cat > "$dir/schema.toml" <<'EOF'
[[columns]]
name = "salary"
type = "integer"
bits = 31
[[columns]]
name = "dept"
type = "categorical"
domain = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"]
EOF
python3 - "$dir" "$big_rows" <<'EOF'
import random, sys
d, big = sys.argv[1], int(sys.argv[2])
for f in range(10):
    r = random.Random(f)
    for name, rows in (("big", big), ("small", max(1, big // 10))):
        with open(f"{d}/{name}{f}.csv", "w") as out:
            out.write("salary,dept\n")
            for _ in range(rows):
                out.write(f"{r.randint(20_000, 200_000)},d{r.randint(0, 7)}\n")
EOF
t0=$(date +%s.%N)
for f in 0 1 2 3 4 5 6 7 8 9; do
  for name in big small; do
    "$bin" upload --cluster "$c" --as "firm$f" --dataset "payroll_$name" --csv "$dir/$name$f.csv" \
      --schema "$dir/schema.toml" > /dev/null
  done
done
t1=$(date +%s.%N)
echo "uploads (10 owners x ($big_rows + $((big_rows / 10))) rows): $(python3 -c "print(round($t1 - $t0, 2))") s"
echo
run() {
  local sql=$1
  local s e
  s=$(date +%s.%N)
  local passes=1
  [ "$security" = malicious ] && passes=2
  for pass in $(seq "$passes"); do
    s=$(date +%s.%N)
    out=$("$bin" query --cluster "$c" --as analyst --protocol "$protocol" --security "$security" \
      --json "$sql")
    e=$(date +%s.%N)
    echo "\$ quorate query --protocol $protocol --security $security \"$sql\"   # pass $pass"
    job_times analyst "$out" "$s" "$e"
    python3 -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])['public']))" "$out" | cut -c1-300
    echo
  done
}
echo '```'
run "SELECT AVG(salary), STDDEV_SAMP(salary) FROM payroll_big"
run "SELECT dept, COUNT(*), AVG(salary) FROM payroll_small WHERE salary > 50000 GROUP BY dept"
run "SELECT MEDIAN(salary) FROM payroll_small"
echo '```'
