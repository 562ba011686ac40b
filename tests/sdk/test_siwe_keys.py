"""API keys over Sign-In with Ethereum, as a wallet-holding buyer gets them: the message is built
by the Python `siwe` package (EIP-4361), signed by `eth-account` (EIP-191 personal_sign), and
the resulting `sk-…` key is used with the official OpenAI and Anthropic SDKs.
"""

from datetime import datetime, timezone
from urllib.parse import urlsplit

import anthropic
import openai
import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from siwe import ISO8601Datetime, SiweMessage, generate_nonce

from chainstack import CHAIN_ID

STATEMENT = "Manage Tollgate API keys"


def siwe(stack, account, nonce: str | None = None) -> dict:
    """A fresh `{"message", "signature"}` pair for the gateway at `stack.base`."""
    msg = SiweMessage(
        domain=urlsplit(stack.base).netloc,
        address=account.address,  # EIP-55, as eth-account gives it
        statement=STATEMENT,
        uri=f"{stack.base}/v1/auth/keys",
        version="1",
        chain_id=CHAIN_ID,
        nonce=nonce or generate_nonce(),
        issued_at=ISO8601Datetime.from_datetime(datetime.now(timezone.utc)),
    )
    text = msg.prepare_message()
    signed = Account.sign_message(encode_defunct(text=text), private_key=account.key)
    # The siwe package agrees that this is a valid signature for this message.
    SiweMessage.from_message(text).verify(signed.signature.to_0x_hex(), domain=msg.domain, nonce=msg.nonce)
    return {"message": text, "signature": signed.signature.to_0x_hex()}


def create_key(stack, account, label: str, nonce: str | None = None) -> dict:
    r = requests.post(f"{stack.base}/v1/auth/keys", json={**siwe(stack, account, nonce), "label": label})
    assert r.status_code == 201, r.text
    return r.json()


def list_keys(stack, account) -> list[dict]:
    r = requests.get(f"{stack.base}/v1/auth/keys", params=siwe(stack, account))
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_siwe_key_lifecycle_with_the_official_sdks(chain_stack):
    account = Account.create()
    wallet = account.address.lower()
    chain_stack.credit(wallet, "1")

    # The server offers a nonce; a client may use it (or its own, as siwe.generate_nonce does).
    r = requests.post(f"{chain_stack.base}/v1/auth/nonce")
    assert r.status_code == 200, r.text
    server_nonce = r.json()["nonce"]
    assert len(server_nonce) >= 8 and server_nonce.isalnum()

    k = create_key(chain_stack, account, "python-sdk", nonce=server_nonce)
    key, key_id = k["key"], k["id"]
    assert key.startswith("sk-") and len(key) == 67, k
    assert k["label"] == "python-sdk"

    # The key works with the official OpenAI SDK…
    oai = openai.OpenAI(base_url=f"{chain_stack.base}/v1", api_key=key, max_retries=0)
    chat = oai.chat.completions.create(
        model="gpt-sdk", max_tokens=16, messages=[{"role": "user", "content": "hi from siwe"}]
    )
    assert chat.choices[0].message.content
    assert chat.usage.total_tokens > 0

    # …and with the official Anthropic SDK (x-api-key).
    claude = anthropic.Anthropic(base_url=chain_stack.base, api_key=key, max_retries=0)
    msg = claude.messages.create(
        model="claude-sdk", max_tokens=16, messages=[{"role": "user", "content": "hi from siwe"}]
    )
    assert msg.content[0].text
    assert msg.usage.output_tokens > 0

    # The calls were paid from the wallet's balance.
    assert chain_stack.ledger_balance(wallet) < 1_000_000

    listed = list_keys(chain_stack, account)
    assert [x["id"] for x in listed] == [key_id]
    assert listed[0]["revoked_at"] is None
    assert "key" not in listed[0], "the key itself is never listed"

    # Another wallet cannot revoke it.
    r = requests.delete(f"{chain_stack.base}/v1/auth/keys/{key_id}", json=siwe(chain_stack, Account.create()))
    assert r.status_code == 404, r.text

    r = requests.delete(f"{chain_stack.base}/v1/auth/keys/{key_id}", json=siwe(chain_stack, account))
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] is True

    with pytest.raises(openai.AuthenticationError) as e:
        oai.chat.completions.create(model="gpt-sdk", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 401
    with pytest.raises(anthropic.AuthenticationError):
        claude.messages.create(model="claude-sdk", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    assert list_keys(chain_stack, account)[0]["revoked_at"] is not None


def test_a_replayed_siwe_message_is_refused(chain_stack):
    account = Account.create()
    body = {**siwe(chain_stack, account), "label": "once"}
    first = requests.post(f"{chain_stack.base}/v1/auth/keys", json=body)
    assert first.status_code == 201, first.text
    again = requests.post(f"{chain_stack.base}/v1/auth/keys", json=body)
    assert again.status_code == 401, again.text
    err = again.json()
    assert err["error"] == "UNAUTHORIZED"
    assert "nonce" in err["message"], err
    # Listing with the already-used pair is refused too.
    r = requests.get(f"{chain_stack.base}/v1/auth/keys", params={k: body[k] for k in ("message", "signature")})
    assert r.status_code == 401 and "nonce" in r.json()["message"], r.text


def test_siwe_for_another_chain_or_domain_is_refused(chain_stack):
    account = Account.create()
    for field, value in [("chain_id", 1), ("domain", "evil.example.com")]:
        msg = SiweMessage(
            domain=urlsplit(chain_stack.base).netloc,
            address=account.address,
            statement=STATEMENT,
            uri=f"{chain_stack.base}/v1/auth/keys",
            version="1",
            chain_id=CHAIN_ID,
            nonce=generate_nonce(),
            issued_at=ISO8601Datetime.from_datetime(datetime.now(timezone.utc)),
        )
        setattr(msg, field, value)
        text = msg.prepare_message()
        sig = Account.sign_message(encode_defunct(text=text), private_key=account.key).signature.to_0x_hex()
        r = requests.post(f"{chain_stack.base}/v1/auth/keys", json={"message": text, "signature": sig})
        assert r.status_code == 401, (field, r.text)
