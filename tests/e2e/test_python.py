#!/usr/bin/python3
"""End-to-end with Debian's python3-socketio client (polling and websocket):
README examples answered with the source's data, wrong PSK refused."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

import socketio

ROOT = os.environ.get("CWCACHE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
CWCACHE = os.environ.get("CWCACHE", os.path.join(ROOT, "build/cwcache"))
TDSLITE = os.environ.get("TDSLITE", os.path.join(ROOT, "build/tools/tdslite/tdslite"))
PSK = "py-psk"
procs = []


def wait_file(path, proc, what, secs=30):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            with open(path) as f:
                t = f.read().strip()
            if t:
                return int(t)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    sys.exit(f"{what} did not start")


def start():
    d = tempfile.mkdtemp(prefix="cwcache-e2e-py-")
    db = os.path.join(d, "demo.sqlite")
    schema = os.path.join(ROOT, "schema")
    subprocess.run([TDSLITE, "--db", db, "--generate", "200", "--schema", schema], check=True)
    log = open(os.path.join(d, "tdslite.log"), "w")
    src = subprocess.Popen([TDSLITE, "--db", db, "--port", "0", "--ready-file", os.path.join(d, "sport"),
                            "--schema", schema], stdout=log, stderr=log)
    procs.append(src)
    sport = wait_file(os.path.join(d, "sport"), src, "tdslite")
    env = dict(os.environ, PSK=PSK, PORT="",
               DATABASE_URL=f"sqlserver://127.0.0.1:{sport};database=cwwebapp_demo;user=sa;password=tdslite")
    slog = open(os.path.join(d, "cwcache.log"), "w")
    srv = subprocess.Popen([CWCACHE, "--port", "0", "--port-file", os.path.join(d, "port"),
                            "--data-dir", os.path.join(d, "data"), "--schema", schema,
                            "--collectors", os.path.join(ROOT, "collectors")], env=env, stdout=slog, stderr=slog)
    procs.append(srv)
    port = wait_file(os.path.join(d, "port"), srv, "cwcache")
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
                         ("wrong psk", lambda: check(refused(url), "wrong PSK refused"))]:
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
