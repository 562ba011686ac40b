#!/usr/bin/env bash
# A/B throughput of two tollgate binaries on the same machine, same run, alternating so
# that drift on a shared machine hits both equally. Prints each run and the median ratio.
#
#   bash benches/ab.sh OLD_BINARY NEW_BINARY [stream|plain] [rounds]
#
# Uses benches/bench-gateway.yaml (1 worker, pinned to CPU 1) and mock-llm + loadgen on CPU 0.
# CONFIG_A / CONFIG_B pick other configs (same listen port), e.g. to compare body paths:
#   CONFIG_B=benches/bench-gateway-subrequest.yaml bash benches/ab.sh target/release/tollgate target/release/tollgate
# KEY_A / KEY_B pick the API key each side sends (default sk-bench, a static key).
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 MODE=${3:-stream} ROUNDS=${4:-3}
CONFIG_A=${CONFIG_A:-benches/bench-gateway.yaml} CONFIG_B=${CONFIG_B:-benches/bench-gateway.yaml}
KEY_A=${KEY_A:-sk-bench} KEY_B=${KEY_B:-sk-bench}
BIN=target/release
if [[ $MODE == stream ]]; then
  BODY='{"model":"mock-1","stream":true,"messages":[{"role":"user","content":"Hello there"}]}'
else
  BODY='{"model":"mock-1","messages":[{"role":"user","content":"Hello there"}]}'
fi
taskset -c 0 $BIN/mock-llm --listen 127.0.0.1:18001 --threads 1 >/dev/null &
MOCK=$!
trap 'kill $MOCK 2>/dev/null || true' EXIT
sleep 0.5
run() {
  local bin=$1 config=$2 key=$3
  taskset -c 1 "$bin" -c "$config" 2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do curl -fs http://127.0.0.1:18004/health >/dev/null && break; sleep 0.1; done
  taskset -c 0 $BIN/loadgen --url http://127.0.0.1:18004/v1/chat/completions --body "$BODY" \
    -H "authorization: Bearer $key" -H 'content-type: application/json' \
    --connections 64 --duration 6s --warmup 1s --no-progress --label ab --out /tmp/ab.json >/dev/null
  kill -INT $pid; wait $pid 2>/dev/null || true
  # Only 2xx responses count: a gateway shedding load with fast 402/503s is not "faster".
  python3 - <<'PY'
import json, sys
d = json.load(open("/tmp/ab.json"))
bad = d["non_2xx"] + d["errors"]
print(round(d["rps"] * (d["requests"] - bad) / max(d["requests"], 1)))
if bad:
    print(f"  ({bad} of {d['requests']} responses were not 2xx)", file=sys.stderr)
PY
}
a=() b=()
for i in $(seq "$ROUNDS"); do
  a+=("$(run "$A" "$CONFIG_A" "$KEY_A")"); b+=("$(run "$B" "$CONFIG_B" "$KEY_B")")
  echo "round $i: A ${a[-1]} rps, B ${b[-1]} rps"
done
python3 - "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"median A {ma:.0f} rps, B {mb:.0f} rps, B/A = {mb/ma:.3f}")
PY
