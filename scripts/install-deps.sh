#!/usr/bin/env bash
# Installs what imagegate needs to build, test and benchmark on Debian 12.
# Idempotent: when every package is present it changes nothing and exits at once.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkgconf ccache git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libvips-dev libspdlog-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libjemalloc-dev
  # libpq: the PostgreSQL store; postgresql-15: the throwaway server its tests start
  # (scripts/pg-test.sh)
  libpq-dev postgresql-15
  # make fuzz: clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  openssl curl python3 wrk nginx-light
  # perf: the profiling procedure of docs/benchmarks.md (bench/profile.sh records the server
  # under wrk and folds its stacks with perf's own stackcollapse script)
  linux-perf
)

# Node.js runs the official `openai` npm package in an integration test; a machine that already
# has node (and npm) keeps its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

# Headless Chromium runs the web console's browser tests (tests/browser, driven by npm
# puppeteer-core); a machine that already has a chromium keeps its own.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  packages+=(chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx-light starts a system service on install; the benchmark runs its own instance.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
