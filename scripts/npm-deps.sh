#!/usr/bin/env bash
# Installs the npm packages the end-to-end tests and benchmarks use
# (socket.io-client, socket.io for the baseline), from tests/e2e/package-lock.json,
# prisma for the schema check (tests/schema/package-lock.json), and Prisma
# Client 7 with its SQL Server adapter for the oracle (tests/oracle).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in tests/e2e tests/schema tests/oracle; do
  cd "$root/$dir"
  [ -f package.json ] || continue
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules
  fi
done
