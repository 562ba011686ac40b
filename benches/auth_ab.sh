#!/usr/bin/env bash
# Cost of authenticating with a ledger API key (SHA-256 → in-memory cache kept honest by the
# revocation feed) instead of a static key from the config, on the same gateway with Postgres
# billing, same run, alternating (benches/ab.sh). Both keys pay from the same wallet, so the
# billing work is identical and only the authentication path differs.
#
#   bash benches/auth_ab.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
cargo build --release -q -p tollgate-gateway -p tollgate-benches
DIR=$(mktemp -d /tmp/tollgate-auth-bench.XXXXXX)
chmod 755 "$DIR"   # the postgres user must reach its data directory
trap 'bash scripts/pg.sh stop "$DIR/pg" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
export DATABASE_URL
DATABASE_URL=$(bash scripts/pg.sh start "$DIR/pg")
BIN=target/release/tollgate
CONFIG=benches/bench-gateway-postgres.yaml
WALLET=0x00000000000000000000000000000000000000be
$BIN -c $CONFIG migrate >/dev/null
$BIN -c $CONFIG credit --wallet $WALLET --usd 100000 >/dev/null
LEDGER_KEY=$($BIN -c $CONFIG keys create --wallet $WALLET --label bench 2>/dev/null)
for mode in plain stream; do
  echo "== static key (A) vs ledger key (B), $mode"
  CONFIG_A=$CONFIG CONFIG_B=$CONFIG KEY_A=sk-bench KEY_B=$LEDGER_KEY \
    bash benches/ab.sh $BIN $BIN "$mode" "$ROUNDS"
done
$BIN -c $CONFIG ledger check
