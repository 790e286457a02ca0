#!/usr/bin/env python3
"""Integration tests of the poller against tdslite (suite 'poller').

Usage: test_poller.py CASE TDSLITE POLLER_DRIVER SCHEMA COLLECTORS

Each case starts its own tdslite on a free port with its own temporary
directory, drives the poller through poller_driver (a process of its own, so
it can be killed) and checks the cache with poller_verify (0 missing, 0 extra,
0 different) or by rendering.

Timeouts only catch hangs: each is several times what the step needs on a
loaded two-core machine under ASan, and no case asserts how fast the machine
is (latency and throughput are benchmarks' business, tools/bench/).
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


STEP_S = 120  # any one step (generate, warm, verify, live); the case's meson timeout is 300 s


class Env:
    def __init__(self, tdslite, driver, schema, collectors):
        self.tdslite, self.driver = tdslite, driver
        self.schema, self.collectors = schema, collectors
        self.tmp = tempfile.mkdtemp(prefix="poller-test-")
        self.db = os.path.join(self.tmp, "source.db")
        self.store = os.path.join(self.tmp, "store")
        self.port = tds.free_port()  # fixed: a restarted server must come back on it
        self.server = None
        self.url = tds.url(self.port, ";connectTimeout=3;socketTimeout=10")

    def close(self):
        self.stop_server()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- tdslite ---------------------------------------------------------
    def generate(self, size, seed=1):
        run([self.tdslite, "--db", self.db, "--generate", str(size), "--seed", str(seed),
             "--schema", self.schema_for_tdslite()], timeout=STEP_S)

    def schema_for_tdslite(self):
        return self.schema

    def start_server(self, churn=None, lossy=False):
        extra = ["--churn", str(churn)] if churn else []
        extra += ["--lossy-datetime-params"] if lossy else []
        self.server, _ = tds.serve(self.tdslite, self.db, os.path.join(self.tmp, "ready"),
                                   self.port, extra)

    def stop_server(self, kill=False):
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.server.wait(timeout=10)
        self.server = None

    def churn_once(self, n, seed):
        run([self.tdslite, "--db", self.db, "--churn-once", str(n), "--seed", str(seed),
             "--schema", self.schema_for_tdslite()], timeout=STEP_S)

    # ---- the poller ------------------------------------------------------
    def drv_args(self, cmd, *extra):
        return [self.driver, cmd, "--url", self.url, "--store", self.store,
                "--schema", self.schema, "--collectors", self.collectors, *extra]

    def drv(self, cmd, *extra, check=True, timeout=None, stdin=None):
        r = subprocess.run(self.drv_args(cmd, *extra), capture_output=True, text=True,
                           timeout=timeout or STEP_S, input=stdin)
        if check and r.returncode != 0:
            fail(f"poller_driver {cmd} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def drv_start(self, cmd, *extra):
        return subprocess.Popen(self.drv_args(cmd, *extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def exec_sql(self, sql):
        self.drv("exec", stdin=sql)

    def verify(self, *extra):
        r = self.drv("verify", *extra, check=False)
        if r.returncode not in (0, 1):
            fail(f"verify failed to run: {r.stdout}\n{r.stderr}")
        return r.returncode == 0, r.stdout

    def verify_eventually(self, seconds, *extra):
        deadline = time.time() + seconds
        while True:
            ok, out = self.verify(*extra)
            if ok:
                return out
            if time.time() > deadline:
                fail(f"cache did not converge within {seconds} s:\n{out}")
            time.sleep(0.2)


def run(args, timeout):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        fail(f"{' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def runs_of(env, model):
    out = env.drv("runs", model).stdout
    runs = []
    for line in out.splitlines():
        m = re.match(r"\S+ (\w+) polls=(\d+) read=(\d+) applied=(\d+) skipped=(\d+) deleted=(\d+) "
                     r"stalled=(\d+) status=(-?\d+) end_ms=(\d+)", line)
        if m:
            runs.append(dict(kind=m[1], polls=int(m[2]), read=int(m[3]), applied=int(m[4]),
                             skipped=int(m[5]), deleted=int(m[6]), stalled=int(m[7]),
                             status=int(m[8]), end_ms=int(m[9])))
    return runs, out


# ---- cases ------------------------------------------------------------------

def case_full_sync(env):
    """A full sync of a generated data set equals the source exactly."""
    env.generate(300)
    env.start_server()
    env.drv("warm", "--batch", "500")
    ok, out = env.verify()
    check(ok, "after warm:\n" + out)
    check(re.search(r"compared=[1-9]", out), "nothing compared:\n" + out)
    # A rebuild from scratch swaps in an identical copy.
    env.drv("warm", "--full", "--batch", "700")
    ok, out = env.verify()
    check(ok, "after warm --full:\n" + out)
    print(out)


def case_churn(env):
    """With churn running then stopped, the cache converges (inserts,
    updates, late commits and hard deletes). How soon is printed, not
    asserted: latency depends on the machine and is a benchmark's business."""
    env.generate(200)
    env.start_server()
    env.drv("warm")
    poller = env.drv_start("run", "--interval-ms", "200", "--reconcile-s", "1", "--batch", "200")
    try:
        for i in range(15):  # inserts, updates, late commits, hard deletes while polling
            env.churn_once(40, seed=100 + i)
            time.sleep(0.1)
        stopped = time.time()
        out = env.verify_eventually(STEP_S)
        took = time.time() - stopped
        print(out)
        print(f"converged {took:.2f} s after the churn stopped")
    finally:
        poller.send_signal(signal.SIGTERM)
        poller.communicate(timeout=STEP_S)
    ok, out = env.verify()
    check(ok, "after stop:\n" + out)


TIE_SCHEMA = """
/// @cursor lastUpdate
model Tie {
  tieRecId   Int      @id @map("Tie_RecID")
  name       String?  @map("Name") @db.NVarChar(50)
  lastUpdate DateTime @map("Last_Update") @db.DateTime
  @@map("Tie")
}
"""


def write_schema(env, text):
    path = os.path.join(env.tmp, "test.prisma")
    with open(path, "w") as f:
        f.write(text)
    env.schema = path
    return path


def insert_batches(env, table, cols, rows, per_batch=500):
    for i in range(0, len(rows), per_batch):
        stmts = [f"INSERT INTO [dbo].[{table}] ({', '.join(cols)}) VALUES ({', '.join(r)})"
                 for r in rows[i:i + per_batch]]
        env.exec_sql("\n".join(stmts) + "\nGO\n")


def case_ties(env):
    """Thousands of rows sharing one Last_Update across batch boundaries:
    none skipped, none read twice."""
    write_schema(env, TIE_SCHEMA)
    env.start_server()
    env.exec_sql("CREATE TABLE [dbo].[Tie] ([Tie_RecID] int NOT NULL PRIMARY KEY, "
                 "[Name] nvarchar(50) NULL, [Last_Update] datetime NOT NULL)\nGO\n")
    # tdslite stores literals as written: give datetimes in its canonical form (a 1/300 s value).
    ts = "'2021-06-01 10:00:00.0033333'"
    rows = [(str(i), f"N'tie {i}'", ts) for i in range(1, 3001)]
    insert_batches(env, "Tie", ["Tie_RecID", "Name", "Last_Update"], rows)
    env.drv("warm", "--batch", "499")
    runs, out = runs_of(env, "Tie")
    first = [r for r in runs if r["kind"] == "warm"]
    check(first and first[-1]["read"] == 3000 and first[-1]["applied"] == 3000,
          "initial pass must read each of the 3000 rows exactly once:\n" + out)
    ok, vout = env.verify()
    check(ok, vout)
    # 1000 more rows at the very same timestamp (ties at the cursor), read once each.
    rows = [(str(i), f"N'tie {i}'", ts) for i in range(3001, 4001)]
    insert_batches(env, "Tie", ["Tie_RecID", "Name", "Last_Update"], rows)
    env.drv("warm", "--batch", "499")
    runs, out = runs_of(env, "Tie")
    polls = [r for r in runs if r["kind"] == "warm"]
    check(polls[0]["read"] == 4000 and polls[0]["applied"] == 1000 and polls[0]["skipped"] == 3000,
          "second pass: overlap re-reads 3000 unchanged rows once, applies the 1000 new:\n" + out)
    check(all(r["stalled"] == 0 for r in runs), "an exact source never stalls a page:\n" + out)
    ok, vout = env.verify()
    check(ok, vout)
    print(out)


def tie_rows(first, count, ts):
    return [(str(i), f"N'tie {i}'", ts) for i in range(first, first + count)]


def case_lossy_ties(env):
    """A source that rounds datetime parameters down (tdslite
    --lossy-datetime-params, as Babelfish: .190 arrives as .189) with 1,500
    rows sharing one Last_Update and pages of 1000: the keyset alone would
    read the same 1000 rows forever. The warm-up ends, reads each row a
    bounded number of times, counts the stalled page, and the rows one
    datetime tick before and after the group are neither skipped nor lost."""
    write_schema(env, TIE_SCHEMA)
    env.start_server(lossy=True)
    env.exec_sql("CREATE TABLE [dbo].[Tie] ([Tie_RecID] int NOT NULL PRIMARY KEY, "
                 "[Name] nvarchar(50) NULL, [Last_Update] datetime NOT NULL)\nGO\n")
    # 1/300 s ticks in tdslite's canonical text: .1866667, .190 and .1933333 are adjacent values.
    rows = (tie_rows(1, 10, "'2021-06-01 10:00:00.1866667'")
            + tie_rows(11, 1500, "'2021-06-01 10:00:00.1900000'")
            + tie_rows(1511, 10, "'2021-06-01 10:00:00.1933333'")
            + tie_rows(1521, 10, "'2021-06-01 10:00:05.0000000'"))
    insert_batches(env, "Tie", ["Tie_RecID", "Name", "Last_Update"], rows)
    env.drv("warm", "--batch", "1000")
    runs, out = runs_of(env, "Tie")
    warm = [r for r in runs if r["kind"] == "warm"]
    check(warm and warm[0]["status"] == 0 and warm[0]["stalled"] >= 1,
          "the stalled page must be counted in the run history:\n" + out)
    # Each page reads at most 1000 rows: a loop would read far more than the
    # stalled page, the group read by RecID and the pages around it.
    check(warm[0]["read"] <= 4 * len(rows), "rows were read again and again:\n" + out)
    ok, vout = env.verify()
    check(ok, vout)
    # A catch-up pass starts inside the group (the cursor minus the overlap
    # window): it stalls and recovers again, and takes rows added to the group.
    insert_batches(env, "Tie", ["Tie_RecID", "Name", "Last_Update"],
                   tie_rows(2001, 5, "'2021-06-01 10:00:00.1900000'"))
    env.drv("warm", "--batch", "1000")
    ok, vout = env.verify()
    check(ok, vout)
    check(re.search(r"compared=1535\b", vout), "all 1535 rows compared:\n" + vout)
    print(out)


def case_kill_server(env):
    """Kill the TDS server mid-batch and restart it: the poller reconnects
    and converges."""
    env.generate(1500)
    env.start_server()
    poller = env.drv_start("run", "--interval-ms", "200", "--reconcile-s", "2", "--batch", "100")
    try:
        time.sleep(0.6)
        env.stop_server(kill=True)
        time.sleep(1.0)
        env.start_server()
        env.churn_once(50, seed=7)
        out = env.verify_eventually(STEP_S)
        print(out)
    finally:
        poller.send_signal(signal.SIGTERM)
        pout, perr = poller.communicate(timeout=STEP_S)
    # What this proves: the stop does not sit out a source timeout (login
    # and query timeouts are 15 s and more); a bound well under them still
    # holds when a loaded machine delays the threads by seconds.
    m = re.search(r"stop_ms=(\d+)", pout)
    check(m and int(m[1]) < 10000, f"poller_stop took too long: {pout}")


def case_kill_poller(env):
    """kill -9 the poller process mid-sync and restart: 0 differences and no
    duplicate index entries (the cached includes equal the live ones).

    Sized by what it proves, not by the machine: a duplicated index entry
    shows in a one-level include of the smallest data set that is still
    mid-sync at the kill (batches of 20 rows); nested includes add bytes,
    not proof (case live covers them)."""
    env.generate(200)
    env.start_server()
    p = env.drv_start("warm", "--batch", "20")
    # Kill right after the first model is done (so mid-sync, whatever the
    # machine's speed): warm-up is pipelined and a fixed sleep can outlast it.
    line = p.stderr.readline()
    check("done" in line, "warm printed no progress: " + line)
    check(p.poll() is None, "warm finished before the kill: make the data set larger")
    p.kill()
    p.communicate()
    env.churn_once(50, seed=11)
    env.drv("warm", "--batch", "300")
    ok, out = env.verify()
    check(ok, out)
    r = env.drv("live", "--flat", check=False)
    check(r.returncode == 0, "cached and live answers differ after the kill:\n" + r.stdout + r.stderr)
    print(out)


def case_live(env):
    """The live fallback's answer is byte-identical to the cached answer of
    the same data (full records, select, include, nested include)."""
    env.generate(60)
    # Foreign keys naming no row (the source declares no constraints): a
    # parent of other companies (so two hops end on it) and a leaf. Prisma's
    # cursor condition tests such a key (`fk IS NULL`), unlike a null one.
    con = sqlite3.connect(env.db)
    con.execute("UPDATE Company SET Parent_Company_RecID = 90000 + Company_RecID WHERE Company_RecID IN (11, 17)")
    con.commit()
    con.close()
    env.start_server()
    env.drv("warm")
    r = env.drv("live", check=False)
    print(r.stdout)
    check(r.returncode == 0, "live and cached answers differ:\n" + r.stderr)
    check("equal" in r.stdout, "nothing compared")
    # The findMany options, translated to SQL by the live fallback (livesql.c):
    # the same bytes as the cache's answer from the same data.
    qfile = os.path.join(env.tmp, "queries.json")
    with open(qfile, "w") as f:
        json.dump(LIVE_QUERIES, f)
    r = env.drv("live", "--queries", qfile, check=False)
    print(r.stdout)
    check(r.returncode == 0, "live and cached answers differ:\n" + r.stderr)
    check(r.stdout.count("equal") == len(LIVE_QUERIES), "not every query compared:\n" + r.stdout)
    check(r.stdout.count("equal, 2 bytes") < len(LIVE_QUERIES) // 3, "too many empty answers:\n" + r.stdout)


C, CT, O = "fetchCompanies", "fetchContacts", "fetchOpportunities"
LIVE_QUERIES = [
    [C, {"where": {"companyRecId": 5}}],
    [C, {"where": {"companyRecId": {"in": [3, 7, 11, 400]}}, "select": ["companyRecId", "companyName"]}],
    [C, {"where": {"companyRecId": {"in": list(range(5, 1900, 2))}}, "select": ["companyRecId"]}],  # a long statement
    [C, {"where": {"companyRecId": {"notIn": [1, 2]}, "deleteFlag": False}, "take": 7}],
    [C, {"where": {"companyName": {"contains": "a", "mode": "insensitive"}}, "orderBy": {"companyName": "asc"}}],
    [C, {"where": {"companyName": {"startsWith": "B"}}, "orderBy": [{"companyName": "desc"}]}],
    [C, {"where": {"companyName": {"endsWith": "S"}}, "select": ["companyName"]}],
    [C, {"where": {"companyName": {"contains": "%"}}}],
    [C, {"where": {"companyName": {"contains": "_'; DROP TABLE [Company]; --"}}}],
    [C, {"where": {"companyName": "x' OR 1=1 --"}}],
    [C, {"where": {"OR": [{"companyRecId": {"lt": 5}}, {"companyRecId": {"gt": 55}}]}, "orderBy": {"companyRecId": "desc"}}],
    [C, {"where": {"NOT": [{"companyRecId": {"lte": 10}}, {"leadFlag": True}]}}],
    [C, {"where": {"AND": [{"companyRecId": {"gte": 10}}, {"NOT": {"annualRevenue": None}}]}, "take": 5}],
    [C, {"where": {"annualRevenue": {"gt": 100000}}, "orderBy": {"annualRevenue": "desc"}, "take": 10}],
    [C, {"where": {"websiteUrl": None}, "select": ["companyRecId", "websiteUrl"]}],
    [C, {"where": {"websiteUrl": {"not": None}}, "select": ["companyRecId"]}],
    [C, {"where": {"companyName": {"in": []}}}],
    [C, {"where": {"companyName": {"notIn": []}}, "take": 3}],
    [C, {"where": {"dateEntered": {"gte": "2020-01-01T00:00:00Z"}}, "orderBy": {"dateEntered": "asc"}, "take": 8}],
    [C, {"where": {"childCompanies": {"some": {}}}, "select": ["companyRecId"]}],
    [C, {"where": {"childCompanies": {"none": {}}}, "take": 4}],
    [C, {"where": {"childCompanies": {"every": {"deleteFlag": False}}}, "select": ["companyRecId"]}],
    [C, {"where": {"contacts": {"some": {"lastName": {"startsWith": "m"}}}}, "select": ["companyRecId"]}],
    [C, {"where": {"parentCompany": {"is": {"companyRecId": {"lt": 20}}}}, "select": ["companyRecId", "parentCompanyRecId"]}],
    [C, {"where": {"parentCompany": {"isNot": None}}, "select": ["companyRecId"]}],
    [C, {"where": {"parentCompany": None}, "take": 5, "select": ["companyRecId"]}],
    [C, {"where": {"parentCompany": {"companyName": {"contains": "e"}}}, "select": ["companyRecId"]}],
    [C, {"orderBy": {"companyRecId": "desc"}, "take": 5}],
    [C, {"take": -4}],
    [C, {"take": -4, "skip": 2, "orderBy": {"companyName": "asc"}}],
    [C, {"skip": 50}],
    [C, {"take": 0}],
    [C, {"cursor": {"companyRecId": 10}, "take": 5}],
    [C, {"cursor": {"companyRecId": 10}, "take": 5, "skip": 1}],
    [C, {"cursor": {"companyRecId": 30}, "take": -5}],
    [C, {"cursor": {"companyRecId": 30}, "take": 6, "orderBy": [{"companyName": "desc"}, {"companyRecId": "asc"}]}],
    [C, {"cursor": {"companyRecId": 30}, "take": -6, "orderBy": {"websiteUrl": "asc"}}],
    [C, {"cursor": {"companyRecId": 99999}, "take": 5}],
    [C, {"orderBy": {"parentCompany": {"companyName": "desc"}}, "take": 12, "select": ["companyRecId"]}],
    [C, {"orderBy": [{"parentCompany": {"companyName": "asc"}}, {"companyName": "asc"}],
         "cursor": {"companyRecId": 20}, "take": 10, "select": ["companyRecId", "companyName"]}],
    [C, {"distinct": ["deleteFlag"], "select": ["companyRecId", "deleteFlag"]}],
    [C, {"distinct": "leadFlag", "orderBy": {"companyName": "desc"}, "take": -1}],
    [C, {"where": {"companyRecId": {"lt": 30}}, "count": True}],
    [C, {"where": {"childCompanies": {"some": {}}}, "count": True}],
    [C, {"take": 7, "skip": 3, "count": True}],
    [C, {"distinct": ["leadFlag"], "count": True}],
    [C, {"include": {"_count": True}, "take": 5}],
    [C, {"select": {"companyRecId": True, "_count": {"select": {"contacts": {"where": {"inactiveFlag": False}},
                                                                 "childCompanies": True}}}}],
    [C, {"where": {"companyRecId": {"lt": 25}},
         "include": {"contacts": {"where": {"lastName": {"contains": "e"}}, "orderBy": {"firstName": "desc"}, "take": 2},
                     "childCompanies": {"select": {"companyRecId": True, "companyName": True}, "take": -1},
                     "parentCompany": {"include": {"contacts": {"take": 1, "skip": 1}}}}}],
    [C, {"take": 10, "include": {"opportunityCompanies": {"where": {"probabilityToClose": {"gte": "50"}},
                                                          "orderBy": {"contact": {"lastName": "asc"}},
                                                          "include": {"contact": True},
                                                          "distinct": ["contactRecId"]}}}],
    [C, {"take": 10, "include": {"contacts": {"cursor": {"contactRecId": 40}, "take": 3, "orderBy": {"lastName": "asc"}}}}],
    # Where Prisma pages in memory, the cursor row must match the level's where
    # (and be the same parent's): otherwise the page is empty.
    [C, {"where": {"companyRecId": {"gt": 25}}, "orderBy": {"parentCompany": {"companyName": "asc"}},
         "cursor": {"companyRecId": 20}, "take": 5, "select": ["companyRecId"]}],
    [C, {"where": {"companyRecId": {"gt": 15}}, "orderBy": {"parentCompany": {"companyName": "asc"}},
         "cursor": {"companyRecId": 20}, "take": 5, "select": ["companyRecId"]}],
    [C, {"where": {"companyRecId": {"gt": 40}}, "cursor": {"companyRecId": 30}, "take": -6, "orderBy": {"websiteUrl": "asc"}}],
    [C, {"take": 60, "select": {"companyRecId": True,
                                "contacts": {"where": {"lastName": {"contains": "a"}}, "cursor": {"contactRecId": 40},
                                             "take": 3, "select": {"contactRecId": True}}}}],
    [C, {"take": 60, "select": {"companyRecId": True,
                                "contacts": {"where": {"lastName": {"contains": "zzz"}}, "cursor": {"contactRecId": 40},
                                             "select": {"contactRecId": True}}}}],
    [CT, {"where": {"company": {"is": {"companyName": {"contains": "a"}}}}, "orderBy": {"company": {"companyName": "asc"}},
          "take": 15, "include": {"company": True, "_count": {"select": {"opportunityContacts": True}}}}],
    [CT, {"where": {"lastName": {"gte": "M"}}, "orderBy": [{"lastName": "asc"}, {"firstName": "desc"}], "cursor": {"contactRecId": 50}, "take": 10}],
    [O, {"where": {"probabilityToClose": {"lt": 30.5}}, "select": ["opportunityRecId", "probabilityToClose"]}],
    [O, {"where": {"company": {"is": {"childCompanies": {"some": {"deleteFlag": False}}}}}, "take": 5}],
    # to-one filters keep the related row's unknown, as Prisma's LEFT JOIN (oracle)
    [C, {"where": {"parentCompany": {"isNot": {"websiteUrl": {"contains": "a"}}}}, "select": ["companyRecId"]}],
    [C, {"where": {"NOT": {"parentCompany": {"annualRevenue": {"gt": 100000}}}}, "select": ["companyRecId"]}],
    [C, {"where": {"parentCompany": None}, "select": ["companyRecId"]}],
    # empty conditions as Prisma: dropped from OR, NOT of one is none
    [C, {"where": {"OR": [{"companyRecId": {"lt": 5}}, {}]}, "select": ["companyRecId"]}],
    [C, {"where": {"OR": [{"companyRecId": 3}, {"parentCompany": {}}]}, "select": ["companyRecId"]}],
    [C, {"where": {"NOT": {}}, "take": 3, "select": ["companyRecId"]}],
    # orderBy a relation's count (a COUNT_BIG subquery), through a to-one path, with a cursor, nested
    [C, {"orderBy": [{"contacts": {"_count": "desc"}}, {"companyRecId": "asc"}], "take": 12, "select": ["companyRecId"]}],
    [C, {"orderBy": [{"parentCompany": {"childCompanies": {"_count": "asc"}}}, {"companyRecId": "desc"}],
         "cursor": {"companyRecId": 20}, "take": -7, "select": ["companyRecId"]}],
    # Prisma's cursor condition where it pages in memory (the cache's page.c, docs/query.md): distinct over
    # the rows it lets through (earlier ones with a null orderBy value too), then the page from the cursor
    # row; through a relation: missing (null key) vs a key naming no row (11, 17); negative takes
    [C, {"orderBy": [{"parentCompanyRecId": "asc"}, {"companyRecId": "asc"}], "cursor": {"companyRecId": 30},
         "distinct": ["deleteFlag"], "select": ["companyRecId"]}],
    [C, {"orderBy": [{"phoneNbr": {"sort": "desc"}}, {"companyRecId": "asc"}], "cursor": {"companyRecId": 12},
         "distinct": "leadFlag", "take": -3, "select": ["companyRecId"]}],
    [C, {"orderBy": [{"parentCompany": {"companyName": "asc"}}, {"companyRecId": "asc"}], "cursor": {"companyRecId": 3},
         "take": 8, "select": ["companyRecId"]}],
    [C, {"orderBy": [{"parentCompany": {"companyName": "asc"}}, {"companyRecId": "asc"}], "cursor": {"companyRecId": 13},
         "select": ["companyRecId"]}],
    [C, {"orderBy": [{"parentCompany": {"companyName": "desc"}}, {"companyRecId": "asc"}], "cursor": {"companyRecId": 11},
         "select": ["companyRecId"]}],
    [C, {"orderBy": [{"parentCompany": {"parentCompany": {"companyName": "asc"}}}, {"companyRecId": "desc"}],
         "cursor": {"companyRecId": 3}, "take": -9, "skip": 1, "select": ["companyRecId"]}],
    [C, {"orderBy": [{"parentCompany": {"parentCompany": {"companyRecId": "asc"}}}, {"companyRecId": "asc"}],
         "cursor": {"companyRecId": 20}, "distinct": ["leadFlag"], "select": ["companyRecId", "leadFlag"]}],
    [C, {"where": {"companyRecId": {"lt": 25}}, "take": 20, "select": {"companyRecId": True, "childCompanies": {
        "orderBy": [{"phoneNbr": "asc"}, {"companyRecId": "desc"}], "cursor": {"companyRecId": 15}, "take": -2,
        "distinct": ["deleteFlag"], "select": {"companyRecId": True}}}}],
    [C, {"where": {"deleteFlag": False}, "orderBy": {"childCompanies": {"_count": "desc"}}, "cursor": {"companyRecId": 9},
         "take": 5, "select": {"companyRecId": True, "contacts": {"orderBy": [{"opportunityContacts": {"_count": "desc"}},
                                                                              {"contactRecId": "asc"}], "take": 2,
                                                                  "select": {"contactRecId": True}}}}],
]


TYPES_SCHEMA = """
/// @cursor lastUpdate
model Types {
  typesRecId Int       @id @map("Types_RecID")
  tiny       Int?      @map("C_Tiny") @db.TinyInt
  small      Int?      @map("C_Small") @db.SmallInt
  big        BigInt?   @map("C_Big")
  flag       Boolean?  @map("C_Bit")
  dec        Decimal?  @map("C_Dec") @db.Decimal(18, 4)
  money      Float?    @map("C_Money") @db.Money
  smallMoney Float?    @map("C_SmallMoney") @db.SmallMoney
  real       Float?    @map("C_Real") @db.Real
  dbl        Float?    @map("C_Float")
  dt         DateTime? @map("C_Datetime") @db.DateTime
  sdt        DateTime? @map("C_SmallDatetime") @db.SmallDateTime
  dt2        DateTime? @map("C_Datetime2") @db.DateTime2
  day        DateTime? @map("C_Date") @db.Date
  nvc        String?   @map("C_NVarChar") @db.NVarChar(50)
  vc         String?   @map("C_VarChar") @db.VarChar(50)
  ntext      String?   @map("C_NText") @db.NText
  guid       String?   @map("C_Guid") @db.UniqueIdentifier
  bin        Bytes?    @map("C_Bin") @db.VarBinary(16)
  lastUpdate DateTime  @map("Last_Update") @db.DateTime
  @@map("Types")
}
"""

TYPES_ROW = {
    "typesRecId": 1, "tiny": 200, "small": -12345, "big": 9007199254740991, "flag": True,
    "dec": "-3657691.5", "money": 12345.6789, "smallMoney": -2.5, "real": 0.10000000149011612,
    "dbl": 1234.5678, "dt": "2024-03-01T12:00:00.007Z", "sdt": "2024-03-01T12:01:00.000Z",
    "dt2": "2024-03-01T12:00:00.123Z", "day": "2024-03-01T00:00:00.000Z",
    "nvc": "Zürich ✓", "vc": "plain", "ntext": "long text", "guid": "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    "bin": "AAH/", "lastUpdate": "2024-03-01T12:00:00.000Z",
}


def case_types(env):
    """Every wire type converts to the cached JSON value Prisma would send, NULLs included."""
    import json
    write_schema(env, TYPES_SCHEMA)
    env.start_server()
    env.exec_sql(
        "CREATE TABLE [dbo].[Types] ([Types_RecID] int NOT NULL PRIMARY KEY, [C_Tiny] tinyint NULL, "
        "[C_Small] smallint NULL, [C_Big] bigint NULL, [C_Bit] bit NULL, [C_Dec] decimal(18,4) NULL, "
        "[C_Money] money NULL, [C_SmallMoney] smallmoney NULL, [C_Real] real NULL, [C_Float] float NULL, "
        "[C_Datetime] datetime NULL, [C_SmallDatetime] smalldatetime NULL, [C_Datetime2] datetime2(7) NULL, "
        "[C_Date] date NULL, [C_NVarChar] nvarchar(50) NULL, [C_VarChar] varchar(50) NULL, "
        "[C_NText] ntext NULL, [C_Guid] uniqueidentifier NULL, [C_Bin] varbinary(16) NULL, "
        "[Last_Update] datetime NOT NULL)\nGO\n"
        "INSERT INTO [dbo].[Types] ([Types_RecID], [C_Tiny], [C_Small], [C_Big], [C_Bit], [C_Dec], [C_Money], "
        "[C_SmallMoney], [C_Real], [C_Float], [C_Datetime], [C_SmallDatetime], [C_Datetime2], [C_Date], "
        "[C_NVarChar], [C_VarChar], [C_NText], [C_Guid], [C_Bin], [Last_Update]) VALUES (1, 200, -12345, "
        "9007199254740991, 1, -3657691.5000, 12345.6789, -2.5, 0.1, 1234.5678, '2024-03-01T12:00:00.007', "
        "'2024-03-01T12:01:00', '2024-03-01T12:00:00.1234567', '2024-03-01', N'Zürich ✓', 'plain', "
        "N'long text', '6F9619FF-8B86-D011-B42D-00C04FC964FF', 0x0001FF, '2024-03-01T12:00:00')\n"
        "INSERT INTO [dbo].[Types] ([Types_RecID], [Last_Update]) VALUES (2, '2024-03-01T12:00:00')\nGO\n")
    env.drv("warm")
    out = env.drv("dump", "Types").stdout
    rows = json.loads(out)
    check(len(rows) == 2, out)
    for k, v in TYPES_ROW.items():
        check(rows[0].get(k) == v, f"{k}: cached {rows[0].get(k)!r}, expected {v!r}\n{out}")
    for k in TYPES_ROW:
        if k not in ("typesRecId", "lastUpdate"):
            check(rows[1][k] is None, f"{k}: NULL expected, cached {rows[1][k]!r}")
    ok, vout = env.verify()
    check(ok, vout)
    print(out)


def case_history(env):
    """300 idle polls after the warm-up (each re-reads the late-commit window
    and changes nothing) fold into one idle record: the warm-up's record,
    with every row applied, is still in the history behind it."""
    env.generate(60)
    env.start_server()
    env.drv("warm", "--models", "Company")
    con = sqlite3.connect(env.db)
    n_company = con.execute("SELECT COUNT(*) FROM Company").fetchone()[0]
    con.close()
    polls, out, starts = 0, "", 0
    deadline = time.time() + 75  # the meson timeout is 90 s; a quiet machine needs about 8 s
    while polls < 300:
        check(time.time() < deadline, f"only {polls} idle polls recorded:\n{out}")
        env.drv("run", "--models", "Company", "--interval-ms", "10", "--seconds", "4", timeout=60)
        starts += 1
        out = env.drv("runs", "Company").stdout
        polls = sum(int(n) for n in re.findall(r"^Company idle polls=(\d+) ", out, re.M))
    runs = [ln for ln in out.splitlines() if ln.startswith("Company ")]
    # Each start adds a reconciliation, which ends the idle record before it.
    check(len(runs) <= 2 * starts + 3, f"idle polls were not folded ({starts} starts):\n{out}")
    warm = [ln for ln in runs if re.match(r"Company warm polls=1 read=\d+ applied=%d " % n_company, ln)]
    check(warm, f"the warm-up is gone from the history:\n{out}")
    print(out)


def case_deletes(env):
    """Hard deletes are found by the polls' row counts, with the
    reconciliation walk an hour away: rows deleted alone, and a delete
    hidden behind an insert in the same interval (equal counts at the
    source), each leave the cache equal to the source and show as a
    "deletes" run, not a reconciliation."""
    env.generate(300)
    env.start_server()
    env.drv("warm")
    poller = env.drv_start("run", "--interval-ms", "200", "--reconcile-s", "3600", "--summary")
    try:
        # The run starts with a reconciliation walk of every model: deletes
        # made after it are left to the polls.
        deadline = time.time() + STEP_S
        while any(sum(r["kind"] == "reconcile" for r in runs_of(env, m)[0]) < 1
                  for m in ("Contact", "Company")):
            check(time.time() < deadline, "the start's reconciliation did not run")
            time.sleep(0.2)
        con = sqlite3.connect(env.db)
        ids = [r[0] for r in con.execute("SELECT Contact_RecID FROM Contact ORDER BY Contact_RecID")]
        gone = ids[5:8] + ids[-1:]
        con.execute(f"DELETE FROM Contact WHERE Contact_RecID IN ({','.join(map(str, gone))})")
        con.commit()
        env.verify_eventually(STEP_S, "--models", "Contact")
        # One company out, one in: the source's count does not change.
        first, last = con.execute("SELECT MIN(Company_RecID), MAX(Company_RecID) FROM Company").fetchone()
        now = "strftime('%Y-%m-%d %H:%M:%f','now')"
        con.execute("CREATE TEMP TABLE t AS SELECT * FROM Company WHERE Company_RecID=?", (first,))
        con.execute(f"UPDATE t SET Company_RecID=?, Last_Update={now}, Last_Update_UTC={now}", (last + 1,))
        con.execute("INSERT INTO Company SELECT * FROM t")
        con.execute("DELETE FROM Company WHERE Company_RecID=?", (first + 1,))
        con.commit()
        con.close()
        env.verify_eventually(STEP_S, "--models", "Company")
    finally:
        poller.send_signal(signal.SIGTERM)
        poller.communicate(timeout=STEP_S)
    for model, n in (("Contact", len(gone)), ("Company", 1)):
        runs, out = runs_of(env, model)
        check(sum(r["deleted"] for r in runs if r["kind"] == "deletes") == n,
              f"{model}: {n} rows deleted by \"deletes\" runs:\n{out}")
        check(all(r["deleted"] == 0 for r in runs if r["kind"] == "reconcile"),
              f"{model}: a reconciliation deleted rows:\n{out}")
    print(out)


# ---- first loads in key order -------------------------------------------------

# Models with a cursor in two clocks: Contact's is Last_Update_UTC (read
# against SYSUTCDATETIME()), ProductInventory's Last_Update local time
# (GETDATE()); tdslite runs in a zone west of UTC, so a load that read the
# wrong clock would start its poll hours late and miss every change.
LOAD_MODELS = (("ProductInventory", "Inventory_By_Warehouse", "Inventory_By_Warehouse_RecID"),
               ("Contact", "Contact", "Contact_RecID"))
LOAD_TZ = "America/New_York"


def load_zone():
    os.environ["TZ"] = LOAD_TZ
    time.tzset()


def stamp(when):
    """A datetime value as SQL Server stores one (whole hundredths are exact in
    its 1/300 s steps): tdslite keeps what it is given, and sends it rounded."""
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 10000 * 10:03d}"


class LoadChanges:
    """Rows of one table changed while its first load runs, relative to the
    read position: updated behind and ahead of it, inserted behind it (a key
    taken out before the load) and ahead, deleted behind and ahead."""

    def __init__(self, env, table, key):
        self.env, self.table, self.key = env, table, key
        con = sqlite3.connect(env.db)
        keys = [r[0] for r in con.execute(f"SELECT {key} FROM {table} ORDER BY {key}")]
        self.cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        self.upd_behind, self.del_behind, self.ins_behind = keys[3], keys[5], keys[11]
        self.upd_ahead, self.del_ahead, self.ins_ahead = keys[-1], keys[-2], keys[-1] + 1000
        con.execute(f"CREATE TABLE saved_{table} AS SELECT * FROM {table} WHERE {key} = ?",
                    (self.ins_behind,))
        con.execute(f"DELETE FROM {table} WHERE {key} = ?", (self.ins_behind,))
        con.commit()
        con.close()

    def apply(self):
        import datetime
        con = sqlite3.connect(self.env.db)
        now = {"Last_Update": stamp(datetime.datetime.now()),
               "Last_Update_UTC": stamp(datetime.datetime.now(datetime.timezone.utc))}
        sets = ", ".join(f"{c} = '{v}'" for c, v in now.items() if c in self.cols)
        t, k = self.table, self.key
        for pk in (self.upd_behind, self.upd_ahead):
            con.execute(f"UPDATE {t} SET {sets} WHERE {k} = ?", (pk,))
        con.execute(f"DELETE FROM {t} WHERE {k} IN (?, ?)", (self.del_behind, self.del_ahead))
        con.execute(f"UPDATE saved_{t} SET {sets}")
        con.execute(f"INSERT INTO {t} SELECT * FROM saved_{t}")
        con.execute(f"UPDATE saved_{t} SET {k} = ?", (self.ins_ahead,))
        con.execute(f"INSERT INTO {t} SELECT * FROM saved_{t}")
        con.commit()
        con.close()
        # Past the overlap window (--overlap-s 1): a poll starting from a clock
        # read after the changes would not re-read them.
        time.sleep(1.5)


def case_first_load_warm(env):
    """A warm-up's first load of a model with a cursor reads it in key order
    and then polls from the source clock read before the load: rows updated,
    inserted and deleted while it ran (behind and ahead of its position) are
    right when it ends, with a UTC and a local-time last-update. A load cut
    short (kill -9 mid-load) resumes from its last key with its first clock."""
    load_zone()
    env.generate(300)
    changes = {m: LoadChanges(env, t, k) for m, t, k in LOAD_MODELS}
    env.start_server()
    models = ",".join(m for m, _, _ in LOAD_MODELS)
    p = subprocess.Popen(env.drv_args("warm", "--models", models, "--batch", "20", "--overlap-s", "1",
                                      "--pause-after", "40"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    for i, (model, _, _) in enumerate(LOAD_MODELS):
        line = ""
        while not line.startswith("paused "):
            line = p.stderr.readline()
            check(line, f"warm ended before pausing in {model}")
        check(line.split()[1] == model, f"paused in {line.split()[1]}, expected {model}")
        runs, out = runs_of(env, model)
        check(not runs, f"{model}: the load ended before the changes:\n{out}")
        changes[model].apply()
        if i == len(LOAD_MODELS) - 1:
            p.kill()  # the last one: cut short mid-load, then resumed
            p.communicate()
            # It committed without fsync: its marker stays for the next
            # writer (which syncs the store and removes it, cache/unsynced.c).
            check(os.path.exists(os.path.join(env.store, f"unsynced.{p.pid}")),
                  f"no unsynced marker after the kill: {os.listdir(env.store)}")
        else:
            p.stdin.write("\n")
            p.stdin.flush()
    r = env.drv("warm", "--models", models, "--batch", "20", "--overlap-s", "1")
    left = [f for f in os.listdir(env.store) if f.startswith("unsynced.")]
    check(not left, f"markers left after the warm-up synced: {left}")
    synced = "synced the commits made without fsync"
    check(synced in r.stderr, "the warm-up that ends a first load commits without fsync:\n" +
          r.stderr[-2000:])
    ok, out = env.verify("--models", models)
    check(ok, "after the first loads:\n" + out)
    first, _, _ = LOAD_MODELS[0]
    runs, out = runs_of(env, first)
    warm = [r for r in runs if r["kind"] == "warm"]  # newest first; then the second warm-up's
    check(len(warm) == 3 and warm[2]["read"] >= 100 and warm[1]["applied"] >= 2,
          f"{first}: a load then a poll that read the changes behind it:\n{out}")
    print(out)
    # Bringing warm models up to date keeps an fsync per commit.
    r = env.drv("warm", "--models", models, "--batch", "20", "--overlap-s", "1")
    check(synced not in r.stderr, "a warm-up of warm models committed without fsync:\n" +
          r.stderr[-2000:])


def case_first_load_server(env):
    """The server's poller loads a cold model in key order (one page a turn)
    and polls right after from the clock read before the load: rows changed
    while it ran are right after that poll, and the one deleted behind it
    after the reconciliation a warm model starts with (the process is
    stopped mid-load while they change)."""
    load_zone()
    env.generate(300)
    changes = {m: LoadChanges(env, t, k) for m, t, k in LOAD_MODELS}
    env.start_server()
    models = ",".join(m for m, _, _ in LOAD_MODELS)
    # A poll interval longer than the test: the poll and the reconciliation
    # follow the load at once, not at the next interval.
    p = env.drv_start("run", "--models", models, "--batch", "10", "--overlap-s", "1",
                      "--interval-ms", "600000", "--reconcile-s", "3600", "--verbose")
    lines = []
    try:
        pages = 0
        while pages < 2:
            line = p.stderr.readline()
            check(line, "the poller ended:\n" + "".join(lines[-20:]))
            lines.append(line)
            pages += "Contact: load page of" in line
        os.kill(p.pid, signal.SIGSTOP)  # mid-transaction, maybe: no store reads until SIGCONT
        changed_ms = time.time() * 1000
        for c in changes.values():
            c.apply()
        os.kill(p.pid, signal.SIGCONT)
        import threading
        drain = threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True)
        drain.start()
        deadline = time.time() + STEP_S
        while True:
            kinds = {m: [r["kind"] for r in runs_of(env, m)[0]] for m, _, _ in LOAD_MODELS}
            # The run after the load is the poll (an idle one if it read nothing);
            # the row deleted behind the load goes by the reconciliation a
            # model gets once warm (or by a count check: a "deletes" run).
            if all(k[-1:] == ["load"] and len(k) >= 2 and ("reconcile" in k or "deletes" in k)
                   for k in kinds.values()):
                break
            check(time.time() < deadline, f"no poll after the loads: {kinds}")
            time.sleep(0.2)
    finally:
        os.kill(p.pid, signal.SIGCONT)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=STEP_S)
    for model, _, _ in LOAD_MODELS:
        runs, out = runs_of(env, model)
        check(runs[-1]["end_ms"] > changed_ms, f"{model}: the load ended before the changes:\n{out}")
    ok, out = env.verify("--models", models)
    check(ok, "after the first loads and a poll:\n" + out)
    print(out)


CASES = {n[5:]: f for n, f in list(globals().items()) if n.startswith("case_")}


if __name__ == "__main__":
    sys.exit(tds.run_case(__doc__, CASES, Env, 4))
