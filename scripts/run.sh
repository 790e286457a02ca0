#!/usr/bin/env bash
# README command 1: build cwcache and run it in the foreground.
#
# With DATABASE_URL set, it serves that SQL Server. Without it, it runs the
# demo: a generated ConnectWise-like data set (data/demo.sqlite, ~2000
# companies, made once) served by tdslite, the TDS test server, on a free
# local port; tdslite stops when cwcache exits. The demo writes its
# configuration to ./cwcache.conf, which cwcache and cwcachectl read from
# this directory (or anywhere with CWCACHE_CONFIG=<this dir>/cwcache.conf).
#
# Extra arguments go to cwcache (see `build/cwcache --help`). BUILD names
# another build directory (the tests use theirs).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}

scripts/deps.sh
if [ ! -d "$build" ]; then
  echo "run: configuring $build/ (release)" >&2
  meson setup "$build" -Dbuildtype=release -Db_ndebug=false >/dev/null
fi
echo "run: building (the first build takes a few minutes)" >&2
if ! ninja -C "$build" >&2; then
  echo "run: the build failed" >&2
  exit 1
fi

if [ -n "${DATABASE_URL:-}" ]; then
  exec "$build/cwcache" "$@"
fi

mkdir -p data
demo_db=data/demo.sqlite
tdslite=$build/tools/tdslite/tdslite
if [ ! -f "$demo_db" ]; then
  echo "run: generating the demo data set ($demo_db, 2000 companies)" >&2
  "$tdslite" --db "$demo_db" --generate 2000 --schema schema
fi

ready=$(mktemp)
rm -f "$ready"
"$tdslite" --db "$demo_db" --port 0 --ready-file "$ready" --schema schema --log-level warn &
tds_pid=$!
stop_tds() { kill "$tds_pid" 2>/dev/null || true; wait "$tds_pid" 2>/dev/null || true; rm -f "$ready"; }
trap stop_tds EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for _ in $(seq 1 200); do
  [ -s "$ready" ] && break
  kill -0 "$tds_pid" 2>/dev/null || { echo "run: tdslite failed to start" >&2; exit 1; }
  sleep 0.05
done
[ -s "$ready" ] || { echo "run: tdslite did not start" >&2; exit 1; }
port=$(cat "$ready")

# The one configuration the server and cwcachectl share; the environment
# (PSK, PORT) still wins over it, as in any deployment.
psk=${PSK:-demo-psk}
umask 077
cat > cwcache.conf.tmp <<CONF
# Written by scripts/run.sh for the demo; cwcache and cwcachectl read it.
database_url = "sqlserver://127.0.0.1:${port};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false"
psk = "$psk"
port = ${PORT:-3000}
data_dir = "$PWD/data/demo-cache"
schema = "$PWD/schema"
collectors = "$PWD/collectors"
CONF
umask 022
mv cwcache.conf.tmp cwcache.conf
echo "PSK=$psk" >&2
echo "run: demo database on 127.0.0.1:$port; cwcache on port ${PORT:-3000};" \
  "configuration in $PWD/cwcache.conf (Ctrl-C stops both)" >&2

# cwcache runs as a child (not exec) so the trap can stop tdslite after it.
"$build/cwcache" --config cwcache.conf "$@" &
srv_pid=$!
trap 'kill -TERM "$srv_pid" 2>/dev/null || true' INT TERM
rc=0
while kill -0 "$srv_pid" 2>/dev/null; do
  # A signal interrupts `wait` (status > 128) while cwcache drains; wait again.
  if wait "$srv_pid"; then rc=0; else rc=$?; fi
done
exit "$rc"
