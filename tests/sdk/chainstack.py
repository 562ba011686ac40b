"""`ChainStack`: mock-llm + the gateway on its real Postgres ledger and a real chain (anvil with
the contracts deployed), for the SIWE key-management and x402 top-up tests. The session fixture
`chain_stack` (conftest.py) starts one and tears it down: processes killed, database dropped.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN_DIR, ROOT, free_port, wait_http

CHAIN_ID = 31337
# anvil's public dev key 0: deployer and operator (every role) of the local deployment.
OPERATOR_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL = ROOT / "contracts" / "node_modules" / ".bin" / "anvil"
# Seals marketplace upstream keys (a test value: a real one comes from the environment).
MASTER_KEY = "3b1f0e9d8c7a6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d"
# Buyers that `chain deploy-local` mints USDC to (each test takes its own).
BUYER_COUNT = 4
BUYER_USDC = 100


def _psql() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "psql").exists():
            return str(d / "psql")
    pytest.fail("psql not found (apt-get install postgresql-client)", pytrace=False)


def _run(args: list, what: str) -> str:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    return out.stdout


class Anvil:
    """anvil on a free loopback port; its output is drained so it never blocks."""

    def __init__(self) -> None:
        if not os.access(ANVIL, os.X_OK):
            pytest.fail(f"anvil not found at {ANVIL}: run `bash scripts/contracts.sh install`", pytrace=False)
        self.proc = subprocess.Popen(
            [str(ANVIL), "--host", "127.0.0.1", "--port", "0", "--chain-id", str(CHAIN_ID)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.log: list[str] = []
        self.url = ""
        found = threading.Event()

        def drain() -> None:
            for line in self.proc.stdout:
                self.log.append(line)
                m = re.search(r"Listening on (127\.0\.0\.1:\d+)", line)
                if m and not found.is_set():
                    self.url = f"http://{m.group(1)}"
                    found.set()
            found.set()  # exited

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(30) or not self.url:
            self.stop()
            raise RuntimeError("anvil did not start:\n" + "".join(self.log[-20:]))

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class ChainStack:
    """`buyer()` hands out an eth-account `LocalAccount` holding BUYER_USDC USDC and no ETH: the
    gateway's operator pays the gas of x402 settlement. `server` adds lines to the `server:`
    section, `extra` top-level sections; `models` names the OpenAI and Anthropic models; `usdt`
    also deploys a MockUSDT paid through Permit2."""

    def __init__(
        self,
        pg_url: str,
        server: str = "",
        extra: str = "",
        models: tuple[str, str] = ("gpt-sdk", "claude-sdk"),
        usdt: bool = False,
    ) -> None:
        self.pg_url = pg_url
        self.server_extra = server
        self.extra = extra
        self.models = models
        # Also deploy a MockUSDT (6 decimals, paid through Permit2) with its own vaults.
        self.usdt = usdt
        self.mock_port = free_port()
        self.port = free_port()
        self.admin_port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        self.procs: list[subprocess.Popen] = []
        self.cleanups: list = []
        self._buyers: list = []

    # -- set-up -------------------------------------------------------------------------------

    def start(self) -> "ChainStack":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from eth_account import Account

        self.tmp = tempfile.TemporaryDirectory(prefix="tollgate-sdk-")
        self.cleanups.append(self.tmp.cleanup)
        tmp = Path(self.tmp.name)

        # A database of its own on the shared throwaway cluster.
        server = self.pg_url.rsplit("/", 1)[0]
        self.db_name = f"t_sdk_{secrets.token_hex(6)}"
        psql = _psql()
        _run(
            [psql, f"{server}/postgres", "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {self.db_name}"],
            "CREATE DATABASE",
        )
        self.cleanups.append(
            lambda: subprocess.run(
                [psql, f"{server}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)"],
                capture_output=True,
                timeout=60,
            )
        )
        self.database_url = f"{server}/{self.db_name}"

        # The chain: anvil, then the contracts, with USDC minted to the buyers.
        self.anvil = Anvil()
        self.cleanups.append(self.anvil.stop)
        self.rpc_url = self.anvil.url
        self._buyers = [Account.create() for _ in range(BUYER_COUNT)]
        self.deployment_file = tmp / "deployment.json"
        mint = [a for b in self._buyers for a in ("--mint", f"{b.address}={BUYER_USDC}")]
        _run(
            [BIN_DIR / "tollgate", "chain", "deploy-local", "--rpc", self.rpc_url, *mint,
             *(["--usdt", "6"] if self.usdt else []), "--out", self.deployment_file],
            "tollgate chain deploy-local",
        )
        self.deployment = json.loads(self.deployment_file.read_text())

        mock = subprocess.Popen(
            [str(BIN_DIR / "mock-llm"), "--listen", f"127.0.0.1:{self.mock_port}", "--threads", "1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(mock)
        assert "listening" in mock.stdout.readline()

        self.config = tmp / "gateway.yaml"
        self.config.write_text(f"""
server:
  listen: 127.0.0.1:{self.port}
  public_url: {self.base}
  threads: 2
{self.server_extra}metrics:
  listen: 127.0.0.1:{self.admin_port}
billing:
  sink: postgres
  database_url: "{self.database_url}"
  batch_interval: 10ms
  lease_chunk_usd: 0.001
  lease_ttl: 3s
  spool: {{ dir: "{tmp / 'spool'}" }}
chain:
  chain_id: {CHAIN_ID}
  rpc_url: "{self.rpc_url}"
  deployment: "{self.deployment_file}"
  operator_key: "{OPERATOR_KEY}"
  confirmations: 1
  receipt_timeout: 20s
marketplace:
  master_key: "{MASTER_KEY}"
  allow_private_upstreams: true
  probe_timeout: 5s
providers:
  - id: mock-openai
    kind: openai
    base_url: http://127.0.0.1:{self.mock_port}/v1
    api_key: upstream-key
    models:
      - {{ id: {self.models[0]}, upstream_model: mock-gpt, pricing: {{ prompt: 1, completion: 2 }} }}
  - id: mock-anthropic
    kind: anthropic
    base_url: http://127.0.0.1:{self.mock_port}
    api_key: upstream-key
    models:
      - {{ id: {self.models[1]}, upstream_model: mock-claude, pricing: {{ prompt: 3, completion: 15 }} }}
{self.extra}""")
        self.cli("migrate")
        gw = subprocess.Popen(
            [str(BIN_DIR / "tollgate"), "-c", str(self.config)],
            env={**os.environ, "RUST_LOG": "warn"},
        )
        self.procs.append(gw)
        wait_http(f"{self.base}/health", gw)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.kill()
            p.wait()
        self.procs.clear()
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception as e:  # keep cleaning up the rest
                print(f"chain_stack cleanup: {e}")
        self.cleanups.clear()

    # -- helpers ------------------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        """`tollgate -c CONFIG ARGS…`; its stdout (raises on a non-zero exit)."""
        return _run([BIN_DIR / "tollgate", "-c", self.config, *args], f"tollgate {' '.join(args)}")

    def credit(self, wallet: str, usd: str) -> None:
        self.cli("credit", "--wallet", wallet, "--usd", usd, "--reason", "sdk test")

    def buyer(self):
        """A fresh funded buyer (eth-account LocalAccount); each is handed out once."""
        if not self._buyers:
            raise RuntimeError(f"all {BUYER_COUNT} funded buyers are used: raise BUYER_COUNT")
        return self._buyers.pop()

    def rpc(self, method: str, params: list):
        req = urllib.request.Request(
            self.rpc_url,
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            v = json.load(r)
        if "error" in v:
            raise RuntimeError(f"{method}: {v['error']}")
        return v["result"]

    def usdc_balance(self, address: str, token: str | None = None) -> int:
        """Units of `token` (default USDC) `address` holds on chain: a raw `eth_call` of `balanceOf`."""
        data = "0x70a08231" + address.lower().removeprefix("0x").rjust(64, "0")
        to = token or self.deployment["usdc"]
        return int(self.rpc("eth_call", [{"to": to, "data": data}, "latest"]), 16)

    def ledger_balance(self, wallet: str) -> int:
        """`available_usdc` of `GET /v1/balance/:wallet`."""
        with urllib.request.urlopen(f"{self.base}/v1/balance/{wallet}") as r:
            return json.load(r)["available_usdc"]
