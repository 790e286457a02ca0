// Socket.IO benchmark: cwcache against a Node socket.io 4 baseline serving
// the same data from memory, and a bare websocket server answering with
// prebuilt bytes (the limit). Main figure: the server process's CPU time
// per ack (utime+stime from /proc/PID/stat around a fixed workload), with
// acks/s and p50/p99 latency, through socket.io-client and a bare ws client.
// Each cell is the median of --runs runs; ratios are against the baseline
// measured in the same run.
//
// usage: node tools/bench/sio_bench.js [--runs 5] [--companies 5000] [--big 50000]
//        [--smoke]   (tiny data set, one run: checks the harness works)
// env: CWCACHE, TDSLITE (binaries; default build/...), CWCACHE_ROOT
"use strict";
const { spawn, execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, need, key } = require("./sio_common");
const { io } = need("socket.io-client");
const WebSocket = need("ws");

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
const PSK = "bench-psk";
const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"]).toString());
const procs = new Set();
process.on("exit", () => procs.forEach((p) => p.kill("SIGTERM")));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(cmd, args, env, dir, name) {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const log = fs.createWriteStream(path.join(dir, name + ".log"));
  p.stdout.pipe(log);
  p.stderr.pipe(log);
  procs.add(p);
  p.on("exit", () => procs.delete(p));
  return p;
}

async function portOf(file, p, what) {
  for (let i = 0; i < 6000; i++) {
    if (p.exitCode !== null) throw new Error(`${what} exited`);
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8").trim()) return Number(fs.readFileSync(file, "utf8"));
    await sleep(20);
  }
  throw new Error(`${what} did not start`);
}

async function waitReady(port) {
  for (let i = 0; i < 3000; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error("cwcache never became ready");
}

function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) * TICK_MS; // utime, stime
}

// ---- clients ------------------------------------------------------------------

function sioClient(port) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { auth: { psk: PSK }, transports: ["websocket"], forceNew: true, reconnection: false });
    s.on("connect", () => resolve({ call: (ev, o) => s.emitWithAck(ev, o), close: () => s.close() }));
    s.on("connect_error", reject);
  });
}

function wsClient(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    const pending = new Map();
    let next = 1, connected;
    ws.on("message", (buf) => {
      const m = buf.toString();
      if (m[0] === "2") return ws.send("3");
      if (m.startsWith("0")) return ws.send("40" + JSON.stringify({ psk: PSK }));
      if (m.startsWith("40")) return connected();
      if (!m.startsWith("43")) return;
      const id = Number(m.slice(2, m.indexOf("[")));
      const cb = pending.get(id);
      pending.delete(id);
      cb(m.length);
    });
    ws.on("error", reject);
    connected = () =>
      resolve({
        call: (ev, o) =>
          new Promise((r) => {
            const id = next++;
            pending.set(id, r);
            ws.send("42" + id + JSON.stringify(o === undefined ? [ev, null] : [ev, o]));
          }),
        close: () => ws.close(),
      });
  });
}

// ---- one measurement ------------------------------------------------------------

function pct(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : 0;
}

// N clients in closed loop until `total` acks; optional background load
// (clients looping on `bg` until the foreground is done).
async function measure(srv, kind, w) {
  const mk = kind === "sio" ? sioClient : wsClient;
  const clients = await Promise.all(Array.from({ length: w.clients }, () => mk(srv.port)));
  const bgClients = await Promise.all(Array.from({ length: w.bgClients || 0 }, () => mk(srv.port)));
  await clients[0].call(w.event, w.opts); // warm-up
  let left = w.total, done = false;
  const lat = [];
  const bgLoops = bgClients.map(async (c) => {
    let n = 0;
    while (!done) await c.call(w.bg.event, w.bg.opts), n++;
    return n;
  });
  if (bgClients.length) await sleep(50);
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
  done = true;
  const bgAcks = (await Promise.all(bgLoops)).reduce((a, b) => a + b, 0);
  [...clients, ...bgClients].forEach((c) => c.close());
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
  return `sqlserver://127.0.0.1:${await portOf(pf, p, "tdslite")};database=cwwebapp_demo;user=sa;password=tdslite`;
}

async function startCwcache(dir, url, tag) {
  const pf = path.join(dir, `cw-${tag}.port`);
  const p = start(CWCACHE, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data-" + tag),
    "--schema", path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"), "--log-level", "warn",
    "--poll-interval-ms", "600000", "--ping-timeout", "120000"], { DATABASE_URL: url, PSK, PORT: "" }, dir, "cwcache-" + tag);
  const port = await portOf(pf, p, "cwcache");
  await waitReady(port);
  return { name: "cwcache", port, pid: p.pid };
}

// The reference servers get the data (and the prebuilt answers) from cwcache.
async function startReferences(dir, cw, workloads, tag) {
  const c = await wsClient(cw.port);
  const full = {}, answers = {};
  for (const ev of new Set(workloads.flatMap((w) => [w.event, w.bg && w.bg.event].filter(Boolean)))) {
    const s = await sioClient(cw.port);
    full[ev] = { full: (await s.call(ev, undefined)).data, rel: {} };
    s.close();
  }
  const s = await sioClient(cw.port);
  for (const w of workloads)
    for (const r of [w, w.bg].filter(Boolean)) answers[key(r.event, r.opts)] = JSON.stringify(await s.call(r.event, r.opts));
  s.close();
  c.close();
  fs.writeFileSync(path.join(dir, `data-${tag}.json`), JSON.stringify(full));
  fs.writeFileSync(path.join(dir, `answers-${tag}.json`), JSON.stringify(answers));
  const refs = [];
  for (const [name, script, file] of [["node", "sio_baseline.js", `data-${tag}.json`], ["bare", "sio_bare.js", `answers-${tag}.json`]]) {
    const pf = path.join(dir, `${name}-${tag}.port`);
    const p = start(process.execPath, [path.join(__dirname, script), path.join(dir, file), pf], { PSK }, dir, `${name}-${tag}`);
    refs.push({ name, port: await portOf(pf, p, name), pid: p.pid });
  }
  return refs;
}

// A request whose answer is closest to `bytes`, among whole collectors and selects.
async function requestNear(cw, bytes) {
  const s = await sioClient(cw.port);
  let best;
  for (const ev of ["fetchProductCategories", "fetchProductSubcategories", "fetchManufacturers", "fetchMembers", "fetchProducts", "fetchCompanies"])
    for (const opts of [undefined, { select: ["itemId"] }, { select: ["companyId"] }, { select: ["memberId"] }, { select: ["description"] }]) {
      const r = await s.call(ev, opts);
      if (!r.success) continue;
      const n = JSON.stringify(r).length;
      if (!best || Math.abs(n - bytes) < Math.abs(best.n - bytes)) best = { event: ev, opts, n };
    }
  s.close();
  return best;
}

function workloadsFor(companies, near22k, tag) {
  const sel = { event: "fetchCompanies", opts: { select: ["companyId", "companyName"] } };
  const full = { event: "fetchCompanies", opts: undefined };
  const small = { event: "fetchCompanies", opts: { select: ["companyId"] } };
  const k = SMOKE ? 0.05 : 1;
  const w = [];
  if (tag === "main") {
    w.push({ name: `select 2 fields of ${companies}, 1 client`, ...sel, clients: 1, total: Math.ceil(200 * k) });
    w.push({ name: `select 2 fields of ${companies}, 50 clients`, ...sel, clients: 50, total: Math.ceil(1000 * k) });
    w.push({ name: `full fetchCompanies of ${companies}, 4 clients`, ...full, clients: 4, total: Math.ceil(60 * k) });
    w.push({ name: `${(near22k.n / 1024).toFixed(0)} KB answer (${near22k.event}), 50 clients`, event: near22k.event, opts: near22k.opts, clients: 50, total: Math.ceil(3000 * k) });
    w.push({ name: `small requests while 4 clients fetch all ${companies}`, event: "fetchProductCategories", opts: { select: ["description"] }, clients: 1, total: Math.ceil(200 * k), bgClients: 4, bg: full, latencyOnly: true });
  } else {
    w.push({ name: `full fetchCompanies of ${companies}, 2 clients`, ...full, clients: 2, total: 10 });
  }
  void small;
  return w;
}

async function suite(dir, companies, tag) {
  const url = await startSource(dir, companies);
  const cw = await startCwcache(dir, url, tag);
  const near = tag === "main" ? await requestNear(cw, 22 * 1024) : null;
  const workloads = workloadsFor(companies, near, tag);
  const servers = [cw, ...(await startReferences(dir, cw, workloads, tag))];
  const rows = [];
  for (const w of workloads)
    for (const kind of ["sio", "ws"]) {
      const cells = {};
      for (const s of servers) {
        const rs = [];
        for (let r = 0; r < RUNS; r++) rs.push(await measure(s, kind, w));
        cells[s.name] = Object.fromEntries(["cpuPerAck", "acksPerS", "p50", "p99"].map((m) => [m, median(rs.map((x) => x[m]))]));
      }
      rows.push({ w, kind, cells });
      print(rows[rows.length - 1]);
    }
  return rows;
}

function print({ w, kind, cells }) {
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
  const cw = cells.cwcache, nd = cells.node, bare = cells.bare;
  console.log(`\n${w.name} [${kind === "sio" ? "socket.io-client" : "bare ws client"}]`);
  console.log("  server   cpu ms/ack   acks/s     p50 ms    p99 ms");
  for (const [n, c] of Object.entries(cells))
    console.log(`  ${n.padEnd(8)} ${f(c.cpuPerAck).padStart(10)} ${f(c.acksPerS).padStart(9)} ${f(c.p50).padStart(9)} ${f(c.p99).padStart(9)}`);
  console.log(`  cwcache/node: cpu per ack ${f(cw.cpuPerAck / nd.cpuPerAck)}, p99 ${f(cw.p99 / nd.p99)}; cwcache/bare cpu ${f(cw.cpuPerAck / bare.cpuPerAck)}`);
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cwcache-sio-bench-"));
  console.log(`sio_bench: ${RUNS} run(s) per cell, medians; CPU = server utime+stime; work dir ${dir}`);
  await suite(dir, COMPANIES, "main");
  if (BIG) await suite(dir, BIG, "big");
  process.exit(0);
})().catch((e) => {
  console.error("sio_bench:", e);
  process.exit(1);
});
