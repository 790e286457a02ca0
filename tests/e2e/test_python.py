#!/usr/bin/python3
"""End-to-end with Debian's python3-socketio client (polling and websocket):
README examples answered with the source's data, wrong PSK refused.

With CWCACHE_E2E_URL (and CWCACHE_E2E_DB, the source's SQLite file, and
CWCACHE_E2E_PSK) it runs against servers already running there instead of
starting its own (tests/e2e/test_replicas.js: replicas behind HAProxy)."""
import ctypes
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

import requests
import socketio

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tdslite_run as tds  # noqa: E402

ROOT = os.environ.get("CWCACHE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
CWCACHE = os.environ.get("CWCACHE", os.path.join(ROOT, "build/cwcache"))
TDSLITE = os.environ.get("TDSLITE", os.path.join(ROOT, "build/tools/tdslite/tdslite"))
PSK = os.environ.get("CWCACHE_E2E_PSK", "py-psk")
procs = []


def start():
    if os.environ.get("CWCACHE_E2E_URL"):
        return os.environ["CWCACHE_E2E_DB"], os.environ["CWCACHE_E2E_URL"]
    d = tempfile.mkdtemp(prefix="cwcache-e2e-py-")
    db = os.path.join(d, "demo.sqlite")
    schema = os.path.join(ROOT, "schema")
    subprocess.run([TDSLITE, "--db", db, "--generate", "200", "--schema", schema], check=True)
    log = open(os.path.join(d, "tdslite.log"), "w")
    src, sport = tds.serve(TDSLITE, db, os.path.join(d, "sport"), extra=["--schema", schema],
                           log_level="info", secs=30, stdout=log, stderr=log)
    procs.append(src)
    env = dict(os.environ, PSK=PSK, PORT="", DATABASE_URL=tds.url(sport))
    slog = open(os.path.join(d, "cwcache.log"), "w")
    srv = subprocess.Popen([CWCACHE, "--port", "0", "--port-file", os.path.join(d, "port"),
                            "--data-dir", os.path.join(d, "data"), "--schema", schema,
                            "--collectors", os.path.join(ROOT, "collectors"),
                            # one loop unless the e2e.loops2 variant asks for more
                            "--loops", os.environ.get("CWCACHE_LOOPS", "1")],
                           env=env, stdout=slog, stderr=slog)
    procs.append(srv)
    port = tds.wait_port_file(os.path.join(d, "port"), srv, "cwcache", secs=30)
    url = f"http://127.0.0.1:{port}"
    end = time.time() + 90
    while time.time() < end:
        try:
            if urllib.request.urlopen(url + "/readyz").status == 200:
                return db, url
        except Exception:
            time.sleep(0.2)
    sys.exit("cwcache never became ready")


def rows(db, q):
    c = sqlite3.connect(db)
    return c.execute(q).fetchall()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run(db, url, transports):
    sio = socketio.Client(reconnection=False)
    sio.connect(url, auth={"psk": PSK}, transports=transports, wait_timeout=10)
    try:
        r = sio.call("fetchCompanies", {"select": ["companyId", "companyName"]}, timeout=60)
        want = [{"companyId": a, "companyName": b}
                for a, b in rows(db, "SELECT Company_ID, Company_Name FROM Company ORDER BY Company_RecID")]
        check(r == {"success": True, "data": want}, "select companies")
        r = sio.call("fetchMembers", {"select": ["memberId", "firstName", "lastName"]}, timeout=60)
        check(r["success"] and len(r["data"]) == rows(db, "SELECT COUNT(*) FROM Member")[0][0], "members")
        r = sio.call("fetchProducts", {"include": {"subcategory": {"include": {"category": True}}}}, timeout=60)
        check(r["success"] and len(r["data"]) == rows(db, "SELECT COUNT(*) FROM IV_Item")[0][0], "products")
        r = sio.call("fetchCompanies", {"select": ["x"], "include": ["y"]}, timeout=60)
        check(r["success"] is False and "not both" in r["error"], "select and include")
        r = sio.call("nope", None, timeout=60)
        check(r == {"success": False, "error": "Unknown event: nope"}, "unknown event")
    finally:
        sio.disconnect()


def page_all(sio, page):
    """docs/query.md's paging pattern (take + cursor on the key, skip the cursor row)."""
    rows_, cursor, calls = [], None, 0
    while True:
        opts = {"select": ["companyRecId", "companyName"], "take": page, "orderBy": {"companyRecId": "asc"}}
        if cursor is not None:
            opts.update(cursor={"companyRecId": cursor}, skip=1)
        res = sio.call("fetchCompanies", opts, timeout=120)
        calls += 1
        if not res["success"]:
            raise RuntimeError(res["error"])
        rows_ += res["data"]
        if len(res["data"]) < page:
            break
        cursor = res["data"][-1]["companyRecId"]
    return rows_, calls


def paging(db, url, transports):
    """The query options from python-socketio: paging a table, a filtered and
    ordered page, a count (the README's and docs' examples)."""
    sio = socketio.Client(reconnection=False)
    sio.connect(url, auth={"psk": PSK}, transports=transports, wait_timeout=10)
    try:
        want = [{"companyRecId": a, "companyName": b}
                for a, b in rows(db, "SELECT Company_RecID, Company_Name FROM Company ORDER BY Company_RecID")]
        got, calls = page_all(sio, 37)
        check(got == want, "paged companies equal the table")
        check(calls == len(want) // 37 + 1, f"{calls} pages of 37 for {len(want)} rows")
        got, calls = page_all(sio, 1000)
        check(got == want and calls == 1, "one short page")
        r = sio.call("fetchCompanies", {"where": {"deleteFlag": False, "companyName": {"startsWith": "n"}},
                                        "orderBy": [{"companyName": "desc"}], "take": 5,
                                        "select": ["companyName", "companyRecId"]}, timeout=60)
        want = [{"companyName": b, "companyRecId": a} for a, b in rows(
            db, "SELECT Company_RecID, Company_Name FROM Company WHERE Delete_Flag = 0 AND "
                "lower(Company_Name) LIKE 'n%' ORDER BY lower(Company_Name) DESC, Company_RecID LIMIT 5")]
        check(r == {"success": True, "data": want}, f"where/orderBy/take: {r}")
        r = sio.call("fetchCompanies", {"where": {"childCompanies": {"some": {}}}, "count": True}, timeout=60)
        n = rows(db, "SELECT COUNT(*) FROM Company c WHERE EXISTS "
                     "(SELECT 1 FROM Company k WHERE k.Parent_Company_RecID = c.Company_RecID)")[0][0]
        check(r == {"success": True, "count": n}, f"count: {r}, want {n}")
    finally:
        sio.disconnect()


def polling_gzip(url):
    """python-socketio polls through requests, which sends Accept-Encoding
    "gzip, deflate" and decodes: every large answer comes gzip-encoded and
    equals the websocket's. With several loops, each polling client's GETs
    land on either loop, its session's or the other one (route.c); a few
    clients make it near certain that some answers come through the other
    loop, and those must be compressed alike."""
    clients = 1 if os.environ.get("CWCACHE_LOOPS", "1") == "1" else 4
    big = []  # the Content-Encoding of every response of at least 1 KiB
    http = requests.Session()
    http.hooks["response"].append(
        lambda r, *a, **k: big.append(r.headers.get("Content-Encoding")) if len(r.content) >= 1024 else None)
    answers = []
    for transports, session in [(["websocket"], None)] + [(["polling"], http)] * clients:
        sio = socketio.Client(reconnection=False, http_session=session)
        sio.connect(url, auth={"psk": PSK}, transports=transports, wait_timeout=10)
        try:
            answers.append(sio.call("fetchCompanies", {"select": ["companyRecId", "companyName"]}, timeout=60))
        finally:
            sio.disconnect()
        if session:  # fresh connections for the next client
            http.close()
    check(answers[0]["success"] and all(a == answers[0] for a in answers[1:]), "the same answer over polling")
    check(len(big) >= clients and all(e == "gzip" for e in big), f"gzip-encoded polling answers: {big}")


def subscribed(db, url, transports):
    """The change feed with python-socketio: a fetch with meta, a subscription
    from its version, a source change pushed as a "change" event, and a
    `since` answer with the same row."""
    sio = socketio.Client(reconnection=False)
    changes = []
    sio.on("change", lambda c: changes.append(c))
    sio.connect(url, auth={"psk": PSK}, transports=transports, wait_timeout=10)
    try:
        sel = {"select": ["companyRecId", "companyName"]}
        first = sio.call("fetchCompanies", dict(sel, meta=True), timeout=60)
        check(first["success"] and len(first["version"]) == 32 and first["asOf"], "meta")
        ack = sio.call("subscribe", dict(sel, event="fetchCompanies", since=first["version"]), timeout=60)
        check(ack["success"] and ack["version"] == first["version"], f"subscribe: {ack}")
        rec = first["data"][7]["companyRecId"]
        name = "Py " + "-".join(transports)
        c = sqlite3.connect(db)
        c.execute("UPDATE Company SET Company_Name=?, Last_Update=strftime('%Y-%m-%d %H:%M:%f','now'), "
                  "Last_Update_UTC=strftime('%Y-%m-%d %H:%M:%f','now') WHERE Company_RecID=?", (name, rec))
        c.commit()
        # The same row's change by the subtest before may come first: behind
        # HAProxy this client's replica can have polled it only after the
        # fetch above (e2e.replicas). The event wanted is the one with this
        # subtest's name.
        want = [{"companyRecId": rec, "companyName": name}]
        end = time.time() + 30
        while time.time() < end and not any(x["data"] == want for x in changes):
            time.sleep(0.05)
        got = [x for x in changes if x["data"] == want]
        check(got and got[0]["subscription"] == ack["subscription"] and got[0]["deleted"] == [],
              f"change event: {changes}")
        since = sio.call("fetchCompanies", dict(sel, since=first["version"]), timeout=60)
        check(since["data"] == got[0]["data"] and since["version"] == got[0]["version"], f"since: {since}")
        check(sio.call("unsubscribe", {"subscription": ack["subscription"]}, timeout=60) == {"success": True},
              "unsubscribe")
    finally:
        sio.disconnect()


SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture (5.6+)


def accepted_nodelay(pid, port):
    """TCP_NODELAY of each socket the server accepted on port, read from a
    copy of the server's descriptor (pidfd_getfd: the test is its parent)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd, got = os.pidfd_open(pid), []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue
            dup = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
            if dup < 0:
                continue  # closed meanwhile
            with socket.socket(fileno=dup) as sk:
                if sk.type != socket.SOCK_STREAM or sk.family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                try:
                    if sk.getsockname()[1] != port:
                        continue
                    sk.getpeername()  # the listener has no peer
                except OSError:
                    continue
                got.append(sk.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        os.close(pidfd)
    return got


def nodelay(url, transports):
    """Answers go out as written (TCP_NODELAY, as Node's sockets): with
    Nagle's algorithm the end of every answer over one write waited for the
    client's delayed ACK, 40 ms."""
    sio = socketio.Client(reconnection=False)
    sio.connect(url, auth={"psk": PSK}, transports=transports, wait_timeout=20)
    try:
        ack = sio.call("fetchCompanies", {"select": ["companyId"]}, timeout=60)
        check(ack.get("success"), f"fetchCompanies: {ack}")
        port = int(url.rsplit(":", 1)[1])
        flags = accepted_nodelay(procs[-1].pid, port)
        check(flags and all(flags), f"TCP_NODELAY of the accepted sockets on :{port}: {flags}")
    finally:
        sio.disconnect()


def refused(url):
    """python-socketio reports a generic ConnectionError; the server's
    CONNECT_ERROR payload arrives through the connect_error handler."""
    sio = socketio.Client(reconnection=False)
    got = []
    sio.on("connect_error", lambda data: got.append(data))
    try:
        sio.connect(url, auth={"psk": "wrong"}, transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return got == [{"message": "Unauthorized"}]
    sio.disconnect()
    return False


def main():
    passed = failed = 0
    try:
        db, url = start()
        for name, fn in [("polling", lambda: run(db, url, ["polling"])),
                         ("websocket", lambda: run(db, url, ["websocket"])),
                         ("paging polling", lambda: paging(db, url, ["polling"])),
                         ("paging websocket", lambda: paging(db, url, ["websocket"])),
                         ("polling gzip", lambda: polling_gzip(url)),
                         ("subscribe polling", lambda: subscribed(db, url, ["polling"])),
                         ("subscribe websocket", lambda: subscribed(db, url, ["websocket"])),
                         ("wrong psk", lambda: check(refused(url), "wrong PSK refused"))] + (
                         [] if os.environ.get("CWCACHE_E2E_URL") else  # servers not ours
                         [("no delay polling", lambda: nodelay(url, ["polling"])),
                          ("no delay websocket", lambda: nodelay(url, ["websocket"]))]):
            try:
                fn()
                print(f"ok - {name}")
                passed += 1
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"not ok - {name}: {e!r}")
                failed += 1
    finally:
        for p in procs:
            p.terminate()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
