// Query benchmark (docs/query.md "Speed"): what findMany's options cost the
// server, through the Socket.IO front end.
//  1. server CPU per ack (utime+stime of the cwcache process from
//     /proc/PID/stat around a run of acks) of a 100-row page by cursor, a
//     where on an indexed field (equals; a range ordered by it, take 100),
//     a startsWith on the same field (a scan: startsWith does not bound the
//     index), and the primary key, each against the full-table
//     fetchCompanies measured on the same server in the same run; with
//     answer reuse on (as shipped: a repeated request is answered from its
//     kept answer) and off (--answer-cache-mb 0: every ack rendered from
//     LMDB). Clients: two bare ws clients (sio_common.js's wsConnect) that
//     do not parse answers, so the wall time is the server's.
//  2. paging through --paging companies with the npm socket.io-client, take
//     --page + cursor (docs/query.md's pattern, and whole rows), against the
//     Node baseline (sio_baseline.js) cutting the same pages from its array
//     in memory, checked to send the same bytes: MB/s of answer JSON and
//     server CPU per MB, in the same run.
// The data is warmed by a cwcache with its poller, which is then stopped;
// the measured servers open the same data directory with --poller false,
// so no poll or start-up pass runs while they are measured. Each figure is
// the median of --runs runs; servers and workloads interleave within a run,
// and ratios are per run against the full table (or the baseline) measured
// next to it.
//
// usage: node tools/bench/query_bench.js [--runs 3] [--sizes 5000,50000] [--paging 50000]
//        [--page 1000] [--cpu-ms 600] [--max-s 4] [--smoke] [--keep]   (--sizes 0: paging only; --paging 0: no paging)
// env: CWCACHE, TDSLITE (binaries; default build/...), CWCACHE_ROOT
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, arg, flag, median, CWCACHE, TDSLITE, sioConnect, wsConnect } = require("./sio_common");
const { procs, start, stop, portOf, cpuMs, startSource, startCwcache } = require("./bench_proc");

const SMOKE = flag("smoke");
const RUNS = SMOKE ? 1 : Number(arg("runs", 3));
const SIZES = SMOKE ? [200] : arg("sizes", "5000,50000").split(",").map(Number).filter((n) => n > 0); // 0: none
const PAGING = SMOKE ? 200 : Number(arg("paging", 50000));
const PAGE = SMOKE ? 50 : Number(arg("page", 1000));
/* A measurement runs until the server has spent CPU_MS (enough 10 ms ticks for
 * a figure within a few %) or MAX_S have passed, and at least MIN_ACKS acks. */
const CPU_MS = SMOKE ? 0 : Number(arg("cpu-ms", 600));
const MAX_S = SMOKE ? 0 : Number(arg("max-s", 4));
const MIN_ACKS = SMOKE ? 2 : 5;
const PSK = "bench-psk";
const f3 = (x) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x >= 0.01 ? x.toFixed(3) : x.toPrecision(2));

// ---- 1. CPU per ack ---------------------------------------------------------------

/* The requests, with values picked from the data: the middle row's key and name. */
function workloads(rows) {
  const mid = rows[Math.floor(rows.length / 2)];
  const name = mid.companyName;
  return [
    ["full table", undefined],
    ["take 100 from a cursor", { take: 100, cursor: { companyRecId: mid.companyRecId } }],
    ["where companyName equals (index)", { where: { companyName: name } }],
    ["companyName gte, orderBy it, take 100 (index)", { where: { companyName: { gte: name } }, orderBy: { companyName: "asc" }, take: 100 }],
    ["companyName startsWith (scan)", { where: { companyName: { startsWith: name } } }],
    ["where companyRecId (primary key)", { where: { companyRecId: mid.companyRecId } }],
  ];
}

/* Server CPU per ack of one request, two clients in closed loop. */
async function perAck(srv, opts) {
  const clients = await Promise.all([0, 1].map(() => wsConnect(srv.port, PSK)));
  const bytes = await clients[0].call("fetchCompanies", opts); // warm-up: the kept answer, if any
  const c0 = cpuMs(srv.pid), t0 = Date.now();
  let acks = 0, done = false;
  await Promise.all(clients.map(async (c) => {
    while (!done) {
      await c.call("fetchCompanies", opts);
      acks++;
      if (acks >= MIN_ACKS && (cpuMs(srv.pid) - c0 >= CPU_MS || Date.now() - t0 >= MAX_S * 1000)) done = true;
    }
  }));
  const cpu = cpuMs(srv.pid) - c0;
  clients.forEach((c) => c.close());
  return { cpu: cpu / acks, bytes };
}

async function cpuSuite(dir, n) {
  const d = path.join(dir, String(n));
  fs.mkdirSync(d);
  const t0 = Date.now();
  const src = await startSource(TDSLITE, ROOT, d, n);
  const warm = await startCwcache(CWCACHE, ROOT, d, src.url, "cwcache-warm", "x");
  const s = await sioConnect(warm.port, PSK);
  const rows = (await s.call("fetchCompanies", { select: ["companyRecId", "companyName"] })).data;
  s.close();
  await stop(warm.proc);
  const servers = [await startCwcache(CWCACHE, ROOT, d, src.url, "reuse", "x", ["--poller", "false"]),
    await startCwcache(CWCACHE, ROOT, d, src.url, "no-reuse", "x", ["--poller", "false", "--answer-cache-mb", "0"])];
  console.log(`\n== ${n} companies (source and warm-up ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  const ws = workloads(rows);
  const runs = servers.map(() => ws.map(() => []));
  for (let r = 0; r < RUNS; r++)
    for (let w = 0; w < ws.length; w++)
      for (let i = 0; i < servers.length; i++) runs[i][w].push(await perAck(servers[i], ws[w][1]));
  const out = [];
  for (let w = 0; w < ws.length; w++) {
    const row = { n, name: ws[w][0], opts: ws[w][1], bytes: runs[0][w][0].bytes };
    servers.forEach((srv, i) => {
      row[srv.name] = median(runs[i][w].map((x) => x.cpu));
      row[srv.name + " ratio"] = median(runs[i][w].map((x, k) => x.cpu / runs[i][0][k].cpu));
    });
    out.push(row);
    console.log(`  ${row.name}: ${(row.bytes / 1024).toFixed(1)} KB; cpu ms/ack reuse ${f3(row.reuse)} (${f3(row["reuse ratio"])}x full), ` +
      `no reuse ${f3(row["no-reuse"])} (${f3(row["no-reuse ratio"])}x full)`);
  }
  for (const srv of servers) await stop(srv.proc);
  await stop(src.proc);
  return out;
}

// ---- 2. paging through a table ------------------------------------------------------

/* One pass over the table, page by page; the pages' JSON if `keep`. */
async function pass(srv, opts0, keep) {
  const c = await sioConnect(srv.port, PSK);
  await c.call("fetchCompanies", { ...opts0, take: 1 }); // the connection's first ack, not measured
  const pages = [];
  const c0 = cpuMs(srv.pid), t0 = process.hrtime.bigint();
  let cursor, n = 0;
  for (;;) {
    const opts = { ...opts0, take: PAGE };
    if (cursor !== undefined) Object.assign(opts, { cursor: { companyRecId: cursor }, skip: 1 });
    const res = await c.call("fetchCompanies", opts);
    if (!res.success) throw new Error(`${srv.name}: ${res.error}`);
    if (keep) pages.push(JSON.stringify(res));
    n += res.data.length;
    if (res.data.length < PAGE) break;
    cursor = res.data[res.data.length - 1].companyRecId;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e6, cpu = cpuMs(srv.pid) - c0;
  c.close();
  return { wall, cpu, rows: n, pages };
}

async function pagingSuite(dir, n) {
  const d = path.join(dir, `paging-${n}`);
  fs.mkdirSync(d);
  const src = await startSource(TDSLITE, ROOT, d, n);
  const warm = await startCwcache(CWCACHE, ROOT, d, src.url, "cwcache-warm", "x");
  const s = await sioConnect(warm.port, PSK);
  const full = (await s.call("fetchCompanies", undefined)).data;
  s.close();
  await stop(warm.proc);
  fs.writeFileSync(path.join(d, "data.json"), JSON.stringify({ fetchCompanies: { full, rel: {} } }));
  const pf = path.join(d, "node.port");
  const np = start(process.execPath, [path.join(__dirname, "sio_baseline.js"), path.join(d, "data.json"), pf], { PSK }, d, "node");
  const servers = [await startCwcache(CWCACHE, ROOT, d, src.url, "reuse", "x", ["--poller", "false"]),
    await startCwcache(CWCACHE, ROOT, d, src.url, "no-reuse", "x", ["--poller", "false", "--answer-cache-mb", "0"]),
    { name: "node", port: await portOf(pf, np, "node"), pid: np.pid, proc: np }];
  console.log(`\n== paging through ${n} companies, take ${PAGE} + cursor, socket.io-client`);
  const variants = [["whole rows", {}],
    ["docs/query.md's pattern (2-field select, orderBy key)", { select: ["companyRecId", "companyName"], orderBy: { companyRecId: "asc" } }]];
  const out = [];
  for (const [vname, opts] of variants) {
    // The same bytes from every server, page by page (this pass is not measured).
    const ref = await pass(servers[0], opts, true);
    for (const srv of servers.slice(1)) {
      const p = await pass(srv, opts, true);
      if (p.pages.length !== ref.pages.length || p.pages.some((x, i) => x !== ref.pages[i]))
        throw new Error(`${srv.name} pages differ from cwcache's (${vname})`);
    }
    if (ref.rows !== n) throw new Error(`paging returned ${ref.rows} rows of ${n}`);
    const mb = ref.pages.reduce((a, x) => a + Buffer.byteLength(x), 0) / 1e6;
    const rs = Object.fromEntries(servers.map((x) => [x.name, []]));
    for (let r = 0; r < RUNS; r++) for (const srv of servers) rs[srv.name].push(await pass(srv, opts, false));
    const row = { n, name: vname, mb, pages: ref.pages.length };
    for (const srv of servers) {
      row[srv.name] = { mbs: median(rs[srv.name].map((x) => mb / (x.wall / 1000))), cpuMb: median(rs[srv.name].map((x) => x.cpu / mb)) };
      if (srv.name !== "node") {
        row[srv.name].mbsRatio = median(rs[srv.name].map((x, k) => rs.node[k].wall / x.wall));
        row[srv.name].cpuRatio = median(rs[srv.name].map((x, k) => x.cpu / rs.node[k].cpu));
      }
    }
    out.push(row);
    console.log(`  ${vname}: ${mb.toFixed(1)} MB in ${row.pages} pages`);
    for (const srv of servers)
      console.log(`    ${srv.name.padEnd(8)} ${f3(row[srv.name].mbs)} MB/s, server cpu ${f3(row[srv.name].cpuMb)} ms/MB` +
        (srv.name === "node" ? "" : ` (vs node: MB/s ${f3(row[srv.name].mbsRatio)}x, cpu/MB ${f3(row[srv.name].cpuRatio)}x)`));
  }
  for (const srv of servers) await stop(srv.proc);
  await stop(src.proc);
  return out;
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cwcache-query-bench-"));
  console.log(`query_bench: ${RUNS} run(s), medians; CPU = server utime+stime from /proc; work dir ${dir}`);
  const cpuRows = [];
  for (const n of SIZES) cpuRows.push(...(await cpuSuite(dir, n)));
  const pageRows = PAGING ? await pagingSuite(dir, PAGING) : [];
  console.log("\n| companies | request | answer | cpu ms/ack, reuse | vs full | cpu ms/ack, no reuse | vs full |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of cpuRows)
    console.log(`| ${r.n} | ${r.name} | ${r.bytes >= 1e6 ? (r.bytes / 1e6).toFixed(1) + " MB" : (r.bytes / 1024).toFixed(1) + " KB"} | ` +
      `${f3(r.reuse)} | ${f3(r["reuse ratio"])}x | ${f3(r["no-reuse"])} | ${f3(r["no-reuse ratio"])}x |`);
  if (pageRows.length) {
    console.log("\n| paging | MB | MB/s reuse / no reuse / node | cpu ms/MB reuse / no reuse / node | no-reuse/node MB/s | no-reuse/node cpu per MB |");
    console.log("|---|---|---|---|---|---|");
    for (const r of pageRows)
      console.log(`| ${r.name}, ${r.n} companies, ${r.pages} pages | ${r.mb.toFixed(1)} | ${f3(r.reuse.mbs)} / ${f3(r["no-reuse"].mbs)} / ${f3(r.node.mbs)} | ` +
        `${f3(r.reuse.cpuMb)} / ${f3(r["no-reuse"].cpuMb)} / ${f3(r.node.cpuMb)} | ${f3(r["no-reuse"].mbsRatio)}x | ${f3(r["no-reuse"].cpuRatio)}x |`);
  }
  procs.forEach((p) => p.kill("SIGTERM"));
  if (!flag("keep")) fs.rmSync(dir, { recursive: true, force: true });
  if (SMOKE && !(cpuRows.every((r) => r.bytes > 0) && pageRows.every((r) => r.mb > 0 && r.node.mbs > 0)))
    throw new Error("a server answered nothing");
  process.exit(0);
})().catch((e) => {
  console.error("query_bench:", e);
  process.exit(1);
});
