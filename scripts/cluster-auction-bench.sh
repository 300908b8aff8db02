#!/usr/bin/env bash
# Issue 7's auction target on a real local cluster (a coordinator and 3 worker processes,
# release build, QUIC on loopback): a sealed-bid double auction the size of the 2008 Danish
# sugar-beet auction, BIDDERS bidders (default 1,200) over PRICES grid prices (default 4,000).
# Each bidder is its own identity and uploads its own curve (timed apart); then one job.
# Usage: bash scripts/cluster-auction-bench.sh [BIDDERS] [PRICES] [SECURITY]
#   SECURITY semi-honest (default) or malicious: then the job runs twice, the first paying the
#   owners' input check of every bid curve, the second with it remembered by every worker.
set -euo pipefail
cd "$(dirname "$0")/.."
bidders=${1:-1200}
prices=${2:-4000}
security=${3:-semi-honest}
source scripts/cluster-lib.sh
cluster_init 3
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
cluster_up
t0=$(date +%s.%N)
for b in $(seq 0 $((bidders - 1))); do
  "$bin" upload --cluster "$c" --as "bidder$b" --dataset bids --csv "$dir/bid$b.csv" \
    --schema "$dir/schema.toml" --job "$dir/auction.toml" > /dev/null
done
t1=$(date +%s.%N)
echo "uploads ($bidders bidders x $prices prices): $(python3 -c "print(round($t1 - $t0, 1))") s"
echo '```'
passes=1
[ "$security" = malicious ] && passes=2
for pass in $(seq "$passes"); do
  echo "\$ quorate run --protocol grr --security $security auction.toml   # $bidders bidders x $prices prices, pass $pass"
  s=$(date +%s.%N)
  out=$("$bin" run --cluster "$c" --as bidder0 --json --protocol grr --security "$security" \
    "$dir/auction.toml")
  e=$(date +%s.%N)
  job_times bidder0 "$out" "$s" "$e"
  python3 -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])['public']))" "$out"
done
echo '```'
