#!/usr/bin/env bash
# Installs the npm packages the end-to-end tests and benchmarks use
# (socket.io-client, socket.io for the baseline), from tests/e2e/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"
[ -f package.json ] || exit 0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
fi
