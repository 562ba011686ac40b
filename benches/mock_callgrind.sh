#!/usr/bin/env bash
# Instructions per request of one mock-llm binary, counted by valgrind's callgrind (the
# same run to run, unlike time on a shared machine): two runs of N1 and N2 sequential
# keep-alive requests, the difference divided by N2 - N1 (start-up and shutdown cancel).
#
#   bash benches/mock_callgrind.sh MOCK_BINARY [PATH] [plain|stream]
#
# PATH defaults to /v1/chat/completions (/v1/messages, /v1/responses, /v1/embeddings too).
# Prints one number: instructions per request.
set -euo pipefail
BIN=$1 URL_PATH=${2:-/v1/chat/completions} MODE=${3:-plain}
N1=${N1:-200} N2=${N2:-1200} PORT=${PORT:-18021}
command -v valgrind >/dev/null || { echo "mock_callgrind.sh: valgrind not installed" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() {
  local n=$1
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" "$BIN" --listen "127.0.0.1:$PORT" \
    >/dev/null 2>"$out/valgrind.$n" &
  local pid=$!
  python3 - "$n" "$MODE" "$URL_PATH" "$PORT" <<'PY'
import http.client, json, sys, time
n, mode, path, port = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = {"model": "mock-1", "messages": [{"role": "user", "content": "Hello there"}],
        "input": "Hello there", "max_tokens": 16}
if mode == "stream":
    body["stream"] = True
body = json.dumps(body)
for _ in range(600):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.connect()
        break
    except OSError:
        time.sleep(0.1)
for _ in range(n):
    c.request("POST", path, body, {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
  kill -TERM $pid; wait $pid 2>/dev/null || true
  grep -m1 '^summary:' "$out/cg.$n" | awk '{print $2}'
}

i1=$(count "$N1")
i2=$(count "$N2")
echo $(( (i2 - i1) / (N2 - N1) ))
