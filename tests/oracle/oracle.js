// Prisma as the oracle: Prisma Client 7 (adapter-mssql, i.e. tedious) runs
// generated findMany (and count) queries against tdslite, cwcache answers
// the same options from its cache of the same data, and the two must be
// equal byte for byte after JSON.stringify.
//
// Usage: node oracle.js [--count N] [--from I] [--only I] [--verbose]
//   --count N  N generated queries (default 400: the CI set); long runs
//              find more (e.g. --count 3000)
//   --from I   start at query #I (with --count N: #I .. #I+N-1)
//   --only I   query #I alone, printing both answers whatever they are
//              and Prisma's SQL
//   --ask EVENT ARGS  one query of your own (ARGS as JSON; "count": true
//              for a count), printed as --only prints
// Needs `npm ci` here (scripts/npm-deps.sh), CWCACHE, TDSLITE and
// CWCACHE_ROOT as the e2e tests. Query #i is generated from seed i alone,
// so a difference is reproducible with --only i. The first difference is
// printed in full, later ones shortened; docs/query.md lists what was found.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const L = require("../e2e/lib");

function args(argv) {
  const o = { count: 400, from: 0, only: null, verbose: false, ask: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--count") o.count = Number(argv[++i]);
    else if (a === "--from") o.from = Number(argv[++i]);
    else if (a === "--only") o.only = Number(argv[++i]);
    else if (a === "--verbose") o.verbose = true;
    else if (a === "--ask") o.ask = { event: argv[++i], args: JSON.parse(argv[++i]) };
    else if (/^\d+$/.test(a)) o.count = Number(a); /* the old positional form */
    else {
      console.error(`unknown argument ${a}: node oracle.js [--count N] [--from I] [--only I] [--verbose]`);
      process.exit(2);
    }
  }
  if (o.only !== null) Object.assign(o, { from: o.only, count: 1, verbose: true });
  if (o.ask) Object.assign(o, { from: -1, count: 1, verbose: true });
  return o;
}
const OPT = args(process.argv.slice(2));
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
const chance = (r, p) => r() < p;
const dir = (r) => pick(r, ["asc", "desc"]);
const lc = (s) => s[0].toLowerCase() + s.slice(1);
function shuffle(r, a) {
  for (let k = a.length - 1; k > 0; k--) {
    const j = Math.floor(r() * (k + 1));
    [a[k], a[j]] = [a[j], a[k]];
  }
  return a;
}
/* BigInt as a number: the original service's JSON (cwcache's contract) */
const stringify = (v) => JSON.stringify(v, (k, x) => (typeof x === "bigint" ? Number(x) : x));

// The generator: everything it needs to know of the schema and the data.
// S.models[name] = {name, pk, scalars, toMany, toOne, sample}
const S = { models: {} };
const FILTERABLE = ["String", "Int", "BigInt", "Boolean", "DateTime", "Decimal", "Float"];
const SORTABLE = FILTERABLE;

function caseFlip(r, s) {
  return [...s].map((c) => (chance(r, 0.5) ? c.toUpperCase() : c.toLowerCase())).join("");
}

function stringCond(r, f, v) {
  const sub = v.length > 2 ? v.slice(1, 1 + Math.max(1, Math.floor(r() * 3))) : v;
  const ins = () => (chance(r, 0.5) ? { mode: pick(r, ["insensitive", "default"]) } : {});
  return pick(r, [
    () => caseFlip(r, v),
    () => ({ equals: caseFlip(r, v), ...ins() }),
    () => ({ contains: caseFlip(r, sub), ...ins() }),
    () => ({ startsWith: caseFlip(r, v.slice(0, 2)), ...ins() }),
    () => ({ endsWith: caseFlip(r, v.slice(-2)), ...ins() }),
    () => ({ in: [caseFlip(r, v), "zz"], ...ins() }),
    () => ({ notIn: [v], ...ins() }),
    () => ({ not: v }),
    () => ({ not: { contains: sub } }),
    () => ({ gt: v }),
    () => ({ lte: caseFlip(r, v) }),
    () => ({ gte: v, lt: v + "zz" }),
  ])();
}

function guidCond(r, v) {
  /* uniqueidentifier: compared as GUIDs (byte groups), whatever the case */
  return pick(r, [v.toUpperCase(), { equals: v }, { in: [v.toUpperCase(), "00000000-0000-0000-0000-000000000000"] },
    { gt: v }, { lte: v }, { not: v }, { gte: v.toUpperCase() }])
}

function scalarCond(r, f, sample) {
  const vals = sample.map((row) => row[f.name]).filter((v) => v !== undefined);
  const v = pick(r, vals.length ? vals : [null]);
  if (v === null || chance(r, 0.08)) {
    if (!f.isRequired) return pick(r, [null, { not: null }, { equals: null }, { not: { equals: null } }]);
    if (v === null) return undefined;
  }
  switch (f.type) {
    case "String":
      return f.nativeType && f.nativeType[0] === "UniqueIdentifier" ? guidCond(r, v) : stringCond(r, f, v);
    case "Int":
    case "BigInt":
      return pick(r, [v, { gt: v }, { lte: v }, { in: [v, v + 1] }, { notIn: [v] }, { not: v }, { gte: v, lt: v + 5 },
        { not: { in: [v] } }]);
    case "Boolean": return pick(r, [v, { not: v }, { equals: v }]);
    case "DateTime": {
      /* a few ms off a stored value too: SQL Server rounds it to datetime's 1/300 s */
      const t = Date.parse(v);
      const off = new Date(t + 1 + Math.floor(r() * 9)).toISOString();
      const zoned = new Date(t + 3600000).toISOString().replace("Z", "+01:00"); /* the same instant */
      return pick(r, [{ gte: v }, { lt: v }, { equals: v }, { lte: off }, { gt: off }, { equals: off }, v,
        { equals: zoned }, { in: [v, off] }, { not: v }]);
    }
    case "Decimal": {
      /* Decimal as a string and as a number, in every form Prisma sends as
       * text and SQL Server converts to the column's decimal(p,s), rounding:
       * numbers (868.43 goes as "868.4299999999999"), whole numbers as numbers
       * and strings, trailing zeros, more decimals than the column's scale
       * (rounding down and up) */
      const n = Math.round(Number(v));
      const dotted = v.includes(".") ? v : v + ".";
      const forms = [v, Number(v), n, String(n), dotted + "00", dotted + "0004", dotted + "00051",
        dotted + "4", dotted + "6", Number(v) + 1e-9, Number(v) - 0.3];
      const x = () => pick(r, forms);
      return pick(r, [() => ({ gt: x() }), () => ({ lte: x() }), () => ({ equals: x() }), () => ({ gte: x() }),
        () => ({ lt: x() }), x, () => ({ in: [x(), x()] }), () => ({ not: x() }), () => ({ notIn: [x()] })])();
    }
    case "Float": return pick(r, [{ gt: v }, { lte: v }, { equals: v }, v, { not: v }]);
    default: return undefined;
  }
}

function whereFor(r, m, depth) {
  const w = {};
  const n = 1 + Math.floor(r() * 2);
  for (let i = 0; i < n; i++) {
    if (depth < 2 && chance(r, 0.3) && (m.toMany.length || m.toOne.length)) {
      const rel = pick(r, [...m.toMany, ...m.toOne]);
      const t = S.models[rel.type];
      const sub = () => (chance(r, 0.15) ? {} : whereFor(r, t, depth + 1));
      if (rel.isList) w[rel.name] = { [pick(r, ["some", "every", "none"])]: sub() };
      else w[rel.name] = pick(r, [() => ({ is: sub() }), () => ({ isNot: sub() }), () => ({ is: null }),
        () => ({ isNot: null }), () => null, sub])();
      continue;
    }
    const f = pick(r, m.scalars.filter((x) => FILTERABLE.includes(x.type)));
    const c = scalarCond(r, f, m.sample);
    if (c !== undefined) w[f.name] = c;
  }
  if (depth === 0 && chance(r, 0.15)) return { OR: [w, whereFor(r, m, 1)] };
  if (depth === 0 && chance(r, 0.1)) return { NOT: chance(r, 0.5) ? w : [w, whereFor(r, m, 1)] };
  if (depth === 0 && chance(r, 0.1)) return { AND: [w, whereFor(r, m, 1)] };
  return w;
}

// orderBy: 1-3 keys on scalars, to-one relation paths and the number of a
// to-many relation's rows ({rel: {_count}}, at the end of a path too), the
// key last (SQL Server promises no order without ORDER BY: always order).
function countKey(r, m) {
  return { [pick(r, m.toMany).name]: { _count: dir(r) } };
}
function orderFor(r, m, last = true) {
  const o = [];
  const n = Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    if (m.toMany.length && chance(r, 0.15)) {
      o.push(countKey(r, m));
      continue;
    }
    const viaOne = m.toOne.filter((rel) => S.models[rel.type].toMany.length);
    if (viaOne.length && chance(r, 0.05)) {
      const rel = pick(r, viaOne);
      o.push({ [rel.name]: countKey(r, S.models[rel.type]) });
      continue;
    }
    if (m.toOne.length && chance(r, 0.3)) {
      const rel = pick(r, m.toOne);
      const t = S.models[rel.type];
      if (t.toOne.length && chance(r, 0.2)) {
        const rel2 = pick(r, t.toOne);
        const t2 = S.models[rel2.type];
        o.push({ [rel.name]: { [rel2.name]: { [pick(r, t2.scalars.filter((f) => SORTABLE.includes(f.type))).name]: dir(r) } } });
      } else {
        o.push({ [rel.name]: { [pick(r, t.scalars.filter((f) => SORTABLE.includes(f.type))).name]: dir(r) } });
      }
      continue;
    }
    const f = pick(r, m.scalars.filter((x) => SORTABLE.includes(x.type)));
    /* {sort} only on optional fields, as Prisma: the bad arguments check the rest */
    o.push({ [f.name]: !f.isRequired && chance(r, 0.15) ? { sort: dir(r) } : dir(r) });
  }
  if (last) o.push({ [m.pk]: dir(r) });
  return o.length === 1 && chance(r, 0.5) ? o[0] : o;
}

function countsFor(r, m, depth) {
  if (!m.toMany.length) return undefined;
  if (chance(r, 0.3)) return true;
  const sel = {};
  for (const rel of shuffle(r, m.toMany.slice()).slice(0, 1 + Math.floor(r() * 2)))
    sel[rel.name] = chance(r, 0.4) ? { where: whereFor(r, S.models[rel.type], Math.max(depth, 1)) } : true;
  return { select: sel };
}

// Paging arguments of a findMany level (the root or a to-many relation).
function pageArgs(r, m, a, depth) {
  if (chance(r, depth ? 0.4 : 0.8)) a.where = whereFor(r, m, depth ? 1 : 0);
  a.orderBy = orderFor(r, m);
  if (chance(r, 0.5)) a.take = pick(r, [1, 2, 5, 20, -1, -3, -10]);
  if (chance(r, 0.3)) a.skip = pick(r, [0, 1, 4]);
  if (chance(r, 0.2) && m.sample.length) a.cursor = { [m.pk]: pick(r, m.sample)[m.pk] };
  if (chance(r, 0.15)) {
    const names = shuffle(r, m.scalars.filter((f) => f.type !== "Bytes").map((f) => f.name)).slice(0, 1 + Math.floor(r() * 2));
    a.distinct = names.length === 1 && chance(r, 0.5) ? names[0] : names;
  }
}

// select or include of a level, with relations nested to depth 2.
function shapeFor(r, m, a, depth) {
  const rels = [...m.toMany, ...m.toOne];
  const relArgs = (rel) => {
    const t = S.models[rel.type];
    if (depth >= 2 || chance(r, 0.3)) return true;
    const na = {};
    if (rel.isList) pageArgs(r, t, na, depth + 1);
    if (chance(r, 0.6)) shapeFor(r, t, na, depth + 1);
    return Object.keys(na).length ? na : true;
  };
  if (chance(r, 0.5)) {
    /* select, in a random order: Prisma 7 renders a select in request order */
    const names = shuffle(r, m.scalars.filter((f, k) => k === 0 || chance(r, 0.3)).map((f) => f.name));
    const sel = Object.fromEntries(names.map((f) => [f, true]));
    for (const rel of rels) if (depth < 2 && chance(r, 0.2)) sel[rel.name] = relArgs(rel);
    if (depth < 2 && chance(r, 0.2)) {
      const c = countsFor(r, m, depth);
      if (c !== undefined) sel._count = c;
    }
    a.select = Object.fromEntries(shuffle(r, Object.entries(sel)));
  } else if (depth < 2 && rels.length) {
    const inc = {};
    for (const rel of shuffle(r, rels.slice()).slice(0, 1 + Math.floor(r() * 2))) inc[rel.name] = relArgs(rel);
    if (chance(r, 0.25)) {
      const c = countsFor(r, m, depth);
      if (c !== undefined) inc._count = c;
    }
    a.include = inc;
  }
}

function queryFor(i, collectors) {
  const r = rng(Math.imul(i + 1, 2654435761));
  const [event, col] = pick(r, collectors);
  const m = S.models[col.model];
  const a = {};
  if (chance(r, 0.1)) {
    /* the count answer: {where, count: true} is prisma.X.count(where...) */
    if (chance(r, 0.8)) a.where = whereFor(r, m, 0);
    if (chance(r, 0.3)) {
      a.orderBy = orderFor(r, m);
      a.take = pick(r, [3, -5, 20]);
      if (chance(r, 0.5)) a.skip = pick(r, [1, 2]);
      if (chance(r, 0.3) && m.sample.length) a.cursor = { [m.pk]: pick(r, m.sample)[m.pk] };
    }
    return { event, model: m, count: true, args: a };
  }
  pageArgs(r, m, a, 0);
  if (chance(r, 0.7)) shapeFor(r, m, a, 0);
  return { event, model: m, count: false, args: a };
}

// Prisma's SQL Server client has no `mode` (the collation decides: the
// ConnectWise databases' is case-insensitive); cwcache takes it, as Prisma
// on PostgreSQL does, and the answer must be the same without it.
function withoutMode(v) {
  if (Array.isArray(v)) return v.map(withoutMode);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== "mode").map(([k, x]) => [k, withoutMode(x)]));
}

function askQuery({ event, args }, collectors) {
  const col = collectors.find(([e]) => e === event);
  if (!col) throw new Error(`no collector ${event}`);
  const { count, ...rest } = args;
  return { event, model: S.models[col[1].model], count: !!count, args: rest };
}

/* Prisma's own sentence: its message's text after the annotated call or
 * arguments, without "Available options are marked with ?." that points
 * into the annotated arguments and without the AssertionError("...")
 * wrapper of a negative skip (docs/query.md "Errors"). */
function sentence(e) {
  const lines = e.message.trim().split("\n");
  const end = lines.findLastIndex((l) => l.trim() === "})" || l.startsWith("\u2192"));
  return lines.slice(end + 1).join("\n").trim().replace(" Available options are marked with ?.", "")
    .replace(/^AssertionError\("(.*)"\)$/, "$1");
}

async function prismaAnswer(prisma, q) {
  const delegate = prisma[lc(q.model.name)];
  const args = withoutMode(q.args);
  try {
    /* Prisma's count refuses a cursor with an orderBy ("Unable to process
     * combination of query arguments for aggregation query"); cwcache counts
     * the rows findMany returns for them */
    if (q.count && args.cursor && args.orderBy)
      return stringify({ success: true, count: (await delegate.findMany({ ...args, select: { [q.model.pk]: true } })).length });
    if (q.count) return stringify({ success: true, count: await delegate.count(args) });
    return stringify(await delegate.findMany(args));
  } catch (e) {
    return "error: " + sentence(e);
  }
}

async function cacheAnswer(s, q) {
  const res = await L.emit(s, q.event, q.count ? { ...q.args, count: true } : q.args);
  if (!res.success) return "error: " + res.error;
  return q.count ? stringify(res) : stringify(res.data);
}

function firstDiff(a, b) {
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
}

async function loadSchema(Prisma, prisma) {
  const text = fs.readdirSync(path.join(L.ROOT, "schema")).filter((f) => f.endsWith(".prisma"))
    .map((f) => fs.readFileSync(path.join(L.ROOT, "schema", f), "utf8")).join("\n");
  /* the runtime DMMF has only names, kinds and types: read @id, ?, [] and
   * @db.X from the schema */
  const pks = {}, mods = {};
  for (const [, name, body] of text.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm)) {
    pks[name] = body.match(/^\s*(\w+)\s+\w+\s+@id/m)[1];
    for (const [, f, mod, rest] of body.matchAll(/^\s*(\w+)\s+\w+(\?|\[\])?(.*)$/gm)) {
      const nt = rest.match(/@db\.(\w+)/);
      mods[`${name}.${f}`] = { isList: mod === "[]", isRequired: !mod, nativeType: nt ? [nt[1]] : undefined };
    }
  }
  for (const dm of Prisma.dmmf.datamodel.models) {
    const fields = dm.fields.map((f) => ({ ...f, ...mods[`${dm.name}.${f.name}`] }));
    S.models[dm.name] = {
      name: dm.name, pk: pks[dm.name], scalars: fields.filter((f) => f.kind === "scalar"),
      toMany: fields.filter((f) => f.kind === "object" && f.isList),
      toOne: fields.filter((f) => f.kind === "object" && !f.isList),
      sample: [],
    };
  }
  /* values to filter on: a slice of every model's rows, the same every run */
  for (const m of Object.values(S.models)) {
    const rows = JSON.parse(stringify(await prisma[lc(m.name)].findMany({ orderBy: { [m.pk]: "asc" }, take: 40, skip: 3 })));
    m.sample = rows;
  }
}

/* Foreign keys naming no row, as old ConnectWise databases have them (the
 * source declares no constraints): one and two hops before an orderBy
 * path's end (company 13's parent; 15's parent is 13), deeper (22's
 * children's children), a company without children, products and a
 * subcategory. Prisma's cursor condition tests the key (`fk IS NULL`),
 * so such rows take part in cursors differently from missing relations. */
function danglingKeys(db) {
  const sql = "UPDATE Company SET Parent_Company_RecID = 90000 + Company_RecID WHERE Company_RecID IN (7, 13, 22);" +
    "UPDATE IV_Item SET IV_SubCat_RecID = 99999 WHERE IV_Item_RecID IN (5, 9);" +
    "UPDATE IV_SubCategory SET IV_Cat_RecID = 99999 WHERE IV_SubCat_RecID = 2;";
  execFileSync(L.PY, ["-c", "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()",
    db, sql]);
}

async function main() {
  const { PrismaClient, Prisma } = generateClient();
  const { PrismaMssql } = require("@prisma/adapter-mssql");
  const source = await L.startSource(120);
  danglingKeys(source.db);
  const server = await L.startServer(source);
  await L.waitReady(server);
  const prisma = new PrismaClient({ adapter: new PrismaMssql({ server: "127.0.0.1", port: source.port,
    user: "sa", password: "tdslite", database: "cwwebapp_demo",
    options: { encrypt: false, trustServerCertificate: true } }),
  ...(OPT.verbose ? { log: [{ emit: "event", level: "query" }] } : {}) });
  let logSql = false; /* not the samples' queries */
  if (OPT.verbose) prisma.$on("query", (e) => logSql && console.log(`  sql: ${e.query} ${e.params}`));
  const s = await L.connect(server, { transports: ["websocket"] });
  await loadSchema(Prisma, prisma);
  logSql = true;
  const collectors = fs.readdirSync(path.join(L.ROOT, "collectors")).sort().map((f) => [f.replace(/\.json$/, ""),
    JSON.parse(fs.readFileSync(path.join(L.ROOT, "collectors", f), "utf8"))]).filter(([, c]) => !c.where && !c.maxRows);
  let bad = 0, total = 0;
  const report = (label, q, want, got) => {
    bad++;
    const k = firstDiff(want, got);
    if (bad === 1) {
      console.log(`FIRST DIFFERENCE ${label} ${q.event} ${JSON.stringify(q.count ? { ...q.args, count: true } : q.args)}` +
        `\n  (at character ${k}: prisma ${JSON.stringify(want.slice(k, k + 60))}, cwcache ${JSON.stringify(got.slice(k, k + 60))})` +
        `\n  prisma:  ${want}\n  cwcache: ${got}`);
    } else {
      const from = Math.max(0, k - 100);
      console.log(`${label} ${q.event} ${JSON.stringify(q.count ? { ...q.args, count: true } : q.args)}` +
        `\n  prisma:  ${from ? "..." : ""}${want.slice(from, k + 200)}\n  cwcache: ${from ? "..." : ""}${got.slice(from, k + 200)}`);
    }
  };
  if (OPT.from === 0) {
    /* The README's examples, as the original's collector helper hands them to
     * findMany (a list becomes {name: true}). */
    const asArgs = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) =>
      [k, Array.isArray(v) ? Object.fromEntries(v.map((f) => [f, true])) : v]));
    const examples = [
      ["fetchCompanies", "Company", {}],
      ["fetchCompanies", "Company", { select: ["companyId", "companyName"] }],
      ["fetchCompanies", "Company", { include: ["opportunityCompanies"] }],
      ["fetchMembers", "Member", { select: ["memberId", "firstName", "lastName"] }],
      ["fetchProducts", "ProductCatalog", {}],
      ["fetchProducts", "ProductCatalog", { select: ["ivItemRecId", "itemId", "description", "listPrice", "currentCost"] }],
      ["fetchProducts", "ProductCatalog", { include: ["subcategory", "manufacturer", "inventory", "itemVendors"] }],
      ["fetchProducts", "ProductCatalog", { include: { subcategory: { include: { category: true } }, manufacturer: true, inventory: true } }],
      ["fetchProducts", "ProductCatalog", { select: ["ivItemRecId", "ivItemGuid"], orderBy: { ivItemGuid: "asc" } }],
    ];
    for (const [event, model, opts] of examples) {
      total++;
      const want = stringify(await prisma[lc(model)].findMany(asArgs(opts)));
      const res = await L.emit(s, event, opts);
      const got = res.success ? JSON.stringify(res.data) : "error: " + res.error;
      if (want !== got) report("README", { event, args: opts }, want, got);
    }
    /* Bad arguments: cwcache answers Prisma's own sentence (docs/query.md
     * "Errors"): its message's text after the annotated arguments, without "Available
     * options are marked with ?." that points into the annotated arguments
     * and without the AssertionError("...") wrapper of a negative skip. */
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
      { orderBy: { childCompanies: {} } }, { orderBy: { childCompanies: { _count: "up" } } },
      { orderBy: { childCompanies: { _count: null } } }, { orderBy: { childCompanies: { _count: 5 } } },
      { orderBy: { childCompanies: { _cont: "asc" } } }, { orderBy: { childCompanies: { _count: "asc", x: 1 } } },
      { orderBy: { childCompanies: { companyName: "asc" } } }, { orderBy: { _count: "asc" } },
      { orderBy: { parentCompany: { childCompanies: { _count: { sort: "asc" } } } } },
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
      total++;
      if (want !== got) report("bad argument", { event: "fetchCompanies", args: opts }, want, got);
    }
  }
  const t0 = Date.now();
  for (let i = OPT.from; i < OPT.from + OPT.count; i++) {
    total++;
    const q = OPT.ask ? askQuery(OPT.ask, collectors) : queryFor(i, collectors);
    const want = await prismaAnswer(prisma, q);
    const got = await cacheAnswer(s, q);
    if (OPT.verbose)
      console.log(`#${i} ${q.event} ${JSON.stringify(q.count ? { ...q.args, count: true } : q.args)}\n  prisma:  ${want}\n  cwcache: ${got}`);
    if (want !== got) report(`#${i}`, q, want, got);
  }
  console.log(`${total - bad} of ${total} equal (queries #${OPT.from}..#${OPT.from + OPT.count - 1}, ` +
    `${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  s.close();
  await prisma.$disconnect();
  await L.stopServer(server);
  L.stopAll();
  process.exit(bad ? 1 : 0);
}
main().catch((e) => { console.error(e); L.stopAll(); process.exit(1); });
