// TLS: with --tls-cert/--tls-key the same port serves https and wss. The
// real socket.io-client connects over https polling, upgrades to wss, and
// gets the same answer as over plain http from another server on the same
// source; a plain-http request to the TLS port gets no answer.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const L = require("./lib");

let source, tls, plain;

// A throwaway self-signed certificate for localhost (Debian's openssl).
function selfSigned() {
  const dir = L.tmpdir("tls");
  const key = path.join(dir, "key.pem"), cert = path.join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
    "-out", cert, "-days", "1", "-subj", "/CN=localhost"], { stdio: "ignore" });
  return { key, cert };
}

test.before(async () => {
  source = await L.startSource(100);
  const { key, cert } = selfSigned();
  tls = await L.startServer(source, { args: ["--tls-cert", cert, "--tls-key", key] });
  tls.url = tls.url.replace("http://", "https://");
  plain = await L.startServer(source);
  await L.waitReady(plain);
});
test.after(async () => {
  assert.equal(await L.stopServer(tls), 0, "clean exit (no sanitizer report)");
  assert.equal(await L.stopServer(plain), 0, "clean exit (no sanitizer report)");
  L.stopAll();
});

test("https polling upgrades to wss and answers like plain http", async () => {
  const opts = { select: ["companyRecId", "companyName"] };
  const s = await L.connect(tls, { rejectUnauthorized: false });
  const p = await L.connect(plain);
  try {
    assert.equal(await L.upgraded(s), true, "upgraded to wss");
    const a = await L.emit(s, "fetchCompanies", opts);
    const b = await L.emit(p, "fetchCompanies", opts);
    assert.equal(a.success, true, a.error);
    assert.equal(a.data.length, 100);
    assert.deepEqual(a, b);
  } finally {
    s.close();
    p.close();
  }
});

// Kept answers are written by reference in 32 KiB slices (src/sio/pkt.c);
// over TLS each slice goes through SSL_write, which may take it in parts.
test("a big kept answer over wss and https polling, many times at once, stays intact", async () => {
  const clients = [
    await L.connect(tls, { rejectUnauthorized: false, transports: ["websocket"] }),
    await L.connect(tls, { rejectUnauthorized: false, transports: ["polling"] }),
  ];
  try {
    const want = await L.emit(clients[0], "fetchCompanies");
    assert.equal(want.success, true, want.error);
    assert.ok(JSON.stringify(want).length > 2 * 32 * 1024, "the answer spans several slices");
    const got = await Promise.all(clients.flatMap((c) => Array.from({ length: 8 }, () => L.emit(c, "fetchCompanies"))));
    for (const a of got) assert.deepEqual(a, want);
  } finally {
    clients.forEach((c) => c.close());
  }
});

test("a client that does not trust the certificate is refused", async () => {
  await assert.rejects(L.connect(tls, { transports: ["websocket"] }));
});

test("plain http to the TLS port gets no Engine.IO answer", async () => {
  const r = await L.httpReq(`${tls.url.replace("https://", "http://")}/socket.io/?EIO=4&transport=polling`)
    .catch((e) => ({ status: 0, body: String(e) }));
  assert.notEqual(r.status, 200, r.body);
});
