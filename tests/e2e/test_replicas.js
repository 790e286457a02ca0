// Three replicas behind HAProxy (tools/deploy/haproxy.cfg, its server lines
// pointed at them), each with its own store and poller, as the StatefulSet in
// tools/deploy/kubernetes/cwcache-replicas.yaml runs them: socket.io-client
// on both transports (polling upgraded to websocket, sticky by HAProxy's
// cookie; websocket only) and the python-socketio suite (test_python.py)
// get the source's data through it; then a replica is killed while
// socket.io-client and python-socketio clients (replica_clients.py) keep
// asking, and they reconnect to the others and get correct answers.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const { spawn, spawnSync } = require("child_process");
const { io } = require("socket.io-client");
const L = require("./lib");

const HAPROXY = "/usr/sbin/haproxy";
const N = 3;
const CLIENTS = 6; // per transport: at least two per replica under round robin
let source, replicas = [], proxy, proxyUrl, dir;

// The deploy file with this test's listener and replicas (fast health checks).
function haproxyConfig(port) {
  const text = fs.readFileSync(path.join(L.ROOT, "tools/deploy/haproxy.cfg"), "utf8");
  const servers = replicas
    .map((r, i) => `    server r${i + 1} 127.0.0.1:${r.port} cookie r${i + 1} check inter 300 fall 1 rise 1`)
    .join("\n");
  let out = text.replace(/^\s*bind .*$/m, `    bind 127.0.0.1:${port}`);
  out = out.replace(/^\s*log stdout .*\n/m, "");
  // maxconn under this machine's descriptor limit; a stats socket to see the checks.
  out = out.replace(/^(\s*maxconn) \d+/m, `$1 1000\n    stats socket ${path.join(dir, "haproxy.sock")}`);
  out = out.replace(/(^\s*server .*\n?)+/m, servers + "\n");
  assert.equal((out.match(/^\s*server /gm) || []).length, N, "server lines replaced");
  return out;
}

async function freePort() {
  const net = require("net");
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function startProxy() {
  const port = await freePort();
  const cfg = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(cfg, haproxyConfig(port));
  const check = spawnSync(HAPROXY, ["-c", "-f", cfg], { encoding: "utf8" });
  assert.equal(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
  proxy = spawn(HAPROXY, ["-db", "-f", cfg]);
  const log = fs.createWriteStream(path.join(dir, "haproxy.log"));
  proxy.stdout.pipe(log);
  proxy.stderr.pipe(log);
  proxyUrl = `http://127.0.0.1:${port}`;
  // Ready once HAProxy's health checks found every replica up.
  const end = Date.now() + 60000;
  for (;;) {
    const up = (await proxyStat()).filter((l) => /^cwcache,r\d,/.test(l) && l.split(",")[17] === "UP");
    if (up.length === N) return;
    assert.ok(Date.now() < end, `HAProxy never saw every replica up: ${up}`);
    await L.sleep(300);
  }
}

// `show stat` from HAProxy's stats socket: CSV lines (field 17: status).
function proxyStat() {
  return new Promise((resolve) => {
    const net = require("net");
    let out = "";
    const c = net.connect(path.join(dir, "haproxy.sock"), () => c.end("show stat\n"));
    c.on("data", (d) => (out += d));
    c.on("close", () => resolve(out.split("\n")));
    c.on("error", () => resolve([]));
  });
}

test.before(async () => {
  dir = L.tmpdir("replicas");
  source = await L.startSource(200);
  for (let i = 0; i < N; i++) replicas.push(await L.startServer(source));
  for (const r of replicas) await L.waitReady(r);
  await startProxy();
});
test.after(() => {
  if (proxy) proxy.kill("SIGTERM");
  L.stopAll();
});

function companies() {
  return L.sql(source.db, "SELECT Company_ID AS companyId, Company_Name AS companyName FROM Company ORDER BY Company_RecID");
}

// A client through HAProxy: reconnects on its own (a replica may die).
function client(transports) {
  const s = io(proxyUrl, {
    auth: { psk: L.PSK }, transports, withCredentials: true, forceNew: true,
    reconnectionDelay: 100, reconnectionDelayMax: 1000, timeout: 10000,
  });
  s.reconnects = 0;
  s.io.on("reconnect", () => s.reconnects++);
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => {
      s.close(); // no reconnecting in the background once the test failed
      reject(e);
    });
  });
}

// n clients; on any failure every one is closed before it throws.
async function clients(n, transports) {
  const got = await Promise.allSettled(Array.from({ length: n }, () => client(transports)));
  const bad = got.find((g) => g.status === "rejected");
  if (bad) {
    for (const g of got) if (g.status === "fulfilled") g.value.close();
    throw bad.reason;
  }
  return got.map((g) => g.value);
}

// One request, repeated after a reconnect when the replica answering it died.
async function ask(s, want) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await L.emit(s, "fetchCompanies", { select: ["companyId", "companyName"] }, 15000);
      assert.deepEqual(r, { success: true, data: want });
      return;
    } catch (e) {
      if (attempt >= 8 || e.code === "ERR_ASSERTION") throw e;
      const end = Date.now() + 30000;
      while (!s.connected && Date.now() < end) await L.sleep(50);
    }
  }
}

// Sessions each replica holds, from its own /status.json.
async function sessions() {
  const out = [];
  for (const r of replicas) {
    if (r.proc.exitCode !== null || r.proc.signalCode) {
      out.push(null);
      continue;
    }
    const res = await L.httpReq(`${r.url}/status.json`, { headers: { "x-psk": L.PSK } });
    out.push(JSON.parse(res.body).server.clients);
  }
  return out;
}

// tests/e2e/test_python.py against HAProxy's address.
function pythonSuite(what) {
  const r = spawnSync(L.PY, [path.join(__dirname, "test_python.py")], {
    encoding: "utf8", timeout: 240000,
    env: { ...process.env, CWCACHE_E2E_URL: proxyUrl, CWCACHE_E2E_DB: source.db, CWCACHE_E2E_PSK: L.PSK },
  });
  assert.equal(r.status, 0, `test_python.py ${what}:\n${r.stdout}\n${r.stderr}`);
}

// python-socketio clients (replica_clients.py) connected and answered once,
// waiting for "go" on stdin to ask again across a replica's death.
async function pythonClients() {
  const proc = spawn(L.PY, [path.join(__dirname, "replica_clients.py"), proxyUrl, source.db, L.PSK, "3", "4"]);
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  const done = new Promise((resolve) => proc.on("exit", (code) => resolve({ code, out })));
  const end = Date.now() + 60000;
  while (!/^ready$/m.test(out)) {
    assert.ok(proc.exitCode === null && Date.now() < end, `python-socketio clients not ready:\n${out}`);
    await L.sleep(50);
  }
  return { stdin: proc.stdin, done };
}

test("socket.io-client on both transports, spread over the replicas", { timeout: 240000 }, async () => {
  const want = companies();
  const all = [];
  try {
    const polling = await clients(CLIENTS, ["polling", "websocket"]);
    all.push(...polling, ...(await clients(CLIENTS, ["websocket"])));
    for (const s of all) await ask(s, want);
    for (const s of polling) assert.ok(await L.upgraded(s, 10000), "polling upgraded to websocket");
    const held = await sessions();
    assert.ok(held.every((n) => n >= 2), `sessions per replica: ${held}`);
  } finally {
    for (const s of all) s.close();
  }
});

test("python-socketio through HAProxy (test_python.py)", { timeout: 240000 }, () => {
  pythonSuite("through HAProxy");
});

test("a replica killed mid-run: its clients reconnect elsewhere and get correct answers", { timeout: 240000 }, async () => {
  const want = companies();
  const all = [];
  try {
    all.push(...(await clients(CLIENTS, ["polling", "websocket"])));
    all.push(...(await clients(CLIENTS, ["polling"])));
    all.push(...(await clients(CLIENTS, ["websocket"])));
    await Promise.all(all.map((s) => ask(s, want)));
    const before = await sessions();
    assert.ok(before[1] >= 3, `the victim holds sessions: ${before}`);
    const py = await pythonClients();
    // Killed with the next requests of every client in flight.
    const rounds = all.map(async (s) => {
      for (let round = 0; round < 4; round++) await ask(s, want);
    });
    py.stdin.write("go\n");
    replicas[1].proc.kill("SIGKILL");
    await Promise.all(rounds);
    const moved = all.filter((s) => s.reconnects > 0).length;
    assert.ok(moved >= 3, `clients that reconnected: ${moved}`);
    const { code, out } = await py.done;
    assert.equal(code, 0, `python-socketio clients across the kill:\n${out}`);
    assert.match(out, /reconnected [1-9]/, "python-socketio clients moved");
    const after = await sessions();
    assert.equal(after[1], null);
    assert.ok(after[0] + after[2] >= all.length, `sessions after the kill: ${after}`);
    pythonSuite("on the two replicas left");
  } finally {
    for (const s of all) s.close();
  }
});
