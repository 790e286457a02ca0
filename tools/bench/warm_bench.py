#!/usr/bin/env python3
"""Warm-up benchmark: `cwcachectl warm` of a ConnectWise-like data set from tdslite.

For each of --runs runs, measured in the same run so the ratios compare like
with like:
  read    warm_read: the same tables read through FreeTDS and thrown away (baseline)
  cold    `cwcachectl warm` into an empty data directory
  noop    `cwcachectl warm` again with nothing changed (overlap re-read + the count check for deletes)
  full    `cwcachectl warm --full` over the warm store (only with --full)
  base    (with --base-cwcachectl) a cold warm-up by another build, e.g. main's,
          before this build's cold warm-up in every other run
Reports medians of wall time, rows/s, CPU seconds of cwcachectl and of tdslite,
peak RSS (ru_maxrss of the process: includes the LMDB pages it mapped) and the
peak anonymous RSS (RssAnon sampled every 20 ms: the tool's own memory), and the
ratio of each to the baseline; then the cold warm-up's time per model (the
models of 10,000 rows or more) and the part of it spent building the indexes
after the first load, and the load average at each run (the machine may be shared).

Usage: warm_bench.py --cwcachectl P --warm-read P --tdslite P --schema P --collectors P
                     [--companies 1000000] [--runs 3] [--workdir DIR] [--full] [--smoke]
                     [--base-cwcachectl P]
The generated source is kept in --workdir (source-<companies>.db) and reused.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

USER, PASSWORD, DATABASE = "sa", "tdslite", "cwwebapp_demo"


def proc_cpu(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_anon(pid, out, stop):
    peak = 0
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        stop.wait(0.02)
    out.append(peak)


MODEL_DONE = re.compile(r"warm: model \d+ of \d+, (\w+): done: (\d+) rows in (?:(\d+)m)?([\d.]+)(ms|s)")
MODEL_BUILT = re.compile(r"poller: (\w+): indexes built after the first load in ([\d.]+) s")


def per_model(log):
    """{model: [rows, seconds, index build seconds]} from cwcachectl warm's log."""
    out = {}
    for m in MODEL_DONE.finditer(log):
        secs = float(m.group(4)) / (1000 if m.group(5) == "ms" else 1) + 60 * int(m.group(3) or 0)
        out[m.group(1)] = [int(m.group(2)), secs, 0.0]
    for m in MODEL_BUILT.finditer(log):
        if m.group(1) in out:
            out[m.group(1)][2] = float(m.group(2))
    return out


def measure(args, env, server_pid):
    """Runs args; returns wall s, cpu s, ru_maxrss KiB, peak RssAnon KiB, server cpu s, stdout,
    per-model times."""
    srv0 = proc_cpu(server_pid)
    t0 = time.monotonic()
    errf = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=errf, text=True)
    peak, stop = [], threading.Event()
    sampler = threading.Thread(target=sample_anon, args=(p.pid, peak, stop))
    sampler.start()
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    stop.set()
    sampler.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"warm_bench: {' '.join(args)} exited {p.returncode}")
    errf.seek(0)
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss": ru.ru_maxrss,
            "anon": peak[0] if peak else 0, "srv_cpu": proc_cpu(server_pid) - srv0, "out": out,
            "models": per_model(errf.read())}


def start_server(a, db, tmp):
    ready = os.path.join(tmp, "ready")
    if os.path.exists(ready):
        os.unlink(ready)
    srv = subprocess.Popen([a.tdslite, "--db", db, "--port", "0", "--ready-file", ready,
                            "--user", USER, "--password", PASSWORD, "--database", DATABASE,
                            "--log-level", "warn"], stdout=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not os.path.exists(ready) or os.path.getsize(ready) == 0:
        if srv.poll() is not None or time.time() > deadline:
            sys.exit("warm_bench: tdslite did not start")
        time.sleep(0.02)
    port = int(open(ready).read())
    url = (f"sqlserver://127.0.0.1:{port};database={DATABASE};user={USER};password={PASSWORD};"
           f"encrypt=false;trustServerCertificate=true")
    return srv, url


def main():
    ap = argparse.ArgumentParser()
    for k in ("cwcachectl", "warm-read", "tdslite", "schema", "collectors"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--companies", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--base-cwcachectl")
    a = ap.parse_args()
    if a.smoke:
        a.companies, a.runs = 200, 1
    own_tmp = not a.workdir
    work = a.workdir or tempfile.mkdtemp(prefix="warm-bench-")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, f"source-{a.companies}.db")
    t0 = time.monotonic()
    subprocess.run([a.tdslite, "--db", db, "--generate", str(a.companies), "--schema", a.schema],
                   check=True, stderr=subprocess.DEVNULL)
    print(f"source: {a.companies} companies ({os.path.getsize(db) >> 20} MiB), "
          f"ready in {time.monotonic() - t0:.1f}s", flush=True)
    srv, url = start_server(a, db, work)
    env = dict(os.environ, DATABASE_URL=url)
    data = os.path.join(work, "data")
    ctl = [a.cwcachectl, "--data-dir", data, "--schema", a.schema, "--collectors", a.collectors]
    kinds = ["read", "cold", "noop"] + (["full"] if a.full else []) + \
        (["base"] if a.base_cwcachectl else [])
    base_ctl = [a.base_cwcachectl] + ctl[1:] if a.base_cwcachectl else None
    res = {k: [] for k in kinds}
    rows = 0
    try:
        for r in range(a.runs):
            m = measure([a.warm_read, "--schema", a.schema, "--collectors", a.collectors], env, srv.pid)
            rows = int(m["out"].split()[1])
            res["read"].append(m)
            # The base goes first in every other run: the place after the
            # read moved a 1M warm-up's time by more than a change did.
            if base_ctl and r % 2:
                cold_base(base_ctl, data, env, srv.pid, res)
            shutil.rmtree(data, ignore_errors=True)
            res["cold"].append(measure(ctl + ["warm"], env, srv.pid))
            res["noop"].append(measure(ctl + ["warm"], env, srv.pid))
            if a.full:
                res["full"].append(measure(ctl + ["warm", "--full"], env, srv.pid))
            if base_ctl and not r % 2:
                cold_base(base_ctl, data, env, srv.pid, res)
            print(f"run {r + 1}/{a.runs}: " + ", ".join(
                f"{k} {res[k][-1]['wall']:.1f}s" for k in kinds) +
                "; load average %.1f %.1f %.1f" % os.getloadavg(), flush=True)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)
    report(res, kinds, rows, a)
    if own_tmp:
        shutil.rmtree(work, ignore_errors=True)


def cold_base(base_ctl, data, env, pid, res):
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(["sync"], check=False)
    res["base"].append(measure(base_ctl + ["warm"], env, pid))


def report(res, kinds, rows, a):
    med = {k: {f: statistics.median(m[f] for m in res[k])
               for f in ("wall", "cpu", "maxrss", "anon", "srv_cpu")} for k in kinds}
    base = med["read"]["wall"]
    print(f"\n{a.companies} companies, {rows} rows in the collectors' tables; medians of "
          f"{a.runs} run(s); baseline = read")
    print(f"{'':6} {'wall s':>9} {'rows/s':>10} {'x read':>7} {'tool cpu s':>10} "
          f"{'tdslite cpu s':>13} {'peak RSS MiB':>12} {'peak anon MiB':>13}")
    for k in kinds:
        m = med[k]
        print(f"{k:6} {m['wall']:9.2f} {rows / m['wall']:10.0f} {m['wall'] / base:7.2f} "
              f"{m['cpu']:10.2f} {m['srv_cpu']:13.2f} {m['maxrss'] / 1024:12.1f} "
              f"{m['anon'] / 1024:13.1f}")
    # Each run against its own read (and the base beside it): the medians of
    # those ratios compare like with like on a machine whose load moves.
    per_run = {k: statistics.median(c["wall"] / r["wall"] for c, r in zip(res[k], res["read"]))
               for k in kinds if k != "read"}
    print("medians of the runs' ratios to their read: " +
          ", ".join(f"{k} {v:.2f}" for k, v in per_run.items()))
    if "base" in res:
        print("median of the runs' cold / base: %.2f" % statistics.median(
            c["wall"] / b["wall"] for c, b in zip(res["cold"], res["base"])))
    models = {}
    for m in res["cold"]:
        for name, v in m["models"].items():
            models.setdefault(name, []).append(v)
    big = sorted((n for n, v in models.items() if v[0][0] >= 10000), key=lambda n: -models[n][0][0])
    if big:
        print(f"\ncold, per model (medians): {'rows':>9} {'s':>8} {'index build s':>14}")
        for n in big:
            v = models[n]
            print(f"{n:26} {v[0][0]:9} {statistics.median(x[1] for x in v):8.2f} "
                  f"{statistics.median(x[2] for x in v):14.2f}")
    if a.smoke and not (rows > 0 and all(med[k]["wall"] > 0 for k in kinds)):
        sys.exit("warm_bench: smoke run produced no figures")


if __name__ == "__main__":
    main()
