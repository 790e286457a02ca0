// Baseline: the original's contract on Node socket.io 4, serving the same
// data set from memory (no database at all, so it is a generous baseline):
// select picks fields into new objects as Prisma returns them, include
// attaches related rows, socket.io serialises the ack.
// usage: node sio_baseline.js DATA.json PORT_FILE
"use strict";
const fs = require("fs");
const http = require("http");
const { need } = require("./sio_common");
const { Server } = need("socket.io");

const data = JSON.parse(fs.readFileSync(process.argv[2], "utf8")); // {collector: {full:[...], rel:{name:[...]}}}

function pick(row, fields) {
  const o = {};
  for (const f of fields) o[f] = row[f];
  return o;
}

function collect(event, opts) {
  const d = data[event];
  if (!d) throw new Error(`Unknown event: ${event}`);
  if (opts && opts.select && opts.include) throw new Error("Please either use `include` or `select`, but not both at the same time.");
  if (opts && opts.select) return d.full.map((r) => pick(r, opts.select));
  if (opts && opts.include) {
    const names = Array.isArray(opts.include) ? opts.include : Object.keys(opts.include);
    return d.full.map((r, i) => {
      const o = { ...r };
      for (const n of names) o[n] = d.rel[n][i];
      return o;
    });
  }
  return d.full.map((r) => ({ ...r }));
}

const srv = http.createServer();
// Node closes a keep-alive socket idle for 5 s (keepAliveTimeout); a
// polling client's second socket sits idle while the first receives a
// multi-MiB answer, and reusing it as Node closes it fails with "socket
// hang up". Benchmark clients keep their sockets, so the server does too
// (headersTimeout must stay above keepAliveTimeout).
srv.keepAliveTimeout = 600000;
srv.headersTimeout = 601000;
// A long pingTimeout on every server of the benchmark: under full load a
// starved client must not drop its session in the middle of a run.
const io = new Server(srv, { cors: { origin: true, credentials: true }, pingTimeout: 120000 });
io.use((socket, next) => {
  const psk = socket.handshake.auth?.psk || socket.handshake.headers["x-psk"] || socket.handshake.query?.psk;
  next(psk === process.env.PSK ? undefined : new Error("Unauthorized"));
});
io.on("connection", (socket) => {
  for (const event of Object.keys(data)) {
    socket.on(event, async (opts, cb) => {
      try {
        cb?.({ success: true, data: collect(event, opts) });
      } catch (e) {
        cb?.({ success: false, error: e.message });
      }
    });
  }
});
srv.listen(0, "127.0.0.1", () => fs.writeFileSync(process.argv[3], String(srv.address().port)));
