#!/usr/bin/env bash
# Runs `prisma validate` (npm prisma, pinned in package-lock.json) on the
# schema, so schema/*.prisma stays usable by Prisma users.
#
# usage: validate.sh SCHEMA_DIR_OR_FILE            exit 0 when Prisma accepts it
#        validate.sh --expect-invalid FILE         exit 0 when Prisma rejects it
#                                                  (proves the check can fail)
# The .prisma files are concatenated (sorted by name) after a sqlserver
# datasource block, which the schema files do not carry themselves. Works
# offline once node_modules is installed: the engine binary is replaced by
# /bin/true, `validate` only needs the bundled wasm. Exit 77 (meson: skipped)
# when prisma cannot be installed at all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

expect=valid
if [ "${1:-}" = "--expect-invalid" ]; then
  expect=invalid
  shift
fi
[ $# -eq 1 ] || { echo "usage: $0 [--expect-invalid] SCHEMA" >&2; exit 2; }
target="$1"

# Install once; concurrent test processes wait on the lock instead of racing npm.
(
  flock 9
  cd "$here"
  if [ ! -x node_modules/.bin/prisma ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error >&2 || exit 77
    touch node_modules
  fi
) 9>"${TMPDIR:-/tmp}/cwcache-schema-npm.lock"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
{
  printf 'datasource db {\n  provider = "sqlserver"\n}\n\n'
  if [ -d "$target" ]; then
    find "$target" -maxdepth 1 -name '*.prisma' -print0 | sort -z | xargs -0 cat
  else
    cat "$target"
  fi
} >"$tmp/schema.prisma"

set +e
(cd "$here" && NO_COLOR=1 PRISMA_HIDE_UPDATE_MESSAGE=1 \
  PRISMA_SCHEMA_ENGINE_BINARY=/bin/true PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING=1 \
  node_modules/.bin/prisma validate --schema "$tmp/schema.prisma") >"$tmp/out" 2>&1
rc=$?
set -e

if [ "$expect" = valid ]; then
  cat "$tmp/out"
  exit $rc
fi
# A rejection must come from validation (P1012), not from a broken install.
if [ $rc -ne 0 ] && grep -q 'P1012' "$tmp/out"; then
  echo "prisma rejected $target as expected"
  exit 0
fi
cat "$tmp/out"
echo "expected prisma to reject $target (rc=$rc)" >&2
exit 1
