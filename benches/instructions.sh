#!/usr/bin/env bash
# Instructions per request, Tollgate vs bare Pingora, counted by callgrind (benches/callgrind.sh:
# N1 and N2 sequential keep-alive requests, (I(N2) - I(N1)) / (N2 - N1); the same run to run,
# unlike throughput on a shared machine). One worker thread, mock-llm with 12 input and 16
# output tokens (stream: one SSE event per token). Prints a Markdown table: each row's count,
# and its ratio to bare Pingora in the same mode.
#
#   bash benches/instructions.sh [plain|stream|both]
#
# Rows: bare Pingora; Tollgate with the memory sink (benches/bench-gateway.yaml); with Postgres
# billing (bench-gateway-postgres.yaml: leases, settlement, the spool), and the same with
# `spool: false`; with the Redis limiter (bench-gateway-limits-redis.yaml); with both. A
# throwaway Postgres and Redis are started; their own work is not counted (other processes).
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=${1:-both}
[[ $MODES == both ]] && MODES="plain stream"
cargo build --release -q -p tollgate-gateway -p tollgate-benches
BIN=target/release
DIR=$(mktemp -d /tmp/tollgate-instructions.XXXXXX)
chmod 755 "$DIR"   # the postgres user must reach its data directory
trap 'bash scripts/pg.sh stop "$DIR/pg" >/dev/null 2>&1 || true; bash scripts/redis.sh stop "$DIR/redis" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
export DATABASE_URL REDIS_URL
DATABASE_URL=$(bash scripts/pg.sh start "$DIR/pg")
REDIS_URL=$(bash scripts/redis.sh start "$DIR/redis")

PG=benches/bench-gateway-postgres.yaml
sed "s|spool: { dir: .* }|spool: false|" $PG > "$DIR/postgres-nospool.yaml"
sed "s|spool: { dir: .* }|spool: { dir: $DIR/spool }|" $PG > "$DIR/postgres.yaml"
# Postgres billing with the Redis limiter: the postgres file plus the limits and redis sections.
{ grep -v '^health:\|^  probes:' "$DIR/postgres.yaml"
  sed -n '/^limits:/,/^$/p' benches/bench-gateway-limits-redis.yaml
  echo 'health: { probes: false }'; } > "$DIR/postgres-redis.yaml"
$BIN/tollgate -c "$DIR/postgres.yaml" migrate >/dev/null
$BIN/tollgate -c "$DIR/postgres.yaml" credit --wallet 0x00000000000000000000000000000000000000be --usd 100000 --reason bench >/dev/null

ROWS=(
  "bare Pingora|$BIN/bare-pingora|-"
  "Tollgate, memory sink|$BIN/tollgate|benches/bench-gateway.yaml"
  "Tollgate, Postgres billing (spool on)|$BIN/tollgate|$DIR/postgres.yaml"
  "Tollgate, Postgres billing, spool off|$BIN/tollgate|$DIR/postgres-nospool.yaml"
  "Tollgate, Redis limiter|$BIN/tollgate|benches/bench-gateway-limits-redis.yaml"
  "Tollgate, Postgres billing + Redis limiter|$BIN/tollgate|$DIR/postgres-redis.yaml"
)
declare -A COUNT
for mode in $MODES; do
  for row in "${ROWS[@]}"; do
    IFS='|' read -r label bin config <<<"$row"
    COUNT["$label|$mode"]=$(bash benches/callgrind.sh "$bin" "$config" "$mode")
    echo "  $label, $mode: ${COUNT["$label|$mode"]}" >&2
  done
done
$BIN/tollgate -c "$DIR/postgres.yaml" ledger check >/dev/null

header="| configuration |"; rule="| --- |"
for mode in $MODES; do header+=" $mode instr/req | × bare |"; rule+=" ---: | ---: |"; done
echo "$header"; echo "$rule"
for row in "${ROWS[@]}"; do
  IFS='|' read -r label _ _ <<<"$row"
  line="| $label |"
  for mode in $MODES; do
    n=${COUNT["$label|$mode"]} base=${COUNT["bare Pingora|$mode"]}
    line+=" $(printf "%'d" "$n") | $(python3 -c "print(f'{$n / $base:.2f}')") |"
  done
  echo "$line"
done
