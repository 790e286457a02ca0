// Shared by the drivers that change tdslite's SQLite file and wait for the
// subscriber's "change" event (feed_bench.js, poll_bench.js): percentiles,
// a socket.io-client connection, and a long-lived Python process that runs
// one statement per request line, so a request's answer marks the source
// commit.
"use strict";
const { spawn } = require("child_process");
const { need } = require("./sio_common");
const { procs } = require("./bench_proc");
const { io } = need("socket.io-client");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};

function connect(port, psk) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { auth: { psk }, transports: ["websocket"], forceNew: true, reconnection: false });
    s.on("connect", () => resolve(s));
    s.on("connect_error", reject);
  });
}

/* body: Python lines run for each request with `f` its tab-separated
 * fields and `c` the connection; commit(...fields) resolves with the
 * hrtime of the commit. */
function committer(db, body) {
  const code =
    "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\n" +
    "for line in sys.stdin:\n" +
    "  f=line.rstrip('\\n').split('\\t')\n" +
    body.split("\n").map((l) => "  " + l + "\n").join("") +
    "  c.commit()\n  print('ok',flush=True)\n";
  const p = spawn("/usr/bin/python3", ["-c", code, db], { stdio: ["pipe", "pipe", "inherit"] });
  procs.add(p);
  let waiting = null;
  p.stdout.on("data", () => waiting && waiting());
  return {
    commit: (...fields) =>
      new Promise((res) => {
        waiting = () => res(process.hrtime.bigint());
        p.stdin.write(fields.join("\t") + "\n");
      }),
    close: () => p.kill(),
  };
}

module.exports = { median, pct, connect, committer };
