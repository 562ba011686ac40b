#!/usr/bin/env bash
# Does the request log stay fast at 10M+ rows? (LiteLLM's spend logs famously do not.)
#
#   bash benches/request_log_10m.sh [PARENT_DIR]
#
# Starts a throwaway PostgreSQL cluster (scripts/pg.sh) in a temp dir under PARENT_DIR
# (default /tmp), applies billing/migrations/0001_ledger.sql, bulk-loads ROWS request_log
# rows (3 heavy wallets with ROWS/10 rows each, a skewed long tail over the other wallets,
# 90 days, heap in arrival order), then measures the gateway's keyset-paginated history query,
# the OFFSET deep page it avoids and the per-key usage aggregate with pgbench (-M prepared,
# as sqlx does). Prints a Markdown table; the cluster and temp dir are removed on exit.
# Environment: ROWS (10000000), WALLETS (20000), ITER (200 runs per query and mode, fewer when
# a run is slow: BUDGET_MS (20000) per query and mode, at least MIN_ITER (10)), PGBIN.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${ROWS:-10000000}
WALLETS=${WALLETS:-20000}
HEAVY=3                      # wallets 0..2 hold exactly ROWS/10 rows each
ITER=${ITER:-200}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
export PGBIN
PAGE=50
DEEP=$((ROWS / 10 * 9 / 10))  # cursor/offset depth in the heavy wallet: 900k at 10M rows

PARENT=${1:-${TMPDIR:-/tmp}}
mkdir -p "$PARENT"
WORK=$(mktemp -d "$PARENT/tollgate-reqlog.XXXXXX")
chmod 755 "$WORK"            # the postgres user must reach its data dir below
PGDATA_DIR=$WORK/pgdata
cleanup() {
    bash "$ROOT/scripts/pg.sh" stop "$PGDATA_DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '==> %s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

T_ALL=$(now)
URL=$(bash "$ROOT/scripts/pg.sh" start "$PGDATA_DIR" | tail -1)
log "cluster up: $URL ($("$PGBIN/postgres" --version))"
q() { PGTZ=UTC "$PGBIN/psql" "$URL" -X -v ON_ERROR_STOP=1 -qAt "$@"; }

q -f "$ROOT/billing/migrations/0001_ledger.sql"

# ---------------------------------------------------------------- load
# The final table must carry exactly the migration's indexes: record their definitions, drop
# them, load, rebuild from the recorded definitions, and compare.
IDX_BEFORE=$(q -c "SELECT string_agg(indexdef, E'\n' ORDER BY indexname) FROM pg_indexes
                   WHERE schemaname = 'public' AND tablename = 'request_log'")
PK_DDL=$(q -c "SELECT format('ALTER TABLE request_log ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid))
               FROM pg_constraint WHERE conrelid = 'request_log'::regclass AND contype = 'p'")
mapfile -t IDX_DDL < <(q -c "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
                             AND tablename = 'request_log' AND indexname <> 'request_log_pkey' ORDER BY indexname")
q -c "ALTER TABLE request_log DROP CONSTRAINT request_log_pkey"
for idx in $(q -c "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'
                   AND tablename = 'request_log' AND indexname <> 'request_log_pkey'"); do
  q -c "DROP INDEX $idx"
done
# Fewer checkpoints during the load only; reset before measuring.
q -c "ALTER SYSTEM SET max_wal_size = '16GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '1h'" \
  -c "SELECT pg_reload_conf()" >/dev/null

log "loading $ROWS request_log rows over $WALLETS wallets ..."
T_LOAD=$(now)
# Session-only speed-ups: no commit wait; session_replication_role=replica skips the per-row
# FK trigger on transfer_id (every value points at a usage transfer inserted just before).
q -v N="$ROWS" -v W="$WALLETS" -v H="$HEAVY" <<'SQL'
SET synchronous_commit = off;
SET session_replication_role = replica;
SET work_mem = '256MB';
SELECT setseed(0.42) \g /dev/null
SELECT date_trunc('day', now()) - interval '90 days' AS t0 \gset

-- Helper (dropped after the load): wallet addresses shaped like the wallets CHECK
-- (0x + 40 hex), 1-4 API keys per wallet, 8 for the heavy ones.
CREATE UNLOGGED TABLE bench_wallets AS
SELECT w, '0x' || substr(md5('wallet:' || w) || md5('wallet2:' || w), 1, 40) AS address,
       ARRAY(SELECT 'key_' || substr(md5('key:' || w || ':' || k), 1, 20)
             FROM generate_series(1, CASE WHEN w < :H THEN 8 ELSE 1 + w % 4 END) k) AS keys
FROM generate_series(0, :W - 1) w;
ALTER TABLE bench_wallets ADD PRIMARY KEY (w);
ANALYZE bench_wallets;

-- One usage settlement transfer per 1000 requests (ids 1..N/1000).
INSERT INTO transfers (kind, idempotency_key, created_at)
SELECT 'usage', 'usage-batch-' || b, :'t0'::timestamptz + b * 1000 * (interval '90 days' / :N)
FROM generate_series(1, (:N + 999) / 1000) b;

INSERT INTO request_log (
    request_id, created_at, wallet, key_id, provider, model, upstream_model, api, stream,
    status, http_status, input_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    cache_read_tokens, output_tokens, usage_missing, stream_cut, provider_cost, buyer_cost,
    platform_fee, reserved, attempts, latency_ms, ttfb_ms, error_code, transfer_id)
SELECT request_id, created_at, wallet, key_id, provider, model, upstream_model, api, stream,
       status, http_status, input_tokens, cw5m, cw1h, cache_read, output_tokens, usage_missing,
       stream_cut, provider_cost, buyer_cost, buyer_cost - provider_cost,
       buyer_cost + 20000 + (r_res * 80000)::bigint, attempts, latency_ms, ttfb_ms, error_code,
       CASE WHEN buyer_cost > 0 THEN (i - 1) / 1000 + 1 END
FROM (
    SELECT t.*,
           (input_tokens * 300 + cw5m * 375 + cw1h * 600 + cache_read * 30
            + output_tokens * 1500) / 100 * model_price AS provider_cost,
           (input_tokens * 300 + cw5m * 375 + cw1h * 600 + cache_read * 30
            + output_tokens * 1500) / 100 * model_price * 105 / 100 AS buyer_cost
    FROM (
        SELECT s.i, s.r_res,
               'req_' || lpad(to_hex(s.i), 24, '0') AS request_id,
               -- arrival order (heap is time-ordered like a real append-only log) + jitter
               :'t0'::timestamptz + (s.i - 1) * (interval '90 days' / :N)
                   + s.r_jit * interval '5 seconds' AS created_at,
               w.address AS wallet,
               w.keys[1 + floor(s.r_key * cardinality(w.keys))::int] AS key_id,
               CASE WHEN s.m <= 3 THEN CASE WHEN s.r_prov < 0.7 THEN 'anthropic' ELSE 'bedrock' END
                    WHEN s.m <= 5 THEN CASE WHEN s.r_prov < 0.8 THEN 'openai' ELSE 'azure' END
                    ELSE 'vertex' END AS provider,
               (ARRAY['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1', 'gpt-4.1',
                      'gpt-4.1-mini', 'gemini-2.5-pro'])[s.m] AS model,
               (ARRAY['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001',
                      'claude-opus-4-1-20250805', 'gpt-4.1-2025-04-14',
                      'gpt-4.1-mini-2025-04-14', 'gemini-2.5-pro'])[s.m] AS upstream_model,
               (ARRAY[3, 1, 15, 2, 1, 2])[s.m] AS model_price,
               CASE WHEN s.m <= 3 THEN 'messages' WHEN s.r_prov < 0.3 THEN 'responses'
                    ELSE 'chat_completions' END AS api,
               s.r_stream < 0.7 AS stream,
               s.st AS status,
               CASE s.st WHEN 'upstream_rejected' THEN (ARRAY[400, 429, 529])[1 + floor(s.r_err * 3)::int]
                         WHEN 'upstream_failed' THEN 502 ELSE 200 END::smallint AS http_status,
               CASE WHEN s.ok THEN 50 + floor(20000 * s.r_in ^ 3)::bigint ELSE 0 END AS input_tokens,
               CASE WHEN s.ok AND s.r_cache < 0.10 THEN floor(5000 * s.r_cw)::bigint ELSE 0 END AS cw5m,
               CASE WHEN s.ok AND s.r_cache BETWEEN 0.10 AND 0.12 THEN floor(8000 * s.r_cw)::bigint
                    ELSE 0 END AS cw1h,
               CASE WHEN s.ok AND s.r_cache < 0.55 THEN floor(60000 * s.r_cr ^ 2)::bigint ELSE 0 END AS cache_read,
               CASE WHEN s.ok THEN (10 + floor(3000 * s.r_out ^ 2)::bigint)
                                   / CASE WHEN s.st = 'interrupted' THEN 2 ELSE 1 END
                    ELSE 0 END AS output_tokens,
               s.ok AND s.r_err < 0.002 AS usage_missing,
               s.st = 'interrupted' AND s.r_stream < 0.7 AS stream_cut,
               CASE WHEN s.r_st < 0.03 THEN 2 WHEN s.r_st < 0.035 THEN 3 ELSE 1 END::smallint AS attempts,
               (200 + floor(30000 * s.r_lat ^ 2))::int AS latency_ms,
               CASE WHEN s.ok AND s.r_stream < 0.7 THEN (120 + floor(1500 * s.r_lat))::int END AS ttfb_ms,
               CASE s.st WHEN 'interrupted' THEN 'client_gone' WHEN 'upstream_rejected' THEN 'upstream_status'
                         WHEN 'upstream_failed' THEN 'upstream_unreachable' END AS error_code
        FROM (
            SELECT u.*,
                   CASE WHEN r_st < 0.970 THEN 'completed' WHEN r_st < 0.985 THEN 'interrupted'
                        WHEN r_st < 0.995 THEN 'upstream_rejected' ELSE 'upstream_failed' END AS st,
                   r_st < 0.985 AS ok,
                   1 + floor(r_model * 6)::int AS m
            FROM (
                -- random() in this target list keeps the subquery from being flattened:
                -- each value is drawn once per row.
                SELECT i,
                       CASE WHEN i % 10 < :H THEN i % 10   -- heavy wallets: 10% of rows each
                            ELSE :H + floor((:W - :H) * random() ^ 3)::int END AS widx,
                       random() AS r_jit, random() AS r_key, random() AS r_prov, random() AS r_model,
                       random() AS r_stream, random() AS r_st, random() AS r_err, random() AS r_in,
                       random() AS r_cache, random() AS r_cw, random() AS r_cr, random() AS r_out,
                       random() AS r_lat, random() AS r_res
                FROM generate_series(1, :N) i
            ) u
        ) s
        JOIN bench_wallets w ON w.w = s.widx
    ) t
) x;
SQL
T_ROWS=$(now)
log "rows inserted in $(secs "$T_LOAD" "$T_ROWS") s; building the migration's indexes ..."
IDX_TIMES=()
for ddl in "$PK_DDL" "${IDX_DDL[@]}"; do
    t=$(now)
    q -c "SET maintenance_work_mem = '1GB'" -c "SET max_parallel_maintenance_workers = 1" -c "$ddl"
    IDX_TIMES+=("$(sed -E 's/.*(CONSTRAINT|INDEX) ([a-z_]+).*/\2/' <<<"$ddl") $(secs "$t" "$(now)")s")
done
T_IDX=$(now)
q -c "DROP TABLE bench_wallets"
q -c "SET maintenance_work_mem = '1GB'" -c "VACUUM (ANALYZE) request_log" -c "VACUUM (ANALYZE) transfers"
T_VAC=$(now)
q -c "ALTER SYSTEM RESET max_wal_size" -c "ALTER SYSTEM RESET checkpoint_timeout" \
  -c "SELECT pg_reload_conf()" -c "CHECKPOINT" >/dev/null
LOAD_S=$(secs "$T_LOAD" "$T_VAC")
log "load done in $LOAD_S s (insert $(secs "$T_LOAD" "$T_ROWS") s, indexes $(secs "$T_ROWS" "$T_IDX") s [${IDX_TIMES[*]}], vacuum analyze $(secs "$T_IDX" "$T_VAC") s)"

IDX_AFTER=$(q -c "SELECT string_agg(indexdef, E'\n' ORDER BY indexname) FROM pg_indexes
                  WHERE schemaname = 'public' AND tablename = 'request_log'")
if [[ $IDX_AFTER != "$IDX_BEFORE" ]]; then
    printf 'request_log indexes differ from the migration:\n%s\n--- vs ---\n%s\n' "$IDX_BEFORE" "$IDX_AFTER" >&2
    exit 1
fi
[[ $(q -c "SELECT count(*) FROM request_log") == "$ROWS" ]] || { echo "row count mismatch" >&2; exit 1; }

# ---------------------------------------------------------------- queries
HW=$(q -c "SELECT '0x' || substr(md5('wallet:0') || md5('wallet2:0'), 1, 40)")
TW=$(q -c "SELECT '0x' || substr(md5('wallet:' || ($WALLETS - 1)) || md5('wallet2:' || ($WALLETS - 1)), 1, 40)")
HW_ROWS=$(q -c "SELECT count(*) FROM request_log WHERE wallet = '$HW'")
TW_ROWS=$(q -c "SELECT count(*) FROM request_log WHERE wallet = '$TW'")
# Page-2 cursor of the tail wallet: the last row of its first page.
read -r TW_TS TW_RID < <(q -F ' ' -c "SELECT created_at, request_id FROM request_log WHERE wallet = '$TW'
                                      ORDER BY created_at DESC, request_id DESC
                                      OFFSET least($((PAGE - 1)), $TW_ROWS - 1) LIMIT 1" | sed 's/ /T/')
# Cursor = the last row of the page that ends DEEP rows back in the heavy wallet's history.
read -r HW_TS HW_RID < <(q -F ' ' -c "SELECT created_at, request_id FROM request_log WHERE wallet = '$HW'
                                      ORDER BY created_at DESC, request_id DESC OFFSET $((DEEP - 1)) LIMIT 1" | sed 's/ /T/')
log "heavy wallet $HW: $HW_ROWS rows, deep cursor ($HW_TS, $HW_RID); tail wallet $TW: $TW_ROWS rows"

FIRST="SELECT * FROM request_log WHERE wallet = :wallet ORDER BY created_at DESC, request_id DESC LIMIT $PAGE"
NEXT="SELECT * FROM request_log WHERE wallet = :wallet AND (created_at, request_id) < (:ts, :rid) ORDER BY created_at DESC, request_id DESC LIMIT $PAGE"
OFFSETQ="SELECT * FROM request_log WHERE wallet = :wallet ORDER BY created_at DESC, request_id DESC OFFSET $DEEP LIMIT $PAGE"
AGG="SELECT key_id, count(*), sum(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens), sum(output_tokens), sum(buyer_cost) FROM request_log WHERE wallet = :wallet GROUP BY key_id"

ROWS_MD=()
FINDINGS=()
BUDGET_MS=${BUDGET_MS:-20000}   # per query and mode: fewer than ITER runs when a run takes long
MIN_ITER=${MIN_ITER:-10}

scan_nodes() {  # the scan nodes of a plan, e.g. "Index Scan using request_log_by_wallet"
    grep -oE '(Parallel )?(Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan|Seq Scan)( Backward)?( using [a-z_]+| on [a-z_]+)?' \
        | sed -E 's/ on request_log$//; s/Bitmap Index Scan on /Bitmap Index Scan /' | paste -sd '+' | sed 's/+/ + /g'
}
exec_ms() { sed -nE 's/.*Execution Time: ([0-9.]+) ms.*/\1/p' <<<"$1"; }
iters() { awk -v e="$1" -v b="$BUDGET_MS" -v hi="$ITER" -v lo="$MIN_ITER" \
              'BEGIN { n = int(b / (e + 0.05)); if (n > hi) n = hi; if (n < lo) n = lo; print n }'; }
# pgbench_stats MODE N: runs q.sql N times, prints "n mean p50 p99" (ms, per transaction, client side).
pgbench_stats() {
    rm -f "$WORK"/pgb.*
    "$PGBIN/pgbench" -n -M "$1" -c 1 -t "$2" -f "$WORK/q.sql" "${PGB_ARGS[@]}" \
        -l --log-prefix="$WORK/pgb" "$URL" >"$WORK/pgbench.out" 2>&1 \
        || { cat "$WORK/pgbench.out" >&2; return 1; }
    cat "$WORK"/pgb.* | awk '{ print $3 / 1000 }' | sort -n | awk '
        { v[NR] = $1; s += $1 }
        END { printf "%d %.2f %.2f %.2f", NR, s / NR, v[int(NR * 0.50 + 0.999999)], v[int(NR * 0.99 + 0.999999)] }'
}

# bench NAME SQL WALLET [TS RID]
# 1. EXPLAIN (ANALYZE, BUFFERS) with literals: the custom plan.
# 2. PREPARE, EXECUTE x5, EXPLAIN (ANALYZE, BUFFERS) EXECUTE: the plan a client that keeps
#    prepared statements (sqlx does, per connection) gets from the 6th execution on — PostgreSQL
#    switches to a generic plan when its estimated cost is lower.
# 3. pgbench -M extended (custom plan every time) and -M prepared (as sqlx).
bench() {
    local name=$1 sql=$2 wallet=$3 ts=${4:-} rid=${5:-}
    local lit=${sql//:wallet/\'$wallet\'} par=${sql//:wallet/\$1} types=text vals="'$wallet'"
    lit=${lit//:ts/\'$ts\'::timestamptz}; lit=${lit//:rid/\'$rid\'}
    par=${par//:ts/\$2}; par=${par//:rid/\$3}
    PGB_ARGS=(-D "wallet=$wallet")
    if [[ -n $ts ]]; then
        types="text, timestamptz, text"; vals="'$wallet', '$ts', '$rid'"
        PGB_ARGS+=(-D "ts=$ts" -D "rid=$rid")
    fi
    printf '\n-- %s\n%s\n' "$name" "$lit"
    local plan gplan counts
    plan=$(q -c "EXPLAIN (ANALYZE, BUFFERS) $lit")
    printf '  custom plan (literals):\n'; sed 's/^/    /' <<<"$plan"
    gplan=$(q <<SQL
PREPARE s($types) AS $par;
\o /dev/null
EXECUTE s($vals); EXECUTE s($vals); EXECUTE s($vals); EXECUTE s($vals); EXECUTE s($vals);
\o
EXPLAIN (ANALYZE, BUFFERS) EXECUTE s($vals);
SELECT CASE WHEN generic_plans > 0 THEN 'GENERIC' ELSE 'custom' END FROM pg_prepared_statements WHERE name = 's';
SQL
)
    local kind=${gplan##*$'\n'}
    gplan=${gplan%$'\n'*}
    printf '  prepared statement, 6th execution (%s plan):\n' "$kind"; sed 's/^/    /' <<<"$gplan"

    printf '%s\n' "$sql" >"$WORK/q.sql"
    local rows cscan pscan c p
    rows=$(head -1 <<<"$plan" | sed -E 's/.*actual time=[^ ]+ rows=([0-9]+).*/\1/')
    cscan=$(scan_nodes <<<"$plan")
    pscan=$(scan_nodes <<<"$gplan")
    read -r cn cmean cp50 cp99 <<<"$(pgbench_stats extended "$(iters "$(exec_ms "$plan")")")"
    read -r pn pmean pp50 pp99 <<<"$(pgbench_stats prepared "$(iters "$(exec_ms "$gplan")")")"
    printf '  pgbench -M extended x%s: mean %s ms, p50 %s ms, p99 %s ms\n' "$cn" "$cmean" "$cp50" "$cp99"
    printf '  pgbench -M prepared x%s: mean %s ms, p50 %s ms, p99 %s ms\n' "$pn" "$pmean" "$pp50" "$pp99"
    ROWS_MD+=("| $name | $rows | $cscan | $cn | $cmean | $cp99 | $kind: $pscan | $pn | $pmean | $pp99 |")
    LAST_MEAN=$pmean LAST_CMEAN=$cmean
    if [[ $name == keyset* ]] && ! grep -q 'request_log_by_wallet' <<<"$plan"; then
        FINDINGS+=("FINDING: '$name' does not use request_log_by_wallet (custom plan).")
    fi
    if [[ $name == keyset* ]] && awk -v c="$cmean" -v p="$pmean" 'BEGIN { exit !(p > 20 && p > 5 * c) }'; then
        FINDINGS+=("FINDING: '$name' as a prepared statement takes ${pmean} ms mean vs ${cmean} ms with a custom plan: after 5 executions PostgreSQL switches to the generic plan ($pscan), which reads every row of the wallet past the cursor and sorts them. A client that caches prepared statements (sqlx's default) needs plan_cache_mode=force_custom_plan on its connections, or an unprepared/one-shot query, for this endpoint.")
    fi
}

# Page 2 of the heavy wallet: the cursor is the last row of its first page.
read -r HW2_TS HW2_RID < <(q -F ' ' -c "SELECT created_at, request_id FROM request_log WHERE wallet = '$HW'
                                        ORDER BY created_at DESC, request_id DESC OFFSET $((PAGE - 1)) LIMIT 1" | sed 's/ /T/')

log "measuring (ITER=$ITER, BUDGET_MS=$BUDGET_MS per query and mode, MIN_ITER=$MIN_ITER) ..."
T_Q=$(now)
bench "keyset first page, heavy wallet" "$FIRST" "$HW"
bench "keyset page 2, heavy wallet" "$NEXT" "$HW" "$HW2_TS" "$HW2_RID"
bench "keyset page ${DEEP} rows back, heavy wallet" "$NEXT" "$HW" "$HW_TS" "$HW_RID"
bench "keyset first page, tail wallet" "$FIRST" "$TW"
bench "keyset page 2, tail wallet" "$NEXT" "$TW" "$TW_TS" "$TW_RID"
bench "OFFSET $DEEP page, heavy wallet (contrast)" "$OFFSETQ" "$HW"
bench "usage aggregate, tail wallet" "$AGG" "$TW"
bench "usage aggregate, heavy wallet" "$AGG" "$HW"
if awk -v m="$LAST_MEAN" -v c="$LAST_CMEAN" 'BEGIN { exit !(m > 200 || c > 200) }'; then
    FINDINGS+=("FINDING: the per-key usage aggregate over the heavy wallet ($HW_ROWS rows) takes ${LAST_CMEAN} ms (custom) / ${LAST_MEAN} ms (prepared) mean, over the ~200 ms mark: it reads every row of the wallet from the heap (request_log_by_wallet does not cover the summed columns). A usage endpoint over full history needs a rollup (or a time bound), not a GROUP BY over request_log.")
fi
T_END=$(now)

# ---------------------------------------------------------------- report
SIZES=$(q -F ' | ' -c "
    SELECT 'request_log heap', pg_size_pretty(pg_relation_size('request_log')),
           round(pg_relation_size('request_log')::numeric / $ROWS, 1)
    UNION ALL
    SELECT 'request_log TOAST', pg_size_pretty(pg_table_size('request_log') - pg_relation_size('request_log')), NULL
    UNION ALL
    SELECT i.indexrelid::regclass::text, pg_size_pretty(pg_relation_size(i.indexrelid)),
           round(pg_relation_size(i.indexrelid)::numeric / $ROWS, 1)
    FROM pg_index i WHERE i.indrelid = 'request_log'::regclass
    UNION ALL
    SELECT 'all indexes (pg_indexes_size)', pg_size_pretty(pg_indexes_size('request_log')),
           round(pg_indexes_size('request_log')::numeric / $ROWS, 1)
    UNION ALL
    SELECT 'total (pg_total_relation_size)', pg_size_pretty(pg_total_relation_size('request_log')),
           round(pg_total_relation_size('request_log')::numeric / $ROWS, 1)")
SETTINGS=$(q -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
                 WHERE name IN ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'random_page_cost', 'jit')")

cat <<EOF

## request_log at $ROWS rows

PostgreSQL $(q -c "SHOW server_version"), $(nproc) cores, warm cache; $SETTINGS.
$WALLETS wallets; heavy wallet $HW_ROWS rows, tail wallet $TW_ROWS rows. Page size $PAGE.
Load: ${LOAD_S} s total = insert $(secs "$T_LOAD" "$T_ROWS") s + indexes $(secs "$T_ROWS" "$T_IDX") s (${IDX_TIMES[*]}) + VACUUM ANALYZE $(secs "$T_IDX" "$T_VAC") s.
Latency: pgbench, 1 client, per-transaction log (client side, includes the local round trip), ms.
"custom" = -M extended (planned with the actual values every time); "prepared" = -M prepared
(a cached statement, as sqlx keeps them: PostgreSQL may switch to a generic plan after 5 runs).

| query | rows | custom plan | n | mean | p99 | prepared: plan from 6th run | n | mean | p99 |
|---|---:|---|---:|---:|---:|---|---:|---:|---:|
$(printf '%s\n' "${ROWS_MD[@]}")

| relation | size | bytes/row |
|---|---:|---:|
$(sed 's/^/| /; s/$/ |/' <<<"$SIZES")

EOF
if ((${#FINDINGS[@]})); then printf '%s\n' "${FINDINGS[@]}"; fi
echo "Total runtime $(secs "$T_ALL" "$(now)") s (queries $(secs "$T_Q" "$T_END") s)."
