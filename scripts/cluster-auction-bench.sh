#!/usr/bin/env bash
# Issue 7's auction target on a real local cluster (a coordinator and 3 worker processes,
# release build, QUIC on loopback): a sealed-bid double auction the size of the 2008 Danish
# sugar-beet auction, BIDDERS bidders (default 1,200) over PRICES grid prices (default 4,000).
# Each bidder is its own identity and uploads its own curve (timed apart); then one job.
# Usage: bash scripts/cluster-auction-bench.sh [BIDDERS] [PRICES]
set -euo pipefail
cd "$(dirname "$0")/.."
bidders=${1:-1200}
prices=${2:-4000}
cargo build --release -q --bin quorate
bin=$PWD/target/release/quorate
dir=$(mktemp -d)
trap 'kill $(cat "$dir/up.pid" 2>/dev/null) 2>/dev/null; sleep 1; rm -rf "$dir"' EXIT
c="$dir/cluster"
"$bin" cluster init "$c" --workers 3 > /dev/null
python3 - "$dir" "$bidders" "$prices" <<'EOF'
import random, sys
d, bidders, prices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lo = 1000
with open(f"{d}/auction.toml", "w") as f:
    f.write(f'kind = "auction"\ndataset = "bids"\ngrid = {{ min = {lo}, max = {lo + prices - 1}, step = 1 }}\n')
with open(f"{d}/schema.toml", "w") as f:
    for name in ("price", "buy", "sell"):
        f.write(f'[[columns]]\nname = "{name}"\ntype = "integer"\nbits = 32\n')
r = random.Random(7)
for b in range(bidders):
    buyer = b % 2 == 0
    reserve = r.randint(lo, lo + prices - 1)
    qty = r.randint(1, 1000)
    with open(f"{d}/bid{b}.csv", "w") as f:
        f.write("price,buy,sell\n")
        for p in range(lo, lo + prices):
            # A buyer wants qty up to its reserve; a seller offers qty from its reserve on.
            buy = qty if buyer and p <= reserve else 0
            sell = qty if not buyer and p >= reserve else 0
            f.write(f"{p},{buy},{sell}\n")
EOF
for b in $(seq 0 $((bidders - 1))); do "$bin" identity new "bidder$b" --cluster "$c" > /dev/null; done
"$bin" cluster up "$c" > "$dir/up.log" 2>&1 &
echo $! > "$dir/up.pid"
sleep 2
t0=$(date +%s.%N)
for b in $(seq 0 $((bidders - 1))); do
  "$bin" upload --cluster "$c" --as "bidder$b" --dataset bids --csv "$dir/bid$b.csv" \
    --schema "$dir/schema.toml" --job "$dir/auction.toml" > /dev/null 2>&1
done
t1=$(date +%s.%N)
echo "uploads ($bidders bidders x $prices prices): $(python3 -c "print(round($t1 - $t0, 1))") s"
echo '```'
echo "\$ quorate run --protocol grr auction.toml   # $bidders bidders x $prices prices"
s=$(date +%s.%N)
out=$("$bin" run --cluster "$c" --as bidder0 --json --protocol grr "$dir/auction.toml")
e=$(date +%s.%N)
job=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['job'])" "$out")
job_s=$("$bin" jobs --cluster "$c" --as bidder0 --json | python3 -c "
import json, sys
j = [x for x in json.load(sys.stdin) if x['id'] == $job][0]
print(round((j['finished_ms'] - j['submitted_ms']) / 1000, 2))")
echo "job_s=$job_s client_wall_s=$(python3 -c "print(round($e - $s, 2))")"
python3 -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])['public']))" "$out"
echo '```'
