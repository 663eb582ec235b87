// Bun peer for wshub's side-by-side benchmarks: Bun's built-in pub/sub (uWebSockets inside) speaking the subset of
// the wshub wire contract that `wshub bench` uses; not a wshub replacement (no history, auth, limits or errors beyond it).
//
// Written the way Bun's pub/sub guide shows: `ws.subscribe(channel)` and `server.publish(channel, frame)`, every
// option at its default, so the numbers are what a Bun user gets out of the box.
//
// Run: bun bench/peers/bun-server.js [PORT]   (or PORT=... in the environment; listens on 127.0.0.1 only)

const port = Number(process.argv[2] || process.env.PORT || 8080);

// Per-channel offsets, assigned here the way wshub's history does: +1 per message, starting at 1.
const offsets = new Map();
let nextClient = 0;

function publish(server, channel, data) {
  const offset = (offsets.get(channel) || 0) + 1;
  offsets.set(channel, offset);
  // `data` is the published JSON value as text; it is spliced in unparsed, as wshub forwards it byte for byte.
  const frame = `{"type":"message","channel":${JSON.stringify(channel)},"offset":${offset},"ts":${Date.now()},"data":${data}}`;
  server.publish(channel, frame);
  return offset;
}

function withId(obj, msg) {
  if (msg.id !== undefined) obj.id = msg.id;
  return JSON.stringify(obj);
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  async fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname === "/ws") {
      if (server.upgrade(req, { data: { client: `bun-${++nextClient}` } })) return undefined;
      return new Response("upgrade required", { status: 426 });
    }
    const m = url.pathname.match(/^\/api\/channels\/([^/]+)\/publish$/);
    if (m && req.method === "POST") {
      const channel = decodeURIComponent(m[1]);
      const body = await req.text();
      try {
        JSON.parse(body);
      } catch {
        return Response.json({ error: { code: "bad_request", message: "body is not JSON" } }, { status: 400 });
      }
      return Response.json({ channel, offset: publish(server, channel, body) });
    }
    if (url.pathname === "/health") return Response.json({ status: "ok", version: "peer" });
    return Response.json({ error: { code: "not_found", message: "no such path" } }, { status: 404 });
  },
  websocket: {
    open(ws) {
      ws.send(JSON.stringify({ type: "welcome", client: ws.data.client, version: "peer", heartbeat: 25 }));
    },
    message(ws, message) {
      let msg;
      try {
        msg = JSON.parse(message);
      } catch {
        ws.send(JSON.stringify({ type: "error", code: "bad_request", message: "not JSON" }));
        return;
      }
      if (msg.type === "subscribe" && typeof msg.channel === "string") {
        ws.subscribe(msg.channel);
        ws.send(withId({ type: "subscribed", channel: msg.channel, offset: offsets.get(msg.channel) || 0, epoch: "e", recovered: false }, msg));
      } else if (msg.type === "publish" && typeof msg.channel === "string" && msg.data !== undefined) {
        const offset = publish(server, msg.channel, JSON.stringify(msg.data));
        ws.send(withId({ type: "published", channel: msg.channel, offset }, msg));
      } else if (msg.type === "ping") {
        ws.send(withId({ type: "pong", ts: Date.now() }, msg));
      } else {
        ws.send(withId({ type: "error", code: "unknown_type", message: "not supported by the peer" }, msg));
      }
    },
  },
});

console.log(`bun-server listening on ${server.hostname}:${server.port}`);
