#!/usr/bin/env bash
# Quick start: build Tollgate and run it against the local mock upstream (conf/demo.yaml),
# with its ledger in a throwaway PostgreSQL under .dev/ (kept across restarts of the demo) and
# a local chain (anvil, fresh on every start) with MockUSDC and both vaults deployed.
#
#   bash scripts/demo.sh
#
# Serves the OpenAI API at http://127.0.0.1:8080/v1 and the Anthropic API at
# http://127.0.0.1:8080, the console at http://127.0.0.1:8080/console/, metrics at
# http://127.0.0.1:9464/metrics. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/contracts.sh install
echo "building the console (console/dist)…"
(cd console && npm ci --no-audit --no-fund --loglevel=error && npm run build >/dev/null)
echo "building (release; the first build takes a few minutes on 2 cores)…"
cargo build --release -q -p tollgate-gateway -p tollgate-benches

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/pg.sh stop .dev/pg >/dev/null 2>&1 || true
  bash scripts/contracts.sh anvil-stop .dev/anvil >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

export DATABASE_URL
DATABASE_URL=$(bash scripts/pg.sh start .dev/pg)

# Local chain: anvil's dev account 0 deploys and operates both vaults (its key is public —
# never use it anywhere real); dev account 1 is a buyer holding 1,000 demo USDC and 1,000
# demo USDT (a MockUSDT without EIP-3009, paid through Permit2, with its own vaults).
mkdir -p .dev/anvil
bash scripts/contracts.sh anvil-stop .dev/anvil >/dev/null 2>&1 || true
export TOLLGATE_RPC_URL TOLLGATE_OPERATOR_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
TOLLGATE_RPC_URL=$(bash scripts/contracts.sh anvil-start .dev/anvil)
DEMO_BUYER=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
target/release/tollgate chain deploy-local --rpc "$TOLLGATE_RPC_URL" \
  --mint $DEMO_BUYER=1000 --usdt 6 --out .dev/deployment.json

# The master key that seals marketplace upstream keys: one per .dev/, kept across restarts.
[[ -f .dev/master-key ]] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > .dev/master-key
export TOLLGATE_MASTER_KEY
TOLLGATE_MASTER_KEY=$(cat .dev/master-key)

TG="target/release/tollgate -c conf/demo.yaml"
$TG migrate
DEMO_WALLET=0x00000000000000000000000000000000000000d0
# Fund the demo wallet once (the idempotency key makes re-runs a no-op).
$TG credit --wallet $DEMO_WALLET --usd 5 --reason "demo funds" --idempotency-key demo-initial-credit
[[ -f .dev/demo-key ]] || $TG keys create --wallet $DEMO_WALLET --label demo > .dev/demo-key

target/release/mock-llm --listen 127.0.0.1:18101 --threads 1 > /dev/null &
pids+=($!)
target/release/tollgate -c conf/demo.yaml &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8080/health >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS http://127.0.0.1:8080/health >/dev/null || { echo "gateway did not start" >&2; exit 1; }

KEY=sk-demo-0000000000000000000000000000000000000000000000000000000000000000
cat <<MSG

Tollgate is running (demo config: conf/demo.yaml, mock upstream on :18101).

  Console:  http://127.0.0.1:8080/console/
            (catalog, health, balances; connect a browser wallet on chain 31337 at
             $TOLLGATE_RPC_URL — e.g. import anvil's dev account 1 — to top up, make keys and
             see usage; anvil's dev account 2 is mock-openai's payout wallet)

  curl http://127.0.0.1:8080/v1/chat/completions \\
    -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'

  python3 - <<'PY'
from openai import OpenAI   # pip install openai
client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="$KEY")
r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
print(r.choices[0].message.content, r.usage)
PY

  Anthropic SDK: anthropic.Anthropic(base_url="http://127.0.0.1:8080", api_key="$KEY"), model "claude-sonnet"
  Models:   curl http://127.0.0.1:8080/v1/models
  Metrics:  curl http://127.0.0.1:9464/metrics
  Balance:  curl http://127.0.0.1:8080/v1/balance/$DEMO_WALLET
  Usage:    curl http://127.0.0.1:8080/v1/usage/$DEMO_WALLET -H "Authorization: Bearer $KEY"
  History:  curl http://127.0.0.1:8080/v1/requests -H "Authorization: Bearer $KEY"
  Ledger:   DATABASE_URL=$DATABASE_URL TOLLGATE_RPC_URL=$TOLLGATE_RPC_URL $TG ledger check
  Top up:   curl -X POST http://127.0.0.1:8080/v1/topup -d '{"amount": 5}'   # 402 offering USDC and USDT
            .venv/bin/python scripts/topup_demo.py 5   # pays it with the official x402 SDK
            (or any x402 client; USDC $(python3 -c 'import json; print(json.load(open(".dev/deployment.json"))["usdc"])') through EIP-3009,
             USDT $(python3 -c 'import json; print(json.load(open(".dev/deployment.json"))["assets"][0]["address"])') through Permit2 (approve Permit2 once first),
             buyer $DEMO_BUYER holds 1,000 demo USDC and 1,000 demo USDT — anvil dev account 1)
  Chain:    $TOLLGATE_RPC_URL (anvil, chain id 31337), contracts in .dev/deployment.json

  A key stored in the ledger (SHA-256 only) for the same wallet: $(cat .dev/demo-key)

  Marketplace: one provider (mock-openai) serves gpt-4o-mini from conf/demo.yaml. Add a second
  one through the API, as a provider would (SIWE from its wallet → a pk- key → an upstream and
  a model, probed before they go live):
            .venv/bin/python scripts/provider_demo.py
  then:     curl http://127.0.0.1:8080/v1/marketplace
            curl http://127.0.0.1:8080/v1/chat/completions -H "Authorization: Bearer $KEY" \
              -H 'content-type: application/json' \
              -d '{"model":"gpt-4o-mini","provider":{"sort":"price"},"messages":[{"role":"user","content":"Hi"}]}'

Ctrl-C to stop.
MSG
wait
