// SIGTERM drains (src/sio/loop.c): answers already accepted, including
// those part-way through being written, are finished within
// shutdown_timeout_ms; what cannot finish ends with a websocket close
// frame 1001 after the last whole frame, never a connection that stops in
// the middle of one, and the log says once what was dropped.
//
// The slow client is a websocket written by hand on a plain TCP socket,
// so that it can read at a few hundred KB/s and see every frame boundary.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("crypto");
const fs = require("fs");
const net = require("net");
const L = require("./lib");

const COMPANIES = 3000; // fetchCompanies is ~3.5 MB
const RATE = 300 * 1024; // the slow client's bytes per second
let source, server;

test.before(async () => {
  source = await L.startSource(COMPANIES);
  // Every answer on a worker (inline_render_rows 0): the stop must find
  // one being rendered, which a loop rendering it itself never shows.
  server = await L.startServer(source, { args: ["--inline-render-rows", "0"] });
  await L.waitReady(server);
});
test.after(() => L.stopAll());

async function metric(name) {
  const r = await L.httpReq(`${server.url}/metrics`);
  const m = r.body.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

async function until(cond, what, ms = 120000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await L.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A websocket client frame (masked, as RFC 6455 requires).
function clientFrame(text) {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = crypto.randomBytes(4);
  const head = Buffer.from([0x81, 0x80 | payload.length]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, body]);
}

// Server frames as they arrive: complete messages, the close code, and
// whatever bytes were left over when the connection ended.
class SlowWs {
  constructor(port) {
    this.buf = Buffer.alloc(0);
    this.parts = [];
    this.messages = [];
    this.closeCode = null;
    this.received = 0;
    this.ended = new Promise((resolve) => (this.onEnd = resolve));
    this.sock = net.connect(port, "127.0.0.1");
    const key = crypto.randomBytes(16).toString("base64");
    this.sock.write(
      "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
        "Sec-WebSocket-Version: 13\r\n\r\n"
    );
    this.headers = null;
    this.slow = false;
    this.sock.on("data", (d) => this.data(d));
    this.sock.on("close", () => this.onEnd());
    this.sock.on("error", () => {});
  }
  data(d) {
    this.received += d.length;
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.headers) {
      const i = this.buf.indexOf("\r\n\r\n");
      if (i < 0) return;
      this.headers = this.buf.subarray(0, i).toString();
      this.buf = this.buf.subarray(i + 4);
    }
    this.frames();
    if (this.slow) {
      // At most RATE bytes a second: stop reading for as long as this
      // chunk takes at that rate.
      this.sock.pause();
      setTimeout(() => this.sock.resume(), (d.length / RATE) * 1000);
    }
  }
  frames() {
    for (;;) {
      if (this.buf.length < 2) return;
      const fin = this.buf[0] & 0x80, op = this.buf[0] & 0x0f;
      let len = this.buf[1] & 0x7f, at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + len) return;
      const payload = this.buf.subarray(at, at + len);
      this.buf = this.buf.subarray(at + len);
      if (op === 8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        continue;
      }
      if (op === 9 || op === 10) continue;
      this.parts.push(Buffer.from(payload));
      if (fin) {
        this.messages.push(Buffer.concat(this.parts).toString());
        this.parts = [];
        if (this.waiter) this.waiter();
      }
    }
  }
  send(text) {
    this.sock.write(clientFrame(text));
  }
  async next(ms = 30000) {
    const end = Date.now() + ms;
    while (!this.messages.length) {
      if (Date.now() > end) throw new Error("no message");
      await new Promise((r) => {
        this.waiter = r;
        setTimeout(r, 50);
      });
    }
    return this.messages.shift();
  }
}

test("SIGTERM: a fast client gets its whole answer, a slow one a whole answer or a clean 1001, and the drop is logged", async () => {
  const slow = new SlowWs(server.port);
  assert.match(await slow.next(), /^0\{"sid"/);
  slow.send("40" + JSON.stringify({ psk: L.PSK }));
  assert.match(await slow.next(), /^40\{"sid"/);
  // Three big answers: more than the kernel buffers between the two ends
  // hold, so the last ones are still being written at the stop.
  slow.slow = true;
  for (let i = 0; i < 3; i++) slow.send(`42${i}["fetchCompanies",{"skip":${i + 1}}]`);
  await until(() => slow.received > 256 * 1024, "the first answer to flow");
  await until(async () => (await metric("cwcache_requests_in_flight")) === 0, "the slow client's renderings");

  // The fast client's request must be in flight at the stop: rendering
  // (seen in /metrics) or, if it was quicker than that, asked again.
  const fast = await L.connect(server, { transports: ["websocket"] });
  let answer, skip = 10;
  for (;;) {
    answer = L.emit(fast, "fetchCompanies", { skip }, 120000);
    let done = false;
    answer.then(() => (done = true), () => (done = true));
    await until(async () => done || (await metric("cwcache_requests_in_flight")) > 0, "the request");
    if (!done) break;
    skip++;
  }
  const exited = L.stopServer(server);
  const a = await answer;
  assert.equal(a.success, true, a.error);
  assert.equal(a.data.length, COMPANIES - skip, "the fast client's whole answer");

  await slow.ended;
  assert.equal(await exited, 0, "clean exit (no sanitizer report)");
  assert.equal(slow.buf.length, 0, `the connection ended ${slow.buf.length} bytes into a frame`);
  const whole = slow.messages.filter((m) => m.startsWith("43"));
  for (const m of whole) assert.equal(JSON.parse(m.replace(/^43\d+/, ""))[0].success, true);
  if (whole.length < 3) assert.equal(slow.closeCode, 1001, "what could not finish ends with close 1001");
  const log = fs.readFileSync(server.proc.logFile, "utf8");
  const drops = log.split("\n").filter((l) => /shutdown: dropped \d+ answers, \d+ bytes unsent/.test(l));
  assert.equal(drops.length, whole.length < 3 ? 1 : 0, drops.join("\n"));
  console.log(`# slow client: ${whole.length} whole answers, close ${slow.closeCode}; ${drops.join("")}`);
});
