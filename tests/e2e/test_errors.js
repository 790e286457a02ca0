// Every documented bad case gets its documented outcome, and after each
// one the server still answers a normal request.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("http");
const L = require("./lib");

let source, server;
const MAX = 100000; // --max-payload for this server

test.before(async () => {
  source = await L.startSource(300);
  server = await L.startServer(source, {
    args: ["--max-payload", String(MAX), "--auth-delay-ms", "50", "--auth-delay-max-ms", "200"],
  });
  await L.waitReady(server);
});
test.after(() => L.stopAll());

async function stillServes() {
  const s = await L.connect(server, { transports: ["websocket"] });
  try {
    const res = await L.emit(s, "fetchCompanies", { select: ["companyId"] });
    assert.equal(res.success, true);
    assert.ok(res.data.length >= 300);
  } finally {
    s.close();
  }
}

test("request errors come back in the envelope", async () => {
  const s = await L.connect(server);
  try {
    let r = await L.emit(s, "fetchCompanies", { select: ["companyId"], include: ["opportunityCompanies"] });
    assert.deepEqual(r, { success: false, error: "Please either use `include` or `select`, but not both at the same time." });
    r = await L.emit(s, "fetchCompanies", { select: ["noSuchField"] });
    assert.equal(r.success, false);
    assert.match(r.error, /noSuchField/);
    r = await L.emit(s, "fetchCompanies", { include: ["noSuchRelation"] });
    assert.equal(r.success, false);
    assert.match(r.error, /noSuchRelation/);
    r = await L.emit(s, "noSuchEvent", {});
    assert.deepEqual(r, { success: false, error: "Unknown event: noSuchEvent" });
  } finally {
    s.close();
  }
  await stillServes();
});

test("PSK: each of the three sources, wrong and right", async () => {
  const bad = [
    { auth: { psk: "wrong" } },
    { auth: {} },
    { auth: {}, extraHeaders: { "x-psk": "wrong" } },
    { auth: {}, query: { psk: "wrong" } },
    { auth: { psk: "wrong" }, extraHeaders: { "x-psk": L.PSK } }, // auth.psk wins
  ];
  for (const o of bad) {
    await assert.rejects(L.connect(server, o), (e) => e.message === "Unauthorized", JSON.stringify(o));
  }
  for (const o of [{ auth: {}, extraHeaders: { "x-psk": L.PSK } }, { auth: {}, query: { psk: L.PSK } }]) {
    const s = await L.connect(server, o);
    s.close();
  }
  // The raw packet, as the Node server frames it.
  const ws = await L.rawWs(server);
  await ws.next();
  ws.send('40{"psk":"nope"}');
  assert.deepEqual(await ws.next(), { data: '44{"message":"Unauthorized"}' });
  ws.close();
  await stillServes();
});

test("other namespaces are refused", async () => {
  await assert.rejects(L.connect(server, { nsp: "/other" }), (e) => e.message === "Invalid namespace");
  const ws = await L.rawWs(server);
  await ws.next();
  ws.send('40/admin,{"psk":"x"}');
  assert.deepEqual(await ws.next(), { data: '44/admin,{"message":"Invalid namespace"}' });
  ws.close();
});

test("malformed and garbage frames close the connection, not the server", async () => {
  for (const frame of ['42["fetchCompanies",{bad]', "garbage", "", "9", '42{"not":"array"}', "42[]", "42[null]", "45-0[]", "40[]"]) {
    const ws = await L.rawConnected(server);
    ws.send(frame);
    const m = await ws.next();
    assert.ok(m.close !== undefined, `${JSON.stringify(frame)} -> ${JSON.stringify(m)}`);
  }
  const ws = await L.rawConnected(server);
  ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.ok((await ws.next()).close !== undefined, "binary frame closes");
  const ws2 = await L.rawConnected(server);
  ws2.send('40{"psk":"' + L.PSK + '"}');
  assert.ok((await ws2.next()).close !== undefined, "a second CONNECT closes");
  await stillServes();
});

test("acks: none without an id, none before CONNECT, large ids answered once", async () => {
  const ws = await L.rawWs(server);
  await ws.next();
  ws.send('421["fetchCompanies",{"select":["companyId"]}]');
  assert.ok((await ws.next(300)).timeout, "nothing before CONNECT");
  ws.send('40{"psk":"' + L.PSK + '"}');
  assert.match((await ws.next()).data, /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  ws.send('42["fetchCompanies",{"select":["companyId"]}]');
  ws.send('424294967296["nope"]');
  ws.send('422["fetchMembers",null]');
  assert.equal((await ws.next()).data, '434294967296[{"success":false,"error":"Unknown event: nope"}]');
  const m = await ws.next();
  assert.match(m.data, /^432\[\{"success":true,"data":\[/);
  assert.ok((await ws.next(500)).timeout, "the event without an id got no answer");
  ws.send('424294967297["nope"]');
  assert.ok((await ws.next()).close !== undefined, "ack id beyond 2^32 closes");
});

test("oversized websocket message: close 1009", async () => {
  const ws = await L.rawConnected(server);
  ws.send('42["fetchCompanies",' + JSON.stringify("x".repeat(MAX)) + "]");
  assert.deepEqual(await ws.next(), { close: 1009 });
  await stillServes();
});

async function pollHandshake() {
  const r = await L.httpReq(`${server.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(r.status, 200);
  return JSON.parse(r.body.slice(1)).sid;
}

test("oversized polling POST: 413, and the session stays", async () => {
  const sid = await pollHandshake();
  const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  let r = await L.httpReq(url, { method: "POST", body: "4" + "x".repeat(MAX + 10), headers: { "content-type": "text/plain" } });
  assert.equal(r.status, 413);
  r = await L.httpReq(url, { method: "POST", body: `40{"psk":"${L.PSK}"}`, headers: { "content-type": "text/plain" } });
  assert.equal(r.status, 200);
  assert.equal(r.body, "ok");
  r = await L.httpReq(url);
  assert.equal(r.status, 200);
  assert.match(r.body, /^40\{"sid":/);
  r = await L.httpReq(url, { method: "POST", body: '421["fetchCompanies",{"select":["companyId"]}]\x1e422["nope"]' });
  assert.equal(r.body, "ok");
  let body = "";
  while (!body.includes("432[")) body += "\x1e" + (await L.httpReq(url)).body;
  assert.match(body, /431\[\{"success":true,"data":\[\{"companyId":/);
  assert.match(body, /432\[\{"success":false,"error":"Unknown event: nope"\}\]/);
});

test("a client's close over polling releases the parked GET with a noop, as the Node server", async () => {
  const sid = await pollHandshake();
  const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const parked = L.httpReq(url);
  await L.sleep(200); // the GET is parked on the session
  const r = await L.httpReq(url, { method: "POST", body: "1", headers: { "content-type": "text/plain" } });
  assert.equal(r.body, "ok");
  assert.equal((await parked).body, "6");
  const after = await L.httpReq(url);
  assert.equal(after.status, 400, "the session is gone");
  assert.match(after.body, /Session ID unknown/);
});

test("Engine.IO handshake errors use engine.io's codes", async () => {
  const base = `${server.url}/socket.io/`;
  const cases = [
    [`${base}?EIO=4&transport=carrier-pigeon`, "GET", 0, "Transport unknown"],
    [`${base}?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA`, "GET", 1, "Session ID unknown"],
    [`${base}?EIO=4&transport=polling`, "POST", 2, "Bad handshake method"],
    [`${base}?EIO=3&transport=polling`, "GET", 5, "Unsupported protocol version"],
    [`${base}?transport=polling`, "GET", 5, "Unsupported protocol version"],
  ];
  for (const [url, method, code, message] of cases) {
    const r = await L.httpReq(url, { method, body: method === "POST" ? "40" : undefined });
    assert.equal(r.status, 400, url);
    assert.deepEqual(JSON.parse(r.body), { code, message });
  }
  const cors = await L.httpReq(`${base}?EIO=4&transport=polling`, { headers: { origin: "https://app.example" } });
  assert.equal(cors.headers["access-control-allow-origin"], "https://app.example");
  assert.equal(cors.headers["access-control-allow-credentials"], "true");
  assert.equal((await L.httpReq(`${server.url}/healthz`)).body, "ok");
});

test("abrupt disconnect in the middle of a big answer", async () => {
  for (const transport of ["websocket", "polling"]) {
    if (transport === "websocket") {
      const ws = await L.rawConnected(server);
      ws.send('421["fetchCompanies",{"include":["opportunityCompanies"]}]');
      await L.sleep(5);
      ws.terminate();
    } else {
      const sid = await pollHandshake();
      const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
      await L.httpReq(url, { method: "POST", body: `40{"psk":"${L.PSK}"}` });
      await L.httpReq(url);
      await L.httpReq(url, { method: "POST", body: '421["fetchCompanies",{"include":["opportunityCompanies"]}]' });
      // Read the first bytes of the answer, then drop the connection.
      await new Promise((resolve) => {
        const req = http.get(url, { agent: false }, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", resolve);
      });
    }
  }
  await stillServes();
  const r = await L.httpReq(`${server.url}/healthz`);
  assert.equal(r.status, 200);
  assert.equal(server.proc.exitCode, null);
});

test("SIGTERM: in-flight answers finish, exit 0", async () => {
  const s = await L.connect(server, { transports: ["websocket"] });
  const pending = L.emit(s, "fetchCompanies", { include: ["opportunityCompanies"] });
  await L.sleep(2);
  const exited = new Promise((r) => server.proc.on("exit", (code) => r(code)));
  server.proc.kill("SIGTERM");
  const res = await pending;
  assert.equal(res.success, true);
  assert.equal(await exited, 0);
  s.close();
});

test("connect timeout: a session that never joins / is closed, a connected one stays", async () => {
  const ct = await L.startServer(source, { args: ["--connect-timeout", "400", "--poller", "false"] });
  try {
    const idle = await L.rawWs(ct);
    await idle.next(); /* the open packet; no CONNECT follows */
    const t0 = Date.now();
    const closed = await idle.next(3000);
    assert.ok(closed.close !== undefined, "closed without a CONNECT");
    assert.ok(Date.now() - t0 >= 300, "not before connect_timeout");

    const refused = await L.rawWs(ct);
    await refused.next();
    refused.send('40{"psk":"wrong"}');
    assert.match((await refused.next(2000)).data, /^44/);
    assert.ok((await refused.next(3000)).close !== undefined, "a refused CONNECT does not join /");

    const s = await L.connect(ct, { transports: ["websocket"] });
    try {
      await L.sleep(800);
      assert.equal(s.connected, true, "a connected session stays");
      assert.equal((await L.emit(s, "fetchCompanies", { select: ["companyId"] })).success, true);
    } finally {
      s.close();
    }
  } finally {
    assert.equal(await L.stopServer(ct), 0);
  }
});

// engine.io's upgradeTimeout: a websocket that probed and never sent "5"
// is closed, the session keeps polling, its polls wait for packets again
// (during the upgrade each is answered with a noop at once), and a later
// upgrade is accepted.
test("upgrade timeout: an upgrade never completed loses its websocket, the session keeps polling", async () => {
  const ut = await L.startServer(source, { args: ["--upgrade-timeout", "400", "--poller", "false"] });
  try {
    const url = `${ut.url}/socket.io/?EIO=4&transport=polling`;
    const sid = JSON.parse((await L.httpReq(url)).body.slice(1)).sid;
    const poll = `${url}&sid=${sid}`;
    const probe = async () => {
      const ws = await L.rawWs(ut, `&sid=${sid}`);
      ws.send("2probe");
      assert.equal((await ws.next()).data, "3probe");
      assert.equal((await L.httpReq(poll)).body, "6", "a poll during the upgrade ends with a noop");
      return ws;
    };
    const t0 = Date.now();
    const stuck = await probe();
    assert.ok((await stuck.next(5000)).close !== undefined, "the unfinished upgrade's websocket is closed");
    assert.ok(Date.now() - t0 >= 300, "not before upgrade_timeout");

    const waiting = L.httpReq(poll);
    await L.sleep(200); // the poll is parked before the CONNECT arrives
    const post = await L.httpReq(poll, {
      method: "POST", body: "40" + JSON.stringify({ psk: L.PSK }), headers: { "content-type": "text/plain" },
    });
    assert.equal(post.body, "ok");
    assert.match((await waiting).body, /^40\{"sid":/, "the poll waited for the CONNECT's answer, not a noop");

    const ws = await probe();
    ws.send("5");
    ws.send('421["fetchCompanies",{"select":["companyId"],"take":1}]');
    assert.match((await ws.next(30000)).data || "", /^431\[\{"success":true/, "the second upgrade completed");
    assert.equal((await L.httpReq(poll)).status, 400, "polling ended with it");
    ws.close();
  } finally {
    assert.equal(await L.stopServer(ut), 0);
  }
});

test("heartbeat: pings every pingInterval, no pong within pingTimeout closes", async () => {
  const hb = await L.startServer(source, { args: ["--ping-interval", "300", "--ping-timeout", "200", "--poller", "false"] });
  try {
    const quiet = await L.rawWs(hb);
    assert.match((await quiet.next()).data, /"pingInterval":300,"pingTimeout":200,/);
    const t0 = Date.now();
    assert.equal((await quiet.next(2000)).data, "2");
    const closed = await quiet.next(2000);
    assert.ok(closed.close !== undefined, "closed without a pong");
    assert.ok(Date.now() - t0 >= 150, "not before pingTimeout");

    const alive = await L.rawWs(hb);
    await alive.next();
    for (let i = 0; i < 4; i++) {
      assert.equal((await alive.next(2000)).data, "2");
      alive.send("3");
    }
    assert.equal(alive.closed, null, "pongs keep the session");
    alive.close();

    // A parked polling GET is released by the ping.
    const r = await L.httpReq(`${hb.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse(r.body.slice(1)).sid;
    const g = await L.httpReq(`${hb.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(g.body, "2");
  } finally {
    assert.equal(await L.stopServer(hb), 0);
  }
});
