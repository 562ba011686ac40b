#!/usr/bin/env bash
# Latency-aware selection against round-robin: two mock providers of equal priority serving
# one model, one with 5× the time to first token of the other. For each `health.routing`
# the gateway is loaded closed-loop and the share of requests each provider served is read
# from `tollgate_requests_total{provider}`.
#
#   bash benches/latency_routing.sh [DURATION]      (default 10s)
#
# Prints one line per routing: requests/s, share to the fast provider, share to the slow.
# The selection's own cost (instructions per request) is measured by
#   bash benches/callgrind.sh target/release/tollgate benches/bench-gateway-two.yaml
#   bash benches/callgrind.sh target/release/tollgate benches/bench-gateway-two-latency.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
FAST_MS=${FAST_MS:-20}
SLOW_MS=$((FAST_MS * 5))
[[ -x target/release/tollgate && -x target/release/mock-llm && -x target/release/loadgen ]] ||
  cargo build --release -q -p tollgate-gateway -p tollgate-benches
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
target/release/mock-llm --listen 127.0.0.1:18011 --ttft-ms "$FAST_MS" >/dev/null 2>&1 & pids+=($!)
target/release/mock-llm --listen 127.0.0.1:18012 --ttft-ms "$SLOW_MS" >/dev/null 2>&1 & pids+=($!)

run() {
  local routing=$1
  # The same config with its providers on the two mocks.
  local slow_port=${2:-18012}
  python3 - "$routing" "$dir/$routing.yaml" "$slow_port" <<'PY'
import sys
routing, out, slow_port = sys.argv[1], sys.argv[2], sys.argv[3]
text = open("benches/bench-gateway-two.yaml").read().replace("routing: round_robin", f"routing: {routing}")
head, slow = text.split("  - id: slow", 1)
text = head.replace(":18001/", ":18011/") + "  - id: slow" + slow.replace(":18001/", f":{slow_port}/")
open(out, "w").write(text)
PY
  target/release/tollgate -c "$dir/$routing.yaml" >/dev/null 2>&1 &
  local gw=$!
  for _ in $(seq 100); do curl -fs http://127.0.0.1:18004/health >/dev/null 2>&1 && break; sleep 0.1; done
  target/release/loadgen --url http://127.0.0.1:18004/v1/chat/completions \
    -H "authorization: Bearer sk-bench" -H "content-type: application/json" \
    --body '{"model":"mock-1","max_tokens":16,"messages":[{"role":"user","content":"Hello there"}]}' \
    --connections 16 --duration "$DURATION" --warmup 1s --no-progress --out "$dir/$routing.json" >/dev/null
  local metrics
  metrics=$(curl -fs http://127.0.0.1:18005/metrics)
  kill -INT $gw; wait $gw 2>/dev/null || true
  python3 - "$routing" "$dir/$routing.json" <<PY
import json, re, sys
routing, report = sys.argv[1], json.load(open(sys.argv[2]))
text = """$metrics"""
def served(p):
    return sum(float(m.group(1)) for m in re.finditer(
        r'^tollgate_requests_total\{[^}]*provider="%s"[^}]*status="200"[^}]*\} (\S+)' % p, text, re.M))
fast, slow = served("fast"), served("slow")
rps = report.get("throughput_rps") or report.get("rps") or report.get("requests_per_second")
print(f"{routing:12s} rps={rps} fast={fast/(fast+slow):.1%} slow={slow/(fast+slow):.1%} (requests: fast {fast:.0f}, slow {slow:.0f})")
PY
}
echo "two providers, time to first token ${FAST_MS} ms vs ${SLOW_MS} ms, 16 connections, $DURATION"
run round_robin
run latency
# The selection's own cost: both providers on one mock without delay (so only the gateway
# limits throughput), alternating runs; compare the rps of the two routings.
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()
target/release/mock-llm --listen 127.0.0.1:18011 >/dev/null 2>&1 & pids+=($!)
echo "selection cost: both providers on one mock, no delay"
for _ in 1 2 3; do run round_robin 18011; run latency 18011; done
