#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and the demo.
#
#   scripts/pg.sh start DIR [PORT]   # initdb (as the postgres user) if DIR is new, start, print DATABASE_URL
#   scripts/pg.sh stop DIR
#   scripts/pg.sh url DIR
#
# fsync stays on (the default): the tests kill processes mid-write and must see what a real
# server would keep. The server listens on 127.0.0.1 only; its socket lives in DIR.
set -euo pipefail
cmd=${1:?start|stop|url}
dir=${2:?data directory}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x $PGBIN/initdb ]] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
  start)
    # Concurrent test processes may all ask for the same cluster: one starts it.
    mkdir -p "$(dirname "$dir")"
    exec 9>"${dir%/}.lock"
    flock 9
    if [[ -f $dir/postmaster.pid && -f $dir/tollgate.port ]] \
      && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/tollgate.port")"; then
      echo "postgres://postgres@127.0.0.1:$(cat "$dir/tollgate.port")/tollgate"
      exit 0
    fi
    [[ -f $dir/tollgate.port && -z ${3:-} ]] && set -- "$1" "$2" "$(cat "$dir/tollgate.port")"
    port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
      chown postgres "$dir"; chmod 700 "$dir"
      # The postgres user must reach DIR: a checkout in a private directory (mktemp -d is
      # 0700) gets search permission on its ancestors, nothing more (no read, no write).
      p=$(dirname "$dir")
      while [[ $p != / ]]; do
        runuser -u postgres -- test -x "$p" || chmod o+x "$p"
        p=$(dirname "$p")
      done
    fi
    if [[ ! -f $dir/PG_VERSION ]]; then
      as_pg "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    fi
    echo "$port" > "$dir/tollgate.port" 2>/dev/null || as_pg sh -c "echo $port > '$dir/tollgate.port'"
    as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null 9>&-
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qAtc \
      "SELECT 1 FROM pg_database WHERE datname='tollgate'" | grep -q 1 \
      || as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres tollgate
    echo "postgres://postgres@127.0.0.1:$port/tollgate"
    ;;
  stop)
    [[ -f $dir/postmaster.pid ]] && as_pg "$PGBIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
  url)
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/tollgate.port")/tollgate"
    ;;
  *) echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2 ;;
esac
