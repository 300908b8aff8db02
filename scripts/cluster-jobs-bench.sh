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
# Sizes (defaults as above; smaller for a quick run): ORDERS_PER_FIRM=1000, RECORD_IDS=100000
# per firm, SETTLEMENT_FIRMS=100, OBLIGATIONS_PER_FIRM=100.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-grr}
shift || true
kinds=${*:-orders records settlement}
orders_per_firm=${ORDERS_PER_FIRM:-1000}
record_ids=${RECORD_IDS:-100000}
settlement_firms=${SETTLEMENT_FIRMS:-100}
obligations_per_firm=${OBLIGATIONS_PER_FIRM:-100}
source scripts/cluster-lib.sh
cluster_init 3

python3 - "$dir" "$orders_per_firm" "$record_ids" "$settlement_firms" "$obligations_per_firm" <<'EOF'
import os, random, sys
d = sys.argv[1]
orders, ids, nfirms, per_firm = (int(x) for x in sys.argv[2:6])
r = random.Random(7)

# Orders: 10 firms x `orders` orders (1,000), limits uniform on a 64-tick grid.
os.makedirs(f"{d}/orders")
lo, ticks = 1100, 64
with open(f"{d}/orders/job.toml", "w") as f:
    f.write(f'kind = "orders"\ndataset = "orders"\ngrid = {{ min = {lo}, max = {lo + ticks - 1}, step = 1 }}\n')
for firm in range(10):
    with open(f"{d}/orders/firm{firm}.csv", "w") as f:
        f.write("side,price,quantity\n")
        for _ in range(orders):
            side = r.choice(["buy", "sell"])
            f.write(f"{side},{r.randint(lo, lo + ticks - 1)},{r.randint(1, 1000)}\n")

# Records: 2 firms x `ids` customer ids (100,000) drawn from 2.5 times as many, so about 40% are
# in common.
os.makedirs(f"{d}/records")
with open(f"{d}/records/job.toml", "w") as f:
    f.write('kind = "record_match"\ndatasets = ["customers"]\nid_column = "customer_id"\nsums = ["spend"]\n')
for firm in range(2):
    sample = r.sample(range(ids * 5 // 2), ids)
    with open(f"{d}/records/firm{firm}.csv", "w") as f:
        f.write("customer_id,spend\n")
        for i in sample:
            f.write(f"C-{i},{r.randint(0, 100_000)}\n")

# Settlement: `nfirms` firms (100), each with a balance and `per_firm` obligations (100) to
# other firms.
os.makedirs(f"{d}/settlement")
firms = [f"firm{i}" for i in range(nfirms)]
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
        for _ in range(per_firm):
            payee = r.choice([x for x in firms if x != firm])
            f.write(f"{firm},{payee},{r.randint(0, 10_000)}\n")
EOF

for i in $(seq 0 $((settlement_firms > 10 ? settlement_firms - 1 : 9))); do "$bin" identity new "firm$i" --cluster "$c" > /dev/null; done
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
  for i in $(seq 0 $((settlement_firms - 1))); do
    upload "firm$i" accounts "$dir/settlement/firm$i-accounts.csv" \
      --schema "$dir/settlement/accounts.toml" --job "$dir/settlement/job.toml"
    upload "firm$i" obligations "$dir/settlement/firm$i-obligations.csv" \
      --schema "$dir/settlement/obligations.toml" --job "$dir/settlement/job.toml"
  done
}

for kind in $kinds; do
  case $kind in
    orders) timed "10 firms x $orders_per_firm orders" upload_orders
      run_job "orders.toml   # $((10 * orders_per_firm)) orders, 64 ticks" "$dir/orders/job.toml" ;;
    records) timed "2 x $record_ids identifiers" upload_records
      run_job "record-match.toml   # 2 x $record_ids identifiers" "$dir/records/job.toml" ;;
    settlement) timed "$settlement_firms firms x (1 balance + $obligations_per_firm obligations)" upload_settlement
      # Every firm consents (signs the same round) first; firm0's run is the last signature,
      # so the job's time below starts at the first consent.
      for i in $(seq 1 $((settlement_firms - 1))); do
        "$bin" run --cluster "$c" --as "firm$i" --protocol "$protocol" --json \
          "$dir/settlement/job.toml" > /dev/null 2>&1 &
      done
      sleep 5
      run_job "settlement.toml   # $settlement_firms firms, $((settlement_firms * obligations_per_firm)) obligations" "$dir/settlement/job.toml" ;;
    *) echo "unknown kind '$kind' (orders, records, settlement)" >&2; exit 2 ;;
  esac
done
