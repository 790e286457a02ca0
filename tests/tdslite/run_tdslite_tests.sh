#!/usr/bin/env bash
# Real-client tests of tdslite. Usage:
#   run_tdslite_tests.sh dblib TDSLITE DBLIB_TYPES
#   run_tdslite_tests.sh tsql TDSLITE
#   run_tdslite_tests.sh tls TDSLITE
#   run_tdslite_tests.sh generate TDSLITE SCHEMA_DIR
set -euo pipefail
mode=$1 tdslite=$2
dir=$(mktemp -d)
srv=""
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$dir/server.log" ] && tail -20 "$dir/server.log" >&2; exit 1; }

start() { # start DB [extra args]: a server on a free port; sets $port and $srv
  local db=$1; shift
  rm -f "$dir/port"
  "$tdslite" --db "$db" --port 0 --ready-file "$dir/port" "$@" >>"$dir/server.log" 2>&1 &
  srv=$!
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
  [ -s "$dir/port" ] || fail "tdslite did not start"
  port=$(cat "$dir/port")
}

q() { # q SQL...: runs a tsql session, prints its output
  printf '%s\ngo\n' "$@" | TDSVER=7.4 tsql -H 127.0.0.1 -p "$port" -U sa -P tdslite 2>&1
}

expect() { # expect PATTERN OUTPUT
  grep -qF -- "$1" <<<"$2" || { echo "$2" >&2; fail "expected '$1'"; }
}

case $mode in
dblib)
  start "$dir/t.db"
  "$3" "sqlserver://127.0.0.1:$port;database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false" \
    || fail "db-lib checks"
  ;;
tsql)
  start "$dir/t.db"
  out=$(q "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, name nvarchar(20), at datetime)" \
          "INSERT INTO t VALUES (1, N'Zoë', '2024-01-01 10:00:00.0033333'), (2, N'東京', NULL)" \
          "SELECT TOP (1) [name], at FROM [dbo].[t] WITH (NOLOCK) ORDER BY id" \
          "SELECT COUNT_BIG(*) AS n FROM t" \
          "SELECT * FROM nosuch" "SELECT nocol FROM t" "SELEC 1" "USE otherdb")
  expect "Zoë	Jan  1 2024 10:00AM" "$out"
  grep -qx "2" <<<"$out" || fail "COUNT_BIG(*) of the two inserted rows"
  expect "Msg 208 (severity 16, state 1)" "$out"
  expect "Invalid object name 'nosuch'." "$out"
  expect "Msg 207" "$out"
  expect "Msg 102 (severity 15" "$out"
  expect "Msg 911" "$out"
  # wrong password: login fails with 18456
  out=$(printf 'select 1\ngo\n' | TDSVER=7.4 tsql -H 127.0.0.1 -p "$port" -U sa -P wrong 2>&1 || true)
  expect "Login failed for user 'sa'." "$out"
  expect "18456" "$out"
  # garbage, a truncated packet and a huge length on raw sockets: only those connections close
  python3 - "$port" <<'PY'
import socket, sys
port = int(sys.argv[1])
for junk in (b"GET / HTTP/1.1\r\n\r\n", b"\x12\x01\x00\x30\x00\x00", b"\x01\x01\xff\xff" + b"x" * 100,
             b"\x12\x01\x00\x0a\x00\x00\x00\x00\xff\xff", bytes(range(256)) * 8):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(junk)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
PY
  out=$(q "SELECT name FROM t WHERE id = 2")
  expect "東京" "$out"
  # the collation cwcache uses (src/collate.h): case folded beyond ASCII, trailing spaces ignored,
  # LIKE folded the same way, T-SQL CONCAT (Prisma's contains/startsWith/endsWith)
  out=$(q "SELECT 'eq', COUNT(*) FROM t WHERE name = N'ZOË  '" \
          "SELECT 'like', COUNT(*) FROM t WHERE name LIKE CONCAT(N'%', N'OË')" \
          "SELECT 'accent', COUNT(*) FROM t WHERE name = N'ZOE'")
  expect "eq	1" "$out"
  expect "like	1" "$out"
  expect "accent	0" "$out"
  # a client that requires encryption is refused clearly
  printf '[enc]\n\thost = 127.0.0.1\n\tport = %s\n\ttds version = 7.4\n\tencryption = require\n' "$port" >"$dir/freetds.conf"
  out=$(printf 'select 1\ngo\n' | FREETDSCONF="$dir/freetds.conf" tsql -S enc -U sa -P tdslite 2>&1 || true)
  grep -q "^1$" <<<"$out" && fail "an encryption-requiring client got an answer"
  grep -q "client requires encryption" "$dir/server.log" || fail "no log line for the refused client"
  # SIGTERM: a clean exit with status 0
  kill -TERM "$srv"
  wait "$srv" || fail "tdslite exited with $? on SIGTERM"
  srv=""
  ;;
tls)
  "$(dirname "$0")/../lib/make_certs.sh" "$dir"
  tsql_as() { # tsql_as ENCRYPTION [CA]: one query through a freetds.conf section
    { printf '[s]\n\thost = 127.0.0.1\n\tport = %s\n\ttds version = 7.4\n' "$port"
      printf '\tencryption = %s\n' "$1"
      [ -z "${2:-}" ] || printf '\tca file = %s\n' "$2"; } >"$dir/freetds.conf"
    printf 'SELECT 40 + 2\ngo\n' | FREETDSCONF="$dir/freetds.conf" tsql -S s -U sa -P tdslite 2>&1 || true
  }
  # Force Encryption (the default with a certificate): every session is TLS
  start "$dir/t.db" --tls-cert "$dir/server.pem" --tls-key "$dir/server.key"
  grep -qx 42 <<<"$(tsql_as require "$dir/ca.pem")" || fail "require with the right CA"
  grep -qx 42 <<<"$(tsql_as request)" || fail "request: TLS without verification"
  grep -qx 42 <<<"$(tsql_as require "$dir/other-ca.pem")" && fail "a certificate of another CA was accepted"
  grep -qx 42 <<<"$(tsql_as off)" && fail "a client without TLS got an answer from a forcing server"
  grep -q "client cannot encrypt; this server requires TLS" "$dir/server.log" || fail "no log line"
  [ "$(grep -c "for the whole session" "$dir/server.log")" -ge 2 ] || fail "sessions not reported as TLS"
  grep -q "for the login packet only" "$dir/server.log" && fail "login-only TLS while forcing"
  kill -TERM "$srv"; wait "$srv" || fail "tdslite exited with $? on SIGTERM"; srv=""
  # without Force Encryption: ENCRYPT_OFF clients encrypt the login only, ON the whole session
  : >"$dir/server.log"
  start "$dir/t.db" --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" --tls-login-only
  grep -qx 42 <<<"$(tsql_as request)" || fail "login-only TLS"
  grep -q "for the login packet only" "$dir/server.log" || fail "ENCRYPT_OFF did not give login-only TLS"
  grep -qx 42 <<<"$(tsql_as require)" || fail "require on a login-only server"
  grep -q "for the whole session" "$dir/server.log" || fail "ENCRYPT_ON did not give a TLS session"
  grep -qx 42 <<<"$(tsql_as off)" || fail "a client without TLS on a server that does not force it"
  # bad options are usage errors
  set +e
  "$tdslite" --db "$dir/t.db" --tls-cert "$dir/server.pem" >/dev/null 2>&1; rc=$?
  set -e
  [ "$rc" = 2 ] || fail "--tls-cert without --tls-key exited $rc"
  ;;
generate)
  schema=$3
  t0=$(date +%s%N)
  "$tdslite" --generate 300 --seed 7 --db "$dir/a.db" --schema "$schema" >/dev/null 2>&1 || fail "generate"
  "$tdslite" --generate 300 --seed 7 --db "$dir/b.db" --schema "$schema" >/dev/null 2>&1 || fail "generate"
  for t in Company Contact SO_Opportunity IV_Item; do
    a=$(sqlite3 "$dir/a.db" "SELECT * FROM \"$t\" ORDER BY 1" | md5sum)
    b=$(sqlite3 "$dir/b.db" "SELECT * FROM \"$t\" ORDER BY 1" | md5sum)
    [ "$a" = "$b" ] || fail "$t differs between two runs with the same seed"
  done
  [ "$(sqlite3 "$dir/a.db" 'SELECT count(*) FROM Company')" = 300 ] || fail "300 companies"
  [ "$(sqlite3 "$dir/a.db" 'SELECT count(*) FROM Contact')" = 900 ] || fail "contacts are 3x companies"
  # foreign keys point at existing rows; parents are older companies
  bad=$(sqlite3 "$dir/a.db" "SELECT count(*) FROM Contact c WHERE c.Company_RecID IS NOT NULL AND NOT EXISTS (SELECT 1 FROM Company p WHERE p.Company_RecID = c.Company_RecID)")
  [ "$bad" = 0 ] || fail "$bad contacts point at missing companies"
  [ "$(sqlite3 "$dir/a.db" 'SELECT count(*) FROM pragma_foreign_key_check')" = 0 ] || fail "foreign key check"
  # many rows share one Last_Update value
  big=$(sqlite3 "$dir/a.db" 'SELECT max(n) FROM (SELECT count(*) n FROM Contact GROUP BY Last_Update)')
  [ "$big" -ge 50 ] || fail "largest group of equal Last_Update values is $big rows"
  # restart on an existing file is fast and serves it
  start "$dir/a.db"
  out=$(q "SELECT COUNT_BIG(*) FROM dbo.Company" "SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'IV_Item' AND COLUMN_NAME = 'List_Price'")
  expect "300" "$out"
  expect "money" "$out"
  kill -TERM "$srv"; wait "$srv" || true; srv=""
  # churn: changes land, late commits included, deletes only in leaf tables
  before=$(sqlite3 "$dir/a.db" 'SELECT max(Last_Update_UTC) FROM Company')
  "$tdslite" --db "$dir/a.db" --churn-once 2000 --seed 3 >"$dir/churn.log" 2>&1 || fail "churn"
  grep -q "inserts" "$dir/churn.log" || fail "churn summary"
  after=$(sqlite3 "$dir/a.db" 'SELECT max(Last_Update_UTC) FROM Company')
  [[ "$after" > "$before" ]] || fail "churn did not bump Last_Update_UTC ($before -> $after)"
  [ "$(sqlite3 "$dir/a.db" 'SELECT count(*) FROM Company')" -ge 300 ] || fail "companies were deleted"
  ;;
*)
  echo "usage: $0 dblib|tsql|tls|generate ..." >&2; exit 2 ;;
esac
echo "tdslite $mode: ok"
