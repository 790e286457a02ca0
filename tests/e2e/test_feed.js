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
  // The reconciliation walk runs once, at the start: every delete below is
  // found by the polls' row counts (docs/poller.md "Hard deletes").
  // A long ping interval: the coalescing test holds a polling session
  // without a GET for as long as a loaded machine takes.
  server = await L.startServer(source, { args: ["--reconcile-s", "3600", "--ping-interval", "120000"] });
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

test("since and subscriptions answer with the request's own where: rows that do not pass it are not data", async () => {
  const s = await L.connect(server);
  try {
    const where = { companyName: { startsWith: "Where Test" } };
    const base = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
    const { ack, changes } = await subscribe(s, { ...SELECT, where, since: base.version });
    assert.equal(ack.success, true, ack.error);
    const [inside, outside] = [base.data[40], base.data[41]].map((r) => r.companyRecId);
    rename(inside, "Where Test In");
    rename(outside, "Elsewhere");
    const r = await until(async () => {
      const x = await L.emit(s, "fetchCompanies", { ...SELECT, where, since: base.version });
      assert.equal(x.success, true, x.error);
      return x.data.length || x.deleted.length ? x : null;
    }, "the two renames");
    assert.deepEqual(r.data, [{ companyRecId: inside, companyName: "Where Test In" }]);
    assert.ok(!r.deleted.includes(inside));
    const c = await until(() => changes.find((x) => x.data.length), "a change event");
    assert.deepEqual(c.data, [{ companyRecId: inside, companyName: "Where Test In" }]);
    const all = changes.flatMap((x) => x.data.map((d) => d.companyRecId));
    assert.ok(!all.includes(outside), "a row outside the where is never pushed as data");
  } finally {
    s.close();
  }
});

// A raw Engine.IO polling session: packets arrive only when it GETs.
async function rawPolling() {
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await L.httpReq(base);
  const sid = JSON.parse(open.body.slice(1)).sid;
  const url = `${base}&sid=${sid}`;
  const post = (body) => L.httpReq(url, { method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8" } });
  const get = async () => (await L.httpReq(url)).body.split("\x1e");
  await post("40" + JSON.stringify({ psk: L.PSK }));
  const connected = await get();
  assert.ok(connected.some((p) => p.startsWith("40{")), JSON.stringify(connected));
  return { post, get };
}

test("a subscriber that does not read gets its pending changes coalesced: latest per row, a bounded number of events", async () => {
  const s = await L.connect(server);
  const raw = await rawPolling();
  try {
    const base = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
    const id = base.data[50].companyRecId;
    await raw.post("420" + JSON.stringify(["subscribe", { event: "fetchCompanies", ...SELECT, since: base.version }]));
    // Ten commits, each seen by another client, while the raw session takes nothing.
    const RENAMES = 10;
    let v = base.version;
    for (let i = 1; i <= RENAMES; i++) {
      rename(id, `Coalesced ${i}`);
      v = (
        await until(async () => {
          const x = await L.emit(s, "fetchCompanies", { ...SELECT, since: v });
          return x.data.some((r) => r.companyName === `Coalesced ${i}`) ? x : null;
        }, `rename ${i}`)
      ).version;
    }
    const events = [];
    let acked = false;
    await until(async () => {
      for (const p of await raw.get()) {
        if (p === "2") await raw.post("3");
        else if (p.startsWith("430")) acked = JSON.parse(p.slice(3))[0].success;
        else if (p.startsWith("42")) events.push(JSON.parse(p.slice(2))[1]);
      }
      return events.some((e) => e.data.some((r) => r.companyName === `Coalesced ${RENAMES}`));
    }, "the latest name");
    assert.ok(acked, "the subscribe was acked");
    for (const e of events) {
      const ids = e.data.map((r) => r.companyRecId);
      assert.equal(new Set(ids).size, ids.length, "a row once per event");
    }
    assert.ok(events.length < RENAMES, `${events.length} events for ${RENAMES} commits: ${JSON.stringify(events.map((e) => e.data))}`);
    const last = events[events.length - 1].data.find((r) => r.companyRecId === id);
    assert.equal(last.companyName, `Coalesced ${RENAMES}`, "the last event carries the row's latest version");
  } finally {
    s.close();
  }
});

// How many polls of `model` the server counted (cwcache_model_polls_total).
async function polls(srv, model = "Company") {
  const r = await L.httpReq(`${srv.url}/metrics`);
  const m = r.body.match(new RegExp(`^cwcache_model_polls_total\\{model="${model}"\\} (\\d+)$`, "m"));
  assert.ok(m, `cwcache_model_polls_total for ${model} in /metrics`);
  return Number(m[1]);
}

// Waits until `model` had n more polls than `from` (each ends with its
// changes committed): a count of poll intervals, whatever the machine's speed.
async function pollsPast(srv, from, n, model = "Company") {
  await until(async () => (await polls(srv, model)) >= from + n, `${n} polls of ${model}`, 120000);
}

test("a hard delete at the source is served within two poll intervals, as a change event and a since answer", async () => {
  const s = await L.connect(server);
  try {
    const base = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
    const { ack, changes } = await subscribe(s, { ...SELECT, since: base.version });
    assert.equal(ack.success, true, ack.error);
    const gone = base.data[30].companyRecId;
    remove(gone);
    // The poll under way may have read the table before the delete; the
    // one after it began after the delete, and ends with it committed.
    await pollsPast(server, await polls(server), 2);
    const since = await L.emit(s, "fetchCompanies", { ...SELECT, since: base.version });
    assert.ok(since.deleted.includes(gone), `the delete is served after two polls: ${JSON.stringify(since)}`);
    assert.ok(!since.data.some((r) => r.companyRecId === gone));
    const plain = await L.emit(s, "fetchCompanies", SELECT);
    assert.ok(!plain.data.some((r) => r.companyRecId === gone), "a plain fetch no longer has the row");
    const c = await until(() => changes.find((x) => x.deleted.includes(gone)), "the delete's change event");
    assert.deepEqual([c.data, c.deleted], [[], [gone]]);
  } finally {
    s.close();
  }
});

const renameContact = (id, first) =>
  py(
    `c.execute("UPDATE Contact SET First_Name=?, Last_Update=${NOW}, Last_Update_UTC=${NOW} WHERE Contact_RecID=?",(sys.argv[2],int(sys.argv[3])))`,
    first,
    id
  );

// The old answer with a since answer applied: data upserted, deleted removed.
function applySince(rows, a) {
  const m = new Map(rows.map((r) => [r.companyRecId, r]));
  for (const r of a.data) m.set(r.companyRecId, r);
  for (const id of a.deleted) m.delete(id);
  return [...m.values()].sort((p, q) => p.companyRecId - q.companyRecId);
}

test("a where through a relation: a root row that starts or stops matching because a contact changed is in since, change and the version", async () => {
  const s = await L.connect(server);
  try {
    const marker = "Zed Relation Marker";
    const req = { ...SELECT, where: { contacts: { some: { firstName: marker } } } };
    const base = await L.emit(s, "fetchCompanies", { ...req, meta: true });
    assert.equal(base.success, true, base.error);
    assert.deepEqual(base.data, []);
    const { ack, changes } = await subscribe(s, { ...req, since: base.version });
    assert.equal(ack.success, true, ack.error);
    const contacts = await L.emit(s, "fetchContacts", { select: ["contactRecId", "companyRecId"], where: { companyRecId: { not: null } } });
    const { contactRecId: cid, companyRecId: comp } = contacts.data[0];

    renameContact(cid, marker); // the company starts matching
    const c = await until(() => changes.find((x) => x.data.some((r) => r.companyRecId === comp)), "the change event of the company that started matching");
    assert.equal(c.subscription, ack.subscription);
    const nm = await L.emit(s, "fetchCompanies", { ...req, ifNoneMatch: base.version });
    assert.notEqual(nm.notModified, true, "a contact change is a change of this answer");
    assert.ok(nm.data.some((r) => r.companyRecId === comp));
    const since = await L.emit(s, "fetchCompanies", { ...req, since: base.version });
    assert.deepEqual(since.data.map((r) => r.companyRecId), [comp]);
    const fresh = await L.emit(s, "fetchCompanies", { ...req, meta: true });
    assert.deepEqual(applySince(base.data, since), fresh.data, "the old answer with since applied is a fresh fetch");

    renameContact(cid, "Someone Else"); // and stops
    const gone = await until(() => changes.find((x) => x.deleted.includes(comp)), "the change event of the company that stopped matching");
    assert.deepEqual(gone.data, []);
    const since2 = await L.emit(s, "fetchCompanies", { ...req, since: fresh.version });
    assert.deepEqual([since2.data, since2.deleted], [[], [comp]]);
    const fresh2 = await L.emit(s, "fetchCompanies", req);
    assert.deepEqual(applySince(fresh.data, since2), fresh2.data);
    assert.deepEqual(fresh2.data, []);
  } finally {
    s.close();
  }
});

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

test("asOf moves on while the summary skips idle polls (the clock of the summary that found nothing moved)", async () => {
  // A server of its own with a 1 s late-commit window: polls are skipped
  // once nothing moved for that window plus two intervals.
  const src = await L.startSource(20);
  const srv = await L.startServer(src, { args: ["--overlap-s", "1", "--poll-interval-ms", "200"] });
  try {
    await L.waitReady(srv);
    const s = await L.connect(srv);
    try {
      await L.sleep(3000); // past the window (1 s + 2 intervals) since the start's summary
      const a = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
      await pollsPast(srv, await polls(srv), 3);
      const b = await L.emit(s, "fetchCompanies", { ...SELECT, meta: true });
      assert.equal(b.version, a.version, "nothing changed");
      assert.ok(Date.parse(b.asOf) > Date.parse(a.asOf), `asOf moved on: ${a.asOf} then ${b.asOf}`);
    } finally {
      s.close();
    }
  } finally {
    assert.equal(await L.stopServer(srv), 0, "clean exit (no sanitizer report)");
  }
});
