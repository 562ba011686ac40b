"""Top up the demo gateway with the official x402 SDK, as a buyer would.

    .venv/bin/python scripts/topup_demo.py [USD]

Pays from anvil's dev account 1 (its key is public: demo only), which scripts/demo.sh funds
with 1,000 demo USDC, then prints the new balance. Needs the venv of scripts/test.sh
(`pip install -r tests/sdk/requirements.txt`).
"""

import json
import sys

from eth_account import Account
from x402 import x402ClientSync
from x402.http.clients import x402_requests
from x402.mechanisms.evm.exact import ExactEvmClientScheme
from x402.mechanisms.evm.signers import EthAccountSigner

GATEWAY = "http://127.0.0.1:8080"
NETWORK = "eip155:31337"
BUYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil #1

usd = float(sys.argv[1]) if len(sys.argv) > 1 else 5
usdc = json.load(open(".dev/deployment.json"))["usdc"]
buyer = Account.from_key(BUYER_KEY)
client = x402ClientSync()
client.register(NETWORK, ExactEvmClientScheme(EthAccountSigner(buyer)))
# The SDK pays only well-known USDC contracts by default; allow the local one, capped.
client.set_spend_controls(
    {"allowed_assets": [{"network": NETWORK, "asset": usdc, "max_amount_per_payment": str(int(usd * 1e6))}]}
)
r = x402_requests(client).post(f"{GATEWAY}/v1/topup", json={"amount": usd}, timeout=60)
print(r.status_code, r.json())
