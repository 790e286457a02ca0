#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz under ASan+UBSan.
#
# Usage: tools/fuzz.sh [--seconds N] [--build-only] [TARGET...]
#   TARGET        sio, plan, schema, collector, convert, tds (default: all, one after another)
#   --seconds N   how long each target runs (default 60; 0: until interrupted)
#   --build-only  configure and build, run nothing
#
# The harnesses are built with clang in build-fuzz/ (-Dfuzz=true), set up on
# first use. New inputs that reach new code are kept in build-fuzz/corpus/TARGET
# between runs, on top of the committed seeds in tests/fuzz/corpus/TARGET. Any
# finding (crash, sanitizer report, leak, an input slower than 25 s) stops the
# run, exits 1 and prints the saved input and the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=build-fuzz
all=(sio plan schema collector convert tds)

seconds=60 build_only=false targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --build-only) build_only=true; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target $t (${all[*]})" >&2; exit 2; }
done

# One build at a time: the meson tests start several runs at once.
mkdir -p "$build"
exec 9>"$build/.lock"
flock 9
log=$build/build.log
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
    -Dbuildtype=debugoptimized >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
ninja -C "$build" fuzz >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
flock -u 9
$build_only && exit 0

export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export LSAN_OPTIONS=suppressions="$src/tests/lsan.supp":print_suppressions=0
for t in "${targets[@]}"; do
  work=$build/corpus/$t crashes=$build/crashes/$t
  mkdir -p "$work" "$crashes"
  before=$(date +%s.%N)
  set +e
  # -max_len bounds inputs (tds: the whole stream must fit a socket buffer);
  # -timeout is per input, far above any sane parse on a loaded machine.
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 -max_len=65536 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$work" "$src/tests/fuzz/corpus/$t"
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    found=$(find "$crashes" -type f -newermt "@$before" | head -1)
    echo "fuzz.sh: $t: FAILED (exit $rc); input: ${found:-none saved}" >&2
    [ -n "$found" ] && echo "fuzz.sh: replay: $build/tests/fuzz/fuzz_$t $found" >&2
    exit 1
  fi
  echo "fuzz.sh: $t: no finding in ${seconds} s"
done
