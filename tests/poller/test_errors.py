#!/usr/bin/env python3
"""Source errors keep their words (suite 'poller').

Usage: test_errors.py CASE TDSLITE POLLER_DRIVER SCHEMA

A missing table reports the server's message and number (not db-lib's
"General SQL Server error: Check messages from the SQL Server"); a connection
the server closed between two statements says so (not "query failed"); a
refused connection keeps the OS error.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tdslite_run as tds  # noqa: E402
from tdslite_run import check, fail  # noqa: E402


class Env:
    def __init__(self, tdslite, driver, schema):
        self.tdslite, self.driver, self.schema = tdslite, driver, schema
        self.tmp = tempfile.mkdtemp(prefix="poller-errors-")
        self.db = os.path.join(self.tmp, "source.db")
        subprocess.run([tdslite, "--db", self.db, "--generate", "20", "--schema", schema],
                       check=True, capture_output=True, timeout=50)
        self.port = tds.free_port()
        self.server = None
        self.url = tds.url(self.port, ";connectTimeout=3;socketTimeout=10")
        self.start()

    def start(self):
        self.server, _ = tds.serve(self.tdslite, self.db, os.path.join(self.tmp, "ready"), self.port)

    def kill(self):
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(timeout=10)
        self.server = None

    def args(self, cmd, *extra, url=None):
        return [self.driver, cmd, "--url", url or self.url, "--store", os.path.join(self.tmp, "store"),
                "--schema", self.schema, *extra]

    def drv(self, cmd, *extra, url=None, stdin=None):
        return subprocess.run(self.args(cmd, *extra, url=url), capture_output=True, text=True,
                              timeout=60, input=stdin)

    def close(self):
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def missing_table(env):
    r = env.drv("exec", stdin="DROP TABLE dbo.Manufacturer\nGO\n")
    check(r.returncode == 0, f"drop table: {r.stderr}")
    r = env.drv("verify", "--models", "ProductManufacturer")
    check(r.returncode != 0, "verify of a model without its table succeeded")
    check("SQL Server error 208" in r.stderr and "Invalid object name" in r.stderr,
          f"the server's words and number are lost: {r.stderr}")
    check("General SQL Server error" not in r.stderr, f"db-lib's generic text won: {r.stderr}")


def connection_closed_between_statements(env):
    log = os.path.join(env.tmp, "poller.log")
    with open(log, "w") as f:
        poller = subprocess.Popen(env.args("run", "--models", "Company", "--interval-ms", "300",
                                           "--seconds", "30"), stdout=f, stderr=f)
    try:
        time.sleep(2)  # connected and polling
        env.kill()
        env.start()    # the poller's open connection is now a dead one
        deadline = time.time() + 20
        while "WARN" not in open(log).read() and time.time() < deadline:
            time.sleep(0.2)  # until the poller met the dead connection
    finally:
        poller.send_signal(signal.SIGTERM)
        poller.wait(timeout=20)
    text = open(log).read()
    check("the connection to the source was closed" in text,
          f"a connection closed by the server is not named as such:\n{text}")
    lines = [ln for ln in text.splitlines() if ln.rstrip().endswith("query failed")]
    check(not lines, f"errors without a cause: {lines}")


def connection_refused(env):
    url = tds.url(tds.free_port(), ";connectTimeout=3")
    r = env.drv("warm", "--models", "Company", url=url)
    check(r.returncode != 0, "a warm-up against a closed port succeeded")
    check("Connection refused" in r.stderr, f"the OS error is lost: {r.stderr}")


CASES = {"missing_table": missing_table, "connection_closed": connection_closed_between_statements,
         "connection_refused": connection_refused}

if __name__ == "__main__":
    sys.exit(tds.run_case(__doc__, CASES, Env, 3))
