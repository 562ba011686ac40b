#!/usr/bin/env bash
# cargo deny over the whole dependency graph (deny.toml): RustSec advisories, licenses,
# banned crates (ethers, rustls-pemfile outside Pingora), crate sources. Not part of CI
# (installing cargo-deny compiles for ~10 minutes).
#
#   bash scripts/deny.sh                         # fetches the RustSec database when it can
#   ADVISORY_DB=/path/to/advisory-db bash scripts/deny.sh   # offline: a clone of it
#
# Offline and without ADVISORY_DB the advisories check is skipped (and says so); the other
# checks need only crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny

cargo fetch --quiet   # every platform's crates, so `cargo metadata` works offline
db=target/advisory-dbs/advisory-db-3157b0e258782691   # cargo-deny's directory for db-urls[0]
if [[ -n "${ADVISORY_DB:-}" ]]; then
  rm -rf "$db" && mkdir -p "$(dirname "$db")" && git clone -q "$ADVISORY_DB" "$db"
fi
if [[ -d $db ]] || cargo deny fetch db >/dev/null 2>&1; then
  echo "advisory database: $(git -C "$db" log -1 --format='%h %cs')"
  cargo deny --offline check advisories bans licenses sources
else
  echo "advisories: SKIPPED (no RustSec database; set ADVISORY_DB to a clone of rustsec/advisory-db)"
  cargo deny --offline check bans licenses sources
fi
