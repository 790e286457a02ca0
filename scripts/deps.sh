#!/usr/bin/env bash
# Installs the Debian 12 packages cwcache needs to build, run and test,
# skipping the install when all are present. Used by both README commands
# and by .ci/run. Needs root (or sudo) only when something is missing.
set -euo pipefail

# What building and running the server needs.
pkgs=(
  build-essential meson ninja-build pkg-config
  freetds-dev freetds-bin          # db-lib client + tsql
  liblmdb-dev lmdb-utils           # the store + mdb_stat for operators
  libwebsockets-dev                # Engine.IO/Socket.IO transport
  libwebsockets-evlib-ev libev-dev # the epoll loop lws runs on (src/sio/loop.c)
  libxxhash-dev libjansson-dev
  zlib1g-dev                       # gzip/deflate of polling answers (src/sio/compress.c)
  libsqlite3-dev                   # the TDS test server's backend (the demo database)
  libssl-dev                       # the TDS test server's TLS (tools/tdslite/tls.c)
)
# What the tests add (`deps.sh --test`): the heavy ones (Chromium) stay off
# a machine that only runs the product.
if [ "${1:-}" = "--test" ]; then
  pkgs+=(
    libcriterion-dev               # unit tests
    python3 python3-socketio python3-requests python3-websocket  # e2e client
    python3-yaml                   # tests/tools: the Kubernetes manifests parse
    openssl                        # tests/e2e: a self-signed certificate for https/wss
    chromium                       # tests/tools: the /status page in headless Chromium
    systemd                        # tests/tools: systemd-analyze verify of tools/deploy's units
    haproxy                        # tests/e2e: replicas behind tools/deploy/haproxy.cfg
    clang libclang-rt-14-dev       # tests/fuzz: libFuzzer harnesses (tools/fuzz.sh)
  )
fi
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm  >/dev/null 2>&1 || pkgs+=(npm)
[ "${CWCACHE_DEPS_EXTRA:-}" ] && read -r -a extra <<<"$CWCACHE_DEPS_EXTRA" && pkgs+=("${extra[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
