// Harness for the end-to-end tests: a tdslite source with a generated data
// set, the real cwcache binary, and helpers to talk to it with the npm
// socket.io-client, a raw websocket (ws) and plain HTTP. Every process is
// bound to 127.0.0.1 on a port the kernel picks, and is stopped at exit.
"use strict";
const { spawn, execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const http = require("http");
const { io } = require("socket.io-client");
const WebSocket = require("ws");

const ROOT = process.env.CWCACHE_ROOT || path.resolve(__dirname, "../..");
const CWCACHE = process.env.CWCACHE || path.join(ROOT, "build/cwcache");
const TDSLITE = process.env.TDSLITE || path.join(ROOT, "build/tools/tdslite/tdslite");
const PY = "/usr/bin/python3"; // Debian's, with sqlite3 and python3-socketio
const PSK = "e2e-psk";
const children = new Set();

function tmpdir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cwcache-e2e-${tag}-`));
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFile(file, proc, what, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    try {
      const t = fs.readFileSync(file, "utf8").trim();
      if (t) return t;
    } catch (_) {}
    await sleep(50);
  }
  throw new Error(`${what} did not start within ${ms} ms`);
}

function track(proc, name, logFile) {
  children.add(proc);
  const log = fs.createWriteStream(logFile);
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  proc.on("exit", () => children.delete(proc));
  proc.logFile = logFile;
  proc.name = name;
  return proc;
}

function stopAll() {
  for (const p of children) {
    try {
      p.kill("SIGTERM");
    } catch (_) {}
  }
}
process.on("exit", stopAll);

// Generates (once per data directory) and serves a demo data set.
async function startSource(companies = 300) {
  const dir = tmpdir("src");
  const db = path.join(dir, "demo.sqlite");
  execFileSync(TDSLITE, ["--db", db, "--generate", String(companies), "--schema", path.join(ROOT, "schema")], {
    stdio: "inherit",
  });
  const ready = path.join(dir, "port");
  const proc = track(
    spawn(TDSLITE, ["--db", db, "--port", "0", "--ready-file", ready, "--schema", path.join(ROOT, "schema")]),
    "tdslite",
    path.join(dir, "tdslite.log")
  );
  const port = Number(await waitFile(ready, proc, "tdslite"));
  return {
    db,
    port,
    proc,
    url: `sqlserver://127.0.0.1:${port};database=cwwebapp_demo;user=sa;password=tdslite;encrypt=false`,
  };
}

// Starts cwcache; resolves once it listens. opts.args are extra flags.
async function startServer(source, opts = {}) {
  const dir = opts.dataDir || tmpdir("srv");
  const portFile = path.join(dir, "port");
  try {
    fs.unlinkSync(portFile);
  } catch (_) {}
  const args = [
    "--port", "0", "--port-file", portFile, "--data-dir", path.join(dir, "data"),
    "--schema", path.join(ROOT, "schema"), "--collectors", path.join(ROOT, "collectors"),
    "--poll-interval-ms", "500",
    // One service loop unless the test run asks for more (the e2e.loops2
    // variants): a session's requests then land on loops that do not own it.
    "--loops", process.env.CWCACHE_LOOPS || "1", ...(opts.args || []),
  ];
  const env = { ...process.env, DATABASE_URL: source.url, PSK, PORT: "" };
  if (opts.env) Object.assign(env, opts.env);
  const proc = track(spawn(CWCACHE, args, { env }), "cwcache", path.join(dir, "cwcache.log"));
  const port = Number(await waitFile(portFile, proc, "cwcache"));
  return { port, proc, dir, url: `http://127.0.0.1:${port}` };
}

// The body as text, or as a Buffer with `raw`; a fresh connection unless
// an `agent` (a kept-alive one) is given.
function httpReq(url, { method = "GET", body, headers = {}, raw = false, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    // A length, as XHR and fetch send it (no chunked request bodies).
    if (body !== undefined) headers = { "content-length": Buffer.byteLength(body), ...headers };
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: raw ? b : b.toString() });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function waitReady(server, ms = 90000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await httpReq(`${server.url}/readyz`).catch((e) => ({ status: 0, body: String(e) }));
    if (last.status === 200) return;
    await sleep(200);
  }
  throw new Error(`cwcache not ready after ${ms} ms: ${last && last.body}`);
}

// A connected socket.io-client socket (rejects with the connect_error).
function connect(server, opts = {}) {
  return new Promise((resolve, reject) => {
    const { nsp = "", ...rest } = opts;
    const s = io(server.url + nsp, { auth: { psk: PSK }, reconnection: false, forceNew: true, timeout: 10000, ...rest });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => {
      s.close();
      reject(e);
    });
  });
}

function emit(sock, event, opts, ms = 60000) {
  return sock.timeout(ms).emitWithAck(event, opts);
}

async function upgraded(sock, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (sock.io.engine.transport.name === "websocket") return true;
    await sleep(20);
  }
  return false;
}

// Rows from the source's SQLite file, as JSON (Debian python's sqlite3).
function sql(db, query, params = []) {
  const code =
    "import json,sqlite3,sys\n" +
    "c=sqlite3.connect(sys.argv[1]);c.row_factory=sqlite3.Row\n" +
    "print(json.dumps([dict(r) for r in c.execute(sys.argv[2],json.loads(sys.argv[3]))]))";
  const out = execFileSync(PY, ["-c", code, db, query, JSON.stringify(params)], { maxBuffer: 1 << 28 });
  return JSON.parse(out.toString());
}

// An Engine.IO session on a bare websocket: frames in arrival order. opts
// go to ws (an `agent` whose kept-alive connection is to carry it).
function rawWs(server, query = "", opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket${query}`, opts);
    const queue = [];
    const waiters = [];
    ws.closed = null;
    const push = (m) => {
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    };
    ws.on("message", (d, binary) => push({ data: binary ? d : d.toString() }));
    ws.on("close", (code) => {
      ws.closed = code;
      push({ close: code });
    });
    ws.on("error", () => {});
    ws.next = (ms = 3000) =>
      queue.length
        ? Promise.resolve(queue.shift())
        : new Promise((res) => {
            const t = setTimeout(() => {
              const i = waiters.indexOf(f);
              if (i >= 0) waiters.splice(i, 1);
              res({ timeout: true });
            }, ms);
            const f = (m) => {
              clearTimeout(t);
              res(m);
            };
            waiters.push(f);
          });
    ws.on("open", () => resolve(ws));
    ws.on("unexpected-response", (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

// Opens a raw websocket session and connects the main namespace.
async function rawConnected(server, auth = { psk: PSK }) {
  const ws = await rawWs(server);
  const open = await ws.next();
  if (!open.data || open.data[0] !== "0") throw new Error(`no open packet: ${JSON.stringify(open)}`);
  ws.send("40" + JSON.stringify(auth));
  const c = await ws.next();
  if (!c.data || !c.data.startsWith("40{")) throw new Error(`not connected: ${JSON.stringify(c)}`);
  return ws;
}

// SIGTERM, then the exit code (sanitizer builds exit non-zero on a leak).
function stopServer(server) {
  return new Promise((resolve) => {
    if (server.proc.exitCode !== null) return resolve(server.proc.exitCode);
    server.proc.on("exit", (code) => resolve(code));
    server.proc.kill("SIGTERM");
  });
}

module.exports = {
  stopServer,
  ROOT, CWCACHE, PSK, PY, startSource, startServer, waitReady, connect, emit, upgraded, sql, httpReq,
  rawWs, rawConnected, sleep, stopAll, tmpdir,
};
