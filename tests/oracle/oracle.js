// Prisma as the oracle: Prisma Client 7 (adapter-mssql, i.e. tedious) runs
// generated findMany queries against tdslite, cwcache answers the same
// options from its cache of the same data, and the two must be equal byte
// for byte after JSON.stringify. Usage: node oracle.js [N] (default 300);
// needs `npm ci` here, CWCACHE, TDSLITE and CWCACHE_ROOT as the e2e tests.
// Queries are reproducible: query #i uses seed i. Differences are printed;
// docs/query.md lists the known ones.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const L = require("../e2e/lib");

const N = Number(process.argv[2] || 300);
const HERE = __dirname;

// The schema is written under node_modules: prisma resolves @prisma/client from its folder.
function generateClient() {
  if (!fs.existsSync(path.join(HERE, "node_modules", ".bin", "prisma"))) {
    console.log("tests/oracle/node_modules is missing: run scripts/npm-deps.sh");
    process.exit(77);
  }
  const dir = path.join(HERE, "node_modules", ".cwcache-oracle");
  fs.mkdirSync(dir, { recursive: true });
  const schema = path.join(dir, "schema.prisma");
  const head = 'datasource db {\n  provider = "sqlserver"\n}\ngenerator client {\n  provider = "prisma-client-js"\n}\n';
  const models = fs.readdirSync(path.join(L.ROOT, "schema")).filter((f) => f.endsWith(".prisma")).sort()
    .map((f) => fs.readFileSync(path.join(L.ROOT, "schema", f), "utf8")).join("\n");
  fs.writeFileSync(schema, head + models);
  execFileSync(path.join(HERE, "node_modules", ".bin", "prisma"), ["generate", "--schema", schema], {
    cwd: HERE, stdio: "inherit",
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: "/bin/true", PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: "1" },
  });
  return require("@prisma/client"); /* generated into node_modules/.prisma/client */
}

// A small deterministic PRNG: a failing query is reproducible from its seed.
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
}
const pick = (r, a) => a[Math.floor(r() * a.length)];

const lc = (s) => s[0].toLowerCase() + s.slice(1);

function scalarCond(r, f, sample) {
  const vals = sample.map((row) => row[f.name]).filter((v) => v !== undefined);
  const v = pick(r, vals.length ? vals : [null]);
  if (v === null) return r() < 0.5 ? null : { not: null };
  switch (f.type) {
    case "String": {
      const sub = v.length > 2 ? v.slice(1, 1 + Math.max(1, Math.floor(r() * 3))) : v;
      return pick(r, [v.toUpperCase(), { contains: sub }, { startsWith: v.slice(0, 2).toLowerCase() },
        { endsWith: v.slice(-2) }, { in: [v, "zz"] }, { not: v }, { gt: v }, { lte: v }]);
    }
    case "Int": return pick(r, [v, { gt: v }, { lte: v }, { in: [v, v + 1] }, { notIn: [v] }, { not: v }]);
    case "Boolean": return pick(r, [v, { not: v }]);
    case "DateTime": {
      /* a few ms off a stored value too: SQL Server rounds it to datetime's 1/300 s */
      const off = new Date(Date.parse(v) + 1 + Math.floor(r() * 9)).toISOString();
      return pick(r, [{ gte: v }, { lt: v }, { equals: v }, { lte: off }, { gt: off }, { equals: off }]);
    }
    case "Decimal": return pick(r, [{ gt: v }, { lte: v }]);
    case "Float": return pick(r, [{ gt: v }, { lte: v }]);
    default: return undefined;
  }
}

function whereFor(r, m, sample, depth) {
  const scalars = m.fields.filter((f) => f.kind === "scalar" && ["String", "Int", "Boolean", "DateTime",
    "Decimal", "Float"].includes(f.type));
  const w = {};
  const n = 1 + Math.floor(r() * 2);
  for (let i = 0; i < n; i++) {
    const f = pick(r, scalars);
    const c = scalarCond(r, f, sample);
    if (c !== undefined) w[f.name] = c;
  }
  if (depth === 0 && r() < 0.2) return { OR: [w, whereFor(r, m, sample, 1)] };
  if (depth === 0 && r() < 0.2) return { NOT: w };
  return w;
}

async function main() {
  const { PrismaClient, Prisma } = generateClient();
  const { PrismaMssql } = require("@prisma/adapter-mssql");
  const source = await L.startSource(120);
  const server = await L.startServer(source);
  await L.waitReady(server);
  const prisma = new PrismaClient({ adapter: new PrismaMssql({ server: "127.0.0.1", port: source.port,
    user: "sa", password: "tdslite", database: "cwwebapp_demo",
    options: { encrypt: false, trustServerCertificate: true } }) });
  const s = await L.connect(server, { transports: ["websocket"] });
  const text = fs.readdirSync(path.join(L.ROOT, "schema")).filter((f) => f.endsWith(".prisma"))
    .map((f) => fs.readFileSync(path.join(L.ROOT, "schema", f), "utf8")).join("\n");
  const pks = {}; /* the runtime DMMF has no isId: read @id from the schema */
  for (const [, name, body] of text.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm))
    pks[name] = body.match(/^\s*(\w+)\s+\w+\s+@id/m)[1];
  const models = Object.fromEntries(Prisma.dmmf.datamodel.models.map((m) => [m.name, m]));
  const collectors = fs.readdirSync(path.join(L.ROOT, "collectors")).map((f) => [f.replace(/\.json$/, ""),
    JSON.parse(fs.readFileSync(path.join(L.ROOT, "collectors", f), "utf8"))]).filter(([, c]) => !c.where && !c.maxRows);
  let bad = 0;
  /* The README's examples, as the original's collector helper hands them to
   * findMany (a list becomes {name: true}). */
  const asArgs = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) =>
    [k, Array.isArray(v) ? Object.fromEntries(v.map((f) => [f, true])) : v]));
  const examples = [
    ["fetchCompanies", "company", {}],
    ["fetchCompanies", "company", { select: ["companyId", "companyName"] }],
    ["fetchCompanies", "company", { include: ["opportunityCompanies"] }],
    ["fetchMembers", "member", { select: ["memberId", "firstName", "lastName"] }],
    ["fetchProducts", "productCatalog", {}],
    ["fetchProducts", "productCatalog", { select: ["ivItemRecId", "itemId", "description", "listPrice", "currentCost"] }],
    ["fetchProducts", "productCatalog", { include: ["subcategory", "manufacturer", "inventory", "itemVendors"] }],
    ["fetchProducts", "productCatalog", { include: { subcategory: { include: { category: true } }, manufacturer: true, inventory: true } }],
  ];
  for (const [event, model, opts] of examples) {
    const want = JSON.stringify(await prisma[model].findMany(asArgs(opts)), (k, v) => (typeof v === "bigint" ? Number(v) : v));
    const res = await L.emit(s, event, opts);
    const got = res.success ? JSON.stringify(res.data) : "error: " + res.error;
    if (want !== got) {
      bad++;
      console.log(`README ${event} ${JSON.stringify(opts)}\n  prisma:  ${want.slice(0, 300)}\n  cwcache: ${got.slice(0, 300)}`);
    }
  }
  /* Bad arguments: cwcache answers Prisma's own sentence (docs/query.md
   * "Errors"): its message's text after the annotated arguments, without "Available
   * options are marked with ?." that points into the annotated arguments
   * and without the AssertionError("...") wrapper of a negative skip. */
  const sentence = (e) => {
    const lines = e.message.trim().split("\n"); /* the text after the annotated call or arguments */
    const end = lines.findLastIndex((l) => l.trim() === "})" || l.startsWith("\u2192"));
    return lines.slice(end + 1).join("\n").trim().replace(" Available options are marked with ?.", "")
      .replace(/^AssertionError\("(.*)"\)$/, "$1");
  };
  const badArgs = [
    { where: { companyName: { foo: "x" } } }, { where: { nope: 1 } }, { where: { companyname: "x" } },
    { where: { companyRecId: "x" } }, { where: { companyStatusRecId: "x" } }, { where: { phoneNbr: 5 } },
    { where: { deleteFlag: "x" } }, { where: { lastUpdate: 5 } }, { where: { annualRevenue: "x" } },
    { where: { companyRecId: { gt: "x" } } }, { where: { companyName: { contains: 5 } } },
    { where: { companyStatusRecId: { equals: "x" } } }, { where: { deleteFlag: { equals: "x" } } },
    { where: { companyRecId: { not: "x" } } }, { where: { companyStatusRecId: { not: "x" } } },
    { where: { companyRecId: { contains: "1" } } }, { where: { deleteFlag: { gt: true } } },
    { where: { companyRecId: { mode: "insensitive" } } }, { where: { companyRecId: { in: "x" } } },
    { where: { companyRecId: { in: 5 } } }, { where: { companyStatusRecId: { in: "x" } } },
    { where: { companyRecId: { in: ["x"] } } }, { where: { companyRecId: { in: [null] } } },
    { where: { companyStatusRecId: { notIn: [null] } } }, { where: { companyRecId: { in: null } } },
    { where: { companyRecId: { lt: null } } }, { where: { companyName: { equals: null } } },
    { where: { dateAcquired: "notadate" } }, { where: { dateAcquired: "x" } }, { where: { dateAcquired: "2024-13-01" } },
    { where: { dateAcquired: "2024-02-30T00:00:00Z" } }, { where: { dateAcquired: "2024-01-01T00:00:00Z junk" } },
    { where: { dateAcquired: { gt: "x" } } }, { where: { dateAcquired: { in: ["2024-01"] } } },
    { where: { AND: 5 } }, { where: { AND: [5] } }, { where: { OR: 5 } }, { where: { OR: {} } }, { where: { NOT: [5] } },
    { where: { childCompanies: { foo: {} } } }, { where: { childCompanies: 5 } }, { where: { childCompanies: { some: 5 } } },
    { where: { parentCompany: 5 } }, { where: { parentCompany: { is: {}, companyName: "x" } } },
    { where: { parentCompany: { foo: 5 } } }, { where: { parentCompany: { isNot: 5 } } }, { where: 5 },
    { orderBy: { nope: "asc" } }, { orderBy: { companyname: "asc" } }, { orderBy: { childCompanies: "asc" } },
    { orderBy: 5 }, { orderBy: [5] }, { orderBy: { companyName: { sort: "asc" } } }, { orderBy: { phoneNbr: { sort: "x" } } },
    { orderBy: { phoneNbr: { foo: "asc" } } }, { orderBy: { parentCompany: "asc" } }, { orderBy: { parentCompany: { nope: "asc" } } },
    { orderBy: { companyName: "asc", companyId: "asc" } }, { orderBy: { companyName: "up" } },
    { foo: 1 }, { whre: {} }, { include: { childCompanies: { nope: 1 } } }, { include: { parentCompany: { take: 1 } } },
    { include: { childCompanies: { select: { companyName: true }, include: { contacts: true } } } },
    { include: { _count: { select: { nope: true } } } }, { include: { _count: { select: { childCompanies: { take: 1 } } } } },
    { include: { _count: 5 } }, { include: { _count: { nope: 1 } } }, { include: { _count: { select: 5 } } },
    { select: 5 }, { select: {} }, { include: { nope: true } }, { include: { companyName: true } },
    { cursor: 5 }, { cursor: {} }, { cursor: { companyRecId: null } }, { cursor: { companyRecId: "x" } },
    { take: "3" }, { skip: -1 }, { distinct: 5 }, { distinct: "nope" },
  ];
  for (const opts of badArgs) {
    const want = await prisma.company.findMany(opts).then((r) => "rows: " + r.length, (e) => "error: " + sentence(e));
    const res = await L.emit(s, "fetchCompanies", opts);
    const got = res.success ? "rows: " + res.data.length : "error: " + res.error;
    if (want !== got) {
      bad++;
      console.log(`bad argument ${JSON.stringify(opts)}\n  prisma:  ${want}\n  cwcache: ${got}`);
    }
  }
  for (let i = 0; i < N; i++) {
    const r = rng(Math.imul(i + 1, 2654435761));
    const [event, col] = pick(r, collectors);
    const m = models[col.model];
    const pk = pks[col.model];
    const sample = (await L.emit(s, event, { take: 20, skip: Math.floor(r() * 50) })).data;
    const opts = {};
    if (r() < 0.8) opts.where = whereFor(r, m, sample, 0);
    const scal = m.fields.filter((f) => f.kind === "scalar");
    /* SQL Server (and SQLite) promise no order without ORDER BY: always order, the key last */
    opts.orderBy = [{ [pk]: pick(r, ["asc", "desc"]) }];
    if (r() < 0.7) opts.orderBy.unshift({ [pick(r, scal.filter((f) => ["String", "Int", "DateTime"].includes(f.type))).name]: pick(r, ["asc", "desc"]) });
    if (r() < 0.6) opts.take = pick(r, [1, 5, 20, -3, -10]);
    if (r() < 0.3) opts.skip = pick(r, [1, 4]);
    if (r() < 0.25 && sample.length) opts.cursor = { [pk]: pick(r, sample)[pk] };
    /* in a random order: Prisma 7 renders a select in request order */
    if (r() < 0.5) {
      const names = scal.filter((f, k) => k === 0 || r() < 0.3).map((f) => f.name);
      for (let k = names.length - 1; k > 0; k--) {
        const j = Math.floor(r() * (k + 1));
        [names[k], names[j]] = [names[j], names[k]];
      }
      opts.select = Object.fromEntries(names.map((f) => [f, true]));
    }
    const delegate = prisma[lc(col.model)];
    let want, got;
    try {
      /* BigInt as a number: the original service's JSON (cwcache's contract) */
      want = JSON.stringify(await delegate.findMany(opts), (k, v) => (typeof v === "bigint" ? Number(v) : v));
    } catch (e) {
      want = "error: " + e.message.trim().split("\n").slice(-1)[0]; /* Prisma's sentence is the last line */
    }
    const res = await L.emit(s, event, opts);
    got = res.success ? JSON.stringify(res.data) : "error: " + res.error;
    if (want !== got) {
      bad++;
      console.log(`#${i} ${event} ${JSON.stringify(opts)}\n  prisma:  ${want.slice(0, 300)}\n  cwcache: ${got.slice(0, 300)}`);
    }
  }
  const total = N + examples.length + badArgs.length;
  console.log(`${total - bad} of ${total} equal (${examples.length} README examples, ${badArgs.length} bad arguments)`);
  s.close();
  await prisma.$disconnect();
  await L.stopServer(server);
  L.stopAll();
  process.exit(bad ? 1 : 0);
}
main().catch((e) => { console.error(e); L.stopAll(); process.exit(1); });
