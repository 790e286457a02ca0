// Patched answers (src/cache/patch.c, issue 14 goal 2): after a change to a
// few rows, the next answer to a kept request is made from the kept one by
// rendering only the changed root rows. Under churn of the source (renames,
// soft deletes that filter rows out, contacts moved between companies,
// new companies and contacts), every answer of a server with answer reuse
// must equal the answer of a second server on the same store that renders
// every answer in full (--answer-cache-mb 0), at the same data version.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("child_process");
const L = require("./lib");

let source, server, plain;

test.before(async () => {
  source = await L.startSource(120);
  server = await L.startServer(source);
  await L.waitReady(server);
  // The same data directory, read only: no poller, every answer rendered.
  plain = await L.startServer(source, {
    dataDir: server.dir,
    args: ["--poller", "false", "--answer-cache-mb", "0", "--max-staleness-s", "86400"],
  });
  await L.waitReady(plain);
});
test.after(async () => {
  assert.equal(await L.stopServer(plain), 0, "clean exit (no sanitizer report)");
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

// A few random changes in one source transaction; every changed row's
// last update moves to now (the poller reads up to the source's clock).
function churn(db, seed, n) {
  const code = `
import random, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); r = random.Random(int(sys.argv[2]))
now = "strftime('%Y-%m-%d %H:%M:%f','now')"
def ids(t, k): return [x[0] for x in c.execute(f"SELECT {k} FROM {t}")]
def touch(t, k, i, sets, args):
    c.execute(f"UPDATE {t} SET {sets}, Last_Update={now}, Last_Update_UTC={now} WHERE {k}=?", (*args, i))
def copy(t, k, i, new, sets, args):
    c.execute(f"CREATE TEMP TABLE x AS SELECT * FROM {t} WHERE {k}=?", (i,))
    c.execute(f"UPDATE x SET {k}=?, {sets}, Last_Update={now}, Last_Update_UTC={now}", (new, *args))
    c.execute(f"INSERT INTO {t} SELECT * FROM x"); c.execute("DROP TABLE x")
for _ in range(int(sys.argv[3])):
    comp, cont = ids("Company", "Company_RecID"), ids("Contact", "Contact_RecID")
    op = r.randrange(6)
    if op == 0: touch("Company", "Company_RecID", r.choice(comp), "Company_Name=?", (f"Renamed {r.randrange(10**6)}",))
    elif op == 1: touch("Company", "Company_RecID", r.choice(comp), "Delete_Flag=1-Delete_Flag", ())
    elif op == 2: touch("Contact", "Contact_RecID", r.choice(cont), "First_Name=?", (f"N{r.randrange(10**6)}",))
    elif op == 3: touch("Contact", "Contact_RecID", r.choice(cont), "Company_RecID=?", (r.choice(comp),))
    elif op == 4: copy("Company", "Company_RecID", r.choice(comp), max(comp) + 1, "Company_Name=?", ("New company",))
    else: copy("Contact", "Contact_RecID", r.choice(cont), max(cont) + 1, "Company_RecID=?", (r.choice(comp),))
c.commit()`;
  execFileSync(L.PY, ["-c", code, db, String(seed), String(n)]);
}

const REQUESTS = [
  ["fetchCompanies", { select: ["companyRecId", "companyName", "deleteFlag"] }],
  ["fetchCompanies", { where: { deleteFlag: false }, select: { companyRecId: true, companyName: true, contacts: { select: { contactRecId: true, firstName: true } } } }],
  ["fetchContacts", { select: { contactRecId: true, firstName: true, company: { select: { companyName: true, deleteFlag: true } } } }],
  // other models read through a relation filter and a count: patched too (since.c maps them)
  ["fetchCompanies", { where: { contacts: { some: { firstName: { startsWith: "N1" } } } }, select: { companyRecId: true, companyName: true, _count: { select: { contacts: true } } } }],
];

async function metric(name) {
  const r = await L.httpReq(`${server.url}/metrics`);
  const m = r.body.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

// The reused server's answer and the plain one's at the same data version
// (the plain one's `meta` version taken before and after: a commit in
// between and the round is asked again).
async function same(a, b, event, opts) {
  for (let tries = 0; tries < 50; tries++) {
    const before = await L.emit(b, event, { ...opts, meta: true });
    const got = await L.emit(a, event, opts);
    const after = await L.emit(b, event, { ...opts, meta: true });
    assert.equal(got.success, true, got.error);
    if (before.version === after.version) return [got, after];
    await L.sleep(50);
  }
  throw new Error("the store never held still");
}

test("every answer patched under churn equals the full rendering of the same data", async () => {
  const a = await L.connect(server, { transports: ["websocket"] });
  const b = await L.connect(plain, { transports: ["websocket"] });
  try {
    for (const [ev, opts] of REQUESTS) await L.emit(a, ev, opts); // kept, with their rows
    const patched0 = await metric("cwcache_answers_patched_total");
    // Both models' versions: one moves once the poller has committed a round.
    const versions = async () =>
      (await L.emit(b, "fetchContacts", { meta: true, select: ["contactRecId"] })).version + " " +
      (await L.emit(b, "fetchCompanies", { meta: true, select: ["companyRecId"] })).version;
    for (let round = 0; round < 12; round++) {
      const v0 = await versions();
      churn(source.db, round, 1 + (round % 4));
      for (let i = 0; i < 300 && (await versions()) === v0; i++) await L.sleep(100);
      for (const [ev, opts] of REQUESTS) {
        const [got, want] = await same(a, b, ev, opts);
        assert.equal(JSON.stringify(got.data), JSON.stringify(want.data), `round ${round}: ${ev} ${JSON.stringify(opts)}`);
      }
    }
    assert.ok((await metric("cwcache_answers_patched_total")) > patched0, "answers were patched, not rendered again");
  } finally {
    a.close();
    b.close();
  }
});
