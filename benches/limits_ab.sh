#!/usr/bin/env bash
# Cost of rate limiting: no limits (A) vs the in-process limiter (B) vs the Redis limiter (C),
# same binary, same run, alternating A B C each round so that drift on a shared machine hits
# all three equally. Every limit is on and set too high to trigger. Prints each run, the
# medians and the ratios B/A, C/A of 2xx throughput and of the gateway's own CPU time per
# request (the second isolates the gateway: on two cores Redis has to share CPU 0 with the
# mock and the load generator, so C's throughput also measures a slower driver).
#
#   bash benches/limits_ab.sh [plain|stream|both] [rounds]
#
# Layout as benches/ab.sh: the gateway (1 worker) on CPU 1; mock-llm, loadgen and redis-server
# on CPU 0. Configs: benches/bench-gateway.yaml, bench-gateway-limits.yaml,
# bench-gateway-limits-redis.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=${1:-both} ROUNDS=${2:-3}
[[ $MODES == both ]] && MODES="plain stream"
BIN=target/release
cargo build --release -q -p tollgate-gateway -p tollgate-benches
DIR=$(mktemp -d /tmp/tollgate-limits-bench.XXXXXX)
export REDIS_URL
REDIS_URL=$(taskset -c 0 bash scripts/redis.sh start "$DIR/redis")
taskset -c 0 $BIN/mock-llm --listen 127.0.0.1:18001 --threads 1 >/dev/null &
MOCK=$!
trap 'kill $MOCK 2>/dev/null || true; bash scripts/redis.sh stop "$DIR/redis" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
sleep 0.5

run() {
  local config=$1 body=$2
  taskset -c 1 $BIN/tollgate -c "$config" 2>"$DIR/gateway.log" &
  local pid=$!
  for _ in $(seq 50); do curl -fs http://127.0.0.1:18004/health >/dev/null && break; sleep 0.1; done
  # The gateway's CPU ticks over the measured 6 s (after the 1 s warm-up).
  ( sleep 1; awk '{print $14 + $15}' /proc/$pid/stat > "$DIR/cpu0"; sleep 6
    awk '{print $14 + $15}' /proc/$pid/stat > "$DIR/cpu1" ) &
  local sampler=$!
  taskset -c 0 $BIN/loadgen --url http://127.0.0.1:18004/v1/chat/completions --body "$body" \
    -H 'authorization: Bearer sk-bench' -H 'content-type: application/json' \
    --connections 64 --duration 6s --warmup 1s --no-progress --label limits --out "$DIR/run.json" >/dev/null
  wait $sampler
  # The limiter must have decided every request where it was meant to (no silent fallback).
  local fallback
  fallback=$(curl -fs http://127.0.0.1:18005/metrics | awk '/^tollgate_rate_limit_redis_unavailable_total/ {s += $2} END {print s + 0}')
  kill -INT $pid; wait $pid 2>/dev/null || true
  python3 - "$DIR/run.json" "$fallback" "$(( $(cat "$DIR/cpu1") - $(cat "$DIR/cpu0") ))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bad = d["non_2xx"] + d["errors"]
ok_rps = d["rps"] * (d["requests"] - bad) / max(d["requests"], 1)
cpu_us = int(sys.argv[3]) / int(sys.argv[4]) * 1e6 / max(d["rps"] * 6, 1)
print(f"{round(ok_rps)}/{cpu_us:.2f}")
if bad:
    print(f"  ({bad} of {d['requests']} responses were not 2xx)", file=sys.stderr)
if float(sys.argv[2]) > 0:
    print(f"  ({sys.argv[2]} requests fell back to the local limiter)", file=sys.stderr)
PY
}

for mode in $MODES; do
  if [[ $mode == stream ]]; then
    BODY='{"model":"mock-1","stream":true,"messages":[{"role":"user","content":"Hello there"}]}'
  else
    BODY='{"model":"mock-1","messages":[{"role":"user","content":"Hello there"}]}'
  fi
  echo "== $mode: A no limits, B in-process limiter, C Redis limiter"
  a=() b=() c=()
  for i in $(seq "$ROUNDS"); do
    a+=("$(run benches/bench-gateway.yaml "$BODY")")
    b+=("$(run benches/bench-gateway-limits.yaml "$BODY")")
    c+=("$(run benches/bench-gateway-limits-redis.yaml "$BODY")")
    echo "round $i (rps/gateway CPU µs per request): A ${a[-1]}, B ${b[-1]}, C ${c[-1]}"
  done
  python3 - "${a[*]}" "${b[*]}" "${c[*]}" <<'PY'
import statistics, sys
runs = [[tuple(map(float, x.split("/"))) for x in arg.split()] for arg in sys.argv[1:4]]
rps = [statistics.median(r for r, _ in runs_) for runs_ in runs]
cpu = [statistics.median(c for _, c in runs_) for runs_ in runs]
print(f"median rps: A {rps[0]:.0f}, B {rps[1]:.0f}, C {rps[2]:.0f}; "
      f"B/A = {rps[1]/rps[0]:.3f}, C/A = {rps[2]/rps[0]:.3f}")
print(f"median gateway CPU per request: A {cpu[0]:.2f} µs, B {cpu[1]:.2f} µs, C {cpu[2]:.2f} µs; "
      f"capacity B/A = {cpu[0]/cpu[1]:.3f}, C/A = {cpu[0]/cpu[2]:.3f}")
PY
done
echo "redis: $(redis-cli -u "$REDIS_URL" info commandstats | grep -E 'evalsha|script' | tr -d '\r' | tr '\n' ' ')"
