#!/usr/bin/env bash
# cargo mutants on the code that decides what is billed and what is forwarded: the money
# math (billing/src/{cost,price,charging}.rs) and the filters crate (body parser/sanitiser,
# usage meters). Each surviving mutant is either killed by a test or explained in
# docs/testing.md. Not part of CI (tens of minutes on 2 cores).
#
#   bash scripts/mutants.sh            # both
#   bash scripts/mutants.sh billing    # or: filters
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants

what=${1:-all}
if [[ $what == all || $what == billing ]]; then
  cargo mutants --no-shuffle -p tollgate-billing \
    -f billing/src/cost.rs -f billing/src/price.rs -f billing/src/charging.rs \
    -o target/mutants-billing -- --lib
fi
if [[ $what == all || $what == filters ]]; then
  cargo mutants --no-shuffle -p tollgate-filters -f 'filters/src/**/*.rs' \
    -o target/mutants-filters
fi
