"""Shared by the Python integration tests (tests/poller, tests/tools,
tests/e2e): tdslite serving a data set on a port, waited for through its
ready file, and the connection string to reach it.

A test script imports it after putting this directory on sys.path, found
from the script's own location (meson runs the scripts from the source tree):

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import tdslite_run as tds
"""
import os
import socket
import subprocess
import sys
import time

USER, PASSWORD, DATABASE = "sa", "tdslite", "cwwebapp_demo"


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    """A port free right now, for a server that must keep it across restarts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port_file(path, proc, what, secs=20):
    """The port proc writes to path once it listens (tdslite --ready-file,
    cwcache --port-file; an empty file is a write still under way). Fails
    when proc exits first or secs pass."""
    deadline = time.time() + secs
    while True:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        check(proc.poll() is None, f"{what} exited with {proc.returncode}")
        check(time.time() < deadline, f"{what} did not get ready within {secs} s")
        time.sleep(0.02)


def serve(exe, db, ready, port=0, extra=(), log_level="warn", secs=20, **popen):
    """Starts tdslite on db at port (0: any free one) and waits until it
    listens. Returns (process, port); the caller stops the process."""
    if os.path.exists(ready):
        os.unlink(ready)
    proc = subprocess.Popen([exe, "--db", db, "--port", str(port), "--ready-file", ready,
                             "--user", USER, "--password", PASSWORD, "--database", DATABASE,
                             "--log-level", log_level, *extra], **popen)
    return proc, wait_port_file(ready, proc, "tdslite", secs)


def url(port, extra=""):
    """DATABASE_URL for tdslite on port; extra is appended (";key=value...")."""
    return (f"sqlserver://127.0.0.1:{port};database={DATABASE};user={USER};"
            f"password={PASSWORD};encrypt=false;trustServerCertificate=true{extra}")


def run_case(doc, cases, env_class, nargs):
    """The main() of a test script run as `SCRIPT CASE ARG...` (nargs ARGs):
    runs cases[CASE] on env_class(*ARGS), closed afterwards, and prints "ok";
    prints doc and exits 2 on a wrong command line."""
    if len(sys.argv) != nargs + 2 or sys.argv[1] not in cases:
        print(doc, "cases:", ", ".join(cases), file=sys.stderr)
        return 2
    env = env_class(*sys.argv[2:])
    try:
        cases[sys.argv[1]](env)
    finally:
        env.close()
    print("ok")
    return 0
