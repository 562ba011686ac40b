"""The API contract: schemathesis generates requests for every operation of the gateway's own
`/openapi.yaml` (valid and invalid inputs, boundary values, the examples) and checks every
answer against the document — no 5xx caused by input, each status, content type, header and
body as documented, 405 with `Allow` for the other methods.

The gateway runs as in production: the Postgres ledger, a chain (anvil with the contracts),
the marketplace, rate limits, a route alias, and a funded API key sent with every request (so
the paid paths are exercised, not only their 401s). The run is bounded: a fixed number of
examples per operation, generated deterministically (the same requests every run), about a
minute on two cores.
"""

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import requests
from eth_account import Account

from chainstack import ChainStack
from conftest import ROOT
from test_marketplace import provider_key

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
    ]
)
# The document's example address: the examples phase reads this wallet's usage and top-ups.
WALLET = "0x00000000000000000000000000000000000000d0"
CONFIG = Path(__file__).with_name("openapi_contract.toml")


@pytest.fixture(scope="module")
def contract_stack():
    pg_url = os.environ.get("TOLLGATE_TEST_PG")
    if not pg_url:
        pytest.fail("TOLLGATE_TEST_PG is not set (scripts/test.sh starts the cluster)", pytrace=False)
    s = start_contract_stack(pg_url)
    yield s
    s.stop()


def start_contract_stack(pg_url: str) -> ChainStack:
    s = ChainStack(
        pg_url,
        models=("gpt-4o-mini", "claude-sonnet"),
        # Generated requests come from one address as fast as the gateway answers: the
        # control-plane limits would turn most of them into 429s.
        extra="""limits:
  requests_per_minute: 100000
  control_plane: { per_ip_per_minute: unlimited, per_wallet_per_minute: unlimited }
route_aliases:
  - { name: claude-code, models: [claude-sonnet] }
health:
  probes: false
""",
    ).start()
    s.credit(WALLET, "50")
    s.key = s.cli("keys", "create", "--wallet", WALLET, "--label", "contract").strip()
    # A provider with the document's example upstream (`acme`) and model (`acme-gpt`) listed.
    s.provider_key = provider_key(s, Account.create())
    auth = {"Authorization": f"Bearer {s.provider_key}"}
    r = requests.put(
        f"{s.base}/v1/provider/upstreams/acme",
        headers=auth,
        json={"kind": "openai", "base_url": f"http://127.0.0.1:{s.mock_port}/v1", "api_key": "acme-key"},
    )
    assert r.status_code == 200, r.text
    r = requests.put(
        f"{s.base}/v1/provider/models/acme-gpt",
        headers=auth,
        json={"upstream": "acme", "upstream_model": "mock-gpt", "pricing": {"prompt": 1, "completion": 2}},
    )
    assert r.status_code == 200 and r.json()["live"], r.text
    return s


def test_every_operation_answers_as_documented(contract_stack):
    s = contract_stack
    with urllib.request.urlopen(f"{s.base}/openapi.yaml") as r:
        assert r.headers["content-type"] == "application/yaml"
    args = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{s.base}/openapi.yaml",
        "--url",
        s.base,
        "--checks",
        CHECKS,
        "--mode",
        "all",
        "--max-examples",
        os.environ.get("TOLLGATE_CONTRACT_EXAMPLES", "15"),
        "--generation-deterministic",
        "--no-shrink",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "20",
        "--workers",
        "2",
    ]
    env = {**os.environ, "TOLLGATE_CONTRACT_KEY": s.key, "TOLLGATE_CONTRACT_PROVIDER_KEY": s.provider_key}
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    report = out.stdout + out.stderr
    assert out.returncode == 0, f"schemathesis found problems:\n{report[-20000:]}"
