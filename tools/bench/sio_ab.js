// A/B of two (or more) cwcache builds on one request without answer reuse
// (--answer-cache-mb 0): every ack is rendered from LMDB, so the figure is
// the render path's cost plus the same framing and socket work every build
// pays. One tdslite data set is generated and warmed once; each build then
// serves the same data directory (--poller false) in turn (readiness allows
// a day of staleness: no poller runs after the warm-up), rounds interleave
// the builds, their order rotating, so a noisy moment hits all of them, and
// each round's ratio is against the first build given, measured in it. Figure: server CPU per ack
// (utime+stime from /proc/PID/stat around N acks, bare ws client, one
// request at a time), medians of the rounds.
//
// With --reuse the builds keep answer reuse on (answer_cache_mb as shipped):
// every ack after the first is the kept answer, the path no render touches.
//
// With --warm-each every build warms a data directory of its own from the
// same source (builds whose store formats differ cannot share one).
//
// With --bare SIO_BARE the limit server (tools/bench/sio_bare.c) answers the
// same request with the first build's answer bytes, prebuilt, in every round
// next to the builds, and each build's ratio to it is printed (issue 14 goal 1).
//
// usage: node tools/bench/sio_ab.js --bin OLD --bin NEW [--bin ...] [--rounds 3]
//        [--companies 5000] [--acks 300] [--event fetchCompanies] [--reuse]
//        [--opts '{"select":["companyId","companyName"]}']   (JSON; null: full records)
//        [--bare build/tools/bench/sio_bare] [--warm-each]
// env: TDSLITE (default build/tools/tdslite/tdslite), CWCACHE_ROOT
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, need } = require("./sio_common");
const { procs, start, portOf, waitReady, cpuMs, minflt } = require("./bench_proc");
const WebSocket = need("ws");

const argv = process.argv.slice(2);
const arg = (n, d) => (argv.indexOf("--" + n) >= 0 ? argv[argv.indexOf("--" + n) + 1] : d);
const BINS = argv.flatMap((a, i) => (a === "--bin" ? [argv[i + 1]] : []));
const ROUNDS = Number(arg("rounds", 3)), ACKS = Number(arg("acks", 300)), COMPANIES = Number(arg("companies", 5000));
const EVENT = arg("event", "fetchCompanies");
const REUSE = argv.includes("--reuse");
const WARM_EACH = argv.includes("--warm-each");
const BARE = arg("bare", null);
const OPTS = JSON.parse(arg("opts", '{"select":["companyId","companyName"]}'));
const TDSLITE = process.env.TDSLITE || path.join(ROOT, "build/tools/tdslite/tdslite");
const PSK = "bench-psk";
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/* The payload of one ack for the request, as the server sends it (for sio_bare). */
function fetchPayload(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    ws.on("error", reject);
    ws.on("message", (b) => {
      const m = b.toString();
      if (m.startsWith("0")) return ws.send("40" + JSON.stringify({ psk: PSK }));
      if (m.startsWith("40")) return ws.send("421" + JSON.stringify(OPTS === null ? [EVENT] : [EVENT, OPTS]));
      if (!m.startsWith("431[")) return;
      ws.close();
      resolve(m.slice(4, -1));
    });
  });
}

/* ACKS requests one after another; the server's CPU per ack in ms. */
function measure(port, pid) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    const req = JSON.stringify(OPTS === null ? [EVENT] : [EVENT, OPTS]);
    let id = 0, left = ACKS + 20, cpu0, flt0; // the first 20 warm the server up
    const send = () => ws.send("42" + ++id + req);
    ws.on("error", reject);
    ws.on("message", (b) => {
      const m = b.toString();
      if (m[0] === "2") return ws.send("3");
      if (m.startsWith("0")) return ws.send("40" + JSON.stringify({ psk: PSK }));
      if (m.startsWith("40")) return send();
      if (!m.startsWith("43")) return;
      if (!m.includes('"success":true')) return reject(new Error("request failed: " + m.slice(0, 200)));
      if (--left === ACKS) (cpu0 = cpuMs(pid)), (flt0 = minflt(pid));
      if (left > 0) return send();
      ws.close();
      resolve({ cpu: (cpuMs(pid) - cpu0) / ACKS, flt: (minflt(pid) - flt0) / ACKS });
    });
  });
}

async function serve(bin, dir, url, args, name, data = "data") {
  const pf = path.join(dir, name + ".port");
  fs.rmSync(pf, { force: true });
  const p = start(bin, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, data), "--schema",
    path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"), "--log-level", "warn",
    "--ping-timeout", "120000", "--max-session-buffer-mb", "1024", ...args], { DATABASE_URL: url, PSK, PORT: "" }, dir, name);
  const port = await portOf(pf, p, name);
  await waitReady(port);
  return { port, p };
}

const stop = (p) => new Promise((r) => (p.exitCode !== null ? r() : (p.on("exit", r), p.kill("SIGTERM"))));

(async () => {
  if (BINS.length < 2) throw new Error("give two builds or more: --bin OLD --bin NEW");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cwcache-sio-ab-"));
  const db = path.join(dir, "src.sqlite"), tp = path.join(dir, "tds.port");
  require("child_process").execFileSync(TDSLITE, ["--db", db, "--generate", String(COMPANIES), "--schema", path.join(ROOT, "schema")], { stdio: "ignore" });
  const tds = start(TDSLITE, ["--db", db, "--port", "0", "--ready-file", tp, "--schema", path.join(ROOT, "schema"), "--log-level", "warn"], {}, dir, "tdslite");
  const url = `sqlserver://127.0.0.1:${await portOf(tp, tds, "tdslite")};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false`;
  const dataOf = (i) => (WARM_EACH ? `data${i}` : "data");
  let bareFile = null;
  for (const [i, bin] of (WARM_EACH ? BINS : BINS.slice(0, 1)).entries()) {
    const warm = await serve(bin, dir, url, ["--poll-interval-ms", "600000"], "warm", dataOf(i)); // ready = warm
    if (BARE && i === 0) {
      bareFile = path.join(dir, "answers.txt");
      const req = JSON.stringify(OPTS === null ? [EVENT] : [EVENT, OPTS]);
      fs.writeFileSync(bareFile, req + "\t" + (await fetchPayload(warm.port)) + "\n");
    }
    await stop(warm.p);
  }
  console.log(`sio_ab: ${EVENT} ${JSON.stringify(OPTS)}, ${COMPANIES} companies, ${ACKS} acks x ${ROUNDS} rounds, ${REUSE ? "answer reuse on" : "no answer reuse"}`);
  const cpu = BINS.map(() => []), flt = BINS.map(() => []), bare = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (BARE) {
      const pf = path.join(dir, "bare.port");
      fs.rmSync(pf, { force: true });
      const p = start(BARE, [bareFile, pf], { PSK }, dir, "bare");
      const m = await measure(await portOf(pf, p, "sio_bare"), p.pid);
      bare.push(m.cpu);
      await stop(p);
      console.log(`  round ${r + 1} sio_bare: ${m.cpu.toFixed(3)} ms CPU/ack, ${m.flt.toFixed(0)} page faults/ack`);
    }
    // The builds' order rotates a place each round: the one measured first
    // (after sio_bare) paid a few percent more (a copy of the base as a control).
    for (let k = 0; k < BINS.length; k++) {
      const i = (k + r) % BINS.length, bin = BINS[i];
      const reuse = REUSE ? [] : ["--answer-cache-mb", "0"];
      const s = await serve(bin, dir, url, [...reuse, "--poller", "false", "--max-staleness-s", "86400"], `b${i}`, dataOf(i));
      const m = await measure(s.port, s.p.pid);
      cpu[i].push(m.cpu);
      flt[i].push(m.flt);
      await stop(s.p);
      console.log(`  round ${r + 1} ${bin}: ${m.cpu.toFixed(3)} ms CPU/ack, ${m.flt.toFixed(0)} page faults/ack`);
    }
  }
  if (BARE) console.log(`sio_bare: median ${median(bare).toFixed(3)} ms CPU/ack`);
  for (const [i, bin] of BINS.entries())
    console.log(`${bin}: median ${median(cpu[i]).toFixed(3)} ms CPU/ack, ${median(flt[i]).toFixed(0)} faults/ack, ratio to ${BINS[0]} ${median(cpu[i].map((x, r) => x / cpu[0][r])).toFixed(3)}` +
      (BARE ? `, to sio_bare ${median(cpu[i].map((x, r) => x / bare[r])).toFixed(2)}` : ""));
  procs.forEach((p) => p.kill("SIGTERM"));
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
})().catch((e) => {
  console.error("sio_ab:", e);
  process.exit(1);
});
