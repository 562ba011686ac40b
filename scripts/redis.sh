#!/usr/bin/env bash
# A throwaway Redis for tests and benchmarks: loopback only, no persistence.
#
#   scripts/redis.sh start DIR [PORT]   # start redis-server (unless one already runs for DIR), print its URL
#   scripts/redis.sh stop DIR
#   scripts/redis.sh url DIR
#
# The server daemonizes; its pid file, log and port live in DIR.
set -euo pipefail
cmd=${1:?start|stop|url}
dir=${2:?directory}
command -v redis-server >/dev/null || { echo "redis.sh: redis-server not found (apt-get install redis-server)" >&2; exit 1; }

ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

case $cmd in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # Concurrent test processes may all ask for the same server: one starts it.
    exec 9>"$dir/start.lock"
    flock 9
    if [[ -f $dir/redis.pid && -f $dir/port ]] && ping "$(cat "$dir/port")"; then
      echo "redis://127.0.0.1:$(cat "$dir/port")"
      exit 0
    fi
    port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" 9>&-
    echo "$port" > "$dir/port"
    for _ in $(seq 100); do ping "$port" && break; sleep 0.05; done
    ping "$port" || { echo "redis.sh: redis-server did not answer on port $port (see $dir/redis.log)" >&2; exit 1; }
    echo "redis://127.0.0.1:$port"
    ;;
  stop)
    if [[ -f $dir/redis.pid ]]; then
      pid=$(cat "$dir/redis.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$dir/redis.pid"
    fi
    ;;
  url)
    echo "redis://127.0.0.1:$(cat "$dir/port")"
    ;;
  *) echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2 ;;
esac
