#!/usr/bin/env bash
# Instructions per request (benches/callgrind.sh) of the default plugin chain against a build
# from before plugins existed, and of each built-in plugin added to the default chain.
#
#   bash benches/plugin_costs.sh OLD_BINARY NEW_BINARY [plain|stream]
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 MODE=${3:-plain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base=benches/bench-gateway.yaml
DEFAULT="thinking, default_max_tokens, response_headers"
declare -A EXTRA=(
  [headers]='headers: { request: { set: { x-team: bench } }, response: { set: { x-served-by: tollgate } } }'
  [request_guard]='request_guard: { max_body_bytes: 65536, max_messages: 50, max_output_tokens: 4096, models: ["mock-*"] }'
  [prompt_deny]="prompt_deny: { rules: [{ name: aws-access-key, pattern: 'AKIA[0-9A-Z]{16}' }, { name: override, pattern: '(?i)ignore (all )?previous instructions' }] }"
  [ip_filter]='ip_filter: { allow: [127.0.0.0/8], deny: [10.0.0.0/8], trusted_proxies: [10.1.0.0/16] }'
  [timeouts]='timeouts: { connect: 2s, first_byte: 60s, idle: 30s }'
)
config() { # NAME LIST
  cp $base "$tmp/$1.yaml"
  printf 'routes:\n  default: [%s]\n' "$2" >> "$tmp/$1.yaml"
  echo "$tmp/$1.yaml"
}
cg() { bash benches/callgrind.sh "$1" "$2" "$MODE"; }
old=$(cg "$OLD" $base)
new=$(cg "$NEW" $base)
explicit=$(cg "$NEW" "$(config explicit "$DEFAULT")")
limit_only=$(cg "$NEW" "$(config limit_only "default_max_tokens")")
printf '| build / chain | instructions per request | vs. before |\n| --- | --- | --- |\n'
row() { python3 -c "import sys; a,b=int(sys.argv[2]),int(sys.argv[3]); print(f'| {sys.argv[1]} | {b:,} | {b/a:.4f} |')" "$1" "$old" "$2"; }
row "before plugins (old binary)" "$old"
row "default chain (no routes:)" "$new"
row "default chain, written out" "$explicit"
row "default_max_tokens only" "$limit_only"
for name in headers request_guard prompt_deny ip_filter timeouts; do
  v=$(cg "$NEW" "$(config "$name" "$DEFAULT, ${EXTRA[$name]}")")
  python3 -c "import sys; a,b=int(sys.argv[2]),int(sys.argv[3]); print(f'| default + {sys.argv[1]} | {b:,} | +{b-a:,} over the default chain |')" "$name" "$new" "$v"
done
