"""The API contract: schemathesis generates requests for every operation of the gateway's own
`/openapi.yaml` (valid and invalid inputs, boundary values, the examples) and checks every
answer against the document — no 5xx caused by input, each status, content type, header and
body as documented, 405 with `Allow` for the other methods.

The gateway runs as in production: the Postgres ledger, a chain (anvil with the contracts),
the marketplace, rate limits, a route alias, and a funded API key sent with every request (so
the paid paths are exercised, not only their 401s). The run is bounded: a fixed number of
examples per operation and a fixed seed, a minute or two on two cores.
"""

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from chainstack import ChainStack
from conftest import ROOT

# Wired at merge with issue 14 (Responses, embeddings, token counting, receipts): on a build
# without their handlers they answer 501, which the document does not promise.
NOT_YET_SERVED = [
    "/v1/responses",
    "/v1/embeddings",
    "/v1/messages/count_tokens",
    "/v1/requests/{id}",
]
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
WALLET = "0x00000000000000000000000000000000000000c7"


@pytest.fixture(scope="module")
def contract_stack():
    pg_url = os.environ.get("TOLLGATE_TEST_PG")
    if not pg_url:
        pytest.fail("TOLLGATE_TEST_PG is not set (scripts/test.sh starts the cluster)", pytrace=False)
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
    yield s
    s.stop()


def test_every_operation_answers_as_documented(contract_stack):
    s = contract_stack
    with urllib.request.urlopen(f"{s.base}/openapi.yaml") as r:
        assert r.headers["content-type"] == "application/yaml"
    args = [
        str(Path(sys.executable).parent / "schemathesis"),
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
        "--seed",
        "4021",
        "--generation-deterministic",
        "--no-shrink",
        "--phases",
        "examples,coverage,fuzzing",
        "--header",
        f"Authorization: Bearer {s.key}",
        "--request-timeout",
        "20",
        "--workers",
        "2",
    ]
    for path in NOT_YET_SERVED:
        args += ["--exclude-path", path]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT)
    report = out.stdout + out.stderr
    assert out.returncode == 0, f"schemathesis found problems:\n{report[-20000:]}"
