#!/usr/bin/env python3
"""Fault tests: the real cwcache, cwcachectl and tdslite while something
breaks (meson suite 'fault').

Usage: test_fault.py CASE CWCACHE CWCACHECTL TDSLITE SCHEMA COLLECTORS

Cases:
  kill9_warm      kill -9 the server in the middle of its warm-up while the
                  source churns; the restarted server finishes it and, once
                  the churn stops, catches up: `cwcachectl verify` finds 0
                  differences
  source_restart  kill -9 the source and restart it: the server answers from
                  the cache meanwhile, says so in the log once (not per
                  reconnection attempt), and catches up (the change made
                  meanwhile is served; verify = 0)
  source_stall    SIGSTOP the source: the server keeps answering at once,
                  the poller gives up on the hung query after socketTimeout,
                  and after SIGCONT it catches up (verify = 0)
  disk_full       the data directory on a tmpfs too small for the warm-up:
                  the log says "disk full" in words, once for the store, the
                  server keeps serving; once the tmpfs is enlarged the warm-up
                  completes (verify = 0) and the log says commits succeed again

Every case has its own temporary directory, tdslite and server, and decides
by polling what it waits for (bounded by generous deadlines), never by a
fixed sleep. disk_full runs in a private mount namespace (unshare), so a
test killed halfway leaves no mount behind; unprivileged, it maps the user
to root in a new user namespace, where mounting a tmpfs is allowed.
"""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tdslite_run as tds  # noqa: E402
from tdslite_run import check, fail  # noqa: E402

PSK = "fault-test-psk"
POLL_MS = 200


class Env:
    def __init__(self, cwcache, ctl, tdslite, schema, collectors):
        self.cwcache, self.ctl, self.tdslite = cwcache, ctl, tdslite
        self.schema, self.collectors = schema, collectors
        self.tmp = tempfile.mkdtemp(prefix="fault-test-")
        self.db = os.path.join(self.tmp, "source.db")
        self.data = os.path.join(self.tmp, "data")
        self.log = os.path.join(self.tmp, "server.log")
        self.port = tds.free_port()  # fixed: a restarted source comes back on it
        # Short timeouts so a dead or hung source is noticed within seconds.
        self.url = tds.url(self.port, ";connectTimeout=2;socketTimeout=3")
        self.source = self.server = None
        self.base = None

    def close(self):
        for p in (self.server, self.source):
            if p and p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(timeout=20)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the source (tdslite) ---------------------------------------------
    def generate(self, size):
        run([self.tdslite, "--db", self.db, "--generate", str(size), "--schema", self.schema], 120)

    def source_start(self):
        self.source, _ = tds.serve(self.tdslite, self.db, os.path.join(self.tmp, "ready"),
                                   self.port)

    def source_kill(self):
        self.source.kill()
        self.source.wait(timeout=20)
        self.source = None

    def rename_company(self, name):
        """Renames one company at the source as an application would: the
        row's last-update moves to now, so the poller picks it up."""
        now = time.strftime("%Y-%m-%d %H:%M:%S.0000000", time.gmtime(time.time() - 1))
        con = sqlite3.connect(self.db, timeout=20)
        try:
            rec = con.execute("SELECT MIN(Company_RecID) FROM Company").fetchone()[0]
            con.execute("UPDATE Company SET Company_Name = ?, Last_Update_UTC = ?, Last_Update = ? "
                        "WHERE Company_RecID = ?", (name, now, now, rec))
            con.commit()
        finally:
            con.close()
        return rec

    # ---- the server (cwcache) ---------------------------------------------
    def server_start(self, *extra):
        port_file = os.path.join(self.tmp, "server.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        env = dict(os.environ, DATABASE_URL=self.url, PSK=PSK)
        with open(self.log, "a") as log:  # one log over restarts
            self.server = subprocess.Popen(
                [self.cwcache, "--data-dir", self.data, "--schema", self.schema,
                 "--collectors", self.collectors, "--port", "0", "--port-file", port_file,
                 "--poll-interval-ms", str(POLL_MS), *extra], env=env, stdout=log, stderr=log)
        self.base = f"http://127.0.0.1:{tds.wait_port_file(port_file, self.server, 'cwcache')}"

    def server_kill9(self):
        self.server.kill()
        self.server.wait(timeout=20)
        self.server = None

    def server_stop(self):
        """SIGTERM: exit 0, so no sanitizer report was made on the way."""
        self.server.send_signal(signal.SIGTERM)
        rc = self.server.wait(timeout=60)
        self.server = None
        check(rc == 0, f"cwcache exited {rc} on SIGTERM:\n{self.log_text()[-3000:]}")
        print("server warnings:", *lines_matching(self, r" (WARN|ERROR) "), sep="\n  ")

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def http(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=20) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def fetch(self, event, opts=None):
        """One Socket.IO request (Debian's python3-socketio) with the PSK:
        (ack, seconds it took)."""
        import socketio
        sio = socketio.Client(reconnection=False)
        sio.connect(self.base, auth={"psk": PSK}, transports=["websocket"], wait_timeout=20)
        try:
            t0 = time.monotonic()
            ack = sio.call(event, opts, timeout=60)
            return ack, time.monotonic() - t0
        finally:
            sio.disconnect()

    # ---- the operators' tool ----------------------------------------------
    def ctl_run(self, *a, timeout=120):
        env = dict(os.environ, DATABASE_URL=self.url)
        return subprocess.run([self.ctl, "--data-dir", self.data, "--schema", self.schema,
                               "--collectors", self.collectors, *a], capture_output=True,
                              text=True, timeout=timeout, env=env)

    def verify_eventually(self, secs):
        """`cwcachectl verify` until it reports 0 differences (exit 0)."""
        deadline = time.monotonic() + secs
        while True:
            r = self.ctl_run("verify")
            if r.returncode == 0:
                return r.stdout
            check(r.returncode == 1, f"verify could not run: {r.stdout}\n{r.stderr}")
            if time.monotonic() > deadline:
                fail(f"cache still differs from the source after {secs} s:\n{r.stdout}\n"
                     f"{self.log_text()[-3000:]}")
            time.sleep(0.5)


def run(args, timeout):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    check(r.returncode == 0, f"{' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def wait_for(cond, secs, what, env=None):
    """Polls cond until it holds; fails after secs (with env's server log)."""
    deadline = time.monotonic() + secs
    while not cond():
        if time.monotonic() > deadline:
            fail(f"{what}: not within {secs} s" + (f"\n{env.log_text()[-3000:]}" if env else ""))
        time.sleep(0.1)


def refuse_logins(port, attempts, secs):
    """Stands in for the dead source on its port: each connection is closed
    at once, until the poller has tried `attempts` times."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(8)
        s.settimeout(secs)
        for i in range(attempts):
            try:
                c, _ = s.accept()
            except socket.timeout:
                fail(f"the poller tried to reconnect {i} times in {secs} s, not {attempts}")
            c.close()


def company_name(env, rec):
    ack, _ = env.fetch("fetchCompanies", {"select": ["companyRecId", "companyName"]})
    check(ack["success"], f"fetchCompanies failed: {ack}")
    return next((c["companyName"] for c in ack["data"] if c["companyRecId"] == rec), None)


def models_status(env):
    r = env.ctl_run("status", "--json")
    check(r.returncode in (0, 1), f"status --json: {r.stderr}")
    return json.loads(r.stdout)["models"]


def lines_matching(env, pattern):
    return [line for line in env.log_text().splitlines() if re.search(pattern, line)]


# ---- cases ------------------------------------------------------------------

def case_kill9_warm(env):
    env.generate(2000)
    env.source_start()
    stop = threading.Event()
    churn_errors = []

    def churn():  # the churn simulator, a batch at a time, until told to stop
        seed = 1000
        while not stop.is_set():
            r = subprocess.run([env.tdslite, "--db", env.db, "--churn-once", "25", "--seed",
                                str(seed), "--schema", env.schema], capture_output=True,
                               text=True, timeout=60)
            if r.returncode != 0:
                churn_errors.append(r.stderr)
                return
            seed += 1
    churner = threading.Thread(target=churn)
    churner.start()
    # Deletes are reconciled every second, so the server alone converges.
    try:
        env.server_start("--reconcile-s", "1")
        # Mid warm-up: some needed model warm, some not yet (read-only reads
        # of the store while the server writes it).
        def midway():
            needed = [m for m in models_status(env) if m["needed"]]
            return (any(m["state"] == "warm" for m in needed) and
                    any(m["state"] != "warm" for m in needed))
        wait_for(midway, 90, "the warm-up never got halfway", env)
        env.server_kill9()
        check(any(m["state"] != "warm" for m in models_status(env) if m["needed"]),
              "warm-up was complete before the kill: make the data set larger")
        env.server_start("--reconcile-s", "1")
        wait_for(lambda: env.http("/readyz") == 200, 90, "restarted server not ready", env)
    finally:
        stop.set()
        churner.join()
    check(not churn_errors, "churn failed: " + "".join(churn_errors))
    print(env.verify_eventually(60))
    env.server_stop()


def warm_server(env, size):
    env.generate(size)
    env.source_start()
    env.server_start()
    wait_for(lambda: env.http("/readyz") == 200, 90, "server not ready", env)


def case_source_restart(env):
    warm_server(env, 200)
    ack, _ = env.fetch("fetchCompanies", {"select": ["companyRecId", "companyName"]})
    check(ack["success"] and ack["data"], f"before: {ack}")
    env.source_kill()
    rec = env.rename_company("Renamed while the source was down")
    # The poller notices and says so; the server answers from the cache.
    wait_for(lambda: lines_matching(env, r"WARN poller"), 30, "source loss not logged", env)
    down, _ = env.fetch("fetchCompanies", {"select": ["companyRecId", "companyName"]})
    check(down == ack, "answer changed while the source was down")
    check(env.http("/healthz") == 200, "healthz while the source is down")
    refuse_logins(env.port, 5, 60)
    # Five failed reconnections, and the log says what happened, not each retry.
    logged = lines_matching(env, r"WARN poller")
    check(len(logged) <= 3, "the same failure logged again and again:\n" + "\n".join(logged))
    env.source_start()
    wait_for(lambda: company_name(env, rec) == "Renamed while the source was down", 60,
             "the change made while the source was down is not served", env)
    print(env.verify_eventually(30))
    env.server_stop()


def case_source_stall(env):
    warm_server(env, 200)
    ack, _ = env.fetch("fetchCompanies", {"select": ["companyRecId", "companyName"]})
    env.source.send_signal(signal.SIGSTOP)
    try:
        rec = env.rename_company("Renamed while the source was stalled")
        # The poller's query hangs until socketTimeout (3 s), then it says so.
        wait_for(lambda: lines_matching(env, r"WARN poller"), 60, "stalled source not logged",
                 env)
        stalled, took = env.fetch("fetchCompanies", {"select": ["companyRecId", "companyName"]})
        check(stalled == ack, "answer changed while the source was stalled")
        check(took < 10, f"an answer from the cache took {took:.1f} s while the source hung")
        check(env.http("/healthz") == 200, "healthz while the source is stalled")
    finally:
        env.source.send_signal(signal.SIGCONT)
    wait_for(lambda: company_name(env, rec) == "Renamed while the source was stalled", 60,
             "the change made while the source was stalled is not served", env)
    print(env.verify_eventually(30))
    env.server_stop()


def case_disk_full(env):
    if os.environ.get("FAULT_IN_NAMESPACE") != "1":
        # Re-run this case in a private mount namespace (see the docstring).
        ns = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            ns = ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
        r = subprocess.run(ns + [sys.executable, *sys.argv],
                           env=dict(os.environ, FAULT_IN_NAMESPACE="1"), timeout=170)
        sys.exit(r.returncode)
    env.generate(2000)  # a store of ~18 MB
    os.makedirs(env.data)
    mount = ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", env.data]
    run(mount, 20)
    env.source_start()
    env.server_start()
    wait_for(lambda: lines_matching(env, r"disk full"), 90, "no 'disk full' in the log", env)
    logged = lines_matching(env, r"disk full")
    check(all(env.data in line for line in logged), "the message names the data directory:\n" +
          "\n".join(logged))
    check(not lines_matching(env, r"error -\d+"), "an error number without words:\n" +
          env.log_text()[-3000:])
    # Still serving: health, and every collector answered (cached or live).
    check(env.http("/healthz") == 200, "healthz with the disk full")
    ack, _ = env.fetch("fetchProductCategories")
    check(ack["success"] and ack["data"], f"fetchProductCategories with the disk full: {ack}")
    # The full form: in a user namespace util-linux cannot look the mount up.
    run(["mount", "-t", "tmpfs", "-o", "remount,size=256m", "tmpfs", env.data], 20)
    wait_for(lambda: env.http("/readyz") == 200, 100, "not ready after the disk was enlarged",
             env)
    print(env.verify_eventually(30))
    env.server_stop()
    # The store's state, said once for every model whose commit met it (a
    # minute's repeat at most on a slow machine), and its end in words.
    check(len(lines_matching(env, r"disk full")) <= 2,
          "'disk full' logged too often:\n" + env.log_text()[-3000:])
    check(lines_matching(env, r"the store takes commits again"),
          "no word that commits succeed again:\n" + env.log_text()[-3000:])
    check(not lines_matching(env, r"could not be recorded in meta"),
          "a failed error record logged beside the disk full:\n" + env.log_text()[-3000:])


CASES = {n[5:]: f for n, f in list(globals().items()) if n.startswith("case_")}


if __name__ == "__main__":
    sys.exit(tds.run_case(__doc__, CASES, Env, 5))
