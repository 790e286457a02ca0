// Service loops benchmark (issue 15): the same workload against cwcache with
// --loops 1, 2, ... (a sweep), measuring the server's CPU time per ack
// (utime+stime from /proc/PID/stat around a fixed number of acks: it must stay
// flat as loops are added) and acks/s (it should grow with the loops while
// the machine has cores for them). The load generator can be pinned to a core
// of its own (--client-cpu, through taskset) and the server to the others
// (--server-cpus), so the two do not take each other's cores.
// Each cell is the median of --runs runs; runs interleave the loop counts, so
// a noisy moment hits all of them. Ratios are against the first loop count.
//
// usage: node tools/bench/loops_bench.js [--loops 1,2,4,8] [--runs 3] [--clients 64]
//        [--acks 6000] [--companies 2000] [--transport websocket|polling]
//        [--client-cpu N] [--server-cpus LIST] [--smoke]
// env: CWCACHE, TDSLITE (binaries; default build/...), CWCACHE_ROOT
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, need } = require("./sio_common");
const { start, portOf, waitReady, cpuMs } = require("./bench_proc");
const { io } = need("socket.io-client");

const argv = process.argv.slice(2);
const arg = (n, d) => {
  const i = argv.indexOf("--" + n);
  return i >= 0 ? argv[i + 1] : d;
};
const SMOKE = argv.includes("--smoke");
const LOOPS = arg("loops", "1,2").split(",").map(Number);
const RUNS = SMOKE ? 1 : Number(arg("runs", 3));
const CLIENTS = Number(arg("clients", SMOKE ? 4 : 64));
const ACKS = Number(arg("acks", SMOKE ? 40 : 6000));
const COMPANIES = Number(arg("companies", SMOKE ? 100 : 2000));
const TRANSPORT = arg("transport", "websocket");
const CLIENT_CPU = arg("client-cpu", null);
const SERVER_CPUS = arg("server-cpus", null);
const CWCACHE = process.env.CWCACHE || path.join(ROOT, "build/cwcache");
const TDSLITE = process.env.TDSLITE || path.join(ROOT, "build/tools/tdslite/tdslite");
const PSK = "bench-psk";
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Pins this process (the load generator) before any client exists.
if (CLIENT_CPU !== null) execFileSync("taskset", ["-p", "-c", CLIENT_CPU, String(process.pid)], { stdio: "ignore" });

async function startSource(dir) {
  const db = path.join(dir, "src.sqlite");
  execFileSync(TDSLITE, ["--db", db, "--generate", String(COMPANIES), "--schema", path.join(ROOT, "schema")], { stdio: "ignore" });
  const pf = path.join(dir, "tds.port");
  const p = start(TDSLITE, ["--db", db, "--port", "0", "--ready-file", pf, "--schema", path.join(ROOT, "schema"), "--log-level", "warn"], {}, dir, "tdslite");
  return `sqlserver://127.0.0.1:${await portOf(pf, p, "tdslite")};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false`;
}

// One server per loop count, on one data directory warmed by the first (the
// others only read it: --poller false).
async function startCwcache(dir, url, loops, first) {
  const pf = path.join(dir, `cw-${loops}.port`);
  const args = ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data"), "--loops", String(loops),
    "--schema", path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"), "--log-level", "warn",
    "--poll-interval-ms", "600000", "--ping-timeout", "120000", ...(first ? [] : ["--poller", "false"])];
  const [cmd, full] = SERVER_CPUS ? ["taskset", ["-c", SERVER_CPUS, CWCACHE, ...args]] : [CWCACHE, args];
  const p = start(cmd, full, { DATABASE_URL: url, PSK, PORT: "" }, dir, `cwcache-${loops}`);
  const port = await portOf(pf, p, "cwcache");
  await waitReady(port);
  return { loops, port, pid: p.pid };
}

function client(port) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { auth: { psk: PSK }, transports: [TRANSPORT], forceNew: true, reconnection: false });
    s.on("connect", () => resolve(s));
    s.on("connect_error", reject);
  });
}

// CLIENTS clients in closed loop until ACKS acks: a 2-field select (a kept
// answer after the first), the collectors' everyday request.
async function measure(srv) {
  const socks = await Promise.all(Array.from({ length: CLIENTS }, () => client(srv.port)));
  const opts = { select: ["companyId", "companyName"] };
  await socks[0].emitWithAck("fetchCompanies", opts);
  let left = ACKS;
  const cpu0 = cpuMs(srv.pid), t0 = process.hrtime.bigint();
  await Promise.all(socks.map(async (s) => {
    while (left-- > 0) {
      const r = await s.emitWithAck("fetchCompanies", opts);
      if (!r.success) throw new Error(r.error);
    }
  }));
  const wall = Number(process.hrtime.bigint() - t0) / 1e6, cpu = cpuMs(srv.pid) - cpu0;
  socks.forEach((s) => s.close());
  return { cpuPerAck: cpu / ACKS, acksPerS: (ACKS * 1000) / wall };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loops-bench-"));
  const url = await startSource(dir);
  const servers = [];
  for (const l of LOOPS) servers.push(await startCwcache(dir, url, l, servers.length === 0));
  const rs = Object.fromEntries(LOOPS.map((l) => [l, []]));
  for (let r = 0; r < RUNS; r++) for (const s of servers) rs[s.loops].push(await measure(s));
  const cell = (l, m) => median(rs[l].map((x) => x[m]));
  const base = LOOPS[0], f = (x) => x.toFixed(3);
  console.log(`\n${os.cpus().length} cores; ${CLIENTS} ${TRANSPORT} clients, ${ACKS} acks per run, median of ${RUNS}` +
    `${CLIENT_CPU !== null ? `, load generator on cpu ${CLIENT_CPU}` : ""}${SERVER_CPUS ? `, server on cpus ${SERVER_CPUS}` : ""}`);
  console.log("| loops | server cpu ms/ack | acks/s | cpu/ack vs " + base + " loop(s) | acks/s vs " + base + " loop(s) |");
  console.log("|---|---|---|---|---|");
  for (const l of LOOPS)
    console.log(`| ${l} | ${f(cell(l, "cpuPerAck"))} | ${cell(l, "acksPerS").toFixed(0)} | ${f(cell(l, "cpuPerAck") / cell(base, "cpuPerAck"))} | ${f(cell(l, "acksPerS") / cell(base, "acksPerS"))} |`);
  if (!argv.includes("--keep")) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
