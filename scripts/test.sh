#!/usr/bin/env bash
# Run every test Tollgate has, on a fresh machine: installs what the tests need first.
#
#   bash scripts/test.sh            # everything
#   SKIP_INSTALL=1 bash scripts/test.sh   # reuse what is installed
#
# Steps: system packages (apt) → Python venv with the official SDKs → build → a throwaway
# PostgreSQL cluster and Redis → Rust unit, property and integration tests (real gateway
# processes on loopback, real Postgres and Redis) → the console (npm ci, build, unit tests,
# browser tests in headless Chromium against the real stack) → Python SDK tests (and
# schemathesis against docs/openapi.yaml) → CORS browser tests (headless Chromium, tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\n== %s\n' "$*"; }

if [[ -z "${SKIP_INSTALL:-}" ]]; then
  log "system packages"
  bash scripts/install-deps.sh
fi

log "python venv (.venv) with the official openai and anthropic SDKs"
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/requirements.txt
.venv/bin/pip install -q --disable-pip-version-check --no-deps -r tests/sdk/requirements-nodeps.txt

log "contracts: forge, anvil, solc-js from npm (pinned); forge tests; ABI drift check"
bash scripts/contracts.sh install
bash scripts/contracts.sh test
bash scripts/contracts.sh check-artifacts

log "build"
# Examples too: the plugin example is a custom tollgate build the tests run.
# The wasm feature too: the proxy-wasm plugin's tests run on the real filter. The plugin
# example test runs this same command (keep them identical: then it is a no-op there).
cargo build --workspace --bins --examples --features=tollgate-gateway/wasm

log "throwaway PostgreSQL (target/test-pg, fsync on)"
bash scripts/pg.sh stop target/test-pg >/dev/null 2>&1 || true
rm -rf target/test-pg
export TOLLGATE_TEST_PG
TOLLGATE_TEST_PG=$(bash scripts/pg.sh start target/test-pg)
trap 'bash scripts/pg.sh stop target/test-pg >/dev/null 2>&1 || true; bash scripts/redis.sh stop target/test-redis >/dev/null 2>&1 || true' EXIT

log "throwaway Redis (target/test-redis, no persistence)"
bash scripts/redis.sh stop target/test-redis >/dev/null 2>&1 || true
export TOLLGATE_TEST_REDIS
TOLLGATE_TEST_REDIS=$(bash scripts/redis.sh start target/test-redis)

log "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --features tollgate-gateway/wasm
else
  cargo test --workspace --no-fail-fast --features tollgate-gateway/wasm
fi

log "console: npm ci, build, unit tests, browser tests (headless Chromium, console/e2e)"
(
  cd console
  npm ci --no-audit --no-fund --loglevel=error
  npm run build
  npm test
  TOLLGATE_BIN_DIR="$ROOT/target/debug" npm run e2e
)

log "python SDK tests (and the API contract, schemathesis)"
TOLLGATE_BIN_DIR="$ROOT/target/debug" .venv/bin/pytest -q tests/sdk

log "browser tests: headless Chromium from another origin (tests/browser, playwright-core pinned)"
(cd tests/browser && npm ci --no-audit --no-fund --silent && TOLLGATE_BIN_DIR="$ROOT/target/debug" npm test)
