// Shared by the Socket.IO benchmark's servers and driver: module lookup in
// tests/e2e/node_modules, and the request key both reference servers use.
"use strict";
const path = require("path");
const ROOT = process.env.CWCACHE_ROOT || path.resolve(__dirname, "../..");
module.paths.unshift(path.join(ROOT, "tests/e2e/node_modules"));
const need = (m) => require(require.resolve(m, { paths: [path.join(ROOT, "tests/e2e/node_modules")] }));
const key = (event, opts) => event + " " + JSON.stringify(opts === undefined ? null : opts);
module.exports = { ROOT, need, key };
