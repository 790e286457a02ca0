// Server memory under a client that asks and never reads (docs/server.md
// "Bounded memory per session"): one raw websocket client stops reading,
// sends N distinct fetchCompanies requests (N = 1, 10, 100, 1000) in one
// burst, and the server's RSS (VmRSS from /proc/PID/status, sampled every
// 20 ms) is followed until nothing is being rendered and the queues have
// settled. Reported: the peak RSS above the server's RSS before the
// burst, with the limits on (max_session_buffer_mb and
// max_inflight_per_session at their defaults) and off (huge values), the
// median of --runs runs of each, and the ratio off/on per N. Each run
// starts a fresh server on the same warm store.
//
// Requests are distinct (skip = i) so that neither a kept answer nor a
// rendering in flight can be shared: the worst case for memory.
//
// usage: node tools/bench/sio_unread.js [--runs 3] [--companies 5000] [--counts 1,10,100,1000]
//        [--smoke]
// env: CWCACHE, TDSLITE (binaries; default build/...), CWCACHE_ROOT
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, need, arg, flag, median, CWCACHE, TDSLITE } = require("./sio_common");
const WebSocket = need("ws");
const { sleep, start, portOf, waitReady, startSource } = require("./bench_proc");

const SMOKE = flag("smoke");
const RUNS = SMOKE ? 1 : Number(arg("runs", 3));
const COMPANIES = SMOKE ? 200 : Number(arg("companies", 5000));
const COUNTS = SMOKE ? [1] : arg("counts", "1,10,100,1000").split(",").map(Number);
const PSK = "bench-psk";
const MiB = 1 << 20;
const LIMITS = {
  on: [],
  off: ["--max-session-buffer-mb", "1048576", "--max-inflight-per-session", "4294967295"],
};

const rss = (pid) => Number(fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m)[1]) * 1024;

async function metric(port, name) {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(body.match(new RegExp(`^${name} (\\d+)$`, "m"))[1]);
}

// A websocket session joined to "/" that reads nothing after that.
function unreadClient(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
    // Anything but a joined session fails the run instead of waiting forever.
    ws.on("error", (e) => reject(e));
    ws.on("close", () => reject(new Error("websocket closed before the session joined")));
    ws.on("message", (d) => {
      const t = d.toString();
      if (t[0] === "0") ws.send("40" + JSON.stringify({ psk: PSK }));
      else if (t.startsWith("44")) reject(new Error(`connect refused: ${t}`));
      else if (t.startsWith("40")) {
        ws._socket.pause();
        resolve(ws);
      }
    });
    ws.on("unexpected-response", () => reject(new Error("handshake refused")));
  });
}

// One server, one burst of n requests: the peak RSS above the start, MiB.
async function run(dir, url, mode, n) {
  const pf = path.join(dir, `cw-${mode}-${n}.port`);
  // Each run of a cell starts its server with the same port file: the
  // last run's port in it would be taken for this server's, and the wait
  // for a dead server to become ready looked like a hang.
  fs.rmSync(pf, { force: true });
  const cw = start(CWCACHE, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data"),
    "--schema", path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"),
    "--log-level", "warn", ...LIMITS[mode]], { DATABASE_URL: url, PSK, PORT: "" }, dir, `cwcache-${mode}`);
  const port = await portOf(pf, cw, "cwcache");
  await waitReady(port);
  const ws = await unreadClient(port);
  await sleep(200);
  const base = rss(cw.pid);
  let peak = base;
  for (let i = 0; i < n; i++) ws.send(`42${i}["fetchCompanies",{"skip":${i}}]`);
  // Until every request was rendered (or dropped with its session) and
  // RSS has not grown for a second, or a minute has passed (the smoke
  // run, under sanitizers whose allocator keeps growing: 5 s).
  let still = 0;
  for (let last = base, end = Date.now() + (SMOKE ? 5000 : 60000); still < 50 && Date.now() < end; ) {
    await sleep(20);
    const r = rss(cw.pid);
    peak = Math.max(peak, r);
    const busy = (await metric(port, "cwcache_requests_in_flight")) > 0;
    still = busy || r > last ? 0 : still + 1;
    last = Math.max(last, r);
  }
  ws.terminate();
  cw.kill("SIGTERM");
  await new Promise((r) => cw.on("exit", r));
  return (peak - base) / MiB;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-unread-"));
  const { proc: tp, url } = await startSource(TDSLITE, ROOT, dir, COMPANIES);
  console.log(`cwcache, ${COMPANIES} companies, one client that reads nothing, ${RUNS} run(s) each`);
  console.log("| unread requests | peak RSS growth, limits on (MiB) | limits off (MiB) | off / on |");
  console.log("|---|---|---|---|");
  for (const n of COUNTS) {
    const on = [], off = [];
    for (let r = 0; r < RUNS; r++) {
      on.push(await run(dir, url, "on", n));
      off.push(await run(dir, url, "off", n));
    }
    const m = { on: median(on), off: median(off) };
    console.log(`| ${n} | ${m.on.toFixed(1)} | ${m.off.toFixed(1)} | ${(m.off / Math.max(m.on, 0.1)).toFixed(1)} |`);
  }
  tp.kill("SIGTERM");
  if (!flag("keep")) fs.rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  }
);
