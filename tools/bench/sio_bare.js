// The limit: a bare websocket server that speaks just enough Engine.IO /
// Socket.IO for the clients and answers every ack with prebuilt bytes.
// usage: node sio_bare.js ANSWERS.json PORT_FILE
"use strict";
const fs = require("fs");
const http = require("http");
const { need, key } = require("./sio_common");
const WebSocket = need("ws");

const answers = JSON.parse(fs.readFileSync(process.argv[2], "utf8")); // key -> ack payload text
const srv = http.createServer((req, res) => res.writeHead(404).end());
const wss = new WebSocket.Server({ server: srv, path: "/socket.io/" });
wss.on("connection", (ws) => {
  ws.send('0{"sid":"bare","upgrades":[],"pingInterval":25000,"pingTimeout":120000,"maxPayload":1000000}');
  ws.on("message", (buf) => {
    const m = buf.toString();
    if (m.startsWith("40")) return ws.send('40{"sid":"baresocket"}');
    if (!m.startsWith("42")) return;
    const open = m.indexOf("[");
    const id = m.slice(2, open);
    const [event, opts] = JSON.parse(m.slice(open));
    ws.send("43" + id + "[" + answers[key(event, opts)] + "]");
  });
});
srv.listen(0, "127.0.0.1", () => fs.writeFileSync(process.argv[3], String(srv.address().port)));
