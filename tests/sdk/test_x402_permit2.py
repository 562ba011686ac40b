"""x402 `exact` through Permit2 (`extra.assetTransferMethod: "permit2"`), paid by the official
x402 Python SDK with a token that has no EIP-3009 (MockUSDT on anvil; Permit2 and x402's exact
proxy at the addresses the SDK hard-codes).

The SDK signs a Permit2 `PermitWitnessTransferFrom` (spender = x402's exact proxy, witness =
the vault); the gateway answers 412 `PERMIT2_ALLOWANCE_REQUIRED` while the buyer has not
approved Permit2, and after the one-time approval settles the payment on chain and credits it
once. The 402 and 412 bodies are validated against the SDK's own x402 schema (its pydantic
models), field for field.
"""

import base64
import json

import requests
from eth_account import Account
from web3 import Web3
from x402 import x402ClientSync
from x402.http import x402HTTPClientSync
from x402.http.clients import x402_requests
from x402.mechanisms.evm.constants import PERMIT2_ADDRESS
from x402.mechanisms.evm.exact import ExactEvmClientScheme
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentRequired, PaymentRequiredV1

from chainstack import CHAIN_ID

NETWORK = f"eip155:{CHAIN_ID}"
AMOUNT = 5_000_000  # 5 USD in µUSD and in 6-decimal USDT units


def b64json(value: str) -> dict:
    return json.loads(base64.b64decode(value))


def assert_schema(model, data: dict) -> None:
    """`data` parses as the SDK's model and round-trips to itself: every field it carries is one
    the x402 schema defines, with the type the schema gives it."""
    parsed = model.model_validate(data)
    again = parsed.model_dump(by_alias=True, exclude_none=True)
    # The gateway adds its own error shape (`error` code + `message`) beside x402's fields.
    extra = {k: v for k, v in data.items() if k not in again}
    assert set(extra) <= {"message", "invalidReason"}, extra
    assert {k: v for k, v in data.items() if k in again} == again


def approve_permit2(stack, buyer, token: str) -> None:
    """The buyer's one-time `approve(Permit2, max)` (gas from anvil_setBalance)."""
    stack.rpc("anvil_setBalance", [buyer.address, hex(10**18)])
    w3 = Web3(Web3.HTTPProvider(stack.rpc_url))
    abi = [{"type": "function", "name": "approve", "stateMutability": "nonpayable",
            "inputs": [{"name": "s", "type": "address"}, {"name": "a", "type": "uint256"}],
            "outputs": [{"type": "bool"}]}]
    erc20 = w3.eth.contract(address=Web3.to_checksum_address(token), abi=abi)
    tx = erc20.functions.approve(PERMIT2_ADDRESS, 2**256 - 1).build_transaction(
        {"from": buyer.address, "nonce": w3.eth.get_transaction_count(buyer.address), "chainId": CHAIN_ID}
    )
    sent = w3.eth.send_raw_transaction(buyer.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(sent, timeout=20)["status"] == 1


def usdt_client(buyer, usdt: str) -> x402ClientSync:
    """An x402 client that pays the USDT offer (and only up to the top-up's amount)."""
    pick = lambda version, reqs: next(r for r in reqs if r.asset.lower() == usdt.lower())  # noqa: E731
    client = x402ClientSync(payment_requirements_selector=pick)
    client.register(NETWORK, ExactEvmClientScheme(EthAccountSigner(buyer)))
    client.set_spend_controls(
        {"allowed_assets": [{"network": NETWORK, "asset": usdt, "max_amount_per_payment": str(AMOUNT)}]}
    )
    return client


def test_the_402_lists_every_offer_and_matches_the_x402_schema(usdt_stack):
    d = usdt_stack.deployment
    [usdt] = d["assets"]
    r = requests.post(f"{usdt_stack.base}/v1/topup", json={"amount": 5})
    assert r.status_code == 402, r.text
    body = r.json()
    assert_schema(PaymentRequiredV1, body)
    v2 = b64json(r.headers["PAYMENT-REQUIRED"])
    assert_schema(PaymentRequired, v2)
    assert [a["asset"].lower() for a in v2["accepts"]] == [d["usdc"].lower(), usdt["address"].lower()]
    usdc_offer, usdt_offer = v2["accepts"]
    assert usdc_offer["extra"] == {"name": "USD Coin", "version": "2"}
    assert usdt_offer["extra"] == {"assetTransferMethod": "permit2"}
    assert usdt_offer["payTo"].lower() == usdt["treasury_vault"].lower()
    assert usdt_offer["amount"] == str(AMOUNT)
    assert [a["maxAmountRequired"] for a in body["accepts"]] == [str(AMOUNT), str(AMOUNT)]


def test_usdt_topup_paid_by_the_official_sdk_through_permit2(usdt_stack):
    buyer = usdt_stack.buyer()
    wallet = buyer.address.lower()
    [usdt] = usdt_stack.deployment["assets"]
    token = usdt["address"]
    assert usdt_stack.usdc_balance(buyer.address, token) > 0

    # Not approved yet: 412 PERMIT2_ALLOWANCE_REQUIRED with the offers; nothing moved.
    created = []
    client = usdt_client(buyer, token)
    client.on_after_payment_creation(lambda ctx: created.append(ctx.payment_payload))
    r = x402_requests(client).post(f"{usdt_stack.base}/v1/topup", json={"amount": 5}, timeout=60)
    assert r.status_code == 412, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "PERMIT2_ALLOWANCE_REQUIRED"
    assert_schema(PaymentRequiredV1, body)
    assert_schema(PaymentRequired, b64json(r.headers["PAYMENT-REQUIRED"]))
    [payload] = created
    assert payload.accepted.extra == {"assetTransferMethod": "permit2"}
    sent = b64json(r.request.headers["PAYMENT-SIGNATURE"])
    auth = sent["payload"]["permit2Authorization"]
    assert auth["spender"].lower() == "0x402085c248eea27d92e8b30b2c58ed07f9e20001"
    assert auth["witness"]["to"].lower() == usdt["treasury_vault"].lower()
    assert usdt_stack.ledger_balance(wallet) == 0

    # After the one-time approval the same SDK flow pays, and is credited once.
    approve_permit2(usdt_stack, buyer, token)
    before = usdt_stack.usdc_balance(buyer.address, token)
    r = x402_requests(client).post(f"{usdt_stack.base}/v1/topup", json={"amount": 5}, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert body["wallet"] == wallet
    assert body["credited_usdc"] == AMOUNT
    assert body["asset"] == "USDT" and body["chain_id"] == CHAIN_ID
    settled = x402HTTPClientSync(client).get_payment_settle_response(r.headers.get)
    assert settled.success is True and settled.transaction.lower() == body["tx_hash"].lower()
    assert usdt_stack.usdc_balance(buyer.address, token) == before - AMOUNT
    assert usdt_stack.usdc_balance(usdt["treasury_vault"], token) == AMOUNT

    # The header the SDK sent, replayed: refused, the balance unchanged.
    replay = requests.post(
        f"{usdt_stack.base}/v1/topup",
        json={"amount": 5},
        headers={"PAYMENT-SIGNATURE": r.request.headers["PAYMENT-SIGNATURE"]},
    )
    assert replay.status_code == 402, replay.text
    assert usdt_stack.ledger_balance(wallet) == AMOUNT
    out = usdt_stack.cli("ledger", "check", "--chain")
    assert "chain check OK" in out and "reserves in USDT on eip155:31337" in out, out
