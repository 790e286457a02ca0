// Several service loops (--loops 2): a session lives on the loop that
// opened it, while its requests land on either loop (the kernel spreads TCP
// connections, and a kept-alive connection of a shared agent carries other
// sessions' requests too). Many clients in one process share two kept-alive
// connections, over polling only and over polling with the upgrade; every
// answer must be right, /metrics must count every loop's clients, and
// SIGTERM must drain every loop.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("http");
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

test("polling clients sharing two kept-alive connections reach their sessions' loops", async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
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
