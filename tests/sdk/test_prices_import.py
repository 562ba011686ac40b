"""`tollgate prices import --from litellm FILE`: LiteLLM's own price list (the file the pinned
`litellm` package ships, tests/sdk/requirements-nodeps.txt) into a config's prices overlay.

The expected values are computed here from the JSON number *text* with `decimal` (per token →
per 1M is exact; more than six decimals round up; a float's noise is dropped; tiered prices
take the dearest tier), then read back from a real gateway's `/v1/models` (provider_share 1:
buyer price = provider price). The config file itself is never rewritten.
"""

import importlib.util
import json
import os
import subprocess
import urllib.request
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

from conftest import BIN_DIR, free_port, wait_http

TOLLGATE = str(BIN_DIR / "tollgate")

# (provider id, kind, config model id, upstream model = LiteLLM key)
MODELS = [
    ("openai", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("anthropic", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    ("google", "openai", "gemini-2.5-pro", "gemini-2.5-pro"),  # tiered above 200k tokens
    ("databricks", "openai", "claude-sonnet-4-1", "databricks/databricks-claude-sonnet-4-1"),  # float noise
    ("morph", "openai", "dsv4flash", "morph/morph-dsv4flash"),  # a ninth decimal per 1M
]
FIELDS = {
    "prompt": "input_cost_per_token",
    "completion": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write_5m": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
}


def litellm_file() -> Path:
    # find_spec locates the installed package without importing it (litellm is slow to import).
    spec = importlib.util.find_spec("litellm")
    assert spec and spec.origin, "pip install -r tests/sdk/requirements-nodeps.txt"
    base = Path(spec.origin).parent
    for name in ("model_prices_and_context_window_backup.json", "model_prices_and_context_window.json"):
        if (base / name).exists():
            return base / name
    raise AssertionError(f"no model_prices_and_context_window JSON under {base}")


def per_million(text: str) -> Decimal:
    """The list's per-token text as USD per 1M, as Tollgate must read it."""
    exact = Decimal(text) * 1_000_000
    floor = exact.quantize(Decimal("0.000001"), rounding=ROUND_FLOOR)
    significant = len(Decimal(text).as_tuple().digits)
    if exact == floor:
        return exact
    if significant >= 15 and exact - floor < Decimal("1e-12"):
        return floor  # a float's noise, not a price
    return exact.quantize(Decimal("0.000001"), rounding=ROUND_CEILING)


def expected(entry: dict, field: str) -> Decimal | None:
    base = FIELDS[field]
    tiers = [
        v
        for k, v in entry.items()
        if k == base
        or (
            k.startswith(base + "_above_")
            and k.endswith("k_tokens")
            and k[len(base) + 7 : -len("k_tokens")].isdigit()
        )
    ]
    return max((per_million(t) for t in tiers), default=None)


@pytest.fixture(scope="module")
def prices() -> tuple[Path, dict]:
    path = litellm_file()
    # Numbers kept as their text: what the file says, not what a float makes of it.
    data = json.loads(path.read_text(), parse_float=str, parse_int=str)
    return path, data


def write_config(tmp: Path, port: int, admin: int, mock: int) -> Path:
    providers: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for provider, kind, model, upstream in MODELS + [("openai", "openai", "my-finetune", "ft:my-finetune")]:
        providers.setdefault(provider, (kind, []))[1].append((model, upstream))
    lines = [
        "# The operator's own comments: the import must leave this file as it is.",
        f"server: {{ listen: 127.0.0.1:{port}, provider_share: 1 }}",
        f"metrics: {{ listen: 127.0.0.1:{admin} }}",
        "billing: { sink: memory }",
        "health: { probes: false }",
        "prices_file: prices.yaml   # written by tollgate prices import",
        "providers:",
    ]
    for provider, (kind, models) in providers.items():
        base = f"http://127.0.0.1:{mock}" + ("/v1" if kind == "openai" else "")
        lines += [
            f"  - id: {provider}",
            f"    kind: {kind}",
            f"    base_url: {base}",
            "    api_key: ${UPSTREAM_KEY}   # not needed to import",
            "    models:",
        ]
        for model, upstream in models:
            lines += [
                f"      - id: {model}",
                f"        upstream_model: {upstream}",
                "        pricing: { prompt: 1, completion: 2 }   # replaced by the overlay",
            ]
    path = tmp / "gateway.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def modalities(entry: dict) -> list[str]:
    if "supported_modalities" in entry:
        return entry["supported_modalities"]
    out = ["text"]
    if entry.get("supports_vision"):
        out.append("image")
    if entry.get("supports_audio_input"):
        out.append("audio")
    return out


def run(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TOLLGATE, "-c", str(config), "prices", "import", *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "UPSTREAM_KEY"},
    )


def test_import_is_exact_leaves_the_config_alone_and_the_gateway_serves_it(tmp_path, prices):
    path, data = prices
    mock_port, port, admin = free_port(), free_port(), free_port()
    config = write_config(tmp_path, port, admin, mock_port)
    before = config.read_text()

    # The file has values a float gets wrong, so exactness is put to the test.
    texts = [data[u][f] for _, _, _, u in MODELS for f in FIELDS.values() if f in data[u]]
    assert any(repr(float(t) * 1e6) != str(Decimal(t) * 1_000_000) for t in texts)

    dry = run(config, "--from", "litellm", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "openai/gpt-4o-mini (litellm gpt-4o-mini-2024-07-18):" in dry.stdout
    assert "pricing.prompt: 1 -> 0.15" in dry.stdout
    assert "openai/my-finetune: not in" in dry.stdout
    assert "float noise dropped" in dry.stdout and "rounded up" in dry.stdout
    assert "dearest tier" in dry.stdout
    assert "dry run" in dry.stdout and not (tmp_path / "prices.yaml").exists()

    done = run(config, "--from", "litellm", str(path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "prices.yaml").exists()
    assert config.read_text() == before, "the config file is never rewritten"
    again = run(config, "--from", "litellm", str(path), "--dry-run")
    assert again.stdout.count(": unchanged") == len(MODELS), again.stdout

    # The gateway reads the overlay: /v1/models shows exactly the list's prices.
    mock = subprocess.Popen(
        [str(BIN_DIR / "mock-llm"), "--listen", f"127.0.0.1:{mock_port}", "--threads", "1"],
        stdout=subprocess.DEVNULL,
    )
    gw = subprocess.Popen(
        [TOLLGATE, "-c", str(config)],
        env={**os.environ, "UPSTREAM_KEY": "k", "RUST_LOG": "warn"},
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", gw)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models") as r:
            served = {m["id"]: m for m in json.load(r)["data"]}
    finally:
        gw.terminate()
        mock.terminate()
        gw.wait(timeout=30)
        mock.wait(timeout=30)

    for provider, _, model, upstream in MODELS:
        entry, m = data[upstream], served[model]
        for field in FIELDS:
            want = expected(entry, field)
            if want is None:  # not in the list: the config's (cache prices: the prompt's)
                want = Decimal(1) if field != "completion" else Decimal(2)
                if field.startswith("cache"):
                    want = expected(entry, "prompt")
            assert Decimal(m["pricing"][field]) == want, (model, field, m["pricing"][field], want)
        length = entry.get("max_input_tokens") or entry.get("max_tokens")
        assert m["context_length"] == int(length), model
        assert m["input_modalities"] == modalities(entry), model
    assert Decimal(served["my-finetune"]["pricing"]["prompt"]) == 1, "not in the list: unchanged"
