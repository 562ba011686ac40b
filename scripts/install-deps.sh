#!/usr/bin/env bash
# System packages the build and tests need (Debian). Idempotent; installs only what is
# missing. cmake: Pingora's zlib-ng build. python3-venv: the SDK test venv. chromium: the
# console's end-to-end tests (Playwright cannot download its own browser here).
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v openssl >/dev/null || need+=(openssl)   # test certificates for the https-upstream test
command -v curl >/dev/null || need+=(curl)         # scripts/demo.sh health check
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)   # throwaway test clusters
command -v npm >/dev/null || need+=(npm)   # forge / anvil / solc-js for contracts/ (scripts/contracts.sh)
command -v redis-server >/dev/null || need+=(redis-server)   # fleet rate-limit tests (scripts/redis.sh)
[[ -x /usr/bin/chromium ]] || need+=(chromium)   # browser tests (console/e2e, tests/browser: headless, playwright-core)
command -v systemd-analyze >/dev/null || need+=(systemd)   # conf/tollgate.service checked by systemd-analyze verify
# promtool checks conf/alerts.yaml; a real Prometheus scrapes a test gateway. Installed without
# its recommended node exporter (the tests do not use it).
lean=()
command -v promtool >/dev/null || lean+=(prometheus)
if ((${#need[@]} + ${#lean[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing packages: ${need[*]} ${lean[*]} (run as root or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  if ((${#need[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if ((${#lean[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
  fi
fi
