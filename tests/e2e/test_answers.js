// Answer reuse (src/sio/answers.c): an identical request is answered from
// the kept rendering only while the LMDB store is unchanged. A change in
// the source, once the poller commits it, must show in the very next
// answer to the same request, through both clients.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("child_process");
const L = require("./lib");

let source, server;

test.before(async () => {
  source = await L.startSource(200);
  server = await L.startServer(source);
  await L.waitReady(server);
});
test.after(async () => {
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

// Renames a company in the source and moves its last-update to now (the
// poller never reads past the source's clock).
function rename(db, recId, name) {
  const code =
    "import sqlite3,sys\n" +
    "c=sqlite3.connect(sys.argv[1])\n" +
    "c.execute(\"UPDATE Company SET Company_Name=?, Last_Update=strftime('%Y-%m-%d %H:%M:%f','now'), Last_Update_UTC=strftime('%Y-%m-%d %H:%M:%f','now') WHERE Company_RecID=?\",(sys.argv[2],int(sys.argv[3])))\n" +
    "c.commit()";
  execFileSync("/usr/bin/python3", ["-c", code, db, name, String(recId)]);
}

const SELECT = { select: ["companyRecId", "companyName"] };

// Renames a member (another table than the companies') the same way.
function renameMember(db, recId, first) {
  const code =
    "import sqlite3,sys\n" +
    "c=sqlite3.connect(sys.argv[1])\n" +
    "c.execute(\"UPDATE Member SET First_Name=?, Last_Update=strftime('%Y-%m-%d %H:%M:%f','now'), Last_Update_UTC=strftime('%Y-%m-%d %H:%M:%f','now') WHERE Member_RecID=?\",(sys.argv[2],int(sys.argv[3])))\n" +
    "c.commit()";
  execFileSync("/usr/bin/python3", ["-c", code, db, first, String(recId)]);
}

async function metric(name) {
  const r = await L.httpReq(`${server.url}/metrics`);
  const m = r.body.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

test("a repeated request gets the same bytes, and a committed change ends the reuse", async () => {
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    const first = await L.emit(s, "fetchCompanies", SELECT);
    assert.equal(first.success, true, first.error);
    const again = await L.emit(s, "fetchCompanies", SELECT);
    assert.deepEqual(again, first, "an unchanged store gives the same answer");
    const other = await L.emit(s, "fetchCompanies", { select: ["companyRecId"] });
    assert.deepEqual(Object.keys(other.data[0]), ["companyRecId"], "other options are another request");

    const id = first.data[3].companyRecId;
    rename(source.db, id, "Renamed After Reuse Ltd");
    const end = Date.now() + 30000;
    let seen;
    while (Date.now() < end) {
      const r = await L.emit(s, "fetchCompanies", SELECT);
      seen = r.data.find((row) => row.companyRecId === id).companyName;
      if (seen === "Renamed After Reuse Ltd") break;
      await L.sleep(100);
    }
    assert.equal(seen, "Renamed After Reuse Ltd", "the poller's commit reached the answer");
    // The polling transport sees the same, newer answer.
    const p = await L.connect(server, { transports: ["polling"] });
    try {
      const r = await L.emit(p, "fetchCompanies", SELECT);
      assert.equal(r.data.find((row) => row.companyRecId === id).companyName, "Renamed After Reuse Ltd");
    } finally {
      p.close();
    }
  } finally {
    s.close();
  }
});

// The poller commits every half second here even when nothing is new (run
// history, cursors); only a change to a table an answer read ends its reuse.
test("a kept answer outlives idle polls and changes to other tables", async () => {
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    const first = await L.emit(s, "fetchCompanies", SELECT);
    assert.equal(first.success, true, first.error);
    await L.sleep(1500); /* three idle poll rounds */
    const members = await L.emit(s, "fetchMembers", { select: ["memberRecId", "firstName"] });
    const who = members.data[1].memberRecId;
    renameMember(source.db, who, "Renamed Member");
    const end = Date.now() + 30000;
    let seen;
    while (Date.now() < end) {
      const r = await L.emit(s, "fetchMembers", { select: ["memberRecId", "firstName"] });
      seen = r.data.find((row) => row.memberRecId === who).firstName;
      if (seen === "Renamed Member") break;
      await L.sleep(100);
    }
    assert.equal(seen, "Renamed Member", "the member change was committed");
    const reused = await metric("cwcache_answers_reused_total");
    const again = await L.emit(s, "fetchCompanies", SELECT);
    assert.deepEqual(again, first);
    assert.equal(await metric("cwcache_answers_reused_total"), reused + 1, "answered from the kept answer");
  } finally {
    s.close();
  }
});

test("bad requests are never kept: the same text fails again", async () => {
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await L.emit(s, "fetchCompanies", { select: ["noSuchField"] });
      assert.equal(r.success, false);
      assert.match(r.error, /noSuchField/);
    }
  } finally {
    s.close();
  }
});

// A kept answer is written by reference to every ack (src/sio/pkt.c): each
// packet puts its own "43<id>" in front of the shared tail, and lws' frame
// headers go in front of every 32 KiB slice. Many clients of both
// transports reading one big kept answer at once, with ack ids of one and
// two digits, must each get it intact.
test("one kept answer written to many clients at once stays intact for each", async () => {
  const clients = [];
  for (const transports of [["websocket"], ["websocket"], ["polling"], ["polling"]])
    clients.push(await L.connect(server, { transports }));
  try {
    const want = await L.emit(clients[0], "fetchCompanies");
    assert.equal(want.success, true, want.error);
    assert.ok(JSON.stringify(want).length > 4 * 32 * 1024, "the answer spans several slices");
    const answers = await Promise.all(
      clients.flatMap((c) => Array.from({ length: 12 }, () => L.emit(c, "fetchCompanies")))
    );
    for (const a of answers) assert.deepEqual(a, want);
  } finally {
    clients.forEach((c) => c.close());
  }
});

// inline_render_rows: an answer that reads only the rows of a model no
// bigger than it is rendered by the service loop that received it, any
// other by a worker, and both give the same answer. The second server
// reads the same source with every answer on a worker.
test("small answers render on the loop, others on a worker, with the same bytes", async () => {
  const workers = await L.startServer(source, { args: ["--inline-render-rows", "0", "--answer-cache-mb", "0"] });
  const small = await L.startServer(source, { args: ["--inline-render-rows", "200", "--answer-cache-mb", "0"] });
  await Promise.all([L.waitReady(workers), L.waitReady(small)]);
  const here = async (srv) => {
    const r = await L.httpReq(`${srv.url}/metrics`);
    return Number(r.body.match(/^cwcache_answers_rendered_on_loop_total (\d+)$/m)[1]);
  };
  const a = await L.connect(workers, { transports: ["websocket"] });
  const b = await L.connect(small, { transports: ["websocket"] });
  try {
    const cases = [
      [SELECT, 1],
      [undefined, 1],
      [{ where: { companyName: { contains: "1" } }, orderBy: { companyName: "desc" }, take: 5 }, 1],
      [{ include: { contacts: true }, take: 3 }, 0], // a relation: its rows too
      [{ where: { contacts: { some: {} } }, select: ["companyRecId"] }, 0],
      [{ select: { companyRecId: true, _count: { select: { contacts: true } } }, take: 4 }, 0],
    ];
    for (const [opts, onLoop] of cases) {
      const before = [await here(workers), await here(small)];
      const want = await L.emit(a, "fetchCompanies", opts);
      const got = await L.emit(b, "fetchCompanies", opts);
      assert.equal(want.success, true, want.error);
      assert.equal(JSON.stringify(got), JSON.stringify(want), JSON.stringify(opts));
      assert.equal((await here(workers)) - before[0], 0, "inline_render_rows 0: always a worker");
      assert.equal((await here(small)) - before[1], onLoop, `on the loop: ${JSON.stringify(opts)}`);
    }
    // One row more than the limit: the 200 companies go to a worker.
    const tight = await L.startServer(source, { args: ["--inline-render-rows", "199"], dataDir: undefined });
    await L.waitReady(tight);
    const c = await L.connect(tight, { transports: ["websocket"] });
    try {
      const before = await here(tight);
      const got = await L.emit(c, "fetchCompanies", SELECT);
      assert.equal(got.data.length, 200);
      assert.equal((await here(tight)) - before, 0, "200 rows over a limit of 199");
    } finally {
      c.close();
      assert.equal(await L.stopServer(tight), 0);
    }
  } finally {
    a.close();
    b.close();
    assert.equal(await L.stopServer(workers), 0, "clean exit (no sanitizer report)");
    assert.equal(await L.stopServer(small), 0, "clean exit (no sanitizer report)");
  }
});
