// Compression benchmark (httpCompression on the polling transport): the
// server's CPU time per MB of answer delivered (utime+stime from
// /proc/PID/stat around a fixed workload, divided by the plain bytes the
// clients decoded) and the bytes on the wire, for cwcache and for the Node
// baseline (tools/bench/sio_baseline.js: socket.io 4 on engine.io with its
// default httpCompression, threshold 1024, zlib level 6) in the same run.
// The clients are raw Engine.IO polling clients that send
// `Accept-Encoding: gzip, deflate` as browsers do ("gzip") or nothing
// ("plain", as the npm client's XMLHttpRequest in Node), and decode what
// they get. Servers:
//   cwcache   as shipped: a repeated request is answered from the kept
//             answer and its kept compressed copy
//   cw-norm   --answer-cache-mb 0: every answer rendered from LMDB and
//             compressed afresh (what a stream of distinct requests costs)
//   node      the baseline
// Each cell is the median of --runs runs; ratios are against node in the
// same run and the same client mode.
//
// usage: node tools/bench/sio_compress.js [--runs 3] [--companies 5000] [--workloads select,full]
//        [--smoke] [--keep]
// env: CWCACHE, TDSLITE (binaries; default build/...), CWCACHE_ROOT
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const zlib = require("zlib");
const { ROOT, need, arg, flag, median, CWCACHE, TDSLITE } = require("./sio_common");
const { procs, start, portOf, waitReady, cpuMs } = require("./bench_proc");
const { io } = need("socket.io-client");

const SMOKE = flag("smoke");
const RUNS = SMOKE ? 1 : Number(arg("runs", 3));
const COMPANIES = SMOKE ? 200 : Number(arg("companies", 5000));
const PSK = "bench-psk";

// ---- a raw Engine.IO polling client ------------------------------------------------

// One polling session over two keep-alive sockets (a GET and a POST may be
// in flight together, as in a browser).
class Poller {
  constructor(port, ae) {
    this.base = `http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`;
    this.headers = ae ? { "accept-encoding": ae } : {};
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    this.next = 1;
    this.acks = new Map();
    this.plain = this.wire = 0;
  }

  req(method, url, body) {
    return new Promise((resolve, reject) => {
      const headers = body === undefined ? this.headers : { "content-type": "text/plain;charset=UTF-8", "content-length": Buffer.byteLength(body) };
      const r = http.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ enc: res.headers["content-encoding"], body: Buffer.concat(chunks) }));
      });
      r.on("error", reject);
      if (body !== undefined) r.write(body);
      r.end();
    });
  }

  // One GET: its packets, the bytes on the wire and decoded counted.
  async poll() {
    const r = await this.req("GET", this.url);
    const b = r.enc === "gzip" ? zlib.gunzipSync(r.body) : r.enc === "deflate" ? zlib.inflateSync(r.body) : r.body;
    this.wire += r.body.length;
    this.plain += b.length;
    for (const p of b.toString().split("\x1e")) {
      if (p === "2") await this.req("POST", this.url, "3");
      const m = p.match(/^43(\d+)/);
      if (m) this.acks.set(Number(m[1]), p);
    }
  }

  async open() {
    const h = await this.req("GET", this.base);
    this.url = `${this.base}&sid=${JSON.parse(h.body.toString().slice(1)).sid}`;
    await this.req("POST", this.url, "40" + JSON.stringify({ psk: PSK }));
    await this.poll();
  }

  async call(event, opts) {
    const id = this.next++;
    await this.req("POST", this.url, `42${id}` + JSON.stringify([event, opts === undefined ? null : opts]));
    while (!this.acks.has(id)) await this.poll();
    const a = this.acks.get(id);
    this.acks.delete(id);
    if (!a.includes('"success":true')) throw new Error(`failed answer: ${a.slice(0, 200)}`);
  }

  close() {
    this.agent.destroy();
  }
}

// ---- one measurement ----------------------------------------------------------------

// `total` acks of the workload over `clients` sessions; the server's CPU ms
// per MB of answer (decoded bytes) and the wire bytes per decoded byte.
async function measure(srv, w, ae) {
  const clients = [];
  for (let i = 0; i < w.clients; i++) {
    const c = new Poller(srv.port, ae);
    await c.open();
    await c.call(w.event, w.opts); // warm: the answer kept, its copy made
    c.plain = c.wire = 0;
    clients.push(c);
  }
  let left = w.total;
  const cpu0 = cpuMs(srv.pid);
  await Promise.all(clients.map(async (c) => {
    while (left > 0) {
      left--;
      await c.call(w.event, w.opts);
    }
  }));
  const cpu = cpuMs(srv.pid) - cpu0;
  const plain = clients.reduce((n, c) => n + c.plain, 0), wire = clients.reduce((n, c) => n + c.wire, 0);
  clients.forEach((c) => c.close());
  return { cpuPerMB: cpu / (plain / 1e6), wireRatio: wire / plain, answerBytes: plain / w.total };
}

// ---- setup ---------------------------------------------------------------------------

async function startSource(dir) {
  const db = path.join(dir, "src.sqlite");
  execFileSync(TDSLITE, ["--db", db, "--generate", String(COMPANIES), "--schema", path.join(ROOT, "schema")], { stdio: "ignore" });
  const pf = path.join(dir, "tds.port");
  const p = start(TDSLITE, ["--db", db, "--port", "0", "--ready-file", pf, "--schema", path.join(ROOT, "schema"), "--log-level", "warn"], {}, dir, "tdslite");
  return `sqlserver://127.0.0.1:${await portOf(pf, p, "tdslite")};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false`;
}

// cw-norm shares cwcache's data directory, without a poller.
async function startCwcache(dir, url, name, extra) {
  const pf = path.join(dir, `${name}.port`);
  const p = start(CWCACHE, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data"),
    "--schema", path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"), "--log-level", "warn",
    "--poll-interval-ms", "600000", "--ping-timeout", "120000", ...extra], { DATABASE_URL: url, PSK, PORT: "" }, dir, name);
  const port = await portOf(pf, p, name);
  await waitReady(port);
  return { name, port, pid: p.pid };
}

// The baseline serves the rows cwcache serves, from memory.
async function startNode(dir, cw) {
  const s = io(`http://127.0.0.1:${cw.port}`, { auth: { psk: PSK }, transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise((resolve, reject) => s.on("connect", resolve).on("connect_error", reject));
  const full = (await s.emitWithAck("fetchCompanies", null)).data;
  s.close();
  fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify({ fetchCompanies: { full, rel: {} } }));
  const pf = path.join(dir, "node.port");
  const p = start(process.execPath, [path.join(__dirname, "sio_baseline.js"), path.join(dir, "data.json"), pf], { PSK }, dir, "node");
  return { name: "node", port: await portOf(pf, p, "node"), pid: p.pid };
}

// Acks per measurement are sized so that each takes the servers at least a
// few hundred clock ticks of CPU (/proc/PID/stat counts in 10 ms ticks).
function workloads() {
  const n = (x) => (SMOKE ? 2 : x);
  const only = arg("workloads", "select,full").split(",");
  return [
    { key: "select", name: `select 2 fields of ${COMPANIES} companies, 4 clients`, event: "fetchCompanies", opts: { select: ["companyId", "companyName"] }, clients: 4, total: n(400) },
    { key: "full", name: `full fetchCompanies of ${COMPANIES}, 2 clients`, event: "fetchCompanies", opts: undefined, clients: 2, total: n(30) },
  ].filter((w) => only.includes(w.key));
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-compress-"));
  const t0 = Date.now();
  const url = await startSource(dir);
  const cw = await startCwcache(dir, url, "cwcache", []);
  const servers = [cw, await startCwcache(dir, url, "cw-norm", ["--answer-cache-mb", "0", "--poller", "false"]), await startNode(dir, cw)];
  console.log(`${COMPANIES} companies, warm in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${RUNS} run(s), medians`);
  for (const w of workloads()) {
    console.log(`\n${w.name}, ${w.total} acks`);
    console.log("  server    client  CPU ms/MB  ratio to node  wire/plain  answer");
    for (const [mode, ae] of [["gzip", "gzip, deflate"], ["plain", undefined]]) {
      const cells = new Map(servers.map((s) => [s.name, []]));
      for (let run = 0; run < RUNS; run++)
        for (const s of servers) cells.get(s.name).push(await measure(s, w, ae));
      const nodeCpu = cells.get("node").map((r) => r.cpuPerMB);
      for (const s of servers) {
        const rs = cells.get(s.name);
        const ratios = rs.map((r, i) => r.cpuPerMB / nodeCpu[i]);
        console.log(`  ${s.name.padEnd(9)} ${mode.padEnd(6)} ${median(rs.map((r) => r.cpuPerMB)).toFixed(2).padStart(10)}` +
          `  ${median(ratios).toFixed(3).padStart(13)}  ${median(rs.map((r) => r.wireRatio)).toFixed(3).padStart(10)}` +
          `  ${(median(rs.map((r) => r.answerBytes)) / 1024).toFixed(0)} KiB`);
      }
    }
  }
  procs.forEach((p) => p.kill("SIGTERM"));
  if (!flag("keep")) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
