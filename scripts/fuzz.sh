#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that read untrusted bytes (fuzz/fuzz_targets):
# the request-body parser/sanitiser, the SSE and JSON usage meters, x402 payment headers and
# SIWE messages. Not part of CI: each target runs for FUZZ_SECONDS (default 60).
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh usage_meter
#
# The seeds in fuzz/corpus/<target> stay small and are only read; what libFuzzer learns goes
# to target/fuzz-corpus/<target> (builds go to fuzz/target). A crash is written to fuzz/artifacts/<target>/ and fails
# the script: add the input to the seeds once the bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(chat_request usage_meter x402_header siwe_message)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz

for t in "${targets[@]}"; do
  learned="$PWD/target/fuzz-corpus/$t"
  mkdir -p "$learned"
  echo "== $t: ${seconds}s"
  cargo +nightly fuzz run -O "$t" "$learned" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1
done
