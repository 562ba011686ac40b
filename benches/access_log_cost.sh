#!/usr/bin/env bash
# What the access log costs: instructions per request (benches/callgrind.sh) with
# `log.access` off (benches/bench-gateway.yaml) and on, to a file
# (bench-gateway-access-log.yaml), plain and stream, and with rounds > 0 a throughput A/B.
#
#   bash benches/access_log_cost.sh [plain|stream|both] [ab rounds, 0 = instructions only]
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=${1:-both} ROUNDS=${2:-3}
[[ $MODES == both ]] && MODES="plain stream"
cargo build --release -q -p tollgate-gateway -p tollgate-benches
BIN=target/release/tollgate
OFF=benches/bench-gateway.yaml ON=benches/bench-gateway-access-log.yaml
trap 'rm -f /tmp/tollgate-bench-access.log' EXIT
echo "| access log | mode | instr/req | × off |"
echo "| --- | --- | ---: | ---: |"
for mode in $MODES; do
  off=$(bash benches/callgrind.sh $BIN $OFF "$mode")
  on=$(bash benches/callgrind.sh $BIN $ON "$mode")
  echo "| off | $mode | $off | 1.000 |"
  echo "| file | $mode | $on | $(python3 -c "print(f'{$on / $off:.3f}')") |"
done
[[ $ROUNDS == 0 ]] && exit 0
for mode in $MODES; do
  echo "== throughput, $mode: A = access log off, B = on (file)"
  CONFIG_A=$OFF CONFIG_B=$ON bash benches/ab.sh $BIN $BIN "$mode" "$ROUNDS"
done
