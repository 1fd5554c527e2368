#!/usr/bin/env bash
# Runs the web console's browser tests (`run.sh test`, what ctest runs) or writes a screenshot
# of every console page (`run.sh screenshots DIR`, what `make screenshots` runs).
# Needs node, npm and Debian's chromium (scripts/install-deps.sh installs them); puppeteer-core
# is installed here by npm on first use. A missing chromium fails the test; a developer may skip
# it with IMAGEGATE_SKIP_BROWSER=1 (exit 77: ctest shows it as skipped, not passed).
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-test}

if [ "$mode" = test ] && [ "${IMAGEGATE_SKIP_BROWSER:-}" = 1 ]; then
  echo "browser tests skipped: IMAGEGATE_SKIP_BROWSER=1"
  exit 77
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "browser tests: $tool is not installed; run \`make deps\` (scripts/install-deps.sh), or set IMAGEGATE_SKIP_BROWSER=1 to skip them" >&2
    exit 1
  fi
done
if [ -z "${IG_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "browser tests: chromium is not installed; run \`make deps\` (scripts/install-deps.sh installs Debian's chromium), or set IMAGEGATE_SKIP_BROWSER=1 to skip them" >&2
  exit 1
fi

# puppeteer-core at the version package.json pins (installed again when the pin changes).
want=$(node -p 'require("./package.json").dependencies["puppeteer-core"]')
have=$(node -p 'try { require("./node_modules/puppeteer-core/package.json").version } catch { "" }')
if [ "$want" != "$have" ]; then
  echo "browser tests: npm install (puppeteer-core $want)" >&2
  npm install --no-audit --no-fund --no-package-lock --loglevel=error >&2
fi

case "$mode" in
  test) exec node --test-reporter=spec console.test.mjs ;;
  screenshots) exec node screenshots.mjs "${2:-../../docs/img}" ;;
  *) echo "usage: run.sh [test | screenshots DIR]" >&2; exit 2 ;;
esac
