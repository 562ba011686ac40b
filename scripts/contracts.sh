#!/usr/bin/env bash
# Solidity toolchain for contracts/: forge, anvil and solc-js all come from npm (pinned in
# contracts/package-lock.json), so this works offline on a fresh machine with only node + npm.
#
#   install              npm ci in contracts/ (skipped when node_modules already matches the lockfile)
#   build                forge build
#   test                 forge test: unit, fuzz and invariant suites (run counts in contracts/foundry.toml)
#   artifacts            write chain/abi/<Name>.json (abi + bytecode + deployedBytecode) for the Rust side
#   check-artifacts      fresh rebuild; fail if chain/abi/*.json differ from it (CI drift check)
#   anvil-start DIR      start anvil on a free loopback port in the background; DIR/anvil.pid,
#                        DIR/anvil.log, DIR/anvil.url; prints the RPC URL on stdout
#   anvil-stop DIR       stop the anvil started with DIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTRACTS="$ROOT/contracts"
ABI_DIR="$ROOT/chain/abi"
FORGE="$CONTRACTS/node_modules/.bin/forge"
ANVIL="$CONTRACTS/node_modules/.bin/anvil"
# Contracts whose artifacts the Rust side binds with alloy's sol! macro (src/<Name>.sol:<Name>).
ARTIFACTS=(TreasuryVault PayoutVault MockUSDC MockUSDT X402ExactPermit2Proxy X402UptoPermit2Proxy)
# Permit2 is not built here: its canonical runtime bytecode (the code at
# 0x000000000022D473030F116dDEE9F6B43aC78BA3 on every chain) ships in the npm package
# @uniswap/v4-periphery (lib/permit2/test/utils/DeployPermit2.sol, made for vm.etch); it is
# written to chain/abi/Permit2.json and placed on local chains with anvil_setCode.
PERMIT2_SOURCE="$CONTRACTS/node_modules/@uniswap/v4-periphery/lib/permit2/test/utils/DeployPermit2.sol"
LOCK_STAMP="$CONTRACTS/node_modules/.tollgate-lock.sha256"

log() { echo "contracts.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

lock_hash() { sha256sum "$CONTRACTS/package-lock.json" | cut -d' ' -f1; }

cmd_install() {
  command -v node >/dev/null || die "node is required (Node.js >= 18)"
  command -v npm >/dev/null || die "npm is required"
  if [[ -x "$FORGE" && -x "$ANVIL" && -f "$LOCK_STAMP" && "$(cat "$LOCK_STAMP")" == "$(lock_hash)" ]]; then
    log "node_modules up to date with package-lock.json"
    return 0
  fi
  log "npm ci in contracts/"
  (cd "$CONTRACTS" && npm ci --no-audit --no-fund --loglevel=error >&2)
  lock_hash >"$LOCK_STAMP"
}

ensure_installed() {
  [[ -x "$FORGE" && -f "$LOCK_STAMP" && "$(cat "$LOCK_STAMP")" == "$(lock_hash)" ]] || cmd_install
}

forge() { (cd "$CONTRACTS" && "$FORGE" "$@"); }

cmd_build() {
  ensure_installed
  forge build "$@" >&2
}

cmd_test() {
  ensure_installed
  local start=$SECONDS
  forge test "$@"
  log "forge test took $((SECONDS - start)) s"
}

# write_artifacts DEST_DIR: extract abi + bytecode + deployedBytecode from forge's out/.
write_artifacts() {
  local dest=$1
  mkdir -p "$dest"
  node - "$CONTRACTS/out" "$dest" "${ARTIFACTS[@]}" <<'EOF'
const fs = require('fs');
const path = require('path');
const [outDir, dest, ...names] = process.argv.slice(2);
for (const name of names) {
  const art = JSON.parse(fs.readFileSync(path.join(outDir, `${name}.sol`, `${name}.json`), 'utf8'));
  const bytecode = art.bytecode && art.bytecode.object;
  const deployed = art.deployedBytecode && art.deployedBytecode.object;
  if (!Array.isArray(art.abi) || !/^0x[0-9a-f]+$/.test(bytecode) || !/^0x[0-9a-f]+$/.test(deployed)) {
    throw new Error(`${name}: incomplete or unlinked artifact`);
  }
  const json = JSON.stringify({ abi: art.abi, bytecode, deployedBytecode: deployed }, null, 2) + '\n';
  fs.writeFileSync(path.join(dest, `${name}.json`), json);
}
EOF
  CONTRACTS_DIR="$CONTRACTS" node - "$PERMIT2_SOURCE" "$dest/Permit2.json" <<'EOF'
const fs = require('fs');
const [src, out] = process.argv.slice(2);
const text = fs.readFileSync(src, 'utf8');
const address = /PERMIT2_ADDRESS = (0x[0-9a-fA-F]{40});/.exec(text);
const code = /hex"([0-9a-f]+)"/.exec(text);
if (!address || !code) throw new Error(`${src}: no Permit2 address or bytecode`);
// That code was captured from a deployment on chain 31337 at another address: its immutable
// EIP-712 cache (chain id 31337 and that address's domain separator, below) would be used as is
// on a 31337 chain. Replace the cached separator with the one Permit2 computes at its canonical
// address, so the code is what the canonical CREATE2 deployment leaves on a 31337 chain (other
// chain ids recompute the separator from address(this) anyway).
const CAPTURED = 'd5a17abc3865df5c1400c0299bd4ce2eefc8114aec5f9d3dded1745783e57b98';
const { keccak256 } = require(`${process.env.CONTRACTS_DIR}/node_modules/js-sha3`);
const word = (hex) => hex.replace(/^0x/, '').toLowerCase().padStart(64, '0');
const canonical = keccak256(Buffer.from(
  keccak256('EIP712Domain(string name,uint256 chainId,address verifyingContract)') +
  keccak256('Permit2') + word((31337).toString(16)) + word(address[1]), 'hex'));
if (code[1].split('7f' + CAPTURED).length !== 2) throw new Error(`${src}: cached domain separator not found once`);
const json = JSON.stringify({
  source: 'npm @uniswap/v4-periphery 1.0.3, lib/permit2/test/utils/DeployPermit2.sol (cached 31337 domain separator set to the canonical address)',
  address: address[1],
  deployedBytecode: '0x' + code[1].replace('7f' + CAPTURED, '7f' + canonical),
}, null, 2) + '\n';
fs.writeFileSync(out, json);
EOF
}

cmd_artifacts() {
  cmd_build
  write_artifacts "$ABI_DIR"
  log "wrote ${ARTIFACTS[*]/%/.json} to ${ABI_DIR#"$ROOT"/}/"
}

cmd_check_artifacts() {
  ensure_installed
  forge build --force >&2
  local fresh
  fresh="$(mktemp -d)"
  write_artifacts "$fresh"
  local bad=0 name
  for name in "${ARTIFACTS[@]}" Permit2; do
    if [[ ! -f "$ABI_DIR/$name.json" ]]; then
      log "missing chain/abi/$name.json"
      bad=1
    elif ! cmp -s "$fresh/$name.json" "$ABI_DIR/$name.json"; then
      log "chain/abi/$name.json differs from a fresh build:"
      diff <(head -c 100000 "$ABI_DIR/$name.json") <(head -c 100000 "$fresh/$name.json") | head -20 >&2 || true
      bad=1
    fi
  done
  rm -rf "$fresh"
  ((bad == 0)) || die "artifacts are stale: run 'bash scripts/contracts.sh artifacts' and commit chain/abi/"
  log "chain/abi/ matches a fresh build"
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# rpc_chain_id URL: prints the chain id answered by URL, fails if none.
rpc_chain_id() {
  node -e '
    fetch(process.argv[1], {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(2000),
    })
      .then((r) => r.json())
      .then((j) => { if (!j.result) process.exit(1); console.log(parseInt(j.result, 16)); })
      .catch(() => process.exit(1));
  ' "$1" 2>/dev/null
}

cmd_anvil_start() {
  local dir=${1:-}
  [[ -n "$dir" ]] || die "usage: contracts.sh anvil-start DIR"
  ensure_installed
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local pidfile="$dir/anvil.pid" urlfile="$dir/anvil.url" logfile="$dir/anvil.log"

  # Idempotent: an anvil already running for DIR is reused.
  if [[ -f "$pidfile" ]] && pid_alive "$(cat "$pidfile")" && [[ -f "$urlfile" ]] \
    && rpc_chain_id "$(cat "$urlfile")" >/dev/null; then
    cat "$urlfile"
    return 0
  fi
  rm -f "$pidfile" "$urlfile"

  # --port 0: the kernel picks a free port (no probe-then-bind race); anvil logs which one.
  : >"$logfile"
  setsid "$ANVIL" --host 127.0.0.1 --port 0 --chain-id 31337 </dev/null >"$logfile" 2>&1 &
  local pid=$!
  echo "$pid" >"$pidfile"

  local url="" i
  for ((i = 0; i < 300; i++)); do # up to 30 s
    pid_alive "$pid" || { cat "$logfile" >&2; rm -f "$pidfile"; die "anvil exited during startup"; }
    if [[ -z "$url" ]]; then
      local addr
      addr="$(grep -oE 'Listening on 127\.0\.0\.1:[0-9]+' "$logfile" 2>/dev/null | head -1 | cut -d' ' -f3 || true)"
      [[ -n "$addr" ]] && url="http://$addr"
    fi
    if [[ -n "$url" ]] && rpc_chain_id "$url" >/dev/null; then
      echo "$url" >"$urlfile"
      echo "$url"
      return 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  die "anvil did not answer eth_chainId within 30 s (log: $logfile)"
}

cmd_anvil_stop() {
  local dir=${1:-}
  [[ -n "$dir" ]] || die "usage: contracts.sh anvil-stop DIR"
  local pidfile="$dir/anvil.pid"
  if [[ ! -f "$pidfile" ]]; then
    log "no anvil.pid in $dir: nothing to stop"
    return 0
  fi
  local pid i
  pid="$(cat "$pidfile")"
  if pid_alive "$pid"; then
    kill "$pid"
    for ((i = 0; i < 100; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$dir/anvil.url"
  log "anvil stopped"
}

case "${1:-}" in
  install) cmd_install ;;
  build) shift; cmd_build "$@" ;;
  test) shift; cmd_test "$@" ;;
  artifacts) cmd_artifacts ;;
  check-artifacts) cmd_check_artifacts ;;
  anvil-start) cmd_anvil_start "${2:-}" ;;
  anvil-stop) cmd_anvil_stop "${2:-}" ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
