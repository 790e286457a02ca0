// Several service loops (--loops 2): a session lives on the loop that
// opened it, while its requests land on either loop (the kernel spreads TCP
// connections, and a kept-alive connection of a shared agent carries other
// sessions' requests too). Many clients in one process share two kept-alive
// connections, over polling only and over polling with the upgrade; every
// answer must be right, /metrics must count every loop's clients, a poll
// answered through another loop must be the bytes and headers of a local
// one (compressed alike), and SIGTERM must drain every loop.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("http");
const zlib = require("zlib");
const L = require("./lib");

let source, server;

test.before(async () => {
  source = await L.startSource(300);
  server = await L.startServer(source, { args: ["--loops", "2"] });
  await L.waitReady(server);
});
test.after(async () => {
  assert.equal(await L.stopServer(server), 0, "every loop drained and exited clean");
  L.stopAll();
});

async function clients(n, opts) {
  return Promise.all(Array.from({ length: n }, () => L.connect(server, opts)));
}

async function everyAnswerRight(socks, rounds) {
  for (let r = 0; r < rounds; r++) {
    const answers = await Promise.all(
      socks.map((s, i) => L.emit(s, "fetchCompanies", { select: ["companyRecId"], take: 5, skip: i }))
    );
    answers.forEach((a, i) => {
      assert.equal(a.success, true, a.error);
      assert.equal(a.data.length, 5);
      assert.equal(a.data[0].companyRecId, i + 1, "each client gets its own answer");
    });
  }
}

function clientsConnected() {
  return L.httpReq(`${server.url}/metrics`).then((r) => Number(/^cwcache_clients_connected (\d+)$/m.exec(r.body)[1]));
}

// Each polling client holds one connection in its long poll; the others
// are shared by every client's POSTs and next polls. With fewer connections
// than clients, requests queued behind long polls that end only at the next
// ping (25 s), and a pong queued that long missed the ping timeout.
test("polling clients sharing kept-alive connections reach their sessions' loops", async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const socks = await clients(12, { transports: ["polling"], agent });
  try {
    await everyAnswerRight(socks, 4);
    assert.equal(await clientsConnected(), 12, "/metrics sums the loops' sessions");
  } finally {
    socks.forEach((s) => s.close());
    agent.destroy();
  }
});

test("the upgrade to websocket works whichever loop the websocket lands on", async () => {
  const socks = await clients(10, {});
  try {
    for (const s of socks) assert.ok(await L.upgraded(s, 30000), "upgraded to websocket");
    await everyAnswerRight(socks, 3);
  } finally {
    socks.forEach((s) => s.close());
  }
});

test("a session's POST that arrives on another loop is answered by its owner", async () => {
  // A handshake, then many POSTs on fresh connections: some land on the
  // other loop. A binary POST closes the session wherever it lands.
  const open = await L.httpReq(`${server.url}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse(open.body.slice(1)).sid;
  for (let i = 0; i < 8; i++) {
    const r = await L.httpReq(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST", body: "3", headers: { "content-type": "text/plain" },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, "ok");
  }
  const bin = await L.httpReq(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
    method: "POST", body: "3", headers: { "content-type": "application/octet-stream" },
  });
  assert.equal(bin.status, 400);
  let gone = false;
  for (let i = 0; i < 50 && !gone; i++) {
    const r = await L.httpReq(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST", body: "3", headers: { "content-type": "text/plain" },
    });
    gone = r.status === 400 && JSON.parse(r.body).code === 1;
    if (!gone) await L.sleep(100);
  }
  assert.ok(gone, "the binary POST closed the session on its owner");
});

// Which loop a connection serves shows in the sids it hands out: a sid
// carries its loop in the top byte of its slot word, masked with one word
// for the whole process (src/sio/auth.c), so sids from one loop share
// their first byte and sids from two loops differ in it.
const loopTag = (sid) => Buffer.from(sid, "base64url")[0];
const POLL = () => `${server.url}/socket.io/?EIO=4&transport=polling`;

async function handshake(agent) {
  const r = await L.httpReq(POLL(), { agent });
  assert.equal(r.status, 200);
  return JSON.parse(r.body.slice(1)).sid;
}

// Two kept-alive connections that the kernel gave to different loops.
async function connectionsOnTwoLoops() {
  const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const tagA = loopTag(await handshake(a));
  for (let i = 0; i < 64; i++) {
    const b = new http.Agent({ keepAlive: true, maxSockets: 1 });
    if (loopTag(await handshake(b)) !== tagA) return [a, b];
    b.destroy();
  }
  throw new Error("64 connections all landed on one loop");
}

// A session opened and joined on `owner`, its GETs sent over `poller` with
// `ae` as Accept-Encoding; the GET responses up to the ack of `event`.
async function pollAnswer(owner, poller, ae, event) {
  const sid = await handshake(owner);
  const url = `${POLL()}&sid=${sid}`;
  const post = (body) => L.httpReq(url, {
    agent: owner, method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8" },
  });
  const get = () => L.httpReq(url, { agent: poller, raw: true, headers: { "accept-encoding": ae } });
  assert.equal((await post("40" + JSON.stringify({ psk: L.PSK }))).body, "ok");
  assert.match((await get()).body.toString(), /^40\{"sid":/);
  assert.equal((await post(`421${JSON.stringify(event)}`)).body, "ok");
  for (;;) {
    const r = await get();
    assert.equal(r.status, 200);
    const enc = r.headers["content-encoding"];
    const text = (enc === "gzip" ? zlib.gunzipSync(r.body) : enc === "deflate" ? zlib.inflateSync(r.body)
      : r.body).toString();
    if (text.split("\x1e").some((p) => p.startsWith("431["))) return { r, text };
  }
}

// What must not differ between two answers (not Date, not Keep-Alive).
const HEADERS = ["content-type", "content-length", "content-encoding", "vary", "access-control-allow-origin"];
const headersOf = (r) => Object.fromEntries(HEADERS.map((h) => [h, r.headers[h]]));

test("a poll that lands on the loop not owning its session is compressed as a local one", async () => {
  const [a, b] = await connectionsOnTwoLoops();
  try {
    const event = ["fetchCompanies", { select: ["companyRecId", "companyName"] }];
    for (const ae of ["gzip, deflate", "deflate"]) {
      const local = await pollAnswer(a, a, ae, event);
      const mailed = await pollAnswer(a, b, ae, event); // every GET of this session is routed
      assert.equal(mailed.r.headers["content-encoding"], ae === "deflate" ? "deflate" : "gzip",
        `a mailed poll answer is compressed (Accept-Encoding ${ae})`);
      assert.equal(Number(mailed.r.headers["content-length"]), mailed.r.body.length);
      assert.deepEqual(headersOf(mailed.r), headersOf(local.r), "the headers of a local poll");
      assert.ok(mailed.r.body.equals(local.r.body), "the bytes of a local poll");
      assert.equal(mailed.text, local.text);
    }
  } finally {
    a.destroy();
    b.destroy();
  }
});

// During an upgrade engine.io-client pauses polling when it reads 3probe:
// it waits for its pending poll to end and only then sends "5". The noop
// that ends the poll pending at the probe travels on another connection
// than 3probe (perhaps through another loop) and may reach the client
// first: the client then polls again, and that poll must end at once with
// a noop too, as engine.io's server answers every poll during an upgrade,
// or the upgrade (and the client, whose polling is paused) waits for the
// next ping. The session's ping comes pingInterval (25 s) after its
// handshake: a poll left waiting would end with "2", never with "6".
// Both arrangements: the polls local to the session's loop and the
// websocket mailed from the other, and the reverse.
test("a poll during the upgrade ends with a noop whichever loops the poll and the websocket are on", async () => {
  for (const pollsLocal of [true, false]) {
    const [a, b] = await connectionsOnTwoLoops(); // a websocket keeps its agent's connection
    try {
      const sid = await handshake(a); // the session lives on a's loop
      const [poller, wsAgent] = pollsLocal ? [a, b] : [b, a];
      const url = `${POLL()}&sid=${sid}`;
      const get = () => L.httpReq(url, { agent: poller });
      const pending = get();
      const ws = await L.rawWs(server, `&sid=${sid}`, { agent: wsAgent });
      ws.send("2probe");
      assert.deepEqual(await ws.next(), { data: "3probe" });
      assert.equal((await pending).body, "6", "the poll pending at the probe ends with a noop");
      // The client read that noop before 3probe and polled again.
      assert.equal((await get()).body, "6", "a poll during the upgrade ends with a noop, not at the next ping");
      ws.send("5");
      ws.send("40" + JSON.stringify({ psk: L.PSK }));
      const joined = await ws.next();
      assert.ok(joined.data && joined.data.startsWith("40{"), `the websocket carries the session: ${JSON.stringify(joined)}`);
      const late = await get();
      assert.equal(late.status, 400, "polling ends with the upgrade");
      ws.close();
    } finally {
      a.destroy();
      b.destroy();
    }
  }
});
