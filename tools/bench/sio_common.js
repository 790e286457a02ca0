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
