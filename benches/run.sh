#!/usr/bin/env bash
# Benchmarks Tollgate against the same mock upstream reached directly, through
# a bare Pingora proxy and through nginx, closed-loop (max throughput) and
# open-loop (fixed rate, latency), for streamed and non-streamed requests.
#
#   bash benches/run.sh [--quick]
#
# Results (JSON + SVG per run, summary.md) go to bench-results/<timestamp>/.
# Environment: BENCH_PIN=0 disables CPU pinning; BENCH_RATE (default 2000).
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $arg" >&2; usage >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ $QUICK == 1 ]]; then DURATION=3s; WARMUP=1s; else DURATION=10s; WARMUP=2s; fi
CONNECTIONS=64
RATE=${BENCH_RATE:-2000}
API_KEY=sk-bench
PATH_OPENAI=/v1/chat/completions
MOCK_ADDR=127.0.0.1:18001
BARE_ADDR=127.0.0.1:18002
NGINX_ADDR=127.0.0.1:18003
TOLLGATE_ADDR=127.0.0.1:18004
GATEWAY_CONFIG=benches/bench-gateway.yaml
BIN=target/release

OUT=bench-results/$(date +%Y%m%d-%H%M%S)
RUN_DIR=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
# nginx workers drop root privileges and must still reach their temp dirs.
chmod 755 "$RUN_DIR"
mkdir -p "$OUT"

# "pid:signal" for every server this script started.
STARTED=()
cleanup() {
    local entry
    # Each server gets its fast-shutdown signal: SIGINT for Pingora (SIGTERM
    # would wait out a long graceful period), SIGTERM for the rest (background
    # jobs of a script ignore SIGINT).
    for entry in "${STARTED[@]}"; do kill "-${entry#*:}" "${entry%%:*}" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for entry in "${STARTED[@]}"; do kill -0 "${entry%%:*}" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.2
    done
    for entry in "${STARTED[@]}"; do kill -KILL "${entry%%:*}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # Keep the servers' logs and the generated nginx.conf next to the results.
    mkdir -p "$OUT/logs"
    cp "$RUN_DIR"/*.log "$RUN_DIR"/*.out "$RUN_DIR"/nginx.conf "$OUT/logs/" 2>/dev/null || true
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '==> %s\n' "$*" >&2; }

# The system under test gets CPU 1; the mock and the load generator share CPU 0.
SUT_CPU=()
DRIVER_CPU=()
if [[ ${BENCH_PIN:-1} == 1 ]] && command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    SUT_CPU=(taskset -c 1)
    DRIVER_CPU=(taskset -c 0)
fi

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }

# wait_ready NAME PID ADDR LOGFILE: waits until ADDR accepts connections.
wait_ready() {
    local name=$1 pid=$2 addr=$3 logfile=$4
    for _ in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during start-up; last log lines:"
            tail -n 20 "$logfile" >&2 || true
            return 1
        fi
        port_open "$addr" && return 0
        sleep 0.2
    done
    log "$name did not open $addr within 30 s"
    return 1
}

# start NAME ADDR STOP_SIGNAL LOGFILE CMD...: starts CMD in the background and
# waits until it listens on ADDR.
start() {
    local name=$1 addr=$2 signal=$3 logfile=$4
    shift 4
    if port_open "$addr"; then
        log "$addr is already in use; stop whatever listens there first"
        return 1
    fi
    "$@" >"$logfile" 2>&1 &
    local pid=$!
    STARTED+=("$pid:$signal")
    wait_ready "$name" "$pid" "$addr" "$logfile"
}

# ---------------------------------------------------------------- build
log "building release binaries"
HAVE_TOLLGATE=1
if ! cargo build --release -p tollgate-benches -p tollgate-gateway; then
    log "the gateway does not build; benchmarking without the tollgate rows"
    cargo build --release -p tollgate-benches
    HAVE_TOLLGATE=0
fi
if [[ ! -x $BIN/tollgate ]]; then
    log "no $BIN/tollgate binary: skipping the tollgate rows"
    HAVE_TOLLGATE=0
fi
if [[ ! -f $GATEWAY_CONFIG ]]; then
    log "no $GATEWAY_CONFIG: skipping the tollgate rows"
    HAVE_TOLLGATE=0
fi

HAVE_NGINX=1
if ! command -v nginx >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing nginx-light"
        apt-get install -y nginx-light >&2 || { apt-get update >&2 && apt-get install -y nginx-light >&2; } || true
    fi
    command -v nginx >/dev/null || { log "nginx is not available: skipping its rows"; HAVE_NGINX=0; }
fi

# ---------------------------------------------------------------- servers
log "starting mock-llm on $MOCK_ADDR"
start mock-llm "$MOCK_ADDR" TERM "$RUN_DIR/mock.log" \
    "${DRIVER_CPU[@]}" "$BIN/mock-llm" --listen "$MOCK_ADDR" --threads 1

log "starting bare-pingora on $BARE_ADDR"
start bare-pingora "$BARE_ADDR" INT "$RUN_DIR/bare.log" \
    "${SUT_CPU[@]}" "$BIN/bare-pingora" --listen "$BARE_ADDR" --upstream "$MOCK_ADDR" --threads 1

if [[ $HAVE_NGINX == 1 ]]; then
    log "starting nginx on $NGINX_ADDR"
    sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@LISTEN@|$NGINX_ADDR|g" -e "s|@UPSTREAM@|$MOCK_ADDR|g" \
        benches/nginx.conf.tmpl >"$RUN_DIR/nginx.conf"
    start nginx "$NGINX_ADDR" TERM "$RUN_DIR/nginx.out" \
        "${SUT_CPU[@]}" nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" || {
        log "nginx failed to start: skipping its rows"
        HAVE_NGINX=0
    }
fi

if [[ $HAVE_TOLLGATE == 1 ]]; then
    log "starting tollgate on $TOLLGATE_ADDR"
    start tollgate "$TOLLGATE_ADDR" INT "$RUN_DIR/tollgate.log" \
        "${SUT_CPU[@]}" "$BIN/tollgate" -c "$GATEWAY_CONFIG" || {
        log "tollgate failed to start: skipping its rows"
        HAVE_TOLLGATE=0
    }
fi

# ---------------------------------------------------------------- load
printf '{"model":"mock-1","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}' \
    >"$RUN_DIR/body-plain.json"
printf '{"model":"mock-1","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16,"stream":true}' \
    >"$RUN_DIR/body-stream.json"

TARGETS=("mock:$MOCK_ADDR" "bare-pingora:$BARE_ADDR")
[[ $HAVE_NGINX == 1 ]] && TARGETS+=("nginx:$NGINX_ADDR")
[[ $HAVE_TOLLGATE == 1 ]] && TARGETS+=("tollgate:$TOLLGATE_ADDR")

if [[ ${#SUT_CPU[@]} -gt 0 ]]; then
    CPU_NOTE="proxies under test: 1 worker thread pinned to CPU 1; mock-llm (1 thread) and loadgen (1 thread) share CPU 0"
else
    CPU_NOTE="proxies under test: 1 worker thread each; mock-llm and loadgen 1 thread each; no CPU pinning"
fi
log "$CPU_NOTE"
log "closed loop: $CONNECTIONS connections, ${DURATION} measured after ${WARMUP} warm-up; open loop: $RATE req/s"

ROWS=$RUN_DIR/rows.tsv
: >"$ROWS"
for target in "${TARGETS[@]}"; do
    name=${target%%:*}
    addr=${target#*:}
    for stream in no yes; do
        body=$RUN_DIR/body-plain.json
        [[ $stream == yes ]] && body=$RUN_DIR/body-stream.json
        for mode in closed open; do
            label=$name-$mode-$([[ $stream == yes ]] && echo stream || echo plain)
            rate_args=()
            [[ $mode == open ]] && rate_args=(--rate "$RATE")
            "${DRIVER_CPU[@]}" "$BIN/loadgen" --url "http://$addr$PATH_OPENAI" \
                --body-file "$body" --header "Authorization: Bearer $API_KEY" \
                --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
                "${rate_args[@]}" --threads 1 --label "$label" \
                --out "$OUT/$label.json" --plot "$OUT/$label.svg"
            printf '%s\t%s\t%s\t%s\n' "$name" "$mode" "$stream" "$OUT/$label.json" >>"$ROWS"
        done
    done
done

# ---------------------------------------------------------------- report
# One TSV line per run: target mode stream rps p50 p99 p999 (ms) failures.
METRICS=$RUN_DIR/metrics.tsv
while IFS=$'\t' read -r name mode stream file; do
    jq -r --arg n "$name" --arg m "$mode" --arg s "$stream" \
        '[$n, $m, $s, .rps, .latency_us.p50/1000, .latency_us.p99/1000, .latency_us.p999/1000, .errors + .non_2xx] | @tsv' \
        "$file"
done <"$ROWS" >"$METRICS"

SUMMARY=$OUT/summary.md
awk -F'\t' -v note="$CPU_NOTE" '
    { key = $2 "/" $3; row[NR] = $0
      if ($1 == "bare-pingora") bare_rps[key] = $4
      if ($1 == "nginx") nginx_p99[key] = $6 }
    END {
        print "_" note "_\n"
        print "| target | mode | stream | rps | p50 ms | p99 ms | p99.9 ms | rps / bare-pingora | p99 / nginx | failed |"
        print "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= NR; i++) {
            split(row[i], f, "\t"); key = f[2] "/" f[3]
            rr = (key in bare_rps && bare_rps[key] > 0) ? sprintf("%.2f", f[4] / bare_rps[key]) : "-"
            pr = (key in nginx_p99 && nginx_p99[key] > 0) ? sprintf("%.2f", f[6] / nginx_p99[key]) : "-"
            printf "| %s | %s | %s | %.0f | %.3f | %.3f | %.3f | %s | %s | %d |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], rr, pr, f[8]
        }
    }' "$METRICS" >"$SUMMARY"

# Sanity: the mock must not be what limits the proxied rows.
#  1. mock-llm alone, with the load generator on the other core, should serve
#     at least 4x what tollgate does.
#  2. Rows close to the "mock" rows (mock + loadgen sharing CPU 0) are limited
#     by the load side, not by the proxy under test.
log "sanity: mock-llm alone on CPU 0, loadgen on the other core"
for stream in no yes; do
    body=$RUN_DIR/body-plain.json
    [[ $stream == yes ]] && body=$RUN_DIR/body-stream.json
    label=mock-alone-$([[ $stream == yes ]] && echo stream || echo plain)
    "${SUT_CPU[@]}" "$BIN/loadgen" --url "http://$MOCK_ADDR$PATH_OPENAI" \
        --body-file "$body" --header "Authorization: Bearer $API_KEY" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
        --threads 1 --label "$label" --out "$OUT/$label.json" --plot "$OUT/$label.svg"
done
closed_rps() { awk -F'\t' -v t="$1" -v s="$2" '$1 == t && $2 == "closed" && $3 == s { print $4 }' "$METRICS"; }
{
    echo
    echo "Sanity (closed loop):"
    for stream in no yes; do
        label=mock-alone-$([[ $stream == yes ]] && echo stream || echo plain)
        alone=$(jq -r .rps "$OUT/$label.json")
        shared=$(closed_rps mock "$stream")
        tollgate=$(closed_rps tollgate "$stream")
        awk -v a="$alone" -v t="${tollgate:-0}" -v s="$stream" 'BEGIN {
            if (t > 0) printf "- stream=%s: mock-llm alone %.0f rps / tollgate %.0f rps = %.2f (want >= 4)%s\n", s, a, t, a / t, (a / t >= 4 ? "" : "  BELOW TARGET")
            else printf "- stream=%s: mock-llm alone %.0f rps (no tollgate row to compare)\n", s, a
        }'
        for target in bare-pingora nginx tollgate; do
            other=$(closed_rps "$target" "$stream")
            [[ -n $other && -n $shared ]] || continue
            awk -v o="$other" -v m="$shared" -v t="$target" -v s="$stream" 'BEGIN {
                if (m > 0 && o >= 0.8 * m)
                    printf "- stream=%s: %s at %.0f rps is %.0f%% of the load-side ceiling (%.0f rps, mock + loadgen on one core): it is load-bound, not %s-bound\n", s, t, o, 100 * o / m, m, t
            }'
        done
    done
    [[ $HAVE_TOLLGATE == 1 ]] || echo "- tollgate rows skipped (binary or $GATEWAY_CONFIG missing, or it failed to start)"
} >>"$SUMMARY"

echo
cat "$SUMMARY"
echo
echo "Results: $OUT"
