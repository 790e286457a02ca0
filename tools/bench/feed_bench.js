// Change feed benchmark (docs/server.md "Staying in sync"):
//  1. change-event latency: a company renamed in tdslite's SQLite file (the
//     source commit) until the subscribed socket.io-client receives the
//     "change" event carrying it; p50/p99 over --changes changes per run,
//     against the target P + 50 ms (P: the poll interval). The poller
//     finds a change up to P after its commit, so P is the floor.
//  2. server CPU per ack (utime+stime from /proc/PID/stat around a fixed
//     number of acks) of an `ifNoneMatch` answered notModified against the
//     same request answered in full (meta: true; feed answers are rendered
//     every time) and the plain request (kept answer reused), one client.
// Each figure is the median of --runs runs; ratios are per run against the
// full ack measured next to it.
//
// usage: node tools/bench/feed_bench.js [--runs 3] [--changes 50] [--poll-ms 1000]
//        [--companies 5000] [--acks 3000] [--smoke] [--keep]
// env: CWCACHE, TDSLITE (binaries; default build/...), CWCACHE_ROOT
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, need } = require("./sio_common");
const { io } = need("socket.io-client");

const argv = process.argv.slice(2);
const arg = (n, d) => {
  const i = argv.indexOf("--" + n);
  return i >= 0 ? argv[i + 1] : d;
};
const SMOKE = argv.includes("--smoke");
const RUNS = SMOKE ? 1 : Number(arg("runs", 3));
const CHANGES = SMOKE ? 3 : Number(arg("changes", 50));
const POLL_MS = Number(arg("poll-ms", 1000));
const COMPANIES = SMOKE ? 200 : Number(arg("companies", 5000));
const ACKS = SMOKE ? 50 : Number(arg("acks", 3000));
const CWCACHE = process.env.CWCACHE || path.join(ROOT, "build/cwcache");
const TDSLITE = process.env.TDSLITE || path.join(ROOT, "build/tools/tdslite/tdslite");
const PSK = "bench-psk";
const { procs, sleep, start, portOf, waitReady, cpuMs, startSource } = require("./bench_proc");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { auth: { psk: PSK }, transports: ["websocket"], forceNew: true, reconnection: false });
    s.on("connect", () => resolve(s));
    s.on("connect_error", reject);
  });
}

// One long-lived Python process renames companies on request: a rename is
// committed when it answers, so its timestamp is the source commit's.
function renamer(db) {
  const code =
    "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\n" +
    "for line in sys.stdin:\n" +
    "  rec,name=line.rstrip('\\n').split('\\t')\n" +
    "  c.execute(\"UPDATE Company SET Company_Name=?, Last_Update=strftime('%Y-%m-%d %H:%M:%f','now'), " +
    "Last_Update_UTC=strftime('%Y-%m-%d %H:%M:%f','now') WHERE Company_RecID=?\",(name,int(rec)))\n" +
    "  c.commit()\n  print('ok',flush=True)\n";
  const p = spawn("/usr/bin/python3", ["-c", code, db], { stdio: ["pipe", "pipe", "inherit"] });
  procs.add(p);
  let waiting = null;
  p.stdout.on("data", () => waiting && waiting());
  return {
    rename: (rec, name) =>
      new Promise((res) => {
        waiting = () => res(process.hrtime.bigint());
        p.stdin.write(`${rec}\t${name}\n`);
      }),
    close: () => p.kill(),
  };
}

async function latencyRun(port, db, recs, run) {
  const s = await connect(port);
  const sel = { select: ["companyRecId", "companyName"] };
  const base = await s.emitWithAck("fetchCompanies", { ...sel, meta: true });
  const seen = new Map();
  s.on("change", (c) => {
    const t = process.hrtime.bigint();
    for (const r of c.data) if (!seen.has(r.companyName)) seen.set(r.companyName, t);
  });
  const ack = await s.emitWithAck("subscribe", { event: "fetchCompanies", ...sel, since: base.version });
  if (!ack.success) throw new Error(JSON.stringify(ack));
  const r = renamer(db);
  const lat = [];
  for (let i = 0; i < CHANGES; i++) {
    // Spread commits over the poll cycle: a fixed phase would measure one point of it.
    await sleep(Math.floor(Math.random() * POLL_MS));
    const name = `feed-bench ${run}.${i}`;
    const t0 = await r.rename(recs[i % recs.length], name);
    const end = Date.now() + 10 * POLL_MS + 10000;
    while (!seen.has(name)) {
      if (Date.now() > end) throw new Error(`no change event for ${name}`);
      await sleep(1);
    }
    lat.push(Number(seen.get(name) - t0) / 1e6);
  }
  r.close();
  s.close();
  return { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat) };
}

async function cpuPerAck(pid, port, opts) {
  const s = await connect(port);
  await s.emitWithAck("fetchCompanies", opts);
  const c0 = cpuMs(pid);
  for (let i = 0; i < ACKS; i++) await s.emitWithAck("fetchCompanies", opts);
  const c = cpuMs(pid) - c0;
  s.close();
  return c / ACKS;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "feed-bench-"));
  const { db, proc: tp, url } = await startSource(TDSLITE, ROOT, dir, COMPANIES);
  const pf = path.join(dir, "cw.port");
  const cw = start(CWCACHE, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data"),
    "--schema", path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"), "--log-level", "warn",
    "--poll-interval-ms", String(POLL_MS)], { DATABASE_URL: url, PSK, PORT: "" }, dir, "cwcache");
  const port = await portOf(pf, cw, "cwcache");
  await waitReady(port);
  const s = await connect(port);
  const all = (await s.emitWithAck("fetchCompanies", { select: ["companyRecId"] })).data.map((r) => r.companyRecId);
  s.close();
  const recs = all.slice(0, CHANGES);
  console.log(`cwcache, ${COMPANIES} companies, poll interval P = ${POLL_MS} ms, ${RUNS} run(s)`);

  const lats = [];
  for (let run = 0; run < RUNS; run++) {
    const l = await latencyRun(port, db, recs, run);
    lats.push(l);
    console.log(`  run ${run + 1}: change event after source commit p50 ${l.p50.toFixed(0)} ms, p99 ${l.p99.toFixed(0)} ms, max ${l.max.toFixed(0)} ms (${CHANGES} changes)`);
  }
  const p99 = median(lats.map((l) => l.p99));
  console.log(`change-event latency (median of runs): p50 ${median(lats.map((l) => l.p50)).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; target P + 50 = ${POLL_MS + 50} ms: ${p99 <= POLL_MS + 50 ? "met" : "NOT met"}`);

  const s2 = await connect(port);
  const sel = { select: ["companyRecId", "companyName"] };
  const v = (await s2.emitWithAck("fetchCompanies", { ...sel, meta: true })).version;
  s2.close();
  const rows = { notModified: [], full: [], reused: [], ratio: [], ratioReused: [] };
  for (let run = 0; run < RUNS; run++) {
    const full = await cpuPerAck(cw.pid, port, { ...sel, meta: true });
    const nm = await cpuPerAck(cw.pid, port, { ...sel, ifNoneMatch: v });
    const reused = await cpuPerAck(cw.pid, port, sel);
    rows.full.push(full), rows.notModified.push(nm), rows.reused.push(reused);
    rows.ratio.push(nm / full), rows.ratioReused.push(nm / reused);
  }
  const f = (x) => x.toFixed(4);
  console.log(`server CPU per ack, ${ACKS} acks, select 2 fields of ${COMPANIES} (median of ${RUNS}):`);
  console.log(`  full answer (meta: true)      ${f(median(rows.full))} ms`);
  console.log(`  notModified (ifNoneMatch)     ${f(median(rows.notModified))} ms   ratio to full ${median(rows.ratio).toFixed(3)}`);
  console.log(`  plain request, kept answer    ${f(median(rows.reused))} ms   notModified/kept ${median(rows.ratioReused).toFixed(3)}`);
  if (!argv.includes("--keep")) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
