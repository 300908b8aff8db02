# Shared by the scripts/cluster-*-bench.sh scripts; source it from the repository root.

# cluster_init WORKERS: builds the release binary and makes a cluster of WORKERS workers in a
# temporary folder. Sets $bin (the binary), $workers, $dir (the folder, removed on exit with the cluster
# stopped) and $c (the cluster inside it).
cluster_init() {
  [ -n "${QUORATE_BENCH_BUILT:-}" ] || cargo build --release -q --bin quorate
  workers=$1
  bin=$PWD/target/release/quorate
  dir=$(mktemp -d)
  trap 'kill $(cat "$dir/up.pid" 2>/dev/null) 2>/dev/null; sleep 1; rm -rf "$dir"' EXIT
  c="$dir/cluster"
  "$bin" cluster init "$c" --workers "$1" > /dev/null
}

# cluster_up: starts the coordinator and the workers in the background (log: $dir/up.log) and
# waits until each has logged that it listens (at most 60 s: a loaded machine takes more than
# the two seconds an idle one does, and an upload sent before would fail); fails with the log's
# tail if they do not.
cluster_up() {
  "$bin" cluster up "$c" > "$dir/up.log" 2>&1 &
  echo $! > "$dir/up.pid"
  local deadline=$((SECONDS + 60))
  until grep -q 'coordinator started' "$dir/up.log" &&
    [ "$(grep -c 'worker started' "$dir/up.log")" -ge "$workers" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "the cluster did not start within 60 s; the tail of its log:" >&2
      tail -n 20 "$dir/up.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

# job_times AS JSON START END: for the job a client command printed as JSON, its time on the
# cluster (submission to outcome on the ledger, the coordinator's clock) and the client's wall
# time from START to END (`date +%s.%N`), as `job_s=... client_wall_s=...`.
job_times() {
  local as=$1 out=$2 s=$3 e=$4 job job_s
  job=$(printf '%s' "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['job'])")
  job_s=$("$bin" jobs --cluster "$c" --as "$as" --json | python3 -c "
import json, sys
j = [x for x in json.load(sys.stdin) if x['id'] == $job][0]
print(round((j['finished_ms'] - j['submitted_ms']) / 1000, 2))")
  echo "job_s=$job_s client_wall_s=$(python3 -c "print(round($e - $s, 2))") $(worker_stats "$job")"
}

# worker_stats JOB: what the workers logged for JOB when it was done (`job done` lines of
# $dir/up.log), as `compute_ms=... rounds=... bytes_sent_max=... bytes_sent_total=...
# peak_rss_mb_max=...`:
# compute_ms is the slowest worker's time from the job's arrival to its staged result (reading
# its inputs from the share store included), rounds and bytes its engine's counts.
worker_stats() {
  python3 - "$dir/up.log" "$1" <<'PY'
import re, sys
log = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], errors="replace").read())
job = sys.argv[2]
done = [l for l in log.splitlines()
        if "job done" in l and "compute_ms=" in l and re.search(rf"\bjob={job}\b", l)]
def field(name):
    return [int(m.group(1)) for l in done for m in [re.search(rf"\b{name}=(\d+)", l)] if m]
if not done:
    print("workers=none")
else:
    print(f"workers={len(done)} compute_ms={max(field('compute_ms'))} rounds={max(field('rounds'))} "
          f"bytes_sent_max={max(field('bytes_sent'))} bytes_sent_total={sum(field('bytes_sent'))} "
          f"peak_rss_mb_max={max(field('peak_rss_mb'))}")
PY
}

# cluster_identities OWNERS: the client identities `analyst` and `firm0` .. `firm(OWNERS-1)`.
cluster_identities() {
  "$bin" identity new analyst --cluster "$c" > /dev/null
  for ((f = 0; f < $1; f++)); do "$bin" identity new "firm$f" --cluster "$c" > /dev/null; done
}
