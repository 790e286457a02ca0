// The query options (where, orderBy, take/skip/cursor, distinct, _count,
// count) through the real server and socket.io-client: the documented
// paging pattern returns exactly the full answer, counts agree with the
// rows, and a kept answer whose filter reads another model ends when that
// model changes.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("child_process");
const L = require("./lib");

let source, server;

test.before(async () => {
  source = await L.startSource(300);
  server = await L.startServer(source);
  await L.waitReady(server);
});
test.after(async () => {
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

function renameCompany(db, recId, name) {
  const code =
    "import sqlite3,sys\n" +
    "c=sqlite3.connect(sys.argv[1])\n" +
    "c.execute(\"UPDATE Company SET Company_Name=?, Last_Update=strftime('%Y-%m-%d %H:%M:%f','now'), Last_Update_UTC=strftime('%Y-%m-%d %H:%M:%f','now') WHERE Company_RecID=?\",(sys.argv[2],int(sys.argv[3])))\n" +
    "c.commit()";
  execFileSync("/usr/bin/python3", ["-c", code, db, name, String(recId)]);
}

test("paging by cursor returns exactly the full answer", async () => {
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    const select = ["companyRecId", "companyName"];
    const full = await L.emit(s, "fetchCompanies", { select });
    assert.equal(full.success, true, full.error);
    const pages = [];
    let cursor;
    for (;;) {
      const opts = { select, take: 64, orderBy: { companyRecId: "asc" } };
      if (cursor !== undefined) Object.assign(opts, { cursor: { companyRecId: cursor }, skip: 1 });
      const r = await L.emit(s, "fetchCompanies", opts);
      assert.equal(r.success, true, r.error);
      pages.push(...r.data);
      if (r.data.length < 64) break;
      cursor = r.data[r.data.length - 1].companyRecId;
    }
    assert.deepEqual(pages, full.data);
  } finally {
    s.close();
  }
});

test("where, orderBy and count agree with each other", async () => {
  const s = await L.connect(server, { transports: ["polling"] });
  try {
    const where = { OR: [{ companyName: { contains: "a" } }, { companyRecId: { lt: 10 } }] };
    const rows = await L.emit(s, "fetchCompanies", { where, select: ["companyRecId", "companyName"],
      orderBy: [{ companyName: "desc" }] });
    assert.equal(rows.success, true, rows.error);
    assert.ok(rows.data.length > 10 && rows.data.length < 300, `${rows.data.length} rows`);
    for (const r of rows.data) assert.ok(/a/i.test(r.companyName) || r.companyRecId < 10);
    const count = await L.emit(s, "fetchCompanies", { where, count: true });
    assert.deepEqual(count, { success: true, count: rows.data.length });
    const last = await L.emit(s, "fetchCompanies", { where, select: ["companyRecId", "companyName"],
      orderBy: [{ companyName: "desc" }], take: -3 });
    assert.deepEqual(last.data, rows.data.slice(-3), "a negative take is the end of the same order");
    const bad = await L.emit(s, "fetchCompanies", { where: { companyName: { like: "x" } } });
    assert.equal(bad.success, false);
    assert.equal(bad.error, "Unknown argument `like`. Did you mean `lte`?");
  } finally {
    s.close();
  }
});

test("a kept answer filtered through a relation ends when the related model changes", async () => {
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    const one = await L.emit(s, "fetchOpportunities", { where: { companyRecId: { not: null } },
      select: ["opportunityRecId", "companyRecId"], take: 1 });
    assert.equal(one.success, true, one.error);
    const { opportunityRecId, companyRecId } = one.data[0];
    const q = { where: { company: { is: { companyName: "Query Renamed Ltd" } } }, select: ["opportunityRecId"] };
    const before = await L.emit(s, "fetchOpportunities", q);
    assert.deepEqual(before, { success: true, data: [] });
    renameCompany(source.db, companyRecId, "QUERY RENAMED LTD");
    const end = Date.now() + 30000;
    let r;
    while (Date.now() < end) {
      r = await L.emit(s, "fetchOpportunities", q);
      if (r.data.length) break;
      await L.sleep(100);
    }
    assert.ok(r.data.some((o) => o.opportunityRecId === opportunityRecId),
      "the company's change reached the answer filtered through it (collation: case-insensitive)");
  } finally {
    s.close();
  }
});

test("an answer over max_answer_mb is refused in words and the connection stays", async () => {
  const small = await L.startServer(source, { args: ["--max-answer-mb", "1"] });
  try {
    await L.waitReady(small);
    const s = await L.connect(small, { transports: ["websocket"] });
    try {
      const big = await L.emit(s, "fetchContacts", { include: { company: true } });
      assert.equal(big.success, false);
      assert.match(big.error, /^answer too large \(\d+ MB > 1 MB\): page it with take and cursor$/);
      const n = Number(big.error.match(/\((\d+) MB/)[1]);
      assert.ok(n >= 2, `${big.error}: the full size is reported`);
      const page = await L.emit(s, "fetchContacts", { include: { company: true }, take: 10 });
      assert.equal(page.success, true, page.error);
      assert.equal(page.data.length, 10);
    } finally {
      s.close();
    }
  } finally {
    assert.equal(await L.stopServer(small), 0);
  }
});

// Prisma 7.10's own sentences for the same findMany arguments, read from
// Prisma Client on tdslite (docs/query.md "Errors"): the envelope is the
// original's {success: false, error: <message's last sentence>}.
test("bad options are refused with Prisma's words", async () => {
  const cases = [
    [{ where: { companyName: { foo: "x" } } }, "Unknown argument `foo`. Did you mean `not`?"],
    [{ where: { nope: 1 } }, "Unknown argument `nope`."],
    [{ where: { companyname: "x" } }, "Unknown argument `companyname`. Did you mean `companyName`?"],
    [{ where: { companyRecId: "x" } }, "Argument `companyRecId`: Invalid value provided. Expected IntFilter or Int, provided String."],
    [{ where: { companyRecId: { gt: "x" } } }, "Argument `gt`: Invalid value provided. Expected Int or IntFieldRefInput, provided String."],
    [{ where: { companyStatusRecId: { not: "x" } } }, "Argument `not`: Invalid value provided. Expected Int, NestedIntNullableFilter or Null, provided String."],
    [{ where: { companyRecId: { contains: "1" } } }, "Unknown argument `contains`."],
    [{ where: { deleteFlag: { gt: true } } }, "Unknown argument `gt`. Did you mean `not`?"],
    [{ where: { companyRecId: { in: "x" } } }, "Argument `in`: Invalid value provided. Expected Int[], provided String."],
    [{ where: { companyRecId: { lt: null } } }, "Argument `lt` must not be null."],
    [{ where: { dateAcquired: "notadate" } }, "Invalid value for argument `dateAcquired`: input contains invalid characters. Expected ISO-8601 DateTime."],
    [{ where: { dateAcquired: "2024-01-01T00:00:00Z junk" } }, "Invalid value for argument `dateAcquired`: trailing input. Expected ISO-8601 DateTime."],
    [{ where: { AND: 5 } }, "Argument `AND`: Invalid value provided. Expected CompanyWhereInput or CompanyWhereInput[], provided Int."],
    [{ where: { OR: {} } }, "Argument `OR`: Invalid value provided. Expected CompanyWhereInput[], provided Object."],
    [{ where: { childCompanies: { foo: {} } } }, "Unknown argument `foo`. Did you mean `some`?"],
    [{ where: { childCompanies: 5 } }, "Argument `childCompanies`: Invalid value provided. Expected CompanyListRelationFilter, provided Int."],
    [{ where: { parentCompany: 5 } }, "Argument `parentCompany`: Invalid value provided. Expected CompanyNullableScalarRelationFilter, CompanyWhereInput or Null, provided Int."],
    [{ where: { parentCompany: { foo: 5 } } }, "Unknown argument `foo`. Did you mean `is`?"],
    [{ where: 5 }, "Argument `where`: Invalid value provided. Expected CompanyWhereInput, provided Int."],
    [{ orderBy: { nope: "asc" } }, "Unknown argument `nope`."],
    [{ orderBy: { companyName: "asc", companyId: "asc" } }, "Argument `orderBy`: Invalid value provided. Expected CompanyOrderByWithRelationInput[], provided Object."],
    [{ orderBy: { companyName: { sort: "asc" } } }, "Argument `companyName`: Invalid value provided. Expected SortOrder, provided Object."],
    [{ orderBy: { phoneNbr: { sort: "x" } } }, "Invalid value for argument `sort`. Expected SortOrder."],
    [{ orderBy: { childCompanies: "asc" } }, "Argument `childCompanies`: Invalid value provided. Expected CompanyOrderByRelationAggregateInput, provided String."],
    [{ foo: 1 }, "Unknown argument `foo`."],
    [{ whre: {} }, "Unknown argument `whre`. Did you mean `where`?"],
    [{ include: { childCompanies: { nope: 1 } } }, "Unknown argument `nope`. Did you mean `take`?"],
    [{ include: { _count: { select: { nope: true } } } }, "Unknown field `nope` for select statement on model `CompanyCountOutputType`."],
    [{ cursor: { companyRecId: "x" } }, "Argument `companyRecId`: Invalid value provided. Expected Int, provided String."],
    [{ distinct: 5 }, "Argument `distinct`: Invalid value provided. Expected CompanyScalarFieldEnum or CompanyScalarFieldEnum[], provided Int."],
  ];
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    for (const [opts, error] of cases)
      assert.deepEqual(await L.emit(s, "fetchCompanies", opts), { success: false, error }, JSON.stringify(opts));
  } finally {
    s.close();
  }
});

test("max_answer_mb refuses a nested include in words on both transports", async () => {
  const opts = { include: { company: { include: { contacts: true } } } };
  const s0 = await L.connect(server, { transports: ["websocket"] });
  const full = await L.emit(s0, "fetchContacts", opts);
  s0.close();
  assert.equal(full.success, true, full.error);
  const mb = Math.ceil(Buffer.byteLength(JSON.stringify(full.data)) / 2 ** 20);
  assert.ok(mb >= 2, `${mb} MB: big enough for a 1 MB limit`);
  const small = await L.startServer(source, { args: ["--max-answer-mb", "1"] });
  try {
    await L.waitReady(small);
    for (const transport of ["websocket", "polling"]) {
      const s = await L.connect(small, { transports: [transport] });
      try {
        const big = await L.emit(s, "fetchContacts", opts);
        assert.deepEqual(big, { success: false, error: `answer too large (${mb} MB > 1 MB): page it with take and cursor` }, transport);
        const page = await L.emit(s, "fetchContacts", { ...opts, take: 5 });
        assert.equal(page.success, true, page.error);
        assert.deepEqual(page.data, full.data.slice(0, 5), `${transport}: the same session answers a page`);
      } finally {
        s.close();
      }
    }
  } finally {
    assert.equal(await L.stopServer(small), 0);
  }
});

test("one answer over max_session_buffer_mb reaches a session that reads it, on both transports", async () => {
  const opts = { include: { company: { include: { contacts: true } } } };
  const tight = await L.startServer(source, { args: ["--max-session-buffer-mb", "1"] });
  try {
    await L.waitReady(tight);
    for (const transport of ["websocket", "polling"]) {
      const s = await L.connect(tight, { transports: [transport] });
      try {
        const res = await L.emit(s, "fetchContacts", opts);
        assert.equal(res.success, true, `${transport}: ${res.error}`);
        assert.ok(Buffer.byteLength(JSON.stringify(res.data)) > 2 ** 20 * 1.5, "the answer is over the session buffer");
        assert.equal((await L.emit(s, "fetchContacts", { take: 1 })).success, true, `${transport}: the session stays`);
      } finally {
        s.close();
      }
    }
  } finally {
    assert.equal(await L.stopServer(tight), 0);
  }
});
