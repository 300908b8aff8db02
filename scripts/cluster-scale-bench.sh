#!/usr/bin/env bash
# Issue 17's cluster-scale targets on a real local cluster (a coordinator and 3 worker
# processes, release build, QUIC on loopback): a 10^7-row upload (10 owners x 10^6 rows, the
# owners uploading at once), AVG and STDDEV_SAMP over those 10^7 rows, MEDIAN over 10^6 rows
# (10 owners x 10^5). Prints Markdown with the commands; per query the job's time on the cluster
# (submission to outcome on the ledger), the client's wall time and every worker's peak RSS
# during the job (`peak_rss_mb` from the workers' "job done" log lines).
# Targets: upload < 60 s; AVG, STDDEV_SAMP < 60 s; MEDIAN < 2 min with every worker < 2 GiB.
# Usage: bash scripts/cluster-scale-bench.sh [PROTOCOL] [ROWS_PER_OWNER] [MEDIAN_ROWS_PER_OWNER]
#        (grr, 1000000 and 100000 by default; MEDIAN_ROWS_PER_OWNER 0 skips the MEDIAN table
#        and query). With JOB_MEMORY_MIB=N in the environment the
#        workers' `[limits] max_job_memory_mib` is N (the estimate refuses both queries at the
#        default 2048; the same key is the measured cap, worker/src/memory.rs).
#        QUERIES=q1,q2,... picks the queries (default moments,median): moments (AVG and
#        STDDEV_SAMP over the big table), median (MEDIAN over the mid table), groupby (an
#        8-group GROUP BY with WHERE over the big table; the tables then get a `dept` column),
#        median_big (MEDIAN over the big table).
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-grr}
big_rows=${2:-1000000}
mid_rows=${3:-100000}
queries=${QUERIES:-moments,median}
has() { [[ ",$queries," == *",$1,"* ]]; }
dept=0
if has groupby; then dept=1; fi
source scripts/cluster-lib.sh
cluster_init 3
cluster_identities 10
if [ -n "${JOB_MEMORY_MIB:-}" ]; then
  for w in "$c"/workers/worker-*/worker.toml; do
    printf '\n[limits]\nmax_job_memory_mib = %s\n' "$JOB_MEMORY_MIB" >> "$w"
  done
fi
cluster_up
cat > "$dir/schema.toml" <<'TOML'
[[columns]]
name = "salary"
type = "integer"
bits = 31
TOML
if [ "$dept" = 1 ]; then
  cat >> "$dir/schema.toml" <<'TOML'
[[columns]]
name = "dept"
type = "categorical"
domain = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"]
TOML
fi
python3 - "$dir" "$big_rows" "$mid_rows" "$dept" <<'PY'
import random, sys
d, big, mid, dept = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
for f in range(10):
    r = random.Random(f)
    for name, rows in (("big", big), ("mid", mid)):
        if rows == 0:
            continue
        with open(f"{d}/{name}{f}.csv", "w") as out:
            if dept:
                out.write("salary,dept\n")
                out.write("\n".join(f"{r.randint(20_000, 200_000)},d{r.randint(0, 7)}" for _ in range(rows)))
            else:
                out.write("salary\n")
                out.write("\n".join(str(r.randint(20_000, 200_000)) for _ in range(rows)))
            out.write("\n")
PY
upload_all() {
  local name=$1 pids=() f
  for f in 0 1 2 3 4 5 6 7 8 9; do
    "$bin" upload --cluster "$c" --as "firm$f" --dataset "payroll_$name" \
      --csv "$dir/$name$f.csv" --schema "$dir/schema.toml" > "$dir/upload-$name$f.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat "$dir"/upload-"$name"*.log >&2; exit 1; }; done
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
upload_all big
t1=$(date +%s.%N)
echo "upload of $((10 * big_rows)) rows (10 owners x $big_rows, at once): $(python3 -c "print(round($t1 - $t0, 2))") s"
if [ "$mid_rows" -gt 0 ]; then upload_all mid; fi
echo
peaks() {
  # Every worker's "job done" line for this job: its peak RSS and compute time.
  local job=$1
  grep "job done" "$dir/up.log" | grep -E "job=$job[^0-9]" | sed -E 's/.*(peak_rss_mb=[0-9]+).*(compute_ms=[0-9]+).*/\1 \2/' \
    | tr '\n' ' '
  echo
}
run() {
  local sql=$1 s e job
  s=$(date +%s.%N)
  out=$("$bin" query --cluster "$c" --as analyst --protocol "$protocol" --json "$sql")
  e=$(date +%s.%N)
  echo "\$ quorate query --protocol $protocol \"$sql\""
  job_times analyst "$out" "$s" "$e"
  job=$(printf '%s' "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['job'])")
  echo "workers: $(peaks "$job")"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])['public']))" "$out" | cut -c1-300
  echo
}
echo '```'
if has moments; then run "SELECT AVG(salary), STDDEV_SAMP(salary) FROM payroll_big"; fi
if has median && [ "$mid_rows" -gt 0 ]; then run "SELECT MEDIAN(salary) FROM payroll_mid"; fi
if has groupby; then
  run "SELECT dept, COUNT(*), AVG(salary) FROM payroll_big WHERE salary > 50000 GROUP BY dept"
fi
if has median_big; then run "SELECT MEDIAN(salary) FROM payroll_big"; fi
echo '```'
