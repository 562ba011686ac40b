"""x402 top-ups (`POST /v1/topup`) paid the way real buyers pay:

1. with the official x402 Python SDK (`x402` on PyPI, the v2 SDK): its `requests` adapter sees
   the 402, reads the v2 `PAYMENT-REQUIRED` header, signs an EIP-3009
   `TransferWithAuthorization` through its exact-EVM client scheme and an eth-account signer,
   and retries with `PAYMENT-SIGNATURE`;
2. by hand, as many buyers' scripts do: read the v1 402 body, sign the authorization with
   `eth_account.Account.sign_typed_data`, send a v1 `X-PAYMENT`.

Settlement is real: the gateway sends `transferWithAuthorization` to the MockUSDC on anvil and
credits the Postgres ledger once it is mined.
"""

import base64
import json
import secrets
import time

import requests
from eth_account import Account
from eth_utils import to_checksum_address
from x402 import x402ClientSync
from x402.http import x402HTTPClientSync
from x402.http.clients import x402_requests
from x402.mechanisms.evm.exact import ExactEvmClientScheme
from x402.mechanisms.evm.signers import EthAccountSigner

from chainstack import BUYER_USDC, CHAIN_ID

NETWORK = f"eip155:{CHAIN_ID}"
AMOUNT = 5_000_000  # µUSDC = 5 USD


def b64json(value: str) -> dict:
    return json.loads(base64.b64decode(value))


def topup_url(stack) -> str:
    return f"{stack.base}/v1/topup"


def test_the_402_offers_v1_in_the_body_and_v2_in_the_header(chain_stack):
    r = requests.post(topup_url(chain_stack), json={"amount": 5})
    assert r.status_code == 402, r.text
    d = chain_stack.deployment

    body = r.json()
    assert body["x402Version"] == 1
    assert isinstance(body["error"], str) and body["error"]
    [a] = body["accepts"]
    assert a["scheme"] == "exact"
    assert a["network"] in (f"eip155-{CHAIN_ID}", NETWORK), a["network"]
    assert a["maxAmountRequired"] == str(AMOUNT)
    assert a["asset"].lower() == d["usdc"].lower()
    assert a["payTo"].lower() == d["treasury_vault"].lower()
    assert a["resource"] == f"{chain_stack.base}/v1/topup"
    assert a["mimeType"] == "application/json"
    assert a["description"]
    assert a["maxTimeoutSeconds"] > 0
    assert a["extra"] == {"name": "USD Coin", "version": "2"}

    v2 = b64json(r.headers["PAYMENT-REQUIRED"])
    assert v2["x402Version"] == 2
    assert v2["resource"]["url"] == f"{chain_stack.base}/v1/topup"
    [b] = v2["accepts"]
    assert b["network"] == NETWORK
    assert b["amount"] == str(AMOUNT)
    assert b["asset"].lower() == d["usdc"].lower()
    assert b["payTo"].lower() == d["treasury_vault"].lower()
    assert b["extra"] == {"name": "USD Coin", "version": "2"}

    # The SDK parses the same 402 (it prefers the v2 header, as a v2 client must).
    parsed = x402HTTPClientSync(x402ClientSync()).get_payment_required_response(r.headers.get, body)
    assert parsed.x402_version == 2
    assert parsed.accepts[0].network == NETWORK and parsed.accepts[0].amount == str(AMOUNT)


def test_topup_paid_by_the_official_x402_sdk(chain_stack):
    buyer = chain_stack.buyer()
    wallet = buyer.address.lower()
    usdc = chain_stack.deployment["usdc"]
    onchain_before = chain_stack.usdc_balance(buyer.address)
    assert onchain_before == BUYER_USDC * 1_000_000

    # A buyer's x402 client: the exact-EVM scheme for this chain, signing with eth-account.
    client = x402ClientSync()
    client.register(NETWORK, ExactEvmClientScheme(EthAccountSigner(buyer)))
    # The SDK pays only well-known assets by default (mainnet/testnet USDC); a local chain's
    # USDC must be allowed explicitly, with a cap in atomic units.
    client.set_spend_controls(
        {"allowed_assets": [{"network": NETWORK, "asset": usdc, "max_amount_per_payment": str(AMOUNT)}]}
    )
    created = []
    client.on_after_payment_creation(lambda ctx: created.append(ctx.payment_payload))

    # The SDK's requests adapter: POST → 402 → sign → retry with PAYMENT-SIGNATURE, end to end.
    session = x402_requests(client)
    r = session.post(topup_url(chain_stack), json={"amount": 5}, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text, dict(r.headers))
    body = r.json()
    assert body["wallet"] == wallet
    assert body["credited_usdc"] == AMOUNT
    assert body["balance_usdc"] == AMOUNT
    assert body["tx_hash"].startswith("0x") and len(body["tx_hash"]) == 66

    # It paid with a v2 payload (the header the adapter sent), for exactly what was asked.
    [payload] = created
    assert payload.x402_version == 2
    assert payload.accepted.network == NETWORK and payload.accepted.amount == str(AMOUNT)
    sent = r.request.headers["PAYMENT-SIGNATURE"]
    assert b64json(sent)["payload"]["authorization"]["from"].lower() == wallet

    # The settlement response, decoded by the SDK: v2 header, success, the mined transaction.
    assert "X-PAYMENT-RESPONSE" not in r.headers
    settled = x402HTTPClientSync(client).get_payment_settle_response(r.headers.get)
    assert settled.success is True
    assert settled.transaction.lower() == body["tx_hash"].lower()
    assert settled.network == NETWORK
    assert settled.payer.lower() == wallet
    receipt = chain_stack.rpc("eth_getTransactionReceipt", [body["tx_hash"]])
    assert receipt["status"] == "0x1"

    assert chain_stack.ledger_balance(wallet) == AMOUNT
    assert chain_stack.usdc_balance(buyer.address) == onchain_before - AMOUNT

    # The same PAYMENT-SIGNATURE again: refused (the authorization's nonce is spent), no credit.
    replay = requests.post(topup_url(chain_stack), json={"amount": 5}, headers={"PAYMENT-SIGNATURE": sent})
    assert replay.status_code == 402, replay.text
    assert replay.json()["error"] == "invalid_exact_evm_payload_authorization_nonce", replay.text
    # …with fresh requirements in the v2 header, which the SDK can read.
    again = x402HTTPClientSync(client).get_payment_required_response(replay.headers.get, replay.json())
    assert again.x402_version == 2 and "already used" in again.error
    assert chain_stack.ledger_balance(wallet) == AMOUNT
    assert chain_stack.usdc_balance(buyer.address) == onchain_before - AMOUNT


# ------------------------------------------------------------------------------------------------
# v1 by hand: eth_account's EIP-712 signing, no x402 library


TRANSFER_WITH_AUTHORIZATION = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]


def v1_payment(buyer, accepts: dict) -> str:
    """The `X-PAYMENT` header for `accepts` (a v1 requirement), signed with eth_account."""
    now = int(time.time())
    authorization = {
        "from": buyer.address,
        "to": to_checksum_address(accepts["payTo"]),
        "value": int(accepts["maxAmountRequired"]),
        "validAfter": now - 10,
        "validBefore": now + accepts["maxTimeoutSeconds"],
        "nonce": "0x" + secrets.token_hex(32),
    }
    signed = Account.sign_typed_data(
        buyer.key,
        domain_data={
            "name": accepts["extra"]["name"],
            "version": accepts["extra"]["version"],
            "chainId": CHAIN_ID,
            "verifyingContract": to_checksum_address(accepts["asset"]),
        },
        message_types={"TransferWithAuthorization": TRANSFER_WITH_AUTHORIZATION},
        message_data=authorization,
    )
    payload = {
        "x402Version": 1,
        "scheme": "exact",
        "network": accepts["network"],
        "payload": {
            "signature": signed.signature.to_0x_hex(),
            # On the wire the numbers are strings.
            "authorization": {k: str(v) if isinstance(v, int) else v for k, v in authorization.items()},
        },
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_topup_with_a_v1_x_payment_signed_by_eth_account(chain_stack):
    buyer = chain_stack.buyer()
    wallet = buyer.address.lower()
    before = chain_stack.usdc_balance(buyer.address)

    r = requests.post(topup_url(chain_stack), json={"amount": 5})
    assert r.status_code == 402, r.text
    [accepts] = r.json()["accepts"]
    header = v1_payment(buyer, accepts)

    r = requests.post(topup_url(chain_stack), json={"amount": 5}, headers={"X-PAYMENT": header}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["wallet"] == wallet
    assert body["credited_usdc"] == AMOUNT
    assert body["balance_usdc"] == AMOUNT

    assert "PAYMENT-RESPONSE" not in r.headers
    settled = b64json(r.headers["X-PAYMENT-RESPONSE"])
    assert settled["success"] is True
    assert settled["transaction"].lower() == body["tx_hash"].lower()
    assert settled["network"] == accepts["network"]
    assert settled["payer"].lower() == wallet
    # The x402 SDK reads it as a valid settlement response too.
    sdk_view = x402HTTPClientSync(x402ClientSync()).get_payment_settle_response(r.headers.get)
    assert sdk_view.success and sdk_view.transaction.lower() == body["tx_hash"].lower()

    assert chain_stack.ledger_balance(wallet) == AMOUNT
    assert chain_stack.usdc_balance(buyer.address) == before - AMOUNT

    replay = requests.post(topup_url(chain_stack), json={"amount": 5}, headers={"X-PAYMENT": header})
    assert replay.status_code == 402, replay.text
    assert replay.json()["error"] == "invalid_exact_evm_payload_authorization_nonce", replay.text
    assert chain_stack.ledger_balance(wallet) == AMOUNT
    assert chain_stack.usdc_balance(buyer.address) == before - AMOUNT

    # A payment for another amount than the one asked for is refused before anything moves.
    wrong = v1_payment(buyer, {**accepts, "maxAmountRequired": "4000000"})
    r = requests.post(topup_url(chain_stack), json={"amount": 5}, headers={"X-PAYMENT": wrong})
    assert r.status_code == 402, r.text
    assert r.json()["error"] == "invalid_exact_evm_payload_authorization_value"
    assert chain_stack.usdc_balance(buyer.address) == before - AMOUNT
