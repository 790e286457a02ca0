#!/usr/bin/env bash
# make_certs.sh DIR: test certificates for TLS to tdslite (tests/tdslite,
# tests/poller): a CA (ca.pem), a server certificate it signed for
# 127.0.0.1 and localhost (server.pem, server.key), and an unrelated CA
# (other-ca.pem) that must not be trusted in its place.
set -euo pipefail
dir=$1
cd "$dir"
q() { openssl "$@" 2>/dev/null; }
q req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cwcache test CA" -keyout ca.key -out ca.pem
q req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
q x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
  -out server.pem
q req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=another CA" -keyout other-ca.key \
  -out other-ca.pem
