"""Pay per call with x402 `upto`, paid by the official x402 Python SDK (2.25: its
`UptoEvmScheme` client signs Permit2 `PermitWitnessTransferFrom` with the upto witness
`(to, facilitator, validAfter)`; spender = x402's upto proxy): a chat call without an API key
is answered 402 with `upto` offers whose amount is the call's worst case, the SDK pays the
USDT offer, the call is served, and the gateway settles the actual metered cost (the
response's `usage.cost_microusdc`) on chain after the response — no more. The header the SDK
sent, replayed, is refused. The 402 is validated against the SDK's own x402 v2 schema.
"""

import base64
import json
import subprocess
import time

import pytest
import requests
from x402 import x402ClientSync
from x402.http.clients import x402_requests
from x402.mechanisms.evm.upto import UptoEvmClientScheme
from x402.mechanisms.evm.constants import X402_UPTO_PERMIT2_PROXY_ADDRESS
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentRequired

from chainstack import CHAIN_ID, ChainStack
from test_x402_permit2 import approve_permit2, assert_schema

NETWORK = f"eip155:{CHAIN_ID}"
BODY = {"model": "gpt-sdk", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def upto_stack():
    import os

    pg_url = os.environ.get("TOLLGATE_TEST_PG")
    if not pg_url:
        pytest.fail("TOLLGATE_TEST_PG is not set (see chain_stack)", pytrace=False)
    s = ChainStack(
        pg_url, usdt=True, extra="pay_per_call:\n  min_call_usd: 0.00001\n  settle_every: 200ms\n"
    ).start()
    yield s
    s.stop()


def b64json(value: str) -> dict:
    return json.loads(base64.b64decode(value))


def paid_call(stack, request_id: str) -> str:
    """The `paid_calls` row of a request, once settled (as `status|amount|tx_hash`)."""
    for _ in range(200):
        out = subprocess.run(
            ["psql", stack.database_url, "-Atc",
             f"SELECT status || '|' || COALESCE(amount, -1) || '|' || COALESCE(tx_hash, '') "
             f"FROM paid_calls WHERE request_id = '{request_id}'"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if out.startswith(("settled", "failed", "free")):
            return out
        time.sleep(0.05)
    raise AssertionError(f"{request_id}: {out!r}")


def test_a_chat_call_paid_per_call_by_the_official_sdk_settles_its_metered_cost(upto_stack):
    [usdt] = upto_stack.deployment["assets"]
    token = usdt["address"]
    chat = f"{upto_stack.base}/v1/chat/completions"

    # No key, no payment: x402 v2's 402, upto offers only, valid against the SDK's schema.
    r = requests.post(chat, json=BODY)
    assert r.status_code == 402, r.text
    v2 = b64json(r.headers["PAYMENT-REQUIRED"])
    assert_schema(PaymentRequired, v2)
    assert_schema(PaymentRequired, r.json())
    assert {a["scheme"] for a in v2["accepts"]} == {"upto"}
    [offer] = [a for a in v2["accepts"] if a["asset"].lower() == token.lower()]
    maximum = int(offer["amount"])
    assert offer["extra"]["assetTransferMethod"] == "permit2"
    assert offer["extra"]["facilitatorAddress"]

    buyer = upto_stack.buyer()
    approve_permit2(upto_stack, buyer, token)
    pick = lambda version, reqs: next(r for r in reqs if r.asset.lower() == token.lower())  # noqa: E731
    client = x402ClientSync(payment_requirements_selector=pick)
    client.register(NETWORK, UptoEvmClientScheme(EthAccountSigner(buyer)))
    # The SDK's spend controls: this token, at most the maximum the 402 offered.
    client.set_spend_controls(
        {"allowed_assets": [{"network": NETWORK, "asset": token, "max_amount_per_payment": str(maximum)}]}
    )
    before = upto_stack.usdc_balance(buyer.address, token)
    vault_before = upto_stack.usdc_balance(usdt["treasury_vault"], token)

    r = x402_requests(client).post(chat, json=BODY, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text)
    sent = b64json(r.request.headers["PAYMENT-SIGNATURE"])
    assert sent["accepted"]["scheme"] == "upto"
    auth = sent["payload"]["permit2Authorization"]
    assert auth["spender"].lower() == X402_UPTO_PERMIT2_PROXY_ADDRESS.lower()
    assert int(auth["permitted"]["amount"]) == maximum
    cost = r.json()["usage"]["cost_microusdc"]
    assert 0 < cost <= maximum

    status, amount, tx_hash = paid_call(upto_stack, r.headers["x-request-id"]).split("|")
    assert status == "settled" and int(amount) == cost and tx_hash
    assert upto_stack.usdc_balance(buyer.address, token) == before - cost
    assert upto_stack.usdc_balance(usdt["treasury_vault"], token) == vault_before + cost
    # What settling one call costs the operator in gas (the README states it).
    gas = int(upto_stack.rpc("eth_getTransactionReceipt", [tx_hash])["gasUsed"], 16)
    print(f"upto settlement gas: {gas}")
    assert 50_000 < gas < 150_000, gas

    # The SDK's header, replayed: refused, nothing more moves.
    replay = requests.post(chat, json=BODY, headers={"PAYMENT-SIGNATURE": r.request.headers["PAYMENT-SIGNATURE"]})
    assert replay.status_code == 402, replay.text
    assert replay.json()["error"] == "permit2_invalid_nonce"
    assert upto_stack.usdc_balance(buyer.address, token) == before - cost
