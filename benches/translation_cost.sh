#!/usr/bin/env bash
# What issue 14 costs on the hot path, measured two ways in one run:
#  1. instructions per request (benches/callgrind.sh; the same run to run): the native row
#     (benches/bench-gateway.yaml, an OpenAI client reaching the OpenAI-kind mock), the
#     translated row (bench-gateway-translated.yaml: the same client, only an Anthropic-kind
#     provider, so request, response and stream are translated), and the native row without
#     the cost written into the usage object (bench-gateway-no-usage-cost.yaml);
#  2. closed-loop throughput A/B (benches/ab.sh, alternating, median ratio) of the same pairs.
#
#   bash benches/translation_cost.sh [plain|stream|both] [ab rounds, 0 = instructions only]
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=${1:-both} ROUNDS=${2:-3}
[[ $MODES == both ]] && MODES="plain stream"
cargo build --release -q -p tollgate-gateway -p tollgate-benches
BIN=target/release/tollgate
NATIVE=benches/bench-gateway.yaml
TRANSLATED=benches/bench-gateway-translated.yaml
NO_COST=benches/bench-gateway-no-usage-cost.yaml

echo "| configuration | mode | instr/req | × native |"
echo "| --- | --- | ---: | ---: |"
for mode in $MODES; do
  native=$(bash benches/callgrind.sh $BIN $NATIVE "$mode")
  translated=$(bash benches/callgrind.sh $BIN $TRANSLATED "$mode")
  no_cost=$(bash benches/callgrind.sh $BIN $NO_COST "$mode")
  ratio() { python3 -c "print(f'{$1 / $native:.3f}')"; }
  echo "| native (usage.cost on) | $mode | $native | 1.000 |"
  echo "| translated OpenAI → Anthropic-kind | $mode | $translated | $(ratio "$translated") |"
  echo "| native, usage_cost: false | $mode | $no_cost | $(ratio "$no_cost") |"
done

[[ $ROUNDS == 0 ]] && exit 0
for mode in $MODES; do
  echo "== throughput, $mode: A = native, B = translated"
  CONFIG_A=$NATIVE CONFIG_B=$TRANSLATED bash benches/ab.sh $BIN $BIN "$mode" "$ROUNDS"
  echo "== throughput, $mode: A = usage_cost false, B = usage_cost true (default)"
  CONFIG_A=$NO_COST CONFIG_B=$NATIVE bash benches/ab.sh $BIN $BIN "$mode" "$ROUNDS"
done
