// The change feed (docs/server.md "Staying in sync"): versions and asOf,
// notModified, changes since a version, RESYNC, and subscriptions pushed as
// "change" events, through the npm socket.io-client on both transports.
// Source changes are made in tdslite's SQLite file: an update, an insert, a
// late commit (a last-update older than the poller's cursor) and a delete.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("child_process");
const L = require("./lib");

let source, server;

test.before(async () => {
  source = await L.startSource(200);
  // Deletes are found by the reconciliation walk: every 2 s here.
  server = await L.startServer(source, { args: ["--reconcile-s", "2"] });
  await L.waitReady(server);
});
test.after(async () => {
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

function py(code, ...args) {
  execFileSync(L.PY, ["-c", "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\n" + code + "\nc.commit()", source.db, ...args.map(String)]);
}

const NOW = "strftime('%Y-%m-%d %H:%M:%f','now')";
const rename = (id, name, ago = 0) =>
  py(
    `t="strftime('%Y-%m-%d %H:%M:%f','now','-${ago} seconds')"\n` +
      `c.execute("UPDATE Company SET Company_Name=?, Last_Update="+t+", Last_Update_UTC="+t+" WHERE Company_RecID=?",(sys.argv[2],int(sys.argv[3])))`,
    name,
    id
  );
// A copy of company `from` under a new RecID and name.
const insert = (from, id, name) =>
  py(
    "c.execute('CREATE TEMP TABLE t AS SELECT * FROM Company WHERE Company_RecID=?',(int(sys.argv[2]),))\n" +
      `c.execute("UPDATE t SET Company_RecID=?, Company_Name=?, Last_Update=${NOW}, Last_Update_UTC=${NOW}",(int(sys.argv[3]),sys.argv[4]))\n` +
      "c.execute('INSERT INTO Company SELECT * FROM t')",
    from,
    id,
    name
  );
const remove = (id) => py("c.execute('DELETE FROM Company WHERE Company_RecID=?',(int(sys.argv[2]),))", id);
const renameMember = (id, first) =>
  py(
    `c.execute("UPDATE Member SET First_Name=?, Last_Update=${NOW}, Last_Update_UTC=${NOW} WHERE Member_RecID=?",(sys.argv[2],int(sys.argv[3])))`,
    first,
    id
  );

const SELECT = { select: ["companyRecId", "companyName"] };

// Polls fn until it returns a truthy value (bounded by what it waits for:
// the poller's next commit).
async function until(fn, what, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await fn();
    if (r) return r;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await L.sleep(100);
  }
}

const ids = (rows) => rows.map((r) => r.companyRecId).sort((a, b) => a - b);

test("meta adds version and asOf; without it the answer is the original's", async () => {
  const s = await L.connect(server);
  try {
    const plain = await L.emit(s, "fetchCompanies", SELECT);
    assert.deepEqual(Object.keys(plain), ["success", "data"]);
    const before = Date.now();
    const r = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
    assert.deepEqual(Object.keys(r), ["success", "data", "version", "asOf"]);
    assert.deepEqual(r.data, plain.data);
    assert.match(r.version, /^[0-9a-f]{32}$/);
    assert.match(r.asOf, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(r.asOf) > before - 10000, `asOf ${r.asOf} is the last poll's`);
    const bad = await L.emit(s, "fetchCompanies", { ...SELECT, meta: "yes" });
    assert.equal(bad.success, false);
    assert.match(bad.error, /meta/);
  } finally {
    s.close();
  }
});

test("ifNoneMatch: notModified through idle polls and unrelated changes, the full answer after a change", async () => {
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    const first = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
    const v = first.version;
    await L.sleep(1500); // three idle polls
    assert.deepEqual(await L.emit(s, "fetchCompanies", { ...SELECT, ifNoneMatch: v }), {
      success: true,
      notModified: true,
      version: v,
    });
    const m = await L.emit(s, "fetchMembers", { select: ["memberRecId", "firstName"] });
    const who = m.data[0].memberRecId;
    renameMember(who, "Unrelated Change");
    await until(async () => {
      const r = await L.emit(s, "fetchMembers", { select: ["memberRecId", "firstName"] });
      return r.data.find((x) => x.memberRecId === who).firstName === "Unrelated Change";
    }, "the member change");
    const nm = await L.emit(s, "fetchCompanies", { ...SELECT, ifNoneMatch: v });
    assert.equal(nm.notModified, true, "a change to another table leaves the version");
    const id = first.data[5].companyRecId;
    rename(id, "Changed For ifNoneMatch");
    const full = await until(async () => {
      const r = await L.emit(s, "fetchCompanies", { ...SELECT, ifNoneMatch: v });
      return r.notModified ? null : r;
    }, "the company change");
    assert.notEqual(full.version, v);
    assert.ok(full.asOf);
    assert.equal(full.data.find((x) => x.companyRecId === id).companyName, "Changed For ifNoneMatch");
  } finally {
    s.close();
  }
});

test("since: exactly the updated, inserted, late-committed and deleted rows; RESYNC for versions the log cannot answer", async () => {
  const s = await L.connect(server, { transports: ["polling"] });
  try {
    const first = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
    const v = first.version;
    const [a, late, gone] = [first.data[10], first.data[11], first.data[12]].map((r) => r.companyRecId);
    const fresh = Math.max(...first.data.map((r) => r.companyRecId)) + 1000;
    const none = await L.emit(s, "fetchCompanies", { ...SELECT, since: v });
    assert.deepEqual(none, { success: true, data: [], deleted: [], version: v, asOf: none.asOf });
    rename(a, "Updated Since");
    insert(a, fresh, "Inserted Since");
    rename(late, "Late Commit", 30); // older than the cursor, inside the overlap window
    remove(gone);
    const r = await until(async () => {
      const x = await L.emit(s, "fetchCompanies", { ...SELECT, since: v });
      assert.equal(x.success, true, x.error);
      return x.data.length === 3 && x.deleted.length === 1 ? x : null;
    }, "all four changes");
    assert.deepEqual(ids(r.data), [a, late, fresh].sort((p, q) => p - q));
    assert.deepEqual(r.deleted, [gone]);
    const byId = Object.fromEntries(r.data.map((x) => [x.companyRecId, x.companyName]));
    assert.deepEqual(byId, { [a]: "Updated Since", [late]: "Late Commit", [fresh]: "Inserted Since" });
    assert.deepEqual(Object.keys(r.data[0]), ["companyRecId", "companyName"], "rendered with the request's select");
    const next = await L.emit(s, "fetchCompanies", { ...SELECT, since: r.version });
    assert.deepEqual([next.data, next.deleted], [[], []], "nothing after the newest version");

    const old = v.slice(0, 16) + "0000000000000001";
    const stale = await L.emit(s, "fetchCompanies", { ...SELECT, since: old });
    assert.deepEqual(stale, { success: false, error: "version too old: fetch again without since", code: "RESYNC" });
    const other = (v[0] === "0" ? "1" : "0") + v.slice(1);
    assert.equal((await L.emit(s, "fetchCompanies", { ...SELECT, since: other })).code, "RESYNC");
    const both = await L.emit(s, "fetchCompanies", { ...SELECT, since: v, ifNoneMatch: v });
    assert.equal(both.success, false);
    const junk = await L.emit(s, "fetchCompanies", { ...SELECT, since: "nope" });
    assert.equal(junk.success, false);
    assert.match(junk.error, /since/);
  } finally {
    s.close();
  }
});

// Subscribes and collects "change" events.
async function subscribe(sock, opts) {
  const changes = [];
  sock.on("change", (c) => changes.push(c));
  const ack = await L.emit(sock, "subscribe", { event: "fetchCompanies", ...opts });
  return { ack, changes };
}

for (const transport of ["websocket", "polling"]) {
  test(`subscriptions over ${transport}: changes pushed, unsubscribe ends them, a resubscribe with since misses nothing`, async () => {
    const s = await L.connect(server, { transports: [transport] });
    try {
      const base = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
      const { ack, changes } = await subscribe(s, { ...SELECT, since: base.version });
      assert.equal(ack.success, true, ack.error);
      assert.match(ack.subscription, /^\S+$/);
      assert.match(ack.version, /^[0-9a-f]{32}$/);
      const id = base.data[20].companyRecId;
      const name = `Pushed over ${transport}`;
      const t0 = Date.now();
      rename(id, name);
      const c = await until(() => changes.find((x) => x.data.some((r) => r.companyName === name)), "a change event");
      assert.equal(c.subscription, ack.subscription);
      assert.equal(c.event, "fetchCompanies");
      assert.deepEqual(c.data, [{ companyRecId: id, companyName: name }]);
      assert.deepEqual(c.deleted, []);
      assert.match(c.version, /^[0-9a-f]{32}$/);
      assert.ok(c.asOf);
      assert.ok(Date.now() - t0 < 20000);

      // A client that was away resubscribes from the last version it saw.
      const un = await L.emit(s, "unsubscribe", { subscription: ack.subscription });
      assert.equal(un.success, true);
      const gone = base.data[21].companyRecId;
      remove(gone);
      await until(async () => {
        const x = await L.emit(s, "fetchCompanies", { ...SELECT, since: c.version });
        return x.deleted.includes(gone);
      }, "the delete");
      assert.equal(changes.filter((x) => x.deleted.includes(gone)).length, 0, "no events after unsubscribe");
      const again = await subscribe(s, { ...SELECT, since: c.version });
      const d = await until(() => again.changes.find((x) => x.deleted.includes(gone)), "the missed delete");
      assert.equal(d.subscription, again.ack.subscription);
      const bad = await L.emit(s, "subscribe", { event: "fetchNothing" });
      assert.equal(bad.success, false);
      assert.match(bad.error, /fetchNothing/);
    } finally {
      s.close();
    }
  });
}

test("subscribe with a version the log cannot answer is RESYNC", async () => {
  const s = await L.connect(server);
  try {
    const base = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
    const r = await L.emit(s, "subscribe", { event: "fetchCompanies", since: base.version.slice(0, 16) + "0000000000000001" });
    assert.equal(r.code, "RESYNC");
  } finally {
    s.close();
  }
});
