#!/usr/bin/env python3
"""cwcachectl against a store filled from tdslite (meson suite 'tools').

Usage: test_tools.py CASE CWCACHECTL TDSLITE SCHEMA COLLECTORS DEPLOY_DIR [CWCACHE]

Cases:
  usage      usage errors exit 2, a missing or foreign data directory exits 1
             with a clear message, every command has --help
  commands   warm (one model, then all), status (exit 1 while a needed model
             is cold, 0 once all are warm), runs, get (with nested includes),
             stats, verify (0 when equal; 1 naming the keys after rows were
             changed, added and deleted behind the cache's back); warm finds a
             delete by count, and one an unseen insert hides with --reconcile
  interrupt  SIGINT during `warm --full` exits 1 "interrupted" and leaves the
             old data in place; SIGTERM during a normal warm exits 1 and the
             next warm completes
  metrics    GET /metrics of a running server parses as the Prometheus text
             format, with the model, collector (after real Socket.IO requests),
             client and LMDB figures and their types
  status_page  GET /status and /status.json: 401 without the PSK (header or
             query); the JSON matches `cwcachectl status --json`; headless
             Chromium renders the page (its script fills the table) and
             screenshots it at 1200x800, not blank
  retry      the source killed mid-warm and restarted: the warm-up reconnects,
             resumes and succeeds, and verify finds 0 differences; verify logs
             in once for all its models (tdslite's log counts the logins); a
             source down longer than --retry-for: exit 1 naming the cause; an
             error the server answers (an unknown table) is not retried
  pages      a warm-up's load reads batch_rows rows a statement over pages
             of page_mb (tdslite's log counts the statements, the warm-up's
             the pages): fewer statements than pages, and the store equals
             the source (verify) whether a statement ends short, on a page
             boundary or exactly at its TOP
  deploy     the systemd units pass `systemd-analyze verify`, the timer and
             the cron line fire at 06:00 on weekdays, the Kubernetes YAML
             parses with the same schedule and reads the shared configuration
             (a ConfigMap), the replicas' StatefulSet has session affinity,
             and tools/deploy/haproxy.cfg passes `haproxy -c`

Each case starts its own tdslite on a free port with its own temp directory.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tdslite_run as tds  # noqa: E402
from tdslite_run import check, fail  # noqa: E402


class Env:
    def __init__(self, ctl, tdslite, schema, collectors):
        self.ctl, self.tdslite = ctl, tdslite
        self.schema, self.collectors = schema, collectors
        self.tmp = tempfile.mkdtemp(prefix="tools-test-")
        self.db = os.path.join(self.tmp, "source.db")
        self.data = os.path.join(self.tmp, "data")
        self.server = None
        self.url = None
        self.procs = []

    def close(self):
        for p in self.procs + [self.server]:
            if p and p.poll() is None:
                p.terminate()
                p.wait(timeout=15)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def generate(self, size):
        r = subprocess.run([self.tdslite, "--db", self.db, "--generate", str(size),
                            "--schema", self.schema], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"tdslite --generate: {r.stderr}")

    def serve(self):
        self.server, port = tds.serve(self.tdslite, self.db, os.path.join(self.tmp, "ready"))
        self.url = tds.url(port)

    def args(self, *a):
        return [self.ctl, "--data-dir", self.data, "--schema", self.schema,
                "--collectors", self.collectors, *a]

    def run(self, *a, env_url=True, timeout=120):
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        if env_url and self.url:
            env["DATABASE_URL"] = self.url
        return subprocess.run(self.args(*a), capture_output=True, text=True, timeout=timeout,
                              env=env)

    def ok(self, *a, code=0, **kw):
        r = self.run(*a, **kw)
        check(r.returncode == code, f"cwcachectl {' '.join(a)}: exit {r.returncode}, "
                                    f"wanted {code}\n{r.stdout}\n{r.stderr}")
        return r

    def sql(self, query, *params):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            cur = con.execute(query, params)
            rows = cur.fetchall()
            con.commit()
            return rows
        finally:
            con.close()


def model_info(env):
    """Model name -> (table, pk column, needed) from `status --json` and the schema."""
    text = open(os.path.join(env.schema, "connectwise.prisma")
                if os.path.isdir(env.schema) else env.schema).read()
    info = {}
    for m in re.finditer(r"^model (\w+) \{(.*?)^\}", text, re.S | re.M):
        body = m.group(2)
        table = re.search(r'@@map\("([^"]+)"\)', body)
        pk = re.search(r'^\s*\w+\s+\w+\s+@id\s+@map\("([^"]+)"\)', body, re.M)
        info[m.group(1)] = (table.group(1) if table else m.group(1), pk.group(1) if pk else None)
    return info


# ---- usage -----------------------------------------------------------------

def case_usage(env):
    def expect(code, args, stderr_has=None, **kw):
        r = env.run(*args, env_url=False, **kw)
        check(r.returncode == code,
              f"{args}: exit {r.returncode}, wanted {code}\n{r.stdout}\n{r.stderr}")
        if stderr_has:
            check(stderr_has in r.stderr, f"{args}: stderr lacks {stderr_has!r}: {r.stderr}")
        return r

    bare = subprocess.run([env.ctl], capture_output=True, text=True, timeout=10)
    check(bare.returncode == 2 and "no command" in bare.stderr, f"bare: {bare.stderr}")
    expect(2, ["frobnicate"], "unknown command 'frobnicate'")
    expect(2, ["status", "--bogus"], "unknown option '--bogus'")
    expect(2, ["--log-level", "loud", "status"], "--log-level")
    expect(2, ["get", "Company"], "expected MODEL RECID")
    expect(2, ["get", "Company", "12x"], "RECID '12x'")
    expect(2, ["get", "NoSuchModel", "1"], "unknown model 'NoSuchModel'")
    expect(2, ["runs", "-n", "0"], "-n")
    expect(2, ["runs", "-n"], "'-n' needs a value")
    expect(2, ["runs", "-x"], "unknown option '-x'")
    expect(2, ["get", "Company", "1", "--include"], "'--include' needs a value")
    expect(2, ["warm", "--batch-rows", "0"], "--batch-rows")
    expect(2, ["warm"], "DATABASE_URL is not set")
    expect(2, ["verify", "--database-url", "mysql://x"], "DATABASE_URL")

    # Missing data directory: exit 1 with a message naming it, for every reader.
    for cmd in (["status"], ["runs"], ["stats"], ["get", "Company", "1"]):
        r = expect(1, cmd, "does not exist")
        check(env.data in r.stderr, f"{cmd}: message does not name the directory: {r.stderr}")
    # A directory that is not a store.
    os.makedirs(env.data)
    expect(1, ["status"], "is not a cwcache store")
    with open(os.path.join(env.data, "data.mdb"), "wb") as f:
        f.write(b"this is not an LMDB file" * 300)
    r = expect(1, ["status"])
    check("cwcache store" in r.stderr or "cannot open" in r.stderr, f"garbage store: {r.stderr}")

    for cmd in ("status", "runs", "get", "verify", "warm", "stats"):
        r = expect(0, [cmd, "--help"])
        check(r.stdout.startswith(f"Usage: cwcachectl {cmd}"), f"{cmd} --help: {r.stdout}")
        check("--data-dir" in r.stdout, f"{cmd} --help lacks the global options")
    r = expect(0, ["--help"])
    for cmd in ("status", "runs", "get", "verify", "warm", "stats"):
        check(f"  {cmd} " in r.stdout, f"--help does not list {cmd}")


# ---- commands --------------------------------------------------------------

def status_json(env, *a, code=None):
    r = env.run("status", "--json", *a)
    if code is not None:
        check(r.returncode == code, f"status exit {r.returncode}, wanted {code}\n{r.stdout}{r.stderr}")
    try:
        return json.loads(r.stdout), r.returncode
    except ValueError:
        fail(f"status --json is not JSON: {r.stdout!r} {r.stderr}")


def case_commands(env):
    info = model_info(env)
    env.generate(300)
    env.serve()

    # One model: status must fail while the other needed models are cold.
    env.ok("warm", "Company")
    st, _ = status_json(env, code=1)
    models = {m["model"]: m for m in st["models"]}
    check(models["Company"]["state"] == "warm" and models["Company"]["ready"],
          f"Company after warm: {models['Company']}")
    n_company = env.sql("SELECT COUNT(*) FROM Company")[0][0]
    check(models["Company"]["rows"] == n_company, f"rows {models['Company']['rows']} != {n_company}")
    check(st["summary"]["ready"] is False and st["summary"]["notReady"] > 0, f"summary {st['summary']}")
    r = env.ok("status", code=1)
    check("NOT READY" in r.stdout, f"status text: {r.stdout}")

    # Everything the collectors need.
    r = env.ok("warm")
    check(re.search(r"warm: \d+ models caught up, \d+ rows", r.stdout), f"warm summary: {r.stdout}")
    st, _ = status_json(env, code=0)
    check(st["summary"]["ready"] is True, f"summary after warm: {st['summary']}")
    needed = [m for m in st["models"] if m["needed"]]
    check(len(needed) >= 5, f"needed models: {[m['model'] for m in needed]}")
    for m in needed:
        table, _ = info[m["model"]]
        n = env.sql(f'SELECT COUNT(*) FROM "{table}"')[0][0]
        check(m["state"] == "warm" and m["rows"] == n,
              f"{m['model']}: state {m['state']} rows {m['rows']}, source {n}")
        check(m["lastStatus"] == "ok" and m["lastRunEnd"], f"{m['model']}: last run {m}")
    company = next(m for m in st["models"] if m["model"] == "Company")
    check(company["cursor"] and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                                         company["cursor"]["lastUpdate"]),
          f"Company cursor: {company['cursor']}")
    check(company["lagSeconds"] is not None and company["lagSeconds"] >= 0, f"lag: {company}")
    r = env.ok("status")
    lines = r.stdout.splitlines()
    check(lines[0].startswith("MODEL") and re.search(r"^\d+ models: .* ready$", lines[-2])
          and lines[-1].startswith("source: "), f"status text: {r.stdout}")
    check(any(re.match(r"Company\s+\*\s+warm\s+%d\s" % n_company, l) for l in lines),
          f"no Company line: {r.stdout}")
    status_json(env, "Company", code=0)

    # runs: newest first, -n, one model, JSON.
    r = env.ok("runs")
    check(r.stdout.startswith("START") and len(r.stdout.splitlines()) > 2, f"runs: {r.stdout}")
    runs = json.loads(env.ok("runs", "Company", "-n", "2", "--json").stdout)
    check(len(runs) == 2 and all(x["model"] == "Company" for x in runs), f"runs Company: {runs}")
    runs = json.loads(env.ok("runs", "Company", "--json").stdout)
    check(all(a["start"] >= b["start"] for a, b in zip(runs, runs[1:])), "runs not newest first")
    check(all(x["status"] == "ok" and x["kind"] in ("poll", "idle", "reconcile", "full", "warm") for x in runs),
          f"runs: {runs}")
    # The first warm-up applied every row; the second found nothing new.
    check(sum(x["applied"] for x in runs) == n_company, f"applied: {runs}")
    check(runs[0]["kind"] == "warm" and runs[0]["applied"] == 0, f"second warm applied: {runs}")
    allruns = json.loads(env.ok("runs", "-n", "1000", "--json").stdout)
    check(len({x["model"] for x in allruns}) == len(needed), "runs of all models")

    # get: the record as the server renders it.
    rec_id, name = env.sql("SELECT Company_RecID, Company_Name FROM Company ORDER BY Company_RecID "
                           "LIMIT 1 OFFSET 7")[0]
    rec = json.loads(env.ok("get", "Company", str(rec_id)).stdout)
    check(rec["companyRecId"] == rec_id and rec["companyName"] == name, f"get Company: {rec}")
    child = env.sql("SELECT Parent_Company_RecID FROM Company WHERE Parent_Company_RecID IS NOT NULL "
                    "LIMIT 1")
    if child:
        parent = json.loads(env.ok("get", "company", str(child[0][0]), "--include",
                                   "childCompanies").stdout)
        check(isinstance(parent["childCompanies"], list) and parent["childCompanies"],
              f"childCompanies: {parent}")
    prod = env.sql("SELECT IV_Item_RecID FROM IV_Item WHERE IV_SubCat_RecID IS NOT NULL LIMIT 1")
    if prod:
        p = json.loads(env.ok("get", "ProductCatalog", str(prod[0][0]), "--include",
                              "subcategory.category,manufacturer").stdout)
        check(isinstance(p["subcategory"], dict) and "category" in p["subcategory"],
              f"nested include: {p}")
        check("manufacturer" in p, f"include manufacturer: {p}")
    r = env.ok("get", "Company", "999999999", code=1)
    check("not in the cache" in r.stderr, f"get miss: {r.stderr}")
    r = env.ok("get", "Company", str(rec_id), "--include", "noSuchRelation", code=2)
    check("noSuchRelation" in r.stderr, f"bad include: {r.stderr}")

    # stats
    s = json.loads(env.ok("stats", "--json").stdout)
    check(s["mapSize"] > 0 and 0 < s["mapUsed"] <= s["mapSize"] and s["pageSize"] >= 4096, f"stats {s}")
    check(sum(d["entries"] for d in s["databases"]) >= n_company, f"stats databases {s['databases']}")
    r = env.ok("stats")
    check("map size" in r.stdout and "DATABASE" in r.stdout, f"stats text: {r.stdout}")

    # verify: equal now.
    r = env.ok("verify")
    check("DIFFERENT" not in r.stdout and re.search(r"verify: \d+ models checked, \d+ equal, 0 different",
                                                    r.stdout), f"verify: {r.stdout}")

    # A delete at the source: the count shows it, and the warm-up finds the row.
    gone = env.sql("SELECT Company_RecID FROM Company ORDER BY Company_RecID LIMIT 1 OFFSET 30")[0][0]
    env.sql("DELETE FROM Company WHERE Company_RecID = ?", gone)
    r = env.ok("warm", "Company")
    check(re.search(r"warm: 1 models caught up, \d+ rows, 1 deleted in", r.stdout),
          f"warm summary names the row deleted at the source: {r.stdout}")
    env.ok("get", "Company", str(gone), code=1)
    env.ok("verify", "Company")

    # Behind the cache's back (Last_Update untouched, so no poll would see it):
    # a changed row, a new row and a deleted row.
    changed, deleted = env.sql("SELECT Company_RecID FROM Company ORDER BY Company_RecID "
                               "LIMIT 2 OFFSET 20")
    changed, deleted = changed[0], deleted[0]
    env.sql("UPDATE Company SET Company_Name = 'Changed behind the cache' WHERE Company_RecID = ?",
            changed)
    env.sql("DELETE FROM Company WHERE Company_RecID = ?", deleted)
    added = env.sql("SELECT MAX(Company_RecID) + 1000 FROM Company")[0][0]
    env.sql("CREATE TABLE tmp_row AS SELECT * FROM Company WHERE Company_RecID = ?", rec_id)
    env.sql("UPDATE tmp_row SET Company_RecID = ?", added)
    env.sql("INSERT INTO Company SELECT * FROM tmp_row")
    env.sql("DROP TABLE tmp_row")
    r = env.ok("verify", "Company", code=1)
    check(re.search(r"Company: DIFFERENT: \d+ compared, 1 missing, 1 extra, 1 different", r.stdout),
          f"verify after changes: {r.stdout}")
    check(re.search(r"different: %d\b" % changed, r.stdout), f"changed key not named: {r.stdout}")
    check(re.search(r"extra in the cache: %d\b" % deleted, r.stdout), f"deleted key: {r.stdout}")
    check(re.search(r"missing from the cache: %d\b" % added, r.stdout), f"added key: {r.stdout}")
    v = json.loads(env.ok("verify", "Company", "--json", code=1).stdout.splitlines()[0])
    check(v["equal"] is False and v["firstDifferent"] == [changed] and v["firstExtra"] == [deleted]
          and v["firstMissing"] == [added], f"verify --json: {v}")
    # Other models are still equal, and verify of them alone succeeds.
    env.ok("verify", "ProductCatalog")
    # The new row hides the deleted one from the count: a warm-up finds deletes
    # by count (as polls do), --reconcile by reading every key, and says so.
    r = env.ok("warm", "Company")
    check(re.search(r"warm: 1 models caught up, \d+ rows, 0 deleted in", r.stdout),
          f"warm summary, a delete hidden from the count: {r.stdout}")
    r = env.ok("warm", "Company", "--reconcile")
    check(re.search(r"warm: 1 models caught up, \d+ rows, 1 deleted in", r.stdout),
          f"warm --reconcile summary names the deleted row: {r.stdout}")


# ---- interrupt ---------------------------------------------------------------

def start_warm(env, *a):
    env_vars = dict(os.environ, DATABASE_URL=env.url)
    return subprocess.Popen(env.args("warm", "--log-level", "debug", *a), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env_vars)


def signal_after_batches(proc, sig, batches):
    """Sends sig once the warm-up has logged `batches` batches; returns (rc, stderr)."""
    seen, lines = 0, []
    deadline = time.time() + 60
    for line in proc.stderr:
        lines.append(line)
        if ": batch: " in line:
            seen += 1
            if seen == batches:
                proc.send_signal(sig)
                break
        check(time.time() < deadline, "warm-up produced no batches")
    check(seen == batches, f"warm-up ended before {batches} batches:\n{''.join(lines)}")
    out, err = proc.communicate(timeout=60)
    return proc.returncode, "".join(lines) + err, out


def case_interrupt(env):
    env.generate(2000)
    env.serve()
    env.ok("warm", "Company")
    rows_before = status_json(env, "Company")[0]["models"][0]["rows"]
    rec_id, name = env.sql("SELECT Company_RecID, Company_Name FROM Company ORDER BY Company_RecID "
                           "LIMIT 1 OFFSET 3")[0]
    env.sql("UPDATE Company SET Company_Name = 'Renamed at the source' WHERE Company_RecID = ?", rec_id)
    env.sql("DELETE FROM Company WHERE Company_RecID = (SELECT MAX(Company_RecID) FROM Company)")

    # SIGINT in the middle of a full rebuild: exit 1, "interrupted", old data intact.
    proc = start_warm(env, "Company", "--full", "--batch-rows", "10")
    rc, err, out = signal_after_batches(proc, signal.SIGINT, 3)
    check(rc == 1, f"interrupted warm --full exit {rc}\n{err}")
    check("interrupted" in err and "previous data stays" in err, f"interrupt message: {err}")
    check("caught up" not in out and "rebuilt" not in out, f"summary printed after interrupt: {out}")
    rec = json.loads(env.ok("get", "Company", str(rec_id)).stdout)
    check(rec["companyName"] == name, f"partial swap: {rec['companyName']!r} != {name!r}")
    st = status_json(env, "Company")[0]["models"][0]
    check(st["rows"] == rows_before and st["state"] == "warm", f"after interrupt: {st}")
    r = env.ok("verify", "Company", code=1)
    check("1 extra, 1 different" in r.stdout, f"verify after interrupted rebuild: {r.stdout}")

    # Completed rebuild: the new data replaces the old in one swap.
    r = env.ok("warm", "Company", "--full")
    check("rebuilt" in r.stdout, f"warm --full summary: {r.stdout}")
    rec = json.loads(env.ok("get", "Company", str(rec_id)).stdout)
    check(rec["companyName"] == "Renamed at the source", f"after rebuild: {rec}")
    env.ok("verify", "Company")
    check(status_json(env, "Company")[0]["models"][0]["rows"] == rows_before - 1, "rows after rebuild")

    # SIGTERM during a first warm-up into a new store: exit 1, and the next run completes.
    env.data = os.path.join(env.tmp, "data2")
    proc = start_warm(env, "Company", "--batch-rows", "20")
    rc, err, _ = signal_after_batches(proc, signal.SIGTERM, 2)
    check(rc == 1 and "interrupted" in err, f"SIGTERM warm exit {rc}\n{err}")
    st, code = status_json(env, "Company")
    check(code == 1 and st["models"][0]["state"] != "warm", f"status after SIGTERM: {st}")
    env.ok("warm", "Company")
    env.ok("verify", "Company")


# ---- retry -----------------------------------------------------------------

class Source:
    """tdslite on a fixed port that can be killed and started again, its
    log (debug: one line per login) appended to one file."""

    def __init__(self, env):
        self.env, self.port, self.proc = env, tds.free_port(), None
        self.log = os.path.join(env.tmp, "tdslite.log")
        env.url = tds.url(self.port)

    def start(self):
        with open(self.log, "a") as log:
            self.proc, _ = tds.serve(self.env.tdslite, self.env.db,
                                     os.path.join(self.env.tmp, "ready"), port=self.port,
                                     log_level="debug", stderr=log)
        self.env.procs.append(self.proc)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=15)

    def logins(self):
        with open(self.log) as f:
            return sum(" logged in " in line for line in f)


def case_pages(env):
    env.generate(3000)
    src = Source(env)
    src.start()
    table = model_info(env)["Company"][0]
    # tdslite logs the statement as SQLite runs it: a load's reads the rows
    # in key order alone (a poll's orders by last-update first).
    load = re.compile(r': SELECT ".* FROM "' + table + r'"( WHERE "\w+" > @\w+)? '
                      r'ORDER BY "\w+" LIMIT')

    def statements():
        with open(src.log) as f:
            return sum(bool(load.search(line.rstrip())) for line in f)

    # 3000 rows of about 1.3 KB: pages of 1 MiB hold about 800 (the first
    # 100); TOP 5000 ends short, TOP 1000 three times at its TOP, then empty.
    for batch, want in ((5000, 1), (1000, 4)):
        shutil.rmtree(env.data, ignore_errors=True)
        before = statements()
        r = env.ok("warm", "Company", "--batch-rows", str(batch), "--log-level", "debug")
        pages = sum("warm: Company: batch: " in line for line in r.stderr.splitlines())
        got = statements() - before
        check(got == want, f"batch_rows {batch}: {got} statements read the load, wanted {want}")
        check(pages > got, f"batch_rows {batch}: {pages} pages from {got} statements")
        env.ok("verify", "Company")


def wait_line(proc, lines, needle, what):
    """Reads proc's stderr into lines until a line holds needle."""
    for line in proc.stderr:
        lines.append(line)
        if needle in line:
            return
    fail(f"{what}: the warm-up ended first:\n{''.join(lines)}")


def case_retry(env):
    env.generate(2000)
    src = Source(env)
    src.start()
    models = ["Company", "Contact"]

    # Killed after a few batches, started again once the warm-up noticed.
    proc = start_warm(env, *models, "--batch-rows", "20", "--retry-for", "10m")
    lines = []
    wait_line(proc, lines, ": batch: ", "first batch")
    for _ in range(4):
        wait_line(proc, lines, ": batch: ", "batches")
    src.kill()
    wait_line(proc, lines, "lost the source", "the lost connection")
    src.start()
    out, err = proc.communicate(timeout=300)
    err = "".join(lines) + err
    check(proc.returncode == 0, f"warm across a source restart: exit {proc.returncode}\n{err}")
    check("reconnected to the source" in err and "2 models caught up" in out,
          f"warm across a source restart:\n{out}\n{err}")
    before = src.logins()
    r = env.ok("verify", *models)
    check("2 equal, 0 different, 0 failed" in r.stdout, f"verify after the restart: {r.stdout}")
    check(src.logins() - before == 1,
          f"verify of {len(models)} models logged in {src.logins() - before} times, not once")

    # Down for longer than --retry-for: exit 1 with the cause in words.
    src.kill()
    r = env.ok("warm", "Company", "--retry-for", "2s", code=1)
    check("unreachable for 2 s" in r.stderr and "refused" in r.stderr.lower(),
          f"warm against a dead source: {r.stderr}")
    env.ok("warm", "Company", "--retry-for", "soon", code=2)

    # An answer of the server is not an outage: no retry, whatever the window.
    src.start()
    env.sql("ALTER TABLE Contact RENAME TO Contact_gone")
    r = env.ok("warm", "Contact", "--retry-for", "10m", code=1)
    check("reconnecting" not in r.stderr and "Contact" in r.stderr,
          f"warm of a missing table: {r.stderr}")


# ---- deploy ----------------------------------------------------------------

def needs(tool, path=None):
    """A missing tool skips the case visibly (exit 77, which meson counts as
    SKIP and scripts/test.sh as a failure) instead of passing half-checked."""
    found = shutil.which(tool) or (path if path and os.path.exists(path) else None)
    if not found:
        print(f"{tool} not installed (scripts/deps.sh --test installs it): case skipped")
        sys.exit(77)
    return found


def check_k8s_config(env, srv, pods):
    """Every pod reads the shared configuration (the ConfigMap mounted where
    CWCACHE_CONFIG points), not paths in its args; the file is one cwcachectl
    reads (its data directory is named in the error about it being absent),
    with the installed paths meson writes into tools/deploy/cwcache.conf."""
    cm = srv["ConfigMap"]
    text = cm["data"]["cwcache.conf"]
    for pod in pods:
        c = pod["containers"][0]
        check(not any(a.startswith("--") for a in c["args"]), f"paths in args: {c['args']}")
        conf = [e["value"] for e in c["env"] if e["name"] == "CWCACHE_CONFIG"]
        check(len(conf) == 1, f"{c['name']}: no CWCACHE_CONFIG")
        vols = {v["name"]: v for v in pod["volumes"]}
        mounts = [m for m in c["volumeMounts"]
                  if vols.get(m["name"], {}).get("configMap", {}).get("name") == cm["metadata"]["name"]]
        check(len(mounts) == 1 and conf[0] == mounts[0]["mountPath"] + "/cwcache.conf",
              f"{c['name']}: CWCACHE_CONFIG {conf} is not the mounted ConfigMap {mounts}")
    path = os.path.join(env.tmp, "k8s.conf")
    open(path, "w").write(text)
    # The definitions from this tree (flags win over the file); the data
    # directory from the file.
    r = subprocess.run([env.ctl, "--config", path, "--schema", env.schema, "--collectors",
                        env.collectors, "status"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "/var/lib/cwcache/data does not exist" in r.stderr,
          f"cwcachectl with the ConfigMap's file: {r.stderr}")
    built = os.path.join(os.path.dirname(env.server_bin), "tools", "deploy", "cwcache.conf")
    if os.path.exists(built) and "/usr/local/" in open(built).read():
        for line in open(built):
            if line.strip() and not line.startswith("#"):
                check(line.strip() in text.splitlines(),
                      f"the ConfigMap lacks the installed '{line.strip()}'")


def case_deploy(env, deploy):
    import yaml  # python3-yaml (scripts/deps.sh)

    sa = needs("systemd-analyze")

    # systemd units: verify them with ExecStart pointing at the built tool.
    units = os.path.join(env.tmp, "units")
    os.makedirs(units)
    for name in ("cwcache-warm.service", "cwcache-warm.timer", "cwcache.service"):
        src = os.path.join(deploy, name)
        text = open(src).read().replace("/usr/local/bin/cwcachectl", env.ctl)
        text = text.replace("/usr/local/bin/cwcache ", env.server_bin + " ")
        open(os.path.join(units, name), "w").write(text)
    r = subprocess.run([sa, "verify", "--man=no", *sorted(
        os.path.join(units, n) for n in os.listdir(units))], capture_output=True, text=True,
        timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(), f"systemd-analyze verify:\n{r.stderr}")
    r = subprocess.run([sa, "calendar", "--iterations=7", "Mon..Fri *-*-* 06:00:00"],
                       capture_output=True, text=True, timeout=10)
    elapses = re.findall(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d\d-\d\d (\d\d:\d\d:\d\d)", r.stdout)
    check(len(elapses) == 7 and all(d not in ("Sat", "Sun") and t == "06:00:00"
                                    for d, t in elapses), f"timer calendar: {r.stdout}")
    timer = open(os.path.join(deploy, "cwcache-warm.timer")).read()
    check(re.search(r"^OnCalendar=Mon\.\.Fri \*-\*-\* 06:00:00$", timer, re.M), "timer OnCalendar")
    check(re.search(r"^Unit=cwcache-warm\.service$", timer, re.M), "timer Unit=")
    service = open(os.path.join(deploy, "cwcache-warm.service")).read()
    exec_start = re.search(r"^ExecStart=(.*?)(?<!\\)$", service.replace("\\\n", " "), re.M).group(1)
    check(exec_start.split()[-1] == "warm", f"warm service ExecStart: {exec_start}")

    # The cron line: 06:00 Monday to Friday, running cwcachectl warm as a user.
    cron = [l for l in open(os.path.join(deploy, "cwcache-warm.cron"))
            if l.strip() and not l.startswith("#") and "=" not in l.split()[0]]
    check(len(cron) == 1, f"cron lines: {cron}")
    f = cron[0].split()
    check(f[:5] == ["0", "6", "*", "*", "1-5"] and f[5] == "cwcache" and "warm" in f,
          f"cron line: {cron[0]}")
    # The command runs under sh: check its syntax.
    r = subprocess.run(["sh", "-n", "-c", " ".join(f[6:])], capture_output=True, text=True)
    check(r.returncode == 0, f"cron command syntax: {r.stderr}")

    # The environment file parses in sh the way systemd reads it (the URL holds ';').
    envfile = os.path.join(deploy, "cwcache.env.example")
    r = subprocess.run(["sh", "-c", f'set -a; . "{envfile}"; printf %s "$DATABASE_URL"'],
                       capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("sqlserver://") and ";password=" in r.stdout,
          f"env file under sh: {r.stdout!r} {r.stderr}")

    # Kubernetes: a CronJob with the same schedule and a Job, both running the warm-up.
    docs = list(yaml.safe_load_all(open(os.path.join(deploy, "kubernetes", "cwcache-warm.yaml"))))
    kinds = {d["kind"]: d for d in docs if d}
    check(set(kinds) >= {"CronJob", "Job"}, f"kinds: {list(kinds)}")
    cj = kinds["CronJob"]["spec"]
    check(cj["schedule"] == "0 6 * * 1-5" and cj["concurrencyPolicy"] == "Forbid", f"cronjob: {cj}")
    for pod in (cj["jobTemplate"]["spec"]["template"]["spec"], kinds["Job"]["spec"]["template"]["spec"]):
        c = pod["containers"][0]
        check(c["args"][0] == "cwcachectl" and c["args"][-1] == "warm", f"container args: {c['args']}")
        check(pod["restartPolicy"] == "Never", "restartPolicy")
        check(any(e["name"] == "DATABASE_URL" for e in c["env"]), "DATABASE_URL env")
    # The server's manifest: the warm-up's volume claim and data directory are the server's.
    srv = {d["kind"]: d for d in yaml.safe_load_all(open(os.path.join(deploy, "kubernetes",
                                                                       "cwcache.yaml"))) if d}
    check(set(srv) >= {"PersistentVolumeClaim", "Deployment", "Service"}, f"server kinds: {list(srv)}")
    pod = srv["Deployment"]["spec"]["template"]["spec"]
    claim = srv["PersistentVolumeClaim"]["metadata"]["name"]
    check(pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim, "server claim")
    check(cj["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]
          ["claimName"] == claim, "warm-up claim differs from the server's")
    check_k8s_config(env, srv, [pod, cj["jobTemplate"]["spec"]["template"]["spec"],
                                kinds["Job"]["spec"]["template"]["spec"]])
    labels = srv["Deployment"]["spec"]["template"]["metadata"]["labels"]
    aff = cj["jobTemplate"]["spec"]["template"]["spec"]["affinity"]["podAffinity"]
    sel = aff["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]["matchLabels"]
    check(all(labels.get(k) == v for k, v in sel.items()), "warm-up affinity does not match the server")
    check_replicas(env, deploy, srv)


def check_replicas(env, deploy, srv):
    """N replicas: a StatefulSet with a volume per pod and the shared
    configuration, a Service with ClientIP affinity, an ingress with cookie
    affinity; and the HAProxy configuration passes `haproxy -c`."""
    import yaml
    docs = [d for d in yaml.safe_load_all(open(os.path.join(deploy, "kubernetes",
                                                            "cwcache-replicas.yaml"))) if d]
    sts = [d for d in docs if d["kind"] == "StatefulSet"][0]["spec"]
    check(sts["replicas"] >= 2 and sts["volumeClaimTemplates"][0]["metadata"]["name"] == "data",
          f"statefulset: {sts}")
    pod = sts["template"]["spec"]
    check_k8s_config(env, srv, [pod])
    labels = sts["template"]["metadata"]["labels"]
    svcs = [d for d in docs if d["kind"] == "Service" and d["spec"].get("clusterIP") != "None"]
    check(len(svcs) == 1 and svcs[0]["spec"]["sessionAffinity"] == "ClientIP" and
          all(labels.get(k) == v for k, v in svcs[0]["spec"]["selector"].items()),
          f"replicas Service: {svcs}")
    ing = [d for d in docs if d["kind"] == "Ingress"][0]
    check(ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie",
          "ingress affinity")
    haproxy = needs("haproxy", "/usr/sbin/haproxy")
    r = subprocess.run([haproxy, "-c", "-f", os.path.join(deploy, "haproxy.cfg")],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"haproxy -c tools/deploy/haproxy.cfg: {r.stdout}{r.stderr}")


# ---- the server's operator endpoints -----------------------------------------

PSK = "tools-test-psk"


def start_server(env):
    """A warm store and a cwcache server on a free port with the PSK set."""
    port_file = os.path.join(env.tmp, "server.port")
    srv_env = dict(os.environ, DATABASE_URL=env.url, PSK=PSK)
    srv = subprocess.Popen([env.server_bin, "--data-dir", env.data, "--schema", env.schema,
                            "--collectors", env.collectors, "--port", "0", "--port-file", port_file,
                            "--log-level", "warn"], env=srv_env)
    env.procs.append(srv)
    return f"http://127.0.0.1:{tds.wait_port_file(port_file, srv, 'cwcache')}"


def stop_server(env):
    """SIGTERM: the server must exit 0 (a sanitizer report would make it fail)."""
    srv = env.procs.pop()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(timeout=30)
    check(rc == 0, f"cwcache exited {rc} on SIGTERM")


def http_get(url, headers=None):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=10) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> ({name: type}, [(name, labels, value)]); fails on any
    line that breaks the format."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            check(METRIC_NAME.match(name) and name not in types, f"bad TYPE line: {line}")
            check(typ in ("counter", "gauge", "histogram", "summary", "untyped"), f"type: {line}")
            types[name] = typ
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        check(m, f"bad sample line: {line!r}")
        labels = {}
        if m.group(3):
            rest = m.group(3)
            while rest:
                lm = LABEL.match(rest)
                check(lm, f"bad labels in {line!r}")
                labels[lm.group(1)] = lm.group(2)
                rest = rest[lm.end():]
        value = float(m.group(4))
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        family = name if name in types else base
        check(family in types, f"sample {name} has no TYPE")
        if types[family] == "counter":
            check(name.endswith("_total") and value >= 0, f"counter {name}")
        samples.append((name, labels, value))
    return types, samples


def socketio_requests(base, events):
    """Emits events (name, opts) over Socket.IO with the PSK; returns the acks."""
    import socketio  # python3-socketio
    sio = socketio.Client(reconnection=False)
    sio.connect(base, auth={"psk": PSK}, transports=["websocket"], wait_timeout=10)
    acks = [sio.call(ev, opts, timeout=20) for ev, opts in events]
    sio.disconnect()
    return acks


def case_metrics(env):
    env.generate(200)
    env.serve()
    env.ok("warm")
    base = start_server(env)
    acks = socketio_requests(base, [("fetchCompanies", None), ("fetchCompanies", None),
                                    ("fetchProducts", {"select": ["ivItemRecId"], "include": ["manufacturer"]}),
                                    ("noSuchEvent", None)])
    check(acks[0]["success"] and acks[1]["success"] and not acks[2]["success"]
          and not acks[3]["success"], f"acks: {[a.get('success') for a in acks]}")
    # A warm-up (and a full rebuild) next to the running server: the writers take turns.
    env.ok("warm", "Company")
    env.ok("warm", "Company", "--full")
    check(socketio_requests(base, [("fetchCompanies", None)])[0]["success"], "after warm --full")
    socketio_requests(base, [("fetchCompanies", None)])

    st, ctype, text = http_get(base + "/metrics")
    check(st == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype,
          f"/metrics: {st} {ctype}")
    types, samples = parse_metrics(text)
    want = {
        "cwcache_model_rows": "gauge", "cwcache_model_state": "gauge",
        "cwcache_model_ready": "gauge", "cwcache_model_cursor_lag_seconds": "gauge",
        "cwcache_model_last_run_duration_seconds": "gauge",
        "cwcache_model_last_run_success": "gauge",
        "cwcache_collector_requests_total": "counter", "cwcache_collector_errors_total": "counter",
        "cwcache_collector_request_duration_seconds": "histogram",
        "cwcache_clients_connected": "gauge", "cwcache_lmdb_map_size_bytes": "gauge",
        "cwcache_lmdb_map_used_bytes": "gauge", "cwcache_unknown_events_total": "counter",
        "cwcache_answers_reused_total": "counter", "cwcache_answers_stale_total": "counter",
        "cwcache_answers_kept": "gauge", "cwcache_answers_kept_bytes": "gauge",
    }
    for name, typ in want.items():
        check(types.get(name) == typ, f"{name}: type {types.get(name)}, wanted {typ}")

    def value(name, **labels):
        vals = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
        check(len(vals) == 1, f"{name}{labels}: {len(vals)} samples")
        return vals[0]

    n_company = env.sql("SELECT COUNT(*) FROM Company")[0][0]
    check(value("cwcache_model_rows", model="Company") == n_company, "Company rows")
    check(value("cwcache_model_state", model="Company", state="warm") == 1
          and value("cwcache_model_state", model="Company", state="cold") == 0, "Company state")
    check(value("cwcache_model_ready", model="Company") == 1, "Company ready")
    check(value("cwcache_model_cursor_lag_seconds", model="Company") >= 0, "lag")
    check(value("cwcache_collector_requests_total", collector="fetchCompanies") == 4, "requests")
    check(value("cwcache_collector_errors_total", collector="fetchCompanies") == 0, "errors")
    check(value("cwcache_collector_requests_total", collector="fetchProducts") == 1, "bad request")
    check(value("cwcache_collector_errors_total", collector="fetchProducts") == 1, "bad request error")
    check(value("cwcache_unknown_events_total") == 1, "unknown events")
    h = "cwcache_collector_request_duration_seconds"
    buckets = [(l["le"], v) for n, l, v in samples
               if n == h + "_bucket" and l["collector"] == "fetchCompanies"]
    check(buckets[-1][0] == "+Inf" and buckets[-1][1] == 4, f"histogram +Inf: {buckets}")
    check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"not cumulative: {buckets}")
    check(value(h + "_count", collector="fetchCompanies") == 4 and
          value(h + "_sum", collector="fetchCompanies") > 0, "histogram count/sum")
    check(value("cwcache_clients_connected") >= 0, "clients")
    check(0 < value("cwcache_lmdb_map_used_bytes") <= value("cwcache_lmdb_map_size_bytes"), "map use")
    stop_server(env)


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    import struct
    import zlib
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif typ == b"IDAT":
            idat += body
    check(depth == 8 and ctype in (2, 6), f"PNG depth {depth} colour type {ctype}")
    bpp = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def chromium(args, tmp):
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tempfile.mkdtemp(dir=tmp)}", "--window-size=1200,800",
                           "--virtual-time-budget=5000", *args],
                          capture_output=True, text=True, timeout=90)


def case_status_page(env):
    needs("chromium", "/usr/bin/chromium")
    env.generate(200)
    env.serve()
    env.ok("warm")
    base = start_server(env)
    # The PSK, compared as for Socket.IO clients: header or query; 401 otherwise.
    for path in ("/status", "/status.json"):
        check(http_get(base + path)[0] == 401, f"{path} without the PSK")
        check(http_get(base + path, {"x-psk": "wrong"})[0] == 401, f"{path} with a wrong PSK")
        check(http_get(base + path + "?psk=wrong")[0] == 401, f"{path} with a wrong ?psk=")
        check(http_get(base + path, {"x-psk": PSK})[0] == 200, f"{path} with x-psk")
    st, ctype, page = http_get(base + "/status?psk=" + PSK)
    check(st == 200 and ctype.startswith("text/html") and "<script>" in page
          and "http" not in page.split("<script>")[0].lower().replace("http-equiv", ""),
          "status page: external assets or wrong type")
    st, _, body = http_get(base + "/status.json", {"x-psk": PSK})
    d = json.loads(body)
    ctl = json.loads(env.ok("status", "--json").stdout)
    check([m["model"] for m in d["models"]] == [m["model"] for m in ctl["models"]], "models differ")
    for a, b in zip(d["models"], ctl["models"]):
        check(set(a) == set(b), f"status.json keys differ from cwcachectl's: {set(a) ^ set(b)}")
        check(a["rows"] == b["rows"] and a["state"] == b["state"], f"{a['model']}: {a} vs {b}")
    check(d["summary"]["ready"] is True and "clients" in d["server"], f"summary {d['summary']}")

    # The page after its script ran: the table holds the models from status.json.
    r = chromium(["--dump-dom", base + "/status?psk=" + PSK], env.tmp)
    check(r.returncode == 0, f"chromium --dump-dom: {r.stderr[-2000:]}")
    check("Ready: " in r.stdout and ">Company<" in r.stdout and ">warm<" in r.stdout,
          f"page did not render the status: {r.stdout[:3000]}")
    r = chromium(["--dump-dom", base + "/status"], env.tmp)
    check("Unauthorized" in r.stdout and "Company" not in r.stdout, "page served without the PSK")
    shot = os.path.join(env.tmp, "status.png")
    r = chromium([f"--screenshot={shot}", base + "/status?psk=" + PSK], env.tmp)
    check(r.returncode == 0 and os.path.exists(shot), f"chromium --screenshot: {r.stderr[-2000:]}")
    w, h, bpp, rows = png_pixels(shot)
    check((w, h) == (1200, 800), f"screenshot is {w}x{h}")
    bg = rows[h - 1][:bpp]
    colours, off = set(), 0
    for row in rows[::4]:
        for x in range(0, w * bpp, bpp * 4):
            px = row[x:x + bpp]
            colours.add(px)
            off += px != bg
    sampled = (h // 4) * (w // 4)
    check(len(colours) > 20 and off > sampled * 0.05,
          f"screenshot looks blank: {len(colours)} colours, {off}/{sampled} non-background")
    stop_server(env)


def main():
    if len(sys.argv) < 7:
        fail(__doc__)
    case, ctl, tdslite, schema, collectors, deploy = sys.argv[1:7]
    env = Env(os.path.abspath(ctl), os.path.abspath(tdslite), schema, collectors)
    env.server_bin = os.path.abspath(sys.argv[7]) if len(sys.argv) > 7 else "/bin/true"
    t0 = time.time()
    try:
        if case == "usage":
            case_usage(env)
        elif case == "commands":
            case_commands(env)
        elif case == "interrupt":
            case_interrupt(env)
        elif case == "retry":
            case_retry(env)
        elif case == "pages":
            case_pages(env)
        elif case == "deploy":
            case_deploy(env, deploy)
        elif case == "metrics":
            case_metrics(env)
        elif case == "status_page":
            case_status_page(env)
        else:
            fail(f"unknown case {case}")
    finally:
        env.close()
    print(f"ok: {case} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
