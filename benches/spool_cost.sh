#!/usr/bin/env bash
# What the billing spool costs a request: Postgres billing with the spool on (B) vs off (A),
# same binary, alternating runs, open loop at a fixed rate (latency, not throughput: the
# append is one write() before the last chunk). Prints p50 / p99 per run and the medians.
#
#   bash benches/spool_cost.sh [plain|stream] [rate] [rounds]
#
# Layout as benches/ab.sh: the gateway (1 worker) on CPU 1; mock-llm, loadgen and Postgres on
# CPU 0. Instruction counts of the same two configs: benches/instructions.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-plain} RATE=${2:-2000} ROUNDS=${3:-3}
BIN=target/release
cargo build --release -q -p tollgate-gateway -p tollgate-benches
DIR=$(mktemp -d /tmp/tollgate-spool-bench.XXXXXX)
chmod 755 "$DIR"
trap 'kill $MOCK 2>/dev/null || true; bash scripts/pg.sh stop "$DIR/pg" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
export DATABASE_URL
DATABASE_URL=$(taskset -c 0 bash scripts/pg.sh start "$DIR/pg")
PG=benches/bench-gateway-postgres.yaml
sed "s|spool: { dir: .* }|spool: false|" $PG > "$DIR/off.yaml"
sed "s|spool: { dir: .* }|spool: { dir: $DIR/spool }|" $PG > "$DIR/on.yaml"
$BIN/tollgate -c "$DIR/on.yaml" migrate >/dev/null
$BIN/tollgate -c "$DIR/on.yaml" credit --wallet 0x00000000000000000000000000000000000000be --usd 100000 --reason bench >/dev/null
if [[ $MODE == stream ]]; then
  BODY='{"model":"mock-1","stream":true,"messages":[{"role":"user","content":"Hello there"}]}'
else
  BODY='{"model":"mock-1","messages":[{"role":"user","content":"Hello there"}]}'
fi
taskset -c 0 $BIN/mock-llm --listen 127.0.0.1:18001 --threads 1 >/dev/null &
MOCK=$!
sleep 0.5
run() {
  taskset -c 1 $BIN/tollgate -c "$1" 2>"$DIR/gateway.log" &
  local pid=$!
  for _ in $(seq 50); do curl -fs http://127.0.0.1:18004/health >/dev/null && break; sleep 0.1; done
  taskset -c 0 $BIN/loadgen --url http://127.0.0.1:18004/v1/chat/completions --body "$BODY" \
    -H 'authorization: Bearer sk-bench' -H 'content-type: application/json' \
    --connections 32 --rate "$RATE" --duration 8s --warmup 2s --no-progress --label spool --out "$DIR/run.json" >/dev/null
  kill -INT $pid; wait $pid 2>/dev/null || true
  python3 -c "
import json; d = json.load(open('$DIR/run.json')); l = d['latency_us']
assert d['non_2xx'] + d['errors'] == 0, d
print(l['p50'], l['p99'])"
}
a50=() a99=() b50=() b99=()
for i in $(seq "$ROUNDS"); do
  read -r p50 p99 < <(run "$DIR/off.yaml"); a50+=("$p50"); a99+=("$p99")
  read -r p50 p99 < <(run "$DIR/on.yaml"); b50+=("$p50"); b99+=("$p99")
  echo "round $i: spool off p50 ${a50[-1]} µs p99 ${a99[-1]} µs | spool on p50 ${b50[-1]} µs p99 ${b99[-1]} µs"
done
$BIN/tollgate -c "$DIR/on.yaml" ledger check >/dev/null
python3 - "${a50[*]}" "${a99[*]}" "${b50[*]}" "${b99[*]}" <<'PY'
import statistics as s, sys
a50, a99, b50, b99 = ([float(x) for x in v.split()] for v in sys.argv[1:5])
print(f"median p50: off {s.median(a50):.0f} µs, on {s.median(b50):.0f} µs ({s.median(b50) - s.median(a50):+.0f} µs)")
print(f"median p99: off {s.median(a99):.0f} µs, on {s.median(b99):.0f} µs ({s.median(b99) - s.median(a99):+.0f} µs)")
PY
