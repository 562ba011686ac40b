"""Join the demo gateway's marketplace as a second provider for gpt-4o-mini, as a provider would.

    .venv/bin/python scripts/provider_demo.py

Signs in with anvil's dev account 4 (its key is public: demo only) using Sign-In with Ethereum,
creates a provider key (pk-…), registers an upstream (`acme`, the local mock) and lists
gpt-4o-mini below the YAML provider's price. The gateway probes the model (max_tokens 1, usage
required) before it goes live, on every node. Then prints the marketplace view and the key, for
`tollgate provider push -c conf/provider.toml` or the status and earnings endpoints.
"""

import json
from datetime import datetime, timezone

import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from siwe import ISO8601Datetime, SiweMessage, generate_nonce

GATEWAY = "http://127.0.0.1:8080"
PROVIDER_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"  # anvil #4

account = Account.from_key(PROVIDER_KEY)
message = SiweMessage(
    domain="127.0.0.1:8080",
    address=account.address,
    statement="Manage Tollgate provider keys",
    uri=f"{GATEWAY}/v1/provider/keys",
    version="1",
    chain_id=31337,
    nonce=generate_nonce(),
    issued_at=ISO8601Datetime.from_datetime(datetime.now(timezone.utc)),
).prepare_message()
signature = Account.sign_message(encode_defunct(text=message), private_key=account.key).signature.to_0x_hex()

r = requests.post(
    f"{GATEWAY}/v1/provider/keys",
    json={"message": message, "signature": signature, "label": "demo", "valid_for_days": 30},
)
r.raise_for_status()
pk = r.json()["key"]
auth = {"Authorization": f"Bearer {pk}"}

r = requests.put(
    f"{GATEWAY}/v1/provider/upstreams/acme",
    headers=auth,
    json={"kind": "openai", "base_url": "http://127.0.0.1:18101/v1", "api_key": "acme-demo-upstream-key"},
)
print("upstream:", r.status_code, r.json())
r = requests.put(
    f"{GATEWAY}/v1/provider/models/gpt-4o-mini",
    headers=auth,
    json={
        "upstream": "acme",
        "upstream_model": "mock-gpt-4o-mini",
        "display_name": "GPT-4o mini (acme)",
        "context_length": 128000,
        "pricing": {"prompt": "0.10", "completion": "0.40"},
    },
)
print("model:", r.status_code, r.json())
offers = requests.get(f"{GATEWAY}/v1/models").json()
gpt = next(m for m in offers["data"] if m["id"] == "gpt-4o-mini")
print("gpt-4o-mini offers:", json.dumps([(e["provider"], e["pricing"]["prompt"], e["pricing"]["completion"]) for e in gpt["endpoints"]]))
print(f"\nprovider key (shown once): {pk}")
print(f"status:   curl {GATEWAY}/v1/provider/status -H 'Authorization: Bearer {pk}'")
print(f"earnings: curl {GATEWAY}/provider/earnings -H 'Authorization: Bearer {pk}'")
