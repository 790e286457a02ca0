// Shared by the Socket.IO benchmark's servers and driver: module lookup in
// tests/e2e/node_modules, and the request key both reference servers use.
"use strict";
const path = require("path");
const ROOT = process.env.CWCACHE_ROOT || path.resolve(__dirname, "../..");
module.paths.unshift(path.join(ROOT, "tests/e2e/node_modules"));
const need = (m) => require(require.resolve(m, { paths: [path.join(ROOT, "tests/e2e/node_modules")] }));
const key = (event, opts) => event + " " + JSON.stringify(opts === undefined ? null : opts);
// The driver's command line: arg("runs", 3) is --runs's value, else 3.
const argv = process.argv.slice(2);
const arg = (n, d) => {
  const i = argv.indexOf("--" + n);
  return i >= 0 ? argv[i + 1] : d;
};
const flag = (n) => argv.includes("--" + n);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// The binaries measured (default: the release build under build/).
const CWCACHE = process.env.CWCACHE || path.join(ROOT, "build/cwcache");
const TDSLITE = process.env.TDSLITE || path.join(ROOT, "build/tools/tdslite/tdslite");
module.exports = { ROOT, need, key, arg, flag, median, CWCACHE, TDSLITE };

// ---- clients ---------------------------------------------------------------------
// Both resolve to {call(event, opts) -> the ack, close()} once the namespace is joined.

/* socket.io-client over the websocket transport; call() resolves to the parsed ack. */
function sioConnect(port, psk) {
  const { io } = need("socket.io-client");
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { auth: { psk }, transports: ["websocket"], forceNew: true, reconnection: false });
    s.on("connect", () => resolve({ call: (ev, o) => s.emitWithAck(ev, o), close: () => s.close() }));
    s.on("connect_error", reject);
  });
}

/* A bare Engine.IO/Socket.IO client on `ws`: call() resolves to the ack packet's bytes
 * without parsing them, so the client costs little next to the server. */
function wsConnect(port, psk) {
  const WebSocket = need("ws");
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    const pending = new Map();
    let next = 1, connected;
    ws.on("message", (buf) => {
      const m = buf.toString();
      if (m[0] === "2") return ws.send("3");
      if (m.startsWith("0")) return ws.send("40" + JSON.stringify({ psk }));
      if (m.startsWith("40")) return connected();
      if (!m.startsWith("43")) return;
      const id = Number(m.slice(2, m.indexOf("[")));
      const cb = pending.get(id);
      pending.delete(id);
      cb[0](buf.length);
    });
    ws.on("error", reject);
    // A session the server closes fails its calls rather than leaving them waiting.
    ws.on("close", () => pending.forEach((cb) => cb[1](new Error("the server closed the session"))));
    connected = () =>
      resolve({
        call: (ev, o) =>
          new Promise((r, j) => {
            const id = next++;
            pending.set(id, [r, j]);
            ws.send("42" + id + JSON.stringify(o === undefined ? [ev, null] : [ev, o]));
          }),
        close: () => ws.close(),
      });
  });
}
module.exports.sioConnect = sioConnect;
module.exports.wsConnect = wsConnect;
