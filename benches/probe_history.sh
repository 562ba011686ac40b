#!/usr/bin/env bash
# Do the probe history and the health view stay fast at millions of probe results?
#
#   bash benches/probe_history.sh [PARENT_DIR]
#
# Starts a throwaway PostgreSQL cluster (scripts/pg.sh), applies every migration, loads ROWS
# probe results over PAIRS (provider, model) pairs and 7 days (heap in arrival order, 2% fails),
# the matching probe_hourly rows, then times the gateway's queries (the same SQL as
# billing/src/ledger/health.rs) with EXPLAIN ANALYZE, the median of ITER runs each.
# Environment: ROWS (3000000), PAIRS (500), ITER (30), PGBIN.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${ROWS:-3000000}
PAIRS=${PAIRS:-500}
ITER=${ITER:-30}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
export PGBIN
WORK=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/tollgate-probes.XXXXXX")
chmod 755 "$WORK"
trap 'bash "$ROOT/scripts/pg.sh" stop "$WORK/pgdata" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
URL=$(bash "$ROOT/scripts/pg.sh" start "$WORK/pgdata" | tail -1)
q() { PGTZ=UTC "$PGBIN/psql" "$URL" -X -v ON_ERROR_STOP=1 -qAt "$@"; }
for f in "$ROOT"/billing/migrations/*.sql; do q -f "$f"; done

echo "==> loading $ROWS probe results over $PAIRS pairs" >&2
t0=$(date +%s)
q -c "INSERT INTO probe_results (provider, model, at, result, latency_ms, ttfb_ms, status, error, usage_seen, node)
      SELECT 'p' || (i % $PAIRS / 10), 'm' || (i % 10),
             now() - interval '7 days' + (i::float8 / $ROWS) * interval '7 days',
             CASE WHEN i % 50 = 0 THEN 'fail' ELSE 'ok' END,
             (50 + (i::int8 * 7919) % 900)::int, (40 + (i::int8 * 7919) % 800)::int,
             CASE WHEN i % 50 = 0 THEN 503 ELSE 200 END,
             CASE WHEN i % 50 = 0 THEN 'probe answered HTTP 503' END,
             i % 50 <> 0, 'bench'
      FROM generate_series(1, $ROWS) AS i"
q -c "INSERT INTO probe_hourly (provider, model, hour, probes, ok)
      SELECT provider, model, date_trunc('hour', at), COUNT(*), COUNT(*) FILTER (WHERE result = 'ok')
      FROM probe_results GROUP BY 1, 2, 3"
q -c "VACUUM ANALYZE probe_results"; q -c "VACUUM ANALYZE probe_hourly"
echo "==> loaded in $(( $(date +%s) - t0 )) s; table + indexes: $(q -c "SELECT pg_size_pretty(pg_total_relation_size('probe_results'))")" >&2

MID=$(q -c "SELECT id FROM probe_results WHERE provider = 'p7' AND model = 'm3' ORDER BY id LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM probe_results WHERE provider = 'p7' AND model = 'm3')")
COLS="id, at, provider, model, result, latency_ms, ttfb_ms, status, error, usage_seen, input_tokens, output_tokens, node"
median() {
  local sql=$1
  for _ in $(seq "$ITER"); do
    q -c "EXPLAIN (ANALYZE, TIMING OFF) $sql" | sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p'
  done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
row() { printf '| %s | %s ms |\n' "$1" "$(median "$2")"; }
echo "| query ($ROWS rows, $PAIRS pairs, 7 days) | median of $ITER |"
echo "|---|---|"
row "history, one pair, first page (100)" \
  "SELECT $COLS FROM probe_results WHERE provider = 'p7' AND model = 'm3' ORDER BY id DESC LIMIT 100"
row "history, one pair, cursor half-way back" \
  "SELECT $COLS FROM probe_results WHERE provider = 'p7' AND model = 'm3' AND id < $MID ORDER BY id DESC LIMIT 100"
row "history, one pair, since 1 h ago" \
  "SELECT $COLS FROM probe_results WHERE provider = 'p7' AND model = 'm3' AND at >= (now() - interval '1 hour')::text::timestamptz ORDER BY id DESC LIMIT 100"
row "history, one provider (10 models), first page" \
  "SELECT $COLS FROM probe_results WHERE provider = 'p7' ORDER BY id DESC LIMIT 100"
row "history, everything, first page" \
  "SELECT $COLS FROM probe_results ORDER BY id DESC LIMIT 100"
row "health view: pairs and uptime 24 h / 7 d (probe_hourly)" \
  "SELECT provider, model, SUM(probes)::INT8, SUM(ok)::INT8, COALESCE(SUM(probes) FILTER (WHERE hour > now() - interval '24 hours'), 0)::INT8, COALESCE(SUM(ok) FILTER (WHERE hour > now() - interval '24 hours'), 0)::INT8 FROM probe_hourly WHERE hour > now() - interval '7 days' GROUP BY provider, model ORDER BY provider, model"
row "health view, per pair: p50/p95 over 1 h and 24 h" \
  "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE at > now() - interval '1 hour'), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE at > now() - interval '1 hour'), percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FROM probe_results WHERE provider = 'p7' AND model = 'm3' AND result = 'ok' AND at > now() - interval '24 hours'"
row "health view, per pair: last probe" \
  "SELECT $COLS FROM probe_results WHERE provider = 'p7' AND model = 'm3' ORDER BY id DESC LIMIT 1"
row "retention: delete a 10k batch older than 6 days" \
  "DELETE FROM probe_results WHERE id IN (SELECT id FROM probe_results WHERE at < now() - make_interval(secs => 518400::float8) ORDER BY at LIMIT 10000)"
