// Several processes on one store: server A polls a data directory, server B
// serves the same directory with --no-poller. B answers with what A commits
// (its answers are not kept past a commit), a second poller is refused with
// a message naming the holder and the way out, and with A killed B keeps
// serving while its /status.json and /readyz show the store growing stale
// (they read the poller's record in the store, not B's absent poller); a
// poller started again brings B back to fresh.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const L = require("./lib");

const STALE_S = 10; // B's max_staleness_s: A polls every 500 ms
let source, a, b, dataDir;

test.before(async () => {
  source = await L.startSource(100);
  a = await L.startServer(source);
  dataDir = path.join(a.dir, "data");
  await L.waitReady(a);
  b = await L.startServer(source, {
    args: ["--no-poller", "--data-dir", dataDir, "--max-staleness-s", String(STALE_S)],
  });
  await L.waitReady(b);
});
test.after(() => L.stopAll());

const SEL = { select: ["companyRecId", "companyName"] };

async function nameVia(server, rec) {
  const s = await L.connect(server);
  try {
    const r = await L.emit(s, "fetchCompanies", { ...SEL, where: { companyRecId: rec } });
    assert.equal(r.success, true, r.error);
    return r.data[0].companyName;
  } finally {
    s.close();
  }
}

function rename(rec, name) {
  const code = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\n" +
    "c.execute(\"UPDATE Company SET Company_Name=?, Last_Update=strftime('%Y-%m-%d %H:%M:%f','now'), " +
    "Last_Update_UTC=strftime('%Y-%m-%d %H:%M:%f','now') WHERE Company_RecID=?\", (sys.argv[2], int(sys.argv[3])))\n" +
    "c.commit()";
  execFileSync(L.PY, ["-c", code, source.db, name, String(rec)]);
}

async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last.ok) return last;
    await L.sleep(200);
  }
  assert.fail(`${what}: ${JSON.stringify(last)}`);
}

async function statusOf(server) {
  const r = await L.httpReq(`${server.url}/status.json`, { headers: { "x-psk": L.PSK } });
  return JSON.parse(r.body);
}

function logOf(server) {
  return fs.readFileSync(server.proc.logFile, "utf8");
}

test("the reader names the poller it serves beside", { timeout: 240000 }, () => {
  assert.match(logOf(b), new RegExp(`no poller here \\(--no-poller\\).*the server with pid ${a.proc.pid} polls it`));
});

test("an update at the source shows up through the reader", { timeout: 240000 }, async () => {
  const rec = L.sql(source.db, "SELECT Company_RecID AS r FROM Company ORDER BY Company_RecID LIMIT 1 OFFSET 5")[0].r;
  const before = await nameVia(b, rec); // kept by B's answer cache until a commit
  rename(rec, before + " (renamed)");
  await until("the rename through B", async () => ({ ok: (await nameVia(b, rec)) === before + " (renamed)" }));
});

test("a second poller on the directory is refused, naming the holder", { timeout: 240000 }, async () => {
  const dir = L.tmpdir("second");
  await assert.rejects(L.startServer(source, { dataDir: dir, args: ["--data-dir", dataDir] }), /exited with 1/);
  const log = path.join(dir, "cwcache.log");
  const want = new RegExp(`in use by another cwcache server \\(pid ${a.proc.pid}, holding .*server\\.lock\\).*--no-poller`);
  await until("the refusal in the log", async () => ({ ok: want.test(fs.readFileSync(log, "utf8")) }));
});

test("with the poller killed, the reader serves and shows the staleness", { timeout: 240000 }, async () => {
  a.proc.kill("SIGKILL");
  const rec = L.sql(source.db, "SELECT Company_RecID AS r FROM Company ORDER BY Company_RecID LIMIT 1 OFFSET 6")[0].r;
  const cached = await nameVia(b, rec);
  rename(rec, cached + " (after the poller died)");
  const st = await until("B's status turning stale", async () => {
    const s = await statusOf(b);
    const company = s.models.find((m) => m.model === "Company");
    return { ok: !s.summary.ready && company.stalenessSeconds > STALE_S, s: s.summary, company };
  });
  assert.equal(st.company.state, "warm");
  const ready = await L.httpReq(`${b.url}/readyz`);
  assert.equal(ready.status, 503, ready.body);
  assert.match(ready.body, /stale/);
  assert.equal(await nameVia(b, rec), cached, "B serves the store as the poller left it");
  // A poller again (the kernel released the dead one's lock): B is fresh again.
  a = await L.startServer(source, { args: ["--data-dir", dataDir] });
  await until("the rename through B after the restart", async () => ({
    ok: (await nameVia(b, rec)) === cached + " (after the poller died)",
  }));
  await L.waitReady(b);
  assert.equal(await L.stopServer(b), 0, "clean exit (no sanitizer report)");
});
