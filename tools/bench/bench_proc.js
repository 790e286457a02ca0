// Shared by the Node benchmark drivers (sio_bench.js, query_bench.js, ...): the
// servers they start (stopped when the driver exits), their ports, readiness
// and CPU time from /proc, so every driver measures the same way.
"use strict";
const { spawn, execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"]).toString());
const procs = new Set();
process.on("exit", () => procs.forEach((p) => p.kill("SIGTERM")));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(1)); // still stops the servers
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Starts a server whose output goes to DIR/NAME.log; it is stopped with the driver. */
function start(cmd, args, env, dir, name) {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const log = fs.createWriteStream(path.join(dir, name + ".log"));
  p.stdout.pipe(log);
  p.stderr.pipe(log);
  procs.add(p);
  p.on("exit", () => procs.delete(p));
  return p;
}

/* The port a server wrote to its port file. */
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

/* A process's CPU time (user + system) in ms. */
function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) * TICK_MS; // utime, stime
}

/* A tdslite source in dir serving `companies` generated companies; its DATABASE_URL. */
async function startSource(tdslite, root, dir, companies) {
  const db = path.join(dir, "src.sqlite");
  const schema = path.join(root, "schema");
  execFileSync(tdslite, ["--db", db, "--generate", String(companies), "--schema", schema], { stdio: "ignore" });
  const tf = path.join(dir, "tds.port");
  const tp = start(tdslite, ["--db", db, "--port", "0", "--ready-file", tf, "--schema", schema, "--log-level", "warn"], {}, dir, "tdslite");
  const port = await portOf(tf, tp, "tdslite");
  return { db, proc: tp, url: `sqlserver://127.0.0.1:${port};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false` };
}

/* A cwcache on `dir`/data-`data` (shared by servers started with the same `data`)
 * serving the source at `url`, logged to `dir`/`name`.log, PSK "bench-psk", with
 * `extra` arguments; resolves once /readyz answers 200. The poller's interval is
 * 600 s: after its start-up pass it idles, so its work is not measured. */
async function startCwcache(bin, root, dir, url, name, data, extra = []) {
  const pf = path.join(dir, name + ".port");
  const p = start(bin, ["--port", "0", "--port-file", pf, "--data-dir", path.join(dir, "data-" + data),
    "--schema", path.join(root, "schema"), "--collectors", path.join(root, "collectors"), "--log-level", "warn",
    "--poll-interval-ms", "600000", "--ping-timeout", "120000", ...extra], { DATABASE_URL: url, PSK: "bench-psk", PORT: "" }, dir, name);
  const port = await portOf(pf, p, name);
  await waitReady(port);
  return { name, port, pid: p.pid, proc: p };
}

/* Stops a server started by start() and waits for it to exit. */
function stop(p) {
  return new Promise((res) => {
    if (p.exitCode !== null) return res();
    p.on("exit", () => res());
    p.kill("SIGTERM");
  });
}

/* A process's minor page faults so far (a fresh buffer's pages fault on first touch). */
function minflt(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(f.slice(f.lastIndexOf(")") + 2).split(" ")[7]);
}

module.exports = { procs, sleep, start, stop, portOf, waitReady, cpuMs, minflt, startSource, startCwcache };
