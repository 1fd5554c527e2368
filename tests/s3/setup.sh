#!/usr/bin/env bash
# Installs the dependencies package.json pins (s3rver, the AWS SDK's S3 client and signer) into
# tests/s3/node_modules (npm install, no lock file kept) unless every one is already
# there at its pinned version.
set -euo pipefail
cd "$(dirname "$0")"
stale=$(node -e '
  const deps = require("./package.json").dependencies;
  for (const [name, want] of Object.entries(deps)) {
    let have = "";
    try { have = require(`./node_modules/${name}/package.json`).version; } catch {}
    if (have !== want) { console.log(name); }
  }')
if [ -z "$stale" ]; then
  exit 0
fi
echo "tests/s3: npm install (for $(echo $stale))" >&2
npm install --no-audit --no-fund --no-package-lock --loglevel=error >&2
