// Bounded memory per session (src/sio/engine.c, src/sio/socket.c): a
// client that asks and never reads is disconnected past
// max_session_buffer_mb, one that asks without waiting past
// max_inflight_per_session, each with one log line; the server's RSS
// stays bounded meanwhile and other clients keep being answered.
// Identical requests in flight share one rendering (src/sio/joins.c).
//
// Requests differ by take/skip so that none is answered from a kept
// answer (answer reuse matches the request text) unless a test wants it.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const L = require("./lib");

const COMPANIES = 3000; // fetchCompanies is ~3.5 MB
const ANSWER_CACHE_MB = 32;
let source, server;

test.before(async () => {
  source = await L.startSource(COMPANIES);
  // ASan keeps freed memory in a quarantine (256 MiB by default): without
  // it, RSS follows what the server holds, as in a release build.
  const asan = [process.env.ASAN_OPTIONS, "quarantine_size_mb=0"].filter(Boolean).join(":");
  // Every answer on a worker (inline_render_rows 0): these tests need
  // answers in flight, which a loop rendering them itself never has.
  server = await L.startServer(source, {
    args: ["--answer-cache-mb", String(ANSWER_CACHE_MB), "--inline-render-rows", "0"],
    env: { ASAN_OPTIONS: asan },
  });
  await L.waitReady(server);
});
test.after(async () => {
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

const MiB = 1 << 20;

function rss() {
  const m = fs.readFileSync(`/proc/${server.proc.pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return Number(m[1]) * 1024;
}

function logLines(re) {
  return fs.readFileSync(server.proc.logFile, "utf8").split("\n").filter((l) => re.test(l));
}

async function metric(name) {
  const r = await L.httpReq(`${server.url}/metrics`);
  const m = r.body.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

// Until nothing is being rendered (the answers of a closed session too).
async function idle(ms = 120000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await metric("cwcache_requests_in_flight")) === 0) return;
    await L.sleep(50);
  }
  throw new Error("requests still in flight");
}

// Polls cond() every 50 ms (sampling RSS meanwhile) until it holds.
async function until(cond, what, peak, ms = 120000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (peak) peak.max = Math.max(peak.max, rss());
    if (await cond()) return;
    await L.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A raw Engine.IO polling session joined to "/": its sid.
async function pollingConnected() {
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await L.httpReq(base);
  const sid = JSON.parse(open.body.slice(1)).sid;
  const url = `${base}&sid=${sid}`;
  const post = (body) => L.httpReq(url, { method: "POST", body });
  assert.equal((await post("40" + JSON.stringify({ psk: L.PSK }))).body, "ok");
  const c = await L.httpReq(url);
  assert.match(c.body, /^40\{"sid"/);
  return { sid, url, post, get: () => L.httpReq(url) };
}

const BUFFER_LINE = /closed: .* queued and not read, over max_session_buffer_mb 16/;
const INFLIGHT_LINE = /closed: event 17 while 16 are being rendered, over max_inflight_per_session 16/;

test("a websocket client asking 200 big answers and reading none is closed; RSS stays bounded; others are served", async () => {
  const other = await L.connect(server, { transports: ["websocket"] });
  const ws = await L.rawConnected(server);
  try {
    const small = { select: ["companyRecId", "companyName"], take: 5 };
    const want = await L.emit(other, "fetchCompanies", small);
    assert.equal(want.success, true, want.error);
    const before = logLines(/ closed: /).length;
    const base = rss();
    const peak = { max: base };
    ws._socket.pause(); // reads nothing from here on
    for (let i = 0; i < 200; i++) ws.send(`42${i}["fetchCompanies",{"take":${COMPANIES - i}}]`);
    let served = 0;
    await until(
      async () => {
        assert.deepEqual(await L.emit(other, "fetchCompanies", small), want, "the other client's answer");
        served++;
        return logLines(/ closed: /).length > before;
      },
      "the unread session's close",
      peak
    );
    await until(async () => (await metric("cwcache_requests_in_flight")) === 0, "its renderings", peak);
    const closes = await closeLines(before);
    assert.equal(closes.length, 1, closes.join("\n"));
    assert.match(closes[0], /over max_(session_buffer_mb|inflight_per_session) 16/);
    const grew = (peak.max - base) / MiB;
    // Kept answers (answer_cache_mb) may hold renderings of the closed
    // session; everything else it asked for is dropped.
    assert.ok(grew < ANSWER_CACHE_MB + 64, `RSS grew ${grew.toFixed(1)} MiB`);
    assert.ok(served >= 1, "the other client was answered while the unread session lived");
    console.log(`# unread 200: RSS +${grew.toFixed(1)} MiB, other client answered ${served} times`);
  } finally {
    other.close();
    ws.terminate();
  }
});

// Whether the session sid is gone. A plain GET that names the websocket
// transport changes nothing: a live session answers 400 bad request (3).
async function gone(sid) {
  const r = await L.httpReq(`${server.url}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  return r.status === 400 && /"code":1\b/.test(r.body);
}

// The server's log reaches its file through the test's pipe, a moment
// after the server wrote it: the close lines of the sessions closed since
// `before` lines, once there is one.
async function closeLines(before) {
  await until(async () => logLines(/ closed: /).length > before, "the close line");
  await idle();
  return logLines(/ closed: /).slice(before);
}

// Paced so that nothing is in flight when the next request goes: only the
// unread bytes can close the session.
async function pacedUntilClosed(sid, send, peak) {
  for (let i = 0; i < 40; i++) {
    await send(i);
    await until(async () => (await metric("cwcache_requests_in_flight")) === 0, "the answer", peak);
    if (await gone(sid)) return i + 1;
  }
  throw new Error("40 unread answers did not close the session");
}

// A raw websocket session joined to "/", and its sid.
async function wsConnected() {
  const ws = await L.rawWs(server);
  const open = await ws.next();
  ws.sid = JSON.parse(open.data.slice(1)).sid;
  ws.send("40" + JSON.stringify({ psk: L.PSK }));
  assert.match((await ws.next()).data, /^40\{/);
  return ws;
}

test("websocket: unread answers past max_session_buffer_mb close the session once", async () => {
  const ws = await wsConnected();
  try {
    const before = logLines(/ closed: /).length;
    const base = rss();
    const peak = { max: base };
    ws._socket.pause();
    const n = await pacedUntilClosed(ws.sid, (i) => ws.send(`42${i}["fetchCompanies",{"skip":${i + 1}}]`), peak);
    const closes = await closeLines(before);
    assert.equal(closes.length, 1, closes.join("\n"));
    assert.match(closes[0], BUFFER_LINE);
    assert.match(closes[0], new RegExp(`session ${ws.sid} \\(`));
    const grew = (peak.max - base) / MiB;
    assert.ok(grew < ANSWER_CACHE_MB + 64, `RSS grew ${grew.toFixed(1)} MiB`);
    console.log(`# websocket: closed after ${n} unread answers, RSS +${grew.toFixed(1)} MiB`);
  } finally {
    ws.terminate();
  }
});

test("polling: answers no GET takes past max_session_buffer_mb end the session once", async () => {
  const p = await pollingConnected();
  const before = logLines(/ closed: /).length;
  const n = await pacedUntilClosed(
    p.sid,
    async (i) => assert.equal((await p.post(`42${i}["fetchCompanies",{"skip":${i + 100}}]`)).body, "ok"),
    null
  );
  const closes = await closeLines(before);
  assert.equal(closes.length, 1, closes.join("\n"));
  assert.match(closes[0], BUFFER_LINE);
  assert.match(closes[0], new RegExp(`session ${p.sid} \\(`));
  const r = await p.get();
  assert.equal(r.status, 400, "the session is gone");
  console.log(`# polling: closed after ${n} unread answers`);
});

// One POST carries all the events, so they are read in one go: the 17th
// arrives while the first 16 are still being rendered, on any machine.
test("polling: the event past max_inflight_per_session ends the session once", async () => {
  const p = await pollingConnected();
  const before = logLines(/ closed: /).length;
  const events = Array.from({ length: 20 }, (_, i) => `42${i}["fetchCompanies",{"skip":${i + 200}}]`);
  assert.equal((await p.post(events.join("\x1e"))).body, "ok");
  const closes = await closeLines(before);
  assert.equal(closes.length, 1, closes.join("\n"));
  assert.match(closes[0], INFLIGHT_LINE);
  assert.match(closes[0], new RegExp(`session ${p.sid} \\((::ffff:)?127\\.0\\.0\\.1\\)`));
  assert.equal((await p.get()).status, 400, "the session is gone");
});

// Ten identical requests in one POST are read in one go, so the other
// nine arrive while the first is being rendered, on any machine: one
// rendering, nine requests joined to it, ten byte-identical answers. The
// options differ in key order and spacing only: the same request.
test("identical requests in flight share one rendering", async () => {
  const p = await pollingConnected();
  const rendered = await metric("cwcache_answers_rendered_total");
  const joined = await metric("cwcache_answers_joined_total");
  const opts = ['{"select":["companyRecId","companyName"],"skip":7}', '{"skip":7, "select":["companyRecId","companyName"]}'];
  const events = Array.from({ length: 10 }, (_, i) => `42${i}["fetchCompanies",${opts[i % 2]}]`);
  assert.equal((await p.post(events.join("\x1e"))).body, "ok");
  const acks = new Map();
  const end = Date.now() + 120000;
  while (acks.size < 10 && Date.now() < end) {
    const r = await p.get();
    assert.equal(r.status, 200, r.body);
    for (const pkt of r.body.split("\x1e")) {
      const m = pkt.match(/^43(\d+)(\[.*)$/s);
      if (m) acks.set(Number(m[1]), m[2]);
    }
  }
  assert.equal(acks.size, 10, "every request answered");
  const first = acks.get(0);
  assert.equal(JSON.parse(first)[0].data.length, COMPANIES - 7);
  for (const [id, tail] of acks) assert.equal(tail, first, `answer ${id} is the same bytes`);
  assert.equal((await metric("cwcache_answers_rendered_total")) - rendered, 1, "rendered once");
  assert.equal((await metric("cwcache_answers_joined_total")) - joined, 9, "nine joined");
});
