#!/usr/bin/python3
"""The load one cwcache replica puts on the source database, to size N
replicas (docs/operations.md, "Several replicas").

Usage: source_load.py BUILD_DIR [--companies N] [--churn RATE] [--seconds S]
                      [--poll-interval-ms MS] [--runs R]

Serves a generated data set from tdslite with its statement log on (debug:
one line per statement), starts one cwcache (its own store and poller),
waits until it is warm, then over S seconds counts, from tdslite's log,
the statements the replica sent and the rows each result carried (`spid N:
R rows sent`). A model poll starts with its clock read (poller/source.c),
so their count over the models' tables gives the poll cycles. Prints per
poll cycle: statements and rows; R runs (default 3): medians.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "lib"))
import tdslite_run as tds  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STATEMENT = re.compile(r"spid \d+: (?!user '|TLS|.*connection closed|\d+ rows sent$)(.*)")
ROWS = re.compile(r"spid \d+: (\d+) rows sent$")
# One clock read per model poll (poller/source.c); tdslite logs the SQLite
# statement it runs (SYSUTCDATETIME() as tdslite_sysutcdatetime ()).
CLOCK = re.compile(r"^SELECT (tdslite_)?(sysutcdatetime|getdate) ?\(\)$", re.I)
TABLE = re.compile(r'FROM\s+[\["]?(?:dbo[\]"]?\.[\["]?)?(\w+)')


def statements(f):
    """(sql, rows sent) per statement of the log's lines, in order."""
    out, pending = [], {}
    for line in f:
        spid = re.search(r"spid (\d+): ", line)
        if not spid:
            continue
        m = ROWS.search(line)
        if m and spid.group(1) in pending:
            out[pending.pop(spid.group(1))][1] = int(m.group(1))
        elif (m := STATEMENT.search(line)) and not ROWS.search(line):
            pending[spid.group(1)] = len(out)
            out.append([m.group(1).strip(), 0])
    return out


def one_run(a, tmp):
    db = os.path.join(tmp, "source.db")
    schema, collectors = os.path.join(ROOT, "schema"), os.path.join(ROOT, "collectors")
    if not os.path.exists(db):
        subprocess.run([a.tdslite, "--db", db, "--generate", str(a.companies), "--schema", schema],
                       check=True, capture_output=True)
    data = tempfile.mkdtemp(dir=tmp)
    log_path = os.path.join(data, "tdslite.log")
    extra = ["--churn", str(a.churn)] if a.churn else []
    with open(log_path, "w") as log:
        src, port = tds.serve(a.tdslite, db, os.path.join(data, "ready"), extra=extra,
                              log_level="debug", stdout=subprocess.DEVNULL, stderr=log)
    env = dict(os.environ, DATABASE_URL=tds.url(port), PSK="load")
    args = ["--data-dir", os.path.join(data, "store"), "--schema", schema, "--collectors",
            collectors]
    srv = subprocess.Popen([a.cwcache, *args, "--port", "0", "--port-file",
                            os.path.join(data, "port"), "--poll-interval-ms",
                            str(a.poll_interval_ms)], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        sport = tds.wait_port_file(os.path.join(data, "port"), srv, "cwcache", secs=60)
        end = time.time() + 600
        while time.time() < end:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{sport}/readyz").status == 200:
                    break
            except Exception:  # noqa: BLE001 - not listening or not ready yet
                time.sleep(0.5)
        time.sleep(2 * a.poll_interval_ms / 1000)  # past the warm-up's last statements
        mark = os.path.getsize(log_path)
        time.sleep(a.seconds)
        with open(log_path) as f:
            f.seek(mark)
            stmts = statements(f)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        src.terminate()
        src.wait(timeout=30)
    return stmts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--companies", type=int, default=1000)
    p.add_argument("--churn", type=float, default=0)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--poll-interval-ms", type=int, default=5000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    a.cwcache = os.path.join(a.build, "cwcache")
    a.tdslite = os.path.join(a.build, "tools", "tdslite", "tdslite")
    tmp = tempfile.mkdtemp(prefix="source-load-")
    res = {k: [] for k in ("cycles", "models", "stmts", "per_model", "rows", "rows_max")}
    try:
        for _ in range(a.runs):
            stmts = one_run(a, tmp)
            polls = sum(bool(CLOCK.match(sql)) for sql, _ in stmts)
            tables = {m.group(1) for sql, _ in stmts if (m := TABLE.search(sql))}
            cycles = polls / len(tables) if tables else 0
            data = [n for sql, n in stmts if not CLOCK.match(sql)]
            res["cycles"].append(cycles)
            res["models"].append(len(tables))
            res["stmts"].append(len(stmts) / cycles if cycles else 0)
            res["per_model"].append(len(stmts) / polls if polls else 0)
            res["rows"].append(sum(data) / cycles if cycles else 0)
            res["rows_max"].append(max(data, default=0))
            print(f"run: {len(stmts)} statements, {polls} model polls of {len(tables)} tables "
                  f"({cycles:.1f} cycles), {sum(data)} rows sent", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"companies {a.companies}, churn {a.churn}/s, poll interval {a.poll_interval_ms} ms, "
          f"{a.seconds:.0f} s x {a.runs} runs (medians):")
    print(f"  models polled               {med['models']:.0f}")
    print(f"  statements per poll cycle   {med['stmts']:.1f}")
    print(f"  statements per model poll   {med['per_model']:.2f}")
    print(f"  rows sent per poll cycle    {med['rows']:.1f}")
    print(f"  largest result (rows)       {med['rows_max']:.0f}")


if __name__ == "__main__":
    main()
