#!/usr/bin/env bash
# "Billing on" vs the in-memory sink, same binary, same run (benches/ab.sh alternates them),
# then the settlement writer's own throughput into Postgres.
#
#   bash benches/billing_ab.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
cargo build --release -q -p tollgate-gateway -p tollgate-benches
DIR=$(mktemp -d /tmp/tollgate-billing-bench.XXXXXX)
chmod 755 "$DIR"   # the postgres user must reach its data directory
trap 'bash scripts/pg.sh stop "$DIR/pg" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
export DATABASE_URL
DATABASE_URL=$(bash scripts/pg.sh start "$DIR/pg")
BIN=target/release/tollgate
$BIN -c benches/bench-gateway-postgres.yaml migrate >/dev/null
$BIN -c benches/bench-gateway-postgres.yaml credit --wallet 0x00000000000000000000000000000000000000be --usd 100000 >/dev/null
for mode in plain stream; do
  echo "== billing off (A) vs billing on (B), $mode"
  CONFIG_B=benches/bench-gateway-postgres.yaml bash benches/ab.sh $BIN $BIN "$mode" "$ROUNDS"
done
$BIN -c benches/bench-gateway-postgres.yaml ledger check
echo "== settlement writer throughput (records/s into Postgres)"
target/release/settle-bench --database-url "$DATABASE_URL" --records 200000 --batch-size 500
