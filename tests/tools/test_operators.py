#!/usr/bin/env python3
"""What an operator does after the README's quick start (meson suite 'tools').

Usage: test_operators.py CASE SOURCE_ROOT BUILD_ROOT

Cases:
  readme   scripts/run.sh (the demo) in a fresh directory, then every command
           of the README's operator block, verbatim but for the port: each
           exits 0 with output; the server logged `ready: N models warm`; a
           second server on the same data directory is refused, naming the
           lock; cwcachectl works outside the checkout with CWCACHE_CONFIG;
           Ctrl-C stops the demo
  outage   a warm server on an idle source stays ready past max_staleness_s;
           then the source stops: one WARN naming the
           cause, the source down in /status.json, `cwcachectl status` and
           /metrics; /readyz and /status.json agree at every look, ready
           until max_staleness_s passes, then 503 naming the stale models;
           the source comes back: one INFO, ready again
  install  `meson install` into a DESTDIR: binaries, schema, collectors, the
           shared configuration naming the installed paths (which exist),
           man pages, docs and the deploy units, which use that configuration
"""
import json
import os
import urllib.error
import urllib.request
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tdslite_run as tds  # noqa: E402
from tdslite_run import check, free_port  # noqa: E402

READY_WAIT_S = 300  # a first start generates the data set and warms 46 models under ASan


def readme_commands(root):
    """The shell lines of the README block marked operator-commands."""
    text = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    m = re.search(r"<!-- operator-commands:[^>]*-->\n```sh\n(.*?)```", text, re.S)
    check(m, "README.md has no operator-commands block")
    lines = [ln.split("  #")[0].strip() for ln in m[1].splitlines()]
    return [ln for ln in lines if ln]


class Demo:
    """scripts/run.sh in a directory of its own (links to the checkout's
    scripts, schema and collectors; the test build instead of build/)."""

    def __init__(self, root, build):
        self.root, self.build = root, build
        self.dir = tempfile.mkdtemp(prefix="operators-test-")
        for d in ("scripts", "schema", "collectors"):
            os.symlink(os.path.join(root, d), os.path.join(self.dir, d))
        os.symlink(build, os.path.join(self.dir, "build"))
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "run.log")
        self.proc = None

    def env(self):
        env = dict(os.environ)
        for k in ("DATABASE_URL", "PSK", "CWCACHE_CONFIG"):
            env.pop(k, None)
        return env

    def start(self):
        env = self.env()
        env["PORT"] = str(self.port)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(self.dir, "scripts", "run.sh")], cwd=self.dir,
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            check(self.proc.poll() is None, "run.sh exited:\n" + self.text())
            time.sleep(0.5)
        check(False, f"no {pattern!r} in the log after {timeout} s:\n" + self.text())

    def shell(self, line, cwd=None, env=None):
        return subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=cwd or self.dir,
                              env=env or self.env(), capture_output=True, text=True, timeout=120)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's group
            rc = self.proc.wait(timeout=60)
            check(rc in (0, 130), f"run.sh exited {rc} on Ctrl-C:\n" + self.text())
        self.log.close()

    def close(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def case_readme(root, build):
    demo = Demo(root, build)
    try:
        demo.start()
        m = demo.wait_for(r"ready: (\d+) models warm, serving on :(\d+)", READY_WAIT_S)
        check(int(m[2]) == demo.port, m[0])
        check(re.search(r"run: building", demo.text()), "run.sh shows no build step")
        for line in readme_commands(root):
            line = line.replace("localhost:3000", f"localhost:{demo.port}")
            r = demo.shell(line)
            check(r.returncode == 0 and r.stdout.strip(),
                  f"README command failed: {line}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}")
            if "/readyz" in line:
                check(json.loads(r.stdout) == {"ready": True}, r.stdout)
            if "/status.json" in line:
                check(json.loads(r.stdout)["summary"]["ready"], r.stdout)
            print(f"ok: {line}")
        # A second polling server on the same store is refused, naming the lock.
        r = demo.shell("build/cwcache --config cwcache.conf --port 0")
        check(r.returncode != 0 and "in use by another cwcache server" in r.stderr
              and "server.lock" in r.stderr, f"second server: exit {r.returncode}\n{r.stderr}")
        # Outside the checkout, the configuration names every path.
        env = demo.env()
        env["CWCACHE_CONFIG"] = os.path.join(demo.dir, "cwcache.conf")
        r = demo.shell(f"{build}/tools/cwcachectl status", cwd="/", env=env)
        check(r.returncode == 0, f"status outside the checkout: {r.stdout}\n{r.stderr}")
        demo.stop()
    finally:
        demo.close()


def http(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name):
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m[1]) if m else None


class Outage:
    """A warm cwcache on tdslite; the source can be stopped and restarted on its port."""
    PSK = "outage-psk"
    MAX_STALENESS_S = 20

    def __init__(self, root, build):
        self.root, self.build = root, build
        self.tmp = tempfile.mkdtemp(prefix="operators-outage-")
        self.db = os.path.join(self.tmp, "source.db")
        self.tdslite = os.path.join(build, "tools", "tdslite", "tdslite")
        self.src, self.srv = None, None
        self.src_port = free_port()
        self.log_path = os.path.join(self.tmp, "server.log")

    def source_start(self):
        self.src, _ = tds.serve(self.tdslite, self.db, os.path.join(self.tmp, "ready"),
                                port=self.src_port)

    def source_stop(self):
        self.src.kill()
        self.src.wait()

    def start(self):
        r = subprocess.run([self.tdslite, "--db", self.db, "--generate", "40", "--schema",
                            os.path.join(self.root, "schema")], capture_output=True, text=True,
                           timeout=120)
        check(r.returncode == 0, r.stderr)
        self.source_start()
        conf = os.path.join(self.tmp, "cwcache.conf")
        with open(conf, "w") as f:
            f.write(f'database_url = "{tds.url(self.src_port)}"\npsk = {self.PSK}\n'
                    f"data_dir = {self.tmp}/data\nschema = {self.root}/schema\n"
                    f"collectors = {self.root}/collectors\npoll_interval_ms = 200\n"
                    f"max_staleness_s = {self.MAX_STALENESS_S}\n")
        self.env = dict(os.environ, CWCACHE_CONFIG=conf)
        for k in ("DATABASE_URL", "PSK", "PORT"):
            self.env.pop(k, None)
        port_file = os.path.join(self.tmp, "port")
        self.log = open(self.log_path, "w")
        self.srv = subprocess.Popen([os.path.join(self.build, "cwcache"), "--port", "0",
                                     "--port-file", port_file], env=self.env, stdout=self.log,
                                    stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{tds.wait_port_file(port_file, self.srv, 'cwcache')}"
        self.wait(lambda: "ready: " in self.text(), READY_WAIT_S, "the ready line")

    def text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait(self, cond, secs, what):
        deadline = time.time() + secs
        while not cond():
            check(self.srv.poll() is None, "cwcache exited:\n" + self.text())
            check(time.time() < deadline, f"no {what} within {secs} s:\n{self.text()}\n"
                  f"/readyz: {http(self.base + '/readyz')[1][:2000]}")
            time.sleep(0.2)

    def look(self):
        """/readyz, /status.json and /metrics; they must agree. A poll may land
        between two requests (the state changes): /readyz is asked before and
        after, and only a look at a state that held across it is judged."""
        for _ in range(20):
            code, ready = http(self.base + "/readyz")
            _, status = http(self.base + "/status.json", {"x-psk": self.PSK})
            _, metrics = http(self.base + "/metrics")
            if http(self.base + "/readyz")[0] == code:
                break
        st = json.loads(status)
        check((code == 200) == st["summary"]["ready"],
              f"/readyz {code} {ready} disagrees with /status.json {st['summary']}")
        return code, json.loads(ready), st, metrics

    def ctl_status(self):
        return subprocess.run([os.path.join(self.build, "tools", "cwcachectl"), "status"],
                              env=self.env, capture_output=True, text=True, timeout=60)

    def close(self):
        for p in (self.srv, self.src):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def case_outage(root, build):
    o = Outage(root, build)
    try:
        o.start()
        code, _, st, metrics = o.look()
        check(code == 200 and st["source"]["state"] == "up", f"before: {code} {st['source']}")
        check(metric(metrics, "cwcache_source_up") == 1, "cwcache_source_up before")
        check(metric(metrics, "cwcache_source_last_success_timestamp_seconds") > time.time() - 60,
              "last success before")
        # Idle polls find nothing, yet each model's last match is written
        # often enough (a quarter of max_staleness_s) that it never goes stale.
        until = time.time() + o.MAX_STALENESS_S + 5
        while time.time() < until:
            code, ready, _, _ = o.look()
            check(code == 200, f"not ready while the source is up and idle: {ready}")
            time.sleep(0.5)

        o.source_stop()
        o.wait(lambda: o.look()[2]["source"]["state"] == "down", 120, "source down")
        code, _, st, metrics = o.look()
        check(st["source"]["error"] and st["source"]["since"], f"down without words: {st['source']}")
        check(metric(metrics, "cwcache_source_up") == 0, "cwcache_source_up while down")
        check(re.search(r'cwcache_model_staleness_seconds\{model="Company"\} [0-9.]+', metrics),
              "staleness per model")
        r = o.ctl_status()
        check("source: UNREACHABLE since" in r.stdout, f"cwcachectl status: {r.stdout}")
        # Ready while the cache is younger than max_staleness_s, then not.
        o.wait(lambda: o.look()[0] == 503, o.MAX_STALENESS_S + 120, "503 after max_staleness_s")
        code, ready, st, metrics = o.look()
        check(any(str(v).startswith("stale: matched the source") for v in ready["notReady"].values()),
              f"/readyz names no stale model: {ready}")
        check(not st["summary"]["ready"], "status.json ready while stale")
        warns = re.findall(r"WARN poller: source unreachable: (.*)", o.text())
        check(len(warns) == 1 and warns[0].strip(), f"WARNs for the outage: {warns}\n{o.text()}")

        o.source_start()
        o.wait(lambda: o.look()[0] == 200, 180, "ready after the source came back")
        code, _, st, metrics = o.look()
        check(st["source"]["state"] == "up" and metric(metrics, "cwcache_source_up") == 1,
              f"source after the restart: {st['source']}")
        infos = re.findall(r"INFO poller: source reachable again", o.text())
        check(len(infos) == 1, f"INFOs for the recovery: {infos}\n{o.text()}")
        r = o.ctl_status()
        check(r.returncode == 0 and "source: reachable since" in r.stdout, r.stdout + r.stderr)
        print(o.text())
    finally:
        o.close()


def case_install(root, build):
    dest = tempfile.mkdtemp(prefix="operators-install-")
    try:
        r = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild",
                            "--quiet"], capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, f"meson install: {r.stdout}\n{r.stderr}")
        info = json.loads(subprocess.run(["meson", "introspect", build, "--buildoptions"],
                                         capture_output=True, text=True, check=True).stdout)
        opt = {o["name"]: o["value"] for o in info}
        prefix = opt["prefix"]

        def installed(path):
            return os.path.join(dest, path.lstrip("/"))

        conf_path = os.path.join(prefix, opt["sysconfdir"], "cwcache", "cwcache.conf")
        conf = dict(ln.split(" = ", 1) for ln in open(installed(conf_path)).read().splitlines()
                    if ln and not ln.startswith("#"))
        for key in ("schema", "collectors"):
            check(os.path.isdir(installed(conf[key])), f"{key} = {conf[key]} not installed")
        check(os.path.exists(installed(os.path.join(conf["schema"], "connectwise.prisma"))), "schema")
        for rel in ("bin/cwcache", "bin/cwcachectl", "share/man/man1/cwcache.1",
                    "share/man/man1/cwcachectl.1", "share/doc/cwcache/operations.md",
                    "lib/systemd/system/cwcache.service", "lib/systemd/system/cwcache-warm.timer",
                    "share/cwcache/deploy/cwcache-warm.cron",
                    "share/cwcache/deploy/kubernetes/cwcache.yaml",
                    "share/cwcache/deploy/kubernetes/cwcache-replicas.yaml",
                    "share/cwcache/deploy/haproxy.cfg"):
            check(os.path.exists(installed(os.path.join(prefix, rel))), f"{rel} not installed")
        man = open(installed(os.path.join(prefix, "share/man/man1/cwcachectl.1"))).read()
        check(conf_path in man and "@" not in man, "man page paths")
        for unit in ("cwcache.service", "cwcache-warm.service"):
            text = open(installed(os.path.join(prefix, "lib/systemd/system", unit))).read()
            check(f"--config {conf_path}" in text, f"{unit} does not use {conf_path}")
        # The installed tool finds the installed configuration by itself.
        r = subprocess.run(["strings", installed(os.path.join(prefix, "bin/cwcachectl"))],
                           capture_output=True, text=True)
        check(conf_path in r.stdout, "cwcachectl does not look for the installed configuration")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


CASES = {"readme": case_readme, "outage": case_outage, "install": case_install}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(__doc__, file=sys.stderr)
        return 2
    CASES[sys.argv[1]](os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
