// Socket.IO benchmark: cwcache against a Node socket.io 4 baseline serving
// the same data from memory, and sio_bare (tools/bench/sio_bare.c), a C
// server on the same libwebsockets framing answering with prebuilt bytes
// (the limit). Main figure: the server process's CPU time
// per ack (utime+stime from /proc/PID/stat around a fixed workload), with
// acks/s and p50/p99 latency, through socket.io-client and a bare ws client.
// Each cell is the median of --runs runs; ratios are against the baseline
// measured in the same run.
//
// usage: node tools/bench/sio_bench.js [--runs 5] [--companies 5000] [--big 50000]
//        [--big-only] (only the --big full-fetch suite) [--only TEXT] (workloads whose name has TEXT)
//        [--smoke]   (tiny data set, one run: checks the harness works) [--keep] (keep the work dir)
// env: CWCACHE, TDSLITE, SIO_BARE (binaries; default build/...), CWCACHE_ROOT
"use strict";
const { spawn, execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, sioConnect, wsConnect } = require("./sio_common");

const argv = process.argv.slice(2);
const arg = (n, d) => {
  const i = argv.indexOf("--" + n);
  return i >= 0 ? argv[i + 1] : d;
};
const SMOKE = argv.includes("--smoke");
const RUNS = SMOKE ? 1 : Number(arg("runs", 5));
const COMPANIES = SMOKE ? 200 : Number(arg("companies", 5000));
const BIG = SMOKE ? 0 : Number(arg("big", 50000));
const CWCACHE = process.env.CWCACHE || path.join(ROOT, "build/cwcache");
const TDSLITE = process.env.TDSLITE || path.join(ROOT, "build/tools/tdslite/tdslite");
const SIO_BARE = process.env.SIO_BARE || path.join(ROOT, "build/tools/bench/sio_bare");
const PSK = "bench-psk";
const { procs, sleep, start, portOf, waitReady, cpuMs } = require("./bench_proc");

// ---- clients ------------------------------------------------------------------

const sioClient = (port) => sioConnect(port, PSK);
const wsClient = (port) => wsConnect(port, PSK);

// ---- one measurement ------------------------------------------------------------

function pct(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : 0;
}

// N clients in closed loop until `total` acks; optional background load
// (clients looping on `bg` until the foreground is done).
// The background load runs in a child process of its own (`--bg-load`), so
// parsing its big answers never delays the measured client's event loop:
// the latency measured is the server's, not the benchmark's.
function startBackground(srv, kind, w) {
  const child = spawn(process.execPath, [__filename, "--bg-load", String(srv.port), kind,
    String(w.bgClients), w.bg.event, JSON.stringify(w.bg.opts === undefined ? null : w.bg.opts)],
    { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const ready = new Promise((res, rej) => {
    child.stdout.on("data", () => out.includes("ready") && res());
    child.on("exit", (c) => rej(new Error(`background load exited (${c})`)));
  });
  const stop = () => new Promise((res) => {
    child.removeAllListeners("exit");
    child.on("exit", () => res(Number((out.match(/acks (\d+)/) || [0, 0])[1])));
    child.kill("SIGTERM");
  });
  return { ready, stop };
}

// Child side: N clients repeat one request until SIGTERM, then report acks.
async function backgroundLoad([port, kind, n, event, optsJson]) {
  const mk = kind === "sio" ? sioClient : wsClient;
  const opts = JSON.parse(optsJson) === null ? undefined : JSON.parse(optsJson);
  const clients = await Promise.all(Array.from({ length: Number(n) }, () => mk(Number(port))));
  let acks = 0, done = false;
  process.removeAllListeners("SIGTERM"); // the parent's stop: finish the calls in flight, report
  process.on("SIGTERM", () => (done = true));
  const loops = clients.map(async (c) => { while (!done) await c.call(event, opts), acks++; });
  process.stdout.write("ready\n");
  await Promise.all(loops);
  process.stdout.write(`acks ${acks}\n`);
  process.exit(0);
}

async function measure(srv, kind, w) {
  const mk = kind === "sio" ? sioClient : wsClient;
  const clients = await Promise.all(Array.from({ length: w.clients }, () => mk(srv.port)));
  await clients[0].call(w.event, w.opts); // warm-up
  let left = w.total;
  const lat = [];
  const bg = w.bgClients ? startBackground(srv, kind, w) : null;
  if (bg) await bg.ready, await sleep(50);
  const cpu0 = cpuMs(srv.pid), t0 = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (c) => {
      while (left-- > 0) {
        const a = process.hrtime.bigint();
        await c.call(w.event, w.opts);
        lat.push(Number(process.hrtime.bigint() - a) / 1e6);
      }
    })
  );
  const wall = Number(process.hrtime.bigint() - t0) / 1e6, cpu = cpuMs(srv.pid) - cpu0;
  const bgAcks = bg ? await bg.stop() : 0;
  clients.forEach((c) => c.close());
  lat.sort((a, b) => a - b);
  // Server CPU covers the background acks too: charge it to every ack served.
  return { cpuPerAck: cpu / (w.total + bgAcks), acksPerS: (w.total * 1000) / wall, p50: pct(lat, 50), p99: pct(lat, 99) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- setup ---------------------------------------------------------------------

async function startSource(dir, companies) {
  const db = path.join(dir, `src-${companies}.sqlite`);
  execFileSync(TDSLITE, ["--db", db, "--generate", String(companies), "--schema", path.join(ROOT, "schema")], { stdio: "ignore" });
  const pf = path.join(dir, `tds-${companies}.port`);
  const p = start(TDSLITE, ["--db", db, "--port", "0", "--ready-file", pf, "--schema", path.join(ROOT, "schema"), "--log-level", "warn"], {}, dir, `tdslite-${companies}`);
  return `sqlserver://127.0.0.1:${await portOf(pf, p, "tdslite")};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false`;
}

// name "cwcache": as shipped; "cw-norm": answer reuse off (--answer-cache-mb 0),
// every ack rendered from LMDB, on the same data directory without a poller.
// cwcache's poller runs once (the warm-up) and then idles for the whole
// benchmark: its periodic work (polls, delete reconciliation) is not per-ack
// work and would only add noise. Reuse does not depend on it: polls that
// find nothing new leave kept answers valid (tests/e2e/test_answers.js).
async function startCwcache(dir, url, tag, name = "cwcache") {
  const pf = path.join(dir, `${name}-${tag}.port`);
  const extra = name === "cwcache" ? [] : ["--answer-cache-mb", "0", "--poller", "false"];
  const p = start(CWCACHE, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data-" + tag),
    "--schema", path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"), "--log-level", "warn",
    "--poll-interval-ms", "600000", "--ping-timeout", "120000", ...extra], { DATABASE_URL: url, PSK, PORT: "" }, dir, `${name}-${tag}`);
  const port = await portOf(pf, p, name);
  await waitReady(port);
  return { name, port, pid: p.pid };
}

// The reference servers get the data (and the prebuilt answers) from cwcache.
async function startReferences(dir, cw, workloads, tag) {
  const full = {}, answers = [];
  const s = await sioClient(cw.port);
  for (const ev of new Set(workloads.flatMap((w) => [w.event, w.bg && w.bg.event].filter(Boolean))))
    full[ev] = { full: (await s.call(ev, undefined)).data, rel: {} };
  for (const w of workloads)
    for (const r of [w, w.bg].filter(Boolean)) {
      const req = JSON.stringify([r.event, r.opts === undefined ? null : r.opts]);
      answers.push(req + "\t" + JSON.stringify(await s.call(r.event, r.opts)));
    }
  s.close();
  fs.writeFileSync(path.join(dir, `data-${tag}.json`), JSON.stringify(full));
  fs.writeFileSync(path.join(dir, `answers-${tag}.txt`), answers.join("\n") + "\n");
  const refs = [];
  for (const [name, cmd, args] of [
    ["node", process.execPath, [path.join(__dirname, "sio_baseline.js"), path.join(dir, `data-${tag}.json`)]],
    ["bare", SIO_BARE, [path.join(dir, `answers-${tag}.txt`)]],
  ]) {
    const pf = path.join(dir, `${name}-${tag}.port`);
    const p = start(cmd, [...args, pf], { PSK }, dir, `${name}-${tag}`);
    refs.push({ name, port: await portOf(pf, p, name), pid: p.pid });
  }
  return refs;
}

// The request whose answer is closest to `bytes` among whole collectors,
// selects and includes: on the generated data set a 9-field select of the
// members (~22 KB at 5000 companies).
async function requestNear(cw, bytes) {
  const member9 = ["memberRecId", "memberId", "firstName", "lastName", "title", "emailAddress", "phoneNbr", "inactiveFlag", "lastUpdate"];
  const cands = [
    ["fetchMembers", { select: member9 }],
    ["fetchMembers", { select: member9.slice(0, 7) }],
    ["fetchMembers", undefined],
    ["fetchProductCategories", { include: ["subcategories"] }],
    ["fetchProductSubcategories", { include: ["category"] }],
    ["fetchProductCategories", undefined],
    ["fetchProducts", { select: ["itemId"] }],
  ];
  const s = await sioClient(cw.port);
  let best;
  for (const [event, opts] of cands) {
    const r = await s.call(event, opts);
    if (!r.success) continue;
    const n = JSON.stringify(r).length;
    if (!best || Math.abs(n - bytes) < Math.abs(best.n - bytes)) best = { event, opts, n };
  }
  s.close();
  return best;
}

// Ack counts are sized so that each measurement takes the servers at least
// a few hundred clock ticks of CPU (/proc/PID/stat counts in 10 ms ticks).
function workloadsFor(companies, near, tag) {
  const sel = { event: "fetchCompanies", opts: { select: ["companyId", "companyName"] } };
  const full = { event: "fetchCompanies", opts: undefined };
  const small = { event: "fetchProductCategories", opts: { select: ["description"] } };
  const n = (x) => (SMOKE ? Math.max(2, Math.ceil(x / 50)) : x);
  if (tag === "big")
    return [{ name: `full fetchCompanies of ${companies}, 2 clients`, ...full, clients: 2, total: n(16) }];
  return [
    { name: `select 2 fields of ${companies}, 1 client`, ...sel, clients: 1, total: n(1500) },
    { name: `select 2 fields of ${companies}, 50 clients`, ...sel, clients: 50, total: n(3000) },
    { name: `full fetchCompanies of ${companies}, 4 clients`, ...full, clients: 4, total: n(120) },
    { name: `${(near.n / 1024).toFixed(1)} KB answer (${near.event} ${JSON.stringify(near.opts || null)}), 50 clients`,
      event: near.event, opts: near.opts, clients: 50, total: n(10000) },
    { name: `small requests (${small.event} select description), 1 client, while 4 clients fetch all ${companies}`,
      ...small, clients: 1, total: n(1000), bgClients: 4, bg: full, latencyOnly: true },
  ];
}

async function suite(dir, companies, tag) {
  const t0 = Date.now();
  const url = await startSource(dir, companies);
  const cw = await startCwcache(dir, url, tag);
  console.log(`\n== ${companies} companies: source generated and cache warm in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const near = tag === "main" ? await requestNear(cw, 22 * 1024) : null;
  const only = arg("only", "");
  const workloads = workloadsFor(companies, near, tag).filter((w) => w.name.includes(only));
  const servers = [cw, await startCwcache(dir, url, tag, "cw-norm"), ...(await startReferences(dir, cw, workloads, tag))];
  const rows = [];
  for (const w of workloads)
    for (const kind of ["sio", "ws"]) {
      // Runs interleave the servers, so a noisy moment hits all of them.
      const rs = Object.fromEntries(servers.map((s) => [s.name, []]));
      for (let r = 0; r < RUNS; r++) for (const s of servers) rs[s.name].push(await measure(s, kind, w));
      const cells = {};
      for (const s of servers)
        cells[s.name] = Object.fromEntries(["cpuPerAck", "acksPerS", "p50", "p99"].map((m) => [m, median(rs[s.name].map((x) => x[m]))]));
      // Ratios: the median of each run's ratio against the server measured
      // next to it, not a ratio of medians.
      const ratio = (a, b, m) => median(rs[a].map((x, i) => x[m] / rs[b][i][m]));
      const ratios = { cpuNode: ratio("cwcache", "node", "cpuPerAck"), p99Node: ratio("cwcache", "node", "p99"),
        cpuBare: ratio("cwcache", "bare", "cpuPerAck"), cpuNodeNoReuse: ratio("cw-norm", "node", "cpuPerAck"),
        p99NodeNoReuse: ratio("cw-norm", "node", "p99") };
      rows.push({ w, kind, cells, ratios });
      print(rows[rows.length - 1]);
    }
  return rows;
}

function print({ w, kind, cells, ratios }) {
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
  console.log(`\n${w.name} [${kind === "sio" ? "socket.io-client" : "bare ws client"}]`);
  console.log("  server   cpu ms/ack   acks/s     p50 ms    p99 ms");
  for (const [n, c] of Object.entries(cells))
    console.log(`  ${n.padEnd(8)} ${f(c.cpuPerAck).padStart(10)} ${f(c.acksPerS).padStart(9)} ${f(c.p50).padStart(9)} ${f(c.p99).padStart(9)}`);
  console.log(`  cwcache/node: cpu per ack ${f(ratios.cpuNode)}, p99 ${f(ratios.p99Node)}; cwcache/bare: cpu per ack ${f(ratios.cpuBare)}`);
  console.log(`  cw-norm/node (no answer reuse): cpu per ack ${f(ratios.cpuNodeNoReuse)}, p99 ${f(ratios.p99NodeNoReuse)}`);
}

// One line per workload and client: the figures docs/server.md quotes.
function summary(rows) {
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
  console.log("\n| workload | client | cpu ms/ack cwcache / no reuse / node / bare | cw/node cpu | no-reuse/node cpu | cw/bare cpu | acks/s cwcache / node | p50/p99 ms cwcache | no reuse | node | cw/node p99 | no-reuse/node p99 |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const { w, kind, cells: c, ratios: r } of rows)
    console.log(`| ${w.name} | ${kind === "sio" ? "socket.io-client" : "ws"} | ${f(c.cwcache.cpuPerAck)} / ${f(c["cw-norm"].cpuPerAck)} / ${f(c.node.cpuPerAck)} / ${f(c.bare.cpuPerAck)} | ${f(r.cpuNode)} | ${f(r.cpuNodeNoReuse)} | ${f(r.cpuBare)} | ${f(c.cwcache.acksPerS)} / ${f(c.node.acksPerS)} | ${f(c.cwcache.p50)}/${f(c.cwcache.p99)} | ${f(c["cw-norm"].p50)}/${f(c["cw-norm"].p99)} | ${f(c.node.p50)}/${f(c.node.p99)} | ${f(r.p99Node)} | ${f(r.p99NodeNoReuse)} |`);
}

if (argv[0] === "--bg-load") {
  backgroundLoad(argv.slice(1)).catch((e) => {
    console.error("sio_bench background load:", e);
    process.exit(1);
  });
} else (async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cwcache-sio-bench-"));
  console.log(`sio_bench: ${RUNS} run(s) per cell, medians; CPU = server utime+stime; work dir ${dir}`);
  const rows = argv.includes("--big-only") ? [] : await suite(dir, COMPANIES, "main");
  if (BIG) rows.push(...(await suite(dir, BIG, "big")));
  summary(rows);
  procs.forEach((p) => p.kill("SIGTERM"));
  if (!argv.includes("--keep")) fs.rmSync(dir, { recursive: true, force: true });
  if (SMOKE && !rows.every((r) => Object.values(r.cells).every((c) => c.acksPerS > 0))) throw new Error("a server answered nothing");
  process.exit(0);
})().catch((e) => {
  console.error("sio_bench:", e);
  process.exit(1);
});
