// Baseline: the original's contract on Node socket.io 4, serving the same
// data set from memory (no database at all, so it is a generous baseline):
// select picks fields into new objects as Prisma returns them, include
// attaches related rows, socket.io serialises the ack. Pages by `take`,
// `skip` and a `cursor` on a field the rows are ordered by (the primary key:
// docs/query.md's paging pattern) are cut from the same array, found through
// a Map of that field built once, so a page costs what it returns.
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

/* The rows of a page: from the cursor row (none: an empty page, as Prisma), skip, take. */
function page(d, opts) {
  let from = 0;
  if (opts.orderBy !== undefined || opts.cursor !== undefined) {
    const [f, dir] = Object.entries(opts.orderBy || {})[0] || [];
    const [cf, v] = Object.entries(opts.cursor || {})[0] || [f];
    if ((opts.orderBy && (dir !== "asc" || f !== cf)) || (opts.take !== undefined && opts.take < 0))
      throw new Error("the baseline pages only forward, by a cursor on the field it orders by");
    if (opts.cursor) {
      d.at = d.at || {};
      d.at[cf] = d.at[cf] || new Map(d.full.map((r, i) => [r[cf], i]));
      from = d.at[cf].get(v);
      if (from === undefined) return [];
    }
  }
  from += opts.skip || 0;
  return d.full.slice(from, opts.take === undefined ? undefined : from + opts.take);
}

function collect(event, opts) {
  const d = data[event];
  if (!d) throw new Error(`Unknown event: ${event}`);
  if (opts && opts.select && opts.include) throw new Error("Please either use `include` or `select`, but not both at the same time.");
  if (opts && (opts.take !== undefined || opts.skip !== undefined || opts.cursor !== undefined || opts.orderBy !== undefined)) {
    if (opts.include || opts.where) throw new Error("the baseline pages only whole rows or a select");
    const rows = page(d, opts);
    return opts.select ? rows.map((r) => pick(r, opts.select)) : rows.map((r) => ({ ...r }));
  }
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
