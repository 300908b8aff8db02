#!/usr/bin/env bash
# Issue 7's other measured sizes on a real local cluster (a coordinator and 3 worker processes,
# release build, QUIC on loopback), each firm its own identity uploading its own data (timed
# apart), then one job of each kind:
#   orders      10,000 limit orders from 10 firms on a 64-tick grid
#   records     record matching of 2 x 100,000 identifiers (about 40% in common), with sums
#   settlement  100 firms, 10,000 obligations (100 per firm)
# Prints, per job, the job time from submission to the outcome on the ledger (the coordinator's
# clock) and the client's wall time, and the public result.
# Usage: bash scripts/cluster-jobs-bench.sh [grr|dn07] [KIND ...]
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-grr}
shift || true
kinds=${*:-orders records settlement}
source scripts/cluster-lib.sh
cluster_init 3

python3 - "$dir" <<'EOF'
import os, random, sys
d = sys.argv[1]
r = random.Random(7)

# Orders: 10 firms x 1,000 orders, limits uniform on a 64-tick grid.
os.makedirs(f"{d}/orders")
lo, ticks = 1100, 64
with open(f"{d}/orders/job.toml", "w") as f:
    f.write(f'kind = "orders"\ndataset = "orders"\ngrid = {{ min = {lo}, max = {lo + ticks - 1}, step = 1 }}\n')
for firm in range(10):
    with open(f"{d}/orders/firm{firm}.csv", "w") as f:
        f.write("side,price,quantity\n")
        for _ in range(1000):
            side = r.choice(["buy", "sell"])
            f.write(f"{side},{r.randint(lo, lo + ticks - 1)},{r.randint(1, 1000)}\n")

# Records: 2 firms x 100,000 customer ids drawn from 250,000, so about 40% are in common.
os.makedirs(f"{d}/records")
with open(f"{d}/records/job.toml", "w") as f:
    f.write('kind = "record_match"\ndatasets = ["customers"]\nid_column = "customer_id"\nsums = ["spend"]\n')
for firm in range(2):
    ids = r.sample(range(250_000), 100_000)
    with open(f"{d}/records/firm{firm}.csv", "w") as f:
        f.write("customer_id,spend\n")
        for i in ids:
            f.write(f"C-{i},{r.randint(0, 100_000)}\n")

# Settlement: 100 firms, each with a balance and 100 obligations to other firms.
os.makedirs(f"{d}/settlement")
firms = [f"firm{i}" for i in range(100)]
with open(f"{d}/settlement/job.toml", "w") as f:
    f.write('kind = "settlement"\nround = "bench"\nfirms = [' + ", ".join(f'"{x}"' for x in firms) + "]\n")
# Schemas given (inference would see 100 distinct payees and not make the column categorical).
domain = "[" + ", ".join(f'"{x}"' for x in firms) + "]"
with open(f"{d}/settlement/obligations.toml", "w") as f:
    for name in ("payer", "payee"):
        f.write(f'[[columns]]\nname = "{name}"\ntype = "categorical"\ndomain = {domain}\n')
    f.write('[[columns]]\nname = "amount"\ntype = "integer"\nbits = 32\n')
with open(f"{d}/settlement/accounts.toml", "w") as f:
    f.write('[[columns]]\nname = "balance"\ntype = "integer"\nbits = 40\n')
for i, firm in enumerate(firms):
    with open(f"{d}/settlement/{firm}-accounts.csv", "w") as f:
        f.write(f"balance\n{r.randint(0, 500_000)}\n")
    with open(f"{d}/settlement/{firm}-obligations.csv", "w") as f:
        f.write("payer,payee,amount\n")
        for _ in range(100):
            payee = r.choice([x for x in firms if x != firm])
            f.write(f"{firm},{payee},{r.randint(0, 10_000)}\n")
EOF

for i in $(seq 0 99); do "$bin" identity new "firm$i" --cluster "$c" > /dev/null; done
cluster_up

upload() { # NAME DATASET CSV [ARGS...]
  local who=$1 dataset=$2 csv=$3
  shift 3
  "$bin" upload --cluster "$c" --as "$who" --dataset "$dataset" --csv "$csv" "$@" > /dev/null
}

run_job() { # LABEL JOB.toml
  echo '```'
  echo "\$ quorate run --protocol $protocol $1"
  local s e out
  s=$(date +%s.%N)
  out=$("$bin" run --cluster "$c" --as firm0 --json --protocol "$protocol" "$2")
  e=$(date +%s.%N)
  job_times firm0 "$out" "$s" "$e"
  # The output can pass the 128 KiB limit of one argument: through stdin.
  printf '%s' "$out" | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['public']))" | cut -c1-300
  echo '```'
}

timed() { # LABEL COMMAND...
  local label=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  echo "uploads ($label): $(python3 -c "print(round($t1 - $t0, 1))") s"
}

upload_orders() {
  for i in $(seq 0 9); do
    upload "firm$i" orders "$dir/orders/firm$i.csv" --schema examples/data/orders/schema.toml \
      --job "$dir/orders/job.toml"
  done
}
upload_records() {
  for i in 0 1; do
    upload "firm$i" customers "$dir/records/firm$i.csv" \
      --schema examples/data/record-match/schema.toml --job "$dir/records/job.toml"
  done
}
upload_settlement() {
  for i in $(seq 0 99); do
    upload "firm$i" accounts "$dir/settlement/firm$i-accounts.csv" \
      --schema "$dir/settlement/accounts.toml" --job "$dir/settlement/job.toml"
    upload "firm$i" obligations "$dir/settlement/firm$i-obligations.csv" \
      --schema "$dir/settlement/obligations.toml" --job "$dir/settlement/job.toml"
  done
}

for kind in $kinds; do
  case $kind in
    orders) timed "10 firms x 1,000 orders" upload_orders
      run_job "orders.toml   # 10,000 orders, 64 ticks" "$dir/orders/job.toml" ;;
    records) timed "2 x 100,000 identifiers" upload_records
      run_job "record-match.toml   # 2 x 100,000 identifiers" "$dir/records/job.toml" ;;
    settlement) timed "100 firms x (1 balance + 100 obligations)" upload_settlement
      # Every firm consents (signs the same round) first; firm0's run is the last signature,
      # so the job's time below starts at the first consent.
      for i in $(seq 1 99); do
        "$bin" run --cluster "$c" --as "firm$i" --protocol "$protocol" --json \
          "$dir/settlement/job.toml" > /dev/null 2>&1 &
      done
      sleep 5
      run_job "settlement.toml   # 100 firms, 10,000 obligations" "$dir/settlement/job.toml" ;;
    *) echo "unknown kind '$kind' (orders, records, settlement)" >&2; exit 2 ;;
  esac
done
