"""A provider joins the marketplace from its wallet and a buyer's official OpenAI SDK is routed
to it and billed at the listed price: SIWE (the `siwe` package, `eth-account` signatures) → a
`pk-…` provider key → an upstream and a model over the API (probed before listing) → the
`openai` SDK, stream and not, pinned as `provider/model` and by `provider` preferences.
"""

import json
import time

import openai
import requests
from eth_account import Account

from test_siwe_keys import siwe


def provider_key(stack, account) -> str:
    r = requests.post(
        f"{stack.base}/v1/provider/keys",
        json={**siwe(stack, account), "label": "sdk", "valid_for_days": 30},
    )
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert key.startswith("pk-") and len(key) == 67
    return key


def test_a_listed_model_is_served_to_the_openai_sdk_and_billed_at_its_price(chain_stack):
    provider = Account.create()
    pk = provider_key(chain_stack, provider)
    auth = {"Authorization": f"Bearer {pk}"}
    r = requests.put(
        f"{chain_stack.base}/v1/provider/upstreams/sdk-acme",
        headers=auth,
        json={"kind": "openai", "base_url": f"http://127.0.0.1:{chain_stack.mock_port}/v1", "api_key": "acme-upstream"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["api_key_last4"] == "ream"
    r = requests.put(
        f"{chain_stack.base}/v1/provider/models/market-gpt",
        headers=auth,
        json={"upstream": "sdk-acme", "upstream_model": "mock-gpt", "context_length": 8192,
              "pricing": {"prompt": "0.8", "completion": "2.4"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["live"] is True, r.text
    models = requests.get(f"{chain_stack.base}/v1/models").json()
    offer = next(m for m in models["data"] if m["id"] == "market-gpt")
    assert [e["provider"] for e in offer["endpoints"]] == ["sdk-acme"]

    buyer = Account.create()
    wallet = buyer.address.lower()
    chain_stack.credit(wallet, "1")
    r = requests.post(f"{chain_stack.base}/v1/auth/keys", json={**siwe(chain_stack, buyer), "label": "buyer"})
    assert r.status_code == 201, r.text
    client = openai.OpenAI(base_url=f"{chain_stack.base}/v1", api_key=r.json()["key"], max_retries=0)

    done = client.chat.completions.create(
        model="sdk-acme/market-gpt", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert done.choices[0].message.content
    usage = [(done.usage.prompt_tokens, done.usage.completion_tokens)]
    stream = client.chat.completions.create(
        model="market-gpt",
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"provider": {"only": ["sdk-acme"], "sort": "price"}},
    )
    last = None
    for chunk in stream:
        last = chunk
    usage.append((last.usage.prompt_tokens, last.usage.completion_tokens))

    # The provider earns the listed price (micro-USD per 1M tokens), rounded up once per
    # request; the buyer pays it over the default 70% provider share, rounded up once.
    exact = [p * 800_000 + c * 2_400_000 for p, c in usage]
    earned = [-(-e // 1_000_000) for e in exact]
    expected = [-(-e * 10_000 // (1_000_000 * 7_000)) for e in exact]
    history = None
    for _ in range(200):
        history = requests.get(
            f"{chain_stack.base}/v1/requests", headers={"Authorization": f"Bearer {client.api_key}"}
        ).json()["data"]
        if len(history) == 2:
            break
        time.sleep(0.025)
    assert sorted(h["buyer_cost_usdc"] for h in history) == sorted(expected), json.dumps(history)
    assert {h["provider"] for h in history} == {"sdk-acme"}

    # Earnings, read with the provider key.
    r = requests.get(f"{chain_stack.base}/provider/earnings", headers=auth)
    assert r.status_code == 200, r.text
    day = r.json()["daily"]
    assert sum(d["earned_usdc"] for d in day) == sum(earned) and sum(d["requests"] for d in day) == 2
