// engine.io's httpCompression (src/sio/polling.c, compress.c): polling
// answers of at least 1 KiB are gzip- or deflate-encoded when the GET
// accepts it, and decode to exactly the bytes sent without it; smaller
// ones, and every answer with http_compression=false, go out as they are.
// The npm client's default polling (XMLHttpRequest in Node) sends no
// Accept-Encoding; its fetch transport sends "gzip, deflate", as browsers do.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const zlib = require("zlib");
const { Fetch } = require("engine.io-client");
const WebSocket = require("ws");
const L = require("./lib");

let source, server, plainServer;

test.before(async () => {
  source = await L.startSource(200);
  server = await L.startServer(source);
  plainServer = await L.startServer(source, { args: ["--http-compression", "false"] });
  await L.waitReady(server);
  await L.waitReady(plainServer);
});
test.after(async () => {
  assert.equal(await L.stopServer(server), 0, "clean exit (no sanitizer report)");
  assert.equal(await L.stopServer(plainServer), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

const SELECT = { select: ["companyRecId", "companyName"] };
const MEMBERS = { select: ["memberRecId", "firstName"] };

// One HTTP exchange; the body as raw bytes.
const req = (url, opts = {}) => L.httpReq(url, { ...opts, raw: true });

// What the client reads: the body decoded as its Content-Encoding says.
function decoded(r) {
  const enc = r.headers["content-encoding"];
  const b = enc === "gzip" ? zlib.gunzipSync(r.body) : enc === "deflate" ? zlib.inflateSync(r.body) : r.body;
  return b.toString();
}

// A polling session joined to /, every GET sent with `ae` as Accept-Encoding.
async function pollSession(srv, ae) {
  const headers = ae === undefined ? {} : { "accept-encoding": ae };
  const base = `${srv.url}/socket.io/?EIO=4&transport=polling`;
  const open = await req(base, { headers });
  const sid = JSON.parse(open.body.toString().slice(1)).sid;
  const url = `${base}&sid=${sid}`;
  const post = (text) => req(url, { method: "POST", body: text, headers: { "content-type": "text/plain;charset=UTF-8" } });
  const get = () => req(url, { headers });
  await post("40" + JSON.stringify({ psk: L.PSK }));
  const joined = await get();
  assert.match(decoded(joined), /^40\{"sid":/);
  return { post, get, joined };
}

// Sends events in one POST and GETs until every ack arrived; the acks'
// text by id, and every GET response.
async function ask(sess, events) {
  await sess.post(events.map(([id, name, opts]) => `42${id}${JSON.stringify([name, opts])}`).join("\x1e"));
  const acks = new Map();
  const responses = [];
  while (acks.size < events.length) {
    const r = await sess.get();
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers["content-length"]), r.body.length, "Content-Length counts the bytes sent");
    responses.push(r);
    for (const p of decoded(r).split("\x1e")) {
      const m = p.match(/^43(\d+)/);
      if (m) acks.set(Number(m[1]), p.slice(m[0].length));
    }
  }
  return { acks, responses };
}

test("a large polling answer is gzip-encoded when accepted and decodes to the plain bytes", async () => {
  const plain = await ask(await pollSession(server), [[1, "fetchCompanies", SELECT]]);
  const r0 = plain.responses[0];
  assert.equal(r0.headers["content-encoding"], undefined, "no Accept-Encoding: sent as it is");
  assert.match(r0.headers.vary || "", /Accept-Encoding/, "what is sent depends on Accept-Encoding");
  const want = plain.acks.get(1);
  assert.ok(want.length > 1024 && JSON.parse(want)[0].success, "an answer above the threshold");

  const gz = await pollSession(server, "gzip, deflate");
  // The same request again (a kept answer now: its compressed copy is
  // made once and spliced in) and two in one POST.
  for (const events of [[[1, "fetchCompanies", SELECT]], [[2, "fetchCompanies", SELECT]],
                        [[3, "fetchCompanies", SELECT], [4, "fetchCompanies", SELECT]]]) {
    const got = await ask(gz, events);
    for (const r of got.responses) {
      if (r.body.length < 200) continue; // a bare ping
      assert.equal(r.headers["content-encoding"], "gzip");
      assert.match(r.headers.vary || "", /Accept-Encoding/);
      assert.ok(r.body.length < decoded(r).length / 3, "the JSON compresses");
    }
    for (const [id] of events) assert.equal(got.acks.get(id), want, `ack ${id} decodes to the plain answer`);
  }
});

test("deflate when the client prefers it; small answers stay plain", async () => {
  const s = await pollSession(server, "deflate, gzip");
  assert.equal(s.joined.headers["content-encoding"], undefined, "the CONNECT ack is under 1 KiB");
  const plain = await ask(await pollSession(server), [[7, "fetchCompanies", SELECT]]);
  const got = await ask(s, [[7, "fetchCompanies", SELECT]]);
  assert.equal(got.responses.at(-1).headers["content-encoding"], "deflate");
  assert.equal(got.acks.get(7), plain.acks.get(7));
  const none = await ask(await pollSession(server, "br, identity"), [[8, "fetchCompanies", SELECT]]);
  assert.equal(none.responses.at(-1).headers["content-encoding"], undefined, "neither gzip nor deflate accepted");
});

test("http_compression=false sends every answer as it is", async () => {
  const got = await ask(await pollSession(plainServer, "gzip, deflate"), [[1, "fetchCompanies", SELECT]]);
  const r = got.responses.at(-1);
  assert.equal(r.headers["content-encoding"], undefined);
  assert.doesNotMatch(r.headers.vary || "", /Accept-Encoding/);
  assert.ok(JSON.parse(got.acks.get(1))[0].success);
});

test("the npm client gets the same answers with and without compression", async () => {
  // The fetch transport's responses, as fetch saw them (before decoding).
  const seen = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (...args) => {
    const res = await realFetch(...args);
    seen.push(res.headers.get("content-encoding"));
    return res;
  };
  const ws = await L.connect(server, { transports: ["websocket"] });
  const xhr = await L.connect(server, { transports: ["polling"] });
  const fetched = await L.connect(server, { transports: [Fetch] });
  try {
    const want = await L.emit(ws, "fetchCompanies", SELECT);
    assert.equal(want.success, true, want.error);
    assert.deepEqual(await L.emit(xhr, "fetchCompanies", SELECT), want, "XMLHttpRequest: no Accept-Encoding");
    assert.deepEqual(await L.emit(fetched, "fetchCompanies", SELECT), want, "fetch: gzip");
    assert.deepEqual(await L.emit(fetched, "fetchMembers", {}), await L.emit(ws, "fetchMembers", {}));
    assert.ok(seen.includes("gzip"), `the fetch transport got gzip: ${JSON.stringify(seen)}`);
  } finally {
    globalThis.fetch = realFetch;
    for (const s of [ws, xhr, fetched]) s.close();
  }
});

// permessage-deflate (ws_permessage_deflate): negotiated only when the
// server offers it and the client asks; answers are the same either way.
test("permessage-deflate is negotiated only when enabled and offered", async () => {
  const pmdServer = await L.startServer(source, { args: ["--ws-permessage-deflate", "true"] });
  try {
    await L.waitReady(pmdServer);
    const opened = (srv, perMessageDeflate) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate });
        ws.on("open", () => {
          ws.close();
          resolve(ws.extensions);
        });
        ws.on("error", reject);
      });
    assert.match(await opened(pmdServer, true), /permessage-deflate/, "enabled and offered");
    assert.equal(await opened(pmdServer, false), "", "enabled, not offered");
    assert.equal(await opened(server, true), "", "offered, not enabled (the default)");

    // The npm client offers it ({threshold: 1024}); a large answer, written
    // in 32 KiB fragments, arrives the same as without it.
    const plain = await L.connect(server, { transports: ["websocket"] });
    const deflated = await L.connect(pmdServer, { transports: ["websocket"] });
    try {
      assert.match(deflated.io.engine.transport.ws.extensions, /permessage-deflate/);
      const want = await L.emit(plain, "fetchCompanies", {});
      assert.ok(want.success && JSON.stringify(want).length > 64 * 1024, "an answer of several fragments");
      assert.deepEqual(await L.emit(deflated, "fetchCompanies", {}), want);
      assert.deepEqual(await L.emit(deflated, "fetchCompanies", {}), want, "the kept answer too");
      assert.deepEqual(await L.emit(deflated, "fetchMembers", MEMBERS), await L.emit(plain, "fetchMembers", MEMBERS));
    } finally {
      plain.close();
      deflated.close();
    }
  } finally {
    assert.equal(await L.stopServer(pmdServer), 0, "clean exit (no sanitizer report)");
  }
});
