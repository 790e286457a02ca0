// The live fallback against a source that stalls (SIGSTOP) and restarts:
// a request never waits longer than live_timeout_ms, not behind a stuck one
// either; a pooled connection the restart killed is reopened and the request
// retried, so clients see answers; clients never see host, port, database
// or login, which the server log keeps.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const { spawn } = require("child_process");
const L = require("./lib");

const TDSLITE = process.env.TDSLITE || path.join(L.ROOT, "build/tools/tdslite/tdslite");
const TIMEOUT_MS = 2000;
let source, server;

test.before(async () => {
  source = await L.startSource(60);
  server = await L.startServer(source, {
    args: ["--poller", "false", "--live-pool", "1", "--live-timeout-ms", String(TIMEOUT_MS)],
  });
});
test.after(() => L.stopAll());

// One request; resolves with the ack and how long it took.
async function timed(sock) {
  const t0 = Date.now();
  const res = await L.emit(sock, "fetchCompanies", { select: ["companyId"] });
  return { res, ms: Date.now() - t0 };
}

// Waits until the server's log (written through a pipe) matches re.
async function logMatches(re) {
  let log = "";
  for (let i = 0; i < 100 && !re.test(log); i++) {
    await L.sleep(50);
    log = fs.readFileSync(server.proc.logFile, "utf8");
  }
  assert.match(log, re);
}

function noInfrastructure(error) {
  for (const word of ["127.0.0.1", String(source.port), "cwwebapp_demo", "user sa", "cannot connect"])
    assert.ok(!error.includes(word), `the client error names '${word}': ${error}`);
}

test("a stalled source: each request ends within its own timeout, with a plain error", async () => {
  const s = await L.connect(server);
  try {
    assert.equal((await timed(s)).res.success, true, "the pool's connection works first");
    source.proc.kill("SIGSTOP");
    try {
      // Two at once on a pool of one: the second must not wait behind the first.
      const [a, b] = await Promise.all([timed(s), timed(s)]);
      for (const r of [a, b]) {
        assert.equal(r.res.success, false);
        assert.match(r.res.error, /^model Company: source database unavailable/);
        noInfrastructure(r.res.error);
        // The bound is the request's own timeout (plus a loaded machine's slack), far
        // below socketTimeout (120 s) and below two timeouts back to back.
        assert.ok(r.ms < 2 * TIMEOUT_MS - 200 + 1500, `took ${r.ms} ms`);
      }
    } finally {
      source.proc.kill("SIGCONT");
    }
  } finally {
    s.close();
  }
});

test("a restarted source: the dead pooled connection is reopened and the request answered", async () => {
  const s = await L.connect(server);
  try {
    assert.equal((await timed(s)).res.success, true);
    await L.stopServer(source);
    const ready = path.join(path.dirname(source.db), "port2");
    source.proc = spawn(TDSLITE, ["--db", source.db, "--port", String(source.port), "--ready-file", ready]);
    for (let i = 0; i < 200 && !fs.existsSync(ready); i++) await L.sleep(50);
    for (let i = 0; i < 3; i++) {
      const { res } = await timed(s);
      assert.equal(res.success, true, `request ${i} after the restart: ${res.error}`);
    }
  } finally {
    s.close();
  }
  // The server log keeps what clients do not see.
  await logMatches(/live: .*(timed out|closed)/);
});

test("a source that is gone: a plain error after the timeout", async () => {
  await L.stopServer(source);
  const s = await L.connect(server);
  try {
    const { res, ms } = await timed(s);
    assert.equal(res.success, false);
    assert.match(res.error, /^model Company: source database unavailable/);
    noInfrastructure(res.error);
    assert.ok(ms < TIMEOUT_MS + 1500, `took ${ms} ms`);
    await logMatches(new RegExp(`cannot connect to 127\\.0\\.0\\.1:${source.port} \\(database cwwebapp_demo, user sa\\)`));
  } finally {
    s.close();
  }
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
});
