// Server memory with a big cache (issue 14 goal 4): the anonymous memory of
// cwcache (/proc/PID/smaps_rollup "Anonymous": heap, thread stacks, buffers;
// not the page cache of the LMDB map, which is file-backed and the kernel's
// to reclaim) while clients are served from a cache of >= 1M rows.
//
// A tdslite data set of --companies companies (120k: 1.04M rows in the
// collectors' tables) is generated, warmed once with `cwcachectl warm`, and
// served by cwcache with its poller on. --clients clients then each run
// --cycles times through a mix that touches the whole store: every company in pages
// of 1000 full records, the 2-field select of every company, 5000 full
// records, 20 contacts sorted on an unindexed field (the sort reads the whole
// table), companies with their contacts and addresses, and a 50k-row where.
// Anonymous is sampled every 50 ms; per round the median and the peak, and
// the report is the median over rounds, with and without answer reuse
// (--answer-cache-mb default vs 0) and without spare answer buffers either
// (--answer-buffers-mb 0). Kept answers and spare buffers are also counted
// apart (their /metrics gauges) since their budgets are settings.
//
// usage: node tools/bench/mem_bench.js [--companies 120000] [--rounds 3] [--cycles 1]
//        [--clients 4] [--workdir DIR] [--bin build/cwcache] [--ctl build/tools/cwcachectl]
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { ROOT, need, arg, median, CWCACHE, TDSLITE } = require("./sio_common");
const { procs, start, portOf, waitReady } = require("./bench_proc");
const WebSocket = need("ws");

const COMPANIES = Number(arg("companies", 120000)), ROUNDS = Number(arg("rounds", 3));
const CYCLES = Number(arg("cycles", 1)), CLIENTS = Number(arg("clients", 4));
const BIN = arg("bin", CWCACHE), CTL = arg("ctl", path.join(path.dirname(BIN), "tools/cwcachectl"));
const SCHEMA = path.join(ROOT, "schema"), COLLECTORS = path.join(ROOT, "collectors");
const PSK = "bench-psk";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib) => (kib / 1024).toFixed(1);

/* The request mix; each entry a function of the client's state giving [event, opts]. */
const MIX_LEN = 13;
function* mix() {
  for (;;) {
    let cursor;
    for (let page = 0; page < 8; page++) { // 8 pages of 1000 full companies, from where the last left
      const o = { take: 1000, orderBy: { companyRecId: "asc" } };
      if (cursor !== undefined) Object.assign(o, { cursor: { companyRecId: cursor }, skip: 1 });
      cursor = (yield ["fetchCompanies", o]) ?? cursor;
    }
    yield ["fetchCompanies", { select: ["companyId", "companyName"] }];
    yield ["fetchCompanies", { take: 5000 }];
    yield ["fetchContacts", { orderBy: { firstName: "asc" }, take: 20 }];
    yield ["fetchCompanies", { take: 500, include: { contacts: true, companyAddresses: true } }];
    yield ["fetchContacts", { where: { contactRecId: { lt: 50000 } }, select: { contactRecId: true, lastName: true } }];
  }
}

/* One client running CYCLES times through the mix; counts acks. */
function client(port, stats) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    const it = mix();
    let id = 0, req = it.next().value, cursor, left = CYCLES * MIX_LEN;
    const send = () => ws.send("42" + ++id + JSON.stringify(req));
    ws.on("error", reject);
    ws.on("message", (b) => {
      const m = b.toString();
      if (m[0] === "2") return ws.send("3");
      if (m.startsWith("0")) return ws.send("40" + JSON.stringify({ psk: PSK }));
      if (m.startsWith("40")) return send();
      if (!m.startsWith("43")) return;
      if (!m.includes('"success":true')) return reject(new Error("request failed: " + m.slice(0, 300)));
      stats.acks++;
      stats.bytes += m.length;
      if (req[1] && req[1].take === 1000) { // the last key of the page: the next page's cursor
        const k = m.lastIndexOf('"companyRecId":');
        cursor = k < 0 ? undefined : parseInt(m.slice(k + 15), 10);
      }
      if (--left === 0) return ws.close(), resolve();
      req = it.next(cursor).value;
      send();
    });
  });
}

function smapsAnon(pid) {
  const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const f = (k) => Number((t.match(new RegExp(`^${k}:\\s+(\\d+)`, "m")) || [0, 0])[1]);
  return { anon: f("Anonymous"), rss: f("Rss") };
}

async function metric(port, name) {
  const t = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
  const m = t.match(new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, "m"));
  return m ? Number(m[1]) : NaN;
}

async function round(dir, url, cacheArgs, name) {
  const pf = path.join(dir, name + ".port");
  fs.rmSync(pf, { force: true });
  const p = start(BIN, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data"), "--schema", SCHEMA,
    "--collectors", COLLECTORS, "--log-level", "warn", "--ping-timeout", "120000", ...cacheArgs],
  { DATABASE_URL: url, PSK, PORT: "" }, dir, name);
  const port = await portOf(pf, p, name);
  await waitReady(port);
  const idle = smapsAnon(p.pid);
  const samples = [], own = [], stats = { acks: 0, bytes: 0 };
  let peak = idle, kept = 0, ticks = 0;
  const timer = setInterval(() => {
    try {
      const s = smapsAnon(p.pid);
      samples.push(s.anon);
      own.push(s.anon - kept / 1024); // besides kept answers and spare buffers (gauges read every 250 ms)
      if (s.anon > peak.anon) peak = s;
    } catch { /* exited: the clients will fail */ }
    if (ticks++ % 5 === 0)
      Promise.all([metric(port, "cwcache_answers_kept_bytes"), metric(port, "cwcache_answer_buffers_spare_bytes")])
        .then(([k, b]) => (kept = (k || 0) + (b || 0)));
  }, 50);
  await Promise.all(Array.from({ length: CLIENTS }, () => client(port, stats)));
  clearInterval(timer);
  kept = await metric(port, "cwcache_answers_kept_bytes");
  await sleep(1000);
  const after = smapsAnon(p.pid);
  await new Promise((r) => (p.exitCode !== null ? r() : (p.on("exit", r), p.kill("SIGTERM"))));
  return { idle: idle.anon, med: median(samples), own: median(own), ownPeak: Math.max(...own), peak: peak.anon, rss: peak.rss, after: after.anon, kept, acks: stats.acks, mb: stats.bytes / 1e6 };
}

(async () => {
  const dir = arg("workdir") || fs.mkdtempSync(path.join(os.tmpdir(), "cwcache-mem-bench-"));
  fs.mkdirSync(dir, { recursive: true });
  const db = path.join(dir, `source-${COMPANIES}.db`), tp = path.join(dir, "tds.port");
  execFileSync(TDSLITE, ["--db", db, "--generate", String(COMPANIES), "--schema", SCHEMA], { stdio: "ignore" });
  fs.rmSync(tp, { force: true });
  const tds = start(TDSLITE, ["--db", db, "--port", "0", "--ready-file", tp, "--schema", SCHEMA, "--log-level", "warn"], {}, dir, "tdslite");
  const url = `sqlserver://127.0.0.1:${await portOf(tp, tds, "tdslite")};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false`;
  const ctl = (cmd) => execFileSync(CTL, ["--data-dir", path.join(dir, "data"), "--schema", SCHEMA, "--collectors", COLLECTORS, cmd],
    { env: { ...process.env, DATABASE_URL: url }, stdio: ["ignore", "pipe", "ignore"] }).toString();
  ctl("warm");
  const rows = (ctl("status").match(/(\d+) rows;/) || [0, "?"])[1];
  console.log(`mem_bench: ${COMPANIES} companies (${rows} rows cached), ${CLIENTS} clients x ${CYCLES} cycle(s) of ${MIX_LEN} requests x ${ROUNDS} rounds`);
  const cases = [["reuse", []], ["no-reuse", ["--answer-cache-mb", "0"]],
    ["no-reuse-no-spares", ["--answer-cache-mb", "0", "--answer-buffers-mb", "0"]]];
  const res = Object.fromEntries(cases.map(([n]) => [n, []]));
  for (let r = 0; r < ROUNDS; r++)
    for (const [n, a] of cases) {
      const x = await round(dir, url, a, n);
      res[n].push(x);
      console.log(`  round ${r + 1} ${n}: Anonymous idle ${MiB(x.idle)} MiB, serving median ${MiB(x.med)} peak ${MiB(x.peak)}` +
        `, besides kept answers and spare buffers median ${MiB(x.own)} peak ${MiB(x.ownPeak)}` +
        ` (Rss ${MiB(x.rss)}), 1 s after ${MiB(x.after)}; kept answers ${(x.kept / 1048576).toFixed(1)} MiB; ${x.acks} acks, ${x.mb.toFixed(0)} MB`);
    }
  for (const [n] of cases) {
    const m = (k) => median(res[n].map((x) => x[k]));
    console.log(`${n}: Anonymous MiB (medians of ${ROUNDS}) idle ${MiB(m("idle"))}, serving median ${MiB(m("med"))}, ` +
      `peak ${MiB(m("peak"))}, besides kept answers and spare buffers median ${MiB(m("own"))} peak ${MiB(m("ownPeak"))}, after ${MiB(m("after"))}; kept answers ${(m("kept") / 1048576).toFixed(1)} MiB; ${m("acks")} acks`);
  }
  procs.forEach((p) => p.kill("SIGTERM"));
  if (!arg("workdir")) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
})().catch((e) => {
  console.error("mem_bench:", e);
  process.exit(1);
});
