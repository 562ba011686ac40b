#!/usr/bin/env bash
# Instructions per request of one tollgate binary and config, counted by valgrind's callgrind
# (the same run to run, unlike time on a shared machine). Two runs, N1 and N2 sequential
# keep-alive requests; the difference divided by N2 - N1 leaves start-up and shutdown out.
#
#   bash benches/callgrind.sh BINARY [CONFIG] [plain|stream]
#
# CONFIG listens on 127.0.0.1:18004 with mock-llm on :18001 (benches/bench-gateway.yaml).
# BINARY may also be bare-pingora (CONFIG is then ignored): the same proxy on :18004, one
# worker thread. Prints one number: instructions per request (all the process's threads:
# settlement, leases and spool included). benches/instructions.sh prints the whole table.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1 CONFIG=${2:-benches/bench-gateway.yaml} MODE=${3:-plain}
N1=${N1:-200} N2=${N2:-1200}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
[[ -x target/release/mock-llm ]] || cargo build --release -q -p tollgate-benches
out=$(mktemp -d)
target/release/mock-llm --listen 127.0.0.1:18001 --threads 1 >/dev/null 2>&1 &
MOCK=$!
trap 'kill $MOCK 2>/dev/null || true; rm -rf "$out"' EXIT

if [[ $(basename "$BIN") == bare-pingora ]]; then
  ARGS=(--listen 127.0.0.1:18004 --upstream 127.0.0.1:18001 --threads 1)
else
  ARGS=(-c "$CONFIG")
fi

count() {
  local n=$1
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" "$BIN" "${ARGS[@]}" >/dev/null 2>"$out/valgrind.$n" &
  local pid=$!
  # Any HTTP answer means it listens (bare Pingora passes /health to the mock).
  for _ in $(seq 600); do curl -s -o /dev/null http://127.0.0.1:18004/health && break; sleep 0.1; done
  python3 - "$n" "$MODE" <<'PY'
import http.client, json, sys
n, mode = int(sys.argv[1]), sys.argv[2]
body = {"model": "mock-1", "messages": [{"role": "user", "content": "Hello there"}]}
if mode == "stream":
    body["stream"] = True
body = json.dumps(body)
c = http.client.HTTPConnection("127.0.0.1", 18004, timeout=60)
for _ in range(n):
    c.request("POST", "/v1/chat/completions", body, {"authorization": "Bearer sk-bench", "content-type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
  kill -INT $pid; wait $pid 2>/dev/null || true
  # Sum the "summary:" / "totals:" Ir of every thread's file.
  cat "$out"/cg."$n"* | awk '/^summary:/ {s += $2} END {print s}'
}
a=$(count "$N1")
b=$(count "$N2")
python3 -c "print(round(($b - $a) / ($N2 - $N1)))"
