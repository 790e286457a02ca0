#!/usr/bin/env bash
# Runs every test: Criterion unit tests and the end-to-end tests (real
# binaries, real clients), all built with AddressSanitizer and
# UndefinedBehaviorSanitizer. Usage: scripts/test.sh [meson test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
scripts/npm-deps.sh

build=build-test
if [ ! -d "$build" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dwerror=true -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build"
# The fuzz suite's clang build (build-fuzz/), made before the tests start so
# that each 30 s run is fuzzing time; skipped when other suites are chosen.
if [ $# -eq 0 ] || [[ " $* " == *fuzz* ]]; then
  tools/fuzz.sh --build-only
fi

# Any sanitizer finding fails the test that triggered it.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp":print_suppressions=0

set +e
meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
rc=$?
set -e
# The plain closing line CI reads: counts from meson's own log. A skipped
# test (exit 77: a client or tool missing) fails the run: CI has no skips.
python3 - "$build/meson-logs/testlog.json" <<'PY' || rc=1
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r["result"] == "SKIP":
        skip += 1
        print(f"skipped: {r['name']}: a missing dependency (scripts/deps.sh --test)")
    else: bad += 1
print(f"{ok} passed, {bad} failed, {skip} skipped")
sys.exit(1 if skip else 0)
PY
exit $rc
