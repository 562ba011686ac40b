"""Start the real mock upstream and the real gateway binary for the SDK tests.

`stack`: memory billing, static keys. `chain_stack`: the Postgres ledger (a fresh database on
TOLLGATE_TEST_PG) and a fresh anvil with the contracts deployed, for SIWE and x402.

Binaries come from TOLLGATE_BIN_DIR (default: target/debug), built by scripts/test.sh.
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("TOLLGATE_BIN_DIR", ROOT / "target" / "debug"))
API_KEY = "sk-sdk-test"
WALLET = "0x00000000000000000000000000000000000000cc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class Stack:
    """mock-llm + tollgate on loopback; `outcome(id)` reads the billing record of a request.
    `server` adds lines to the `server:` section, `extra` top-level sections."""

    def __init__(self, server: str = "", extra: str = "") -> None:
        self.server_extra = server
        self.extra = extra
        self.mock_port = free_port()
        self.port = free_port()
        self.admin_port = free_port()
        self.procs: list[subprocess.Popen] = []
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> "Stack":
        mock = subprocess.Popen(
            [str(BIN_DIR / "mock-llm"), "--listen", f"127.0.0.1:{self.mock_port}", "--threads", "1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(mock)
        assert "listening" in mock.stdout.readline()
        config = f"""
server:
  listen: 127.0.0.1:{self.port}
  threads: 2
  thinking: strip
{self.server_extra}metrics:
  listen: 127.0.0.1:{self.admin_port}
auth:
  static_keys:
    - {{ key: {API_KEY}, wallet: "{WALLET}", label: sdk }}
billing:
  sink: memory
  expose_outcomes: true
providers:
  - id: mock-openai
    kind: openai
    base_url: http://127.0.0.1:{self.mock_port}/v1
    api_key: upstream-key
    models:
      - {{ id: gpt-sdk, upstream_model: mock-gpt, apis: [chat, responses], pricing: {{ prompt: 1, completion: 2, cache_read: 0.5 }} }}
      - {{ id: embed-sdk, upstream_model: mock-embed, apis: [embeddings], pricing: {{ prompt: 0.1, completion: 0 }} }}
  - id: mock-anthropic
    kind: anthropic
    base_url: http://127.0.0.1:{self.mock_port}
    api_key: upstream-key
    models:
      - {{ id: claude-sdk, upstream_model: mock-claude, pricing: {{ prompt: 3, completion: 15, cache_read: 0.3, cache_write_5m: 3.75, cache_write_1h: 6 }} }}
{self.extra}"""
        self.config_file = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        self.config_file.write(config)
        self.config_file.close()
        gw = subprocess.Popen(
            [str(BIN_DIR / "tollgate"), "-c", self.config_file.name],
            env={**os.environ, "RUST_LOG": "warn"},
        )
        self.procs.append(gw)
        wait_http(f"{self.base}/health", gw)
        wait_http(f"{self.admin}/health", gw)
        return self

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.kill()
            p.wait()
        os.unlink(self.config_file.name)

    def outcomes(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.admin}/debug/outcomes") as r:
            return json.load(r)

    def outcome(self, request_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for o in self.outcomes():
                if o["request_id"] == request_id:
                    return o
            time.sleep(0.02)
        raise AssertionError(f"no outcome for {request_id}")


@pytest.fixture(scope="session")
def stack():
    s = Stack().start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def chain_stack():
    from chainstack import ChainStack

    pg_url = os.environ.get("TOLLGATE_TEST_PG")
    if not pg_url:
        pytest.fail(
            "TOLLGATE_TEST_PG is not set: start a throwaway cluster with "
            "`export TOLLGATE_TEST_PG=$(bash scripts/pg.sh start target/test-pg)` "
            "(scripts/test.sh does this)",
            pytrace=False,
        )
    s = ChainStack(pg_url).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def usdt_stack():
    """`chain_stack` whose chain also has a MockUSDT paid through Permit2."""
    from chainstack import ChainStack

    pg_url = os.environ.get("TOLLGATE_TEST_PG")
    if not pg_url:
        pytest.fail("TOLLGATE_TEST_PG is not set (see chain_stack)", pytrace=False)
    s = ChainStack(pg_url, usdt=True).start()
    yield s
    s.stop()
