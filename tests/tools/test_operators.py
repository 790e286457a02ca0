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
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
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


CASES = {"readme": case_readme}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(__doc__, file=sys.stderr)
        return 2
    CASES[sys.argv[1]](os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
