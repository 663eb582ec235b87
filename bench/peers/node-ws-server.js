// Node `ws` peer for wshub's side-by-side benchmarks: the subset of the wshub wire contract that `wshub bench` uses,
// written the way `ws` users write a pub/sub server; not a wshub replacement (no history, auth, limits or errors beyond it).
//
// The usual shape: a Map of channel -> Set of sockets, JSON.stringify once per publish, then ws.send to each
// subscriber. Every `ws` option is left at its default.
//
// Run: node bench/peers/node-ws-server.js [PORT]   (or PORT=... in the environment; listens on 127.0.0.1 only)
"use strict";

const http = require("http");
const { WebSocketServer, WebSocket } = require("ws");

const port = Number(process.argv[2] || process.env.PORT || 8080);

const channels = new Map(); // channel -> Set<WebSocket>
const offsets = new Map(); // channel -> last offset (+1 per message, starting at 1)
let nextClient = 0;

function publish(channel, data) {
  const offset = (offsets.get(channel) || 0) + 1;
  offsets.set(channel, offset);
  const subs = channels.get(channel);
  if (subs) {
    const frame = JSON.stringify({ type: "message", channel, offset, ts: Date.now(), data });
    for (const ws of subs) {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame);
    }
  }
  return offset;
}

function reply(ws, obj, msg) {
  if (msg && msg.id !== undefined) obj.id = msg.id;
  ws.send(JSON.stringify(obj));
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const m = req.url.match(/^\/api\/channels\/([^/?]+)\/publish$/);
  if (m && req.method === "POST") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let data;
      try {
        data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        sendJson(res, 400, { error: { code: "bad_request", message: "body is not JSON" } });
        return;
      }
      const channel = decodeURIComponent(m[1]);
      sendJson(res, 200, { channel, offset: publish(channel, data) });
    });
    return;
  }
  if (req.url === "/health") return sendJson(res, 200, { status: "ok", version: "peer" });
  sendJson(res, 404, { error: { code: "not_found", message: "no such path" } });
});

const wss = new WebSocketServer({ server, path: "/ws" });

wss.on("connection", (ws) => {
  const subscribed = new Set();
  reply(ws, { type: "welcome", client: `node-${++nextClient}`, version: "peer", heartbeat: 25 });

  ws.on("message", (raw) => {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      reply(ws, { type: "error", code: "bad_request", message: "not JSON" });
      return;
    }
    if (msg.type === "subscribe" && typeof msg.channel === "string") {
      let subs = channels.get(msg.channel);
      if (!subs) channels.set(msg.channel, (subs = new Set()));
      subs.add(ws);
      subscribed.add(msg.channel);
      reply(ws, { type: "subscribed", channel: msg.channel, offset: offsets.get(msg.channel) || 0, epoch: "e", recovered: false }, msg);
    } else if (msg.type === "publish" && typeof msg.channel === "string" && msg.data !== undefined) {
      const offset = publish(msg.channel, msg.data);
      reply(ws, { type: "published", channel: msg.channel, offset }, msg);
    } else if (msg.type === "ping") {
      reply(ws, { type: "pong", ts: Date.now() }, msg);
    } else {
      reply(ws, { type: "error", code: "unknown_type", message: "not supported by the peer" }, msg);
    }
  });

  ws.on("close", () => {
    for (const channel of subscribed) {
      const subs = channels.get(channel);
      subs.delete(ws);
      if (subs.size === 0) channels.delete(channel);
    }
  });
  ws.on("error", () => {}); // a reset by a client is not the server's failure; "close" follows
});

server.listen(port, "127.0.0.1", () => {
  console.log(`node-ws-server listening on 127.0.0.1:${server.address().port}`);
});
