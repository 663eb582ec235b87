// Smoke check of a peer (or of wshub itself): drives the contract subset that `wshub bench` uses and exits 0 when
// every answer matches; not a conformance suite. Usage: node bench/peers/smoke.js ws://127.0.0.1:PORT/ws
"use strict";

const http = require("http");
const WebSocket = require("ws");

const url = process.argv[2] || `ws://127.0.0.1:${process.env.PORT || 8080}/ws`;
const base = new URL(url);
const deadline = setTimeout(() => fail("timed out after 5 s"), 5000);
let checks = 0;

function fail(why) {
  console.error(`smoke: FAIL ${url}: ${why}`);
  process.exit(1);
}

function expect(cond, what) {
  if (!cond) fail(what);
  checks++;
}

// Resolves with the next frame on `ws` that satisfies `pred`, parsed.
function next(ws, pred) {
  return new Promise((resolve) => {
    const on = (raw) => {
      const msg = JSON.parse(raw);
      if (!pred || pred(msg)) {
        ws.off("message", on);
        resolve(msg);
      }
    };
    ws.on("message", on);
  });
}

function open() {
  const ws = new WebSocket(url);
  const welcome = next(ws);
  ws.on("error", (e) => fail(`socket error: ${e.message}`));
  return welcome.then((w) => [ws, w]);
}

function post(path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, path, method: "POST", headers: { "Content-Type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve([res.statusCode, JSON.parse(text)]));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

(async () => {
  const [sub, w1] = await open();
  const [pub, w2] = await open();
  expect(w1.type === "welcome" && typeof w1.client === "string" && w1.heartbeat > 0, `bad welcome ${JSON.stringify(w1)}`);
  expect(w2.client !== w1.client, "two connections share a client id");

  const subReply = next(sub);
  sub.send(JSON.stringify({ type: "subscribe", channel: "smoke.1", id: 1 }));
  const s = await subReply;
  expect(s.type === "subscribed" && s.channel === "smoke.1" && s.id === 1 && Number.isInteger(s.offset), `bad subscribed ${JSON.stringify(s)}`);
  const base0 = s.offset;

  const got = next(sub, (m) => m.type === "message");
  const ack = next(pub);
  pub.send(JSON.stringify({ type: "publish", channel: "smoke.1", data: { n: [1, "two"] }, id: "p1" }));
  const [m1, a1] = await Promise.all([got, ack]);
  expect(m1.channel === "smoke.1" && m1.offset === base0 + 1 && Math.abs(m1.ts - Date.now()) < 5000, `bad message ${JSON.stringify(m1)}`);
  expect(JSON.stringify(m1.data) === '{"n":[1,"two"]}', `data changed: ${JSON.stringify(m1.data)}`);
  expect(a1.type === "published" && a1.offset === base0 + 1 && a1.id === "p1", `bad published ${JSON.stringify(a1)}`);

  const got2 = next(sub, (m) => m.type === "message");
  const [status, body] = await post("/api/channels/smoke.1/publish", '{"x":2}');
  expect(status === 200 && body.channel === "smoke.1" && body.offset === base0 + 2, `bad HTTP publish answer ${status} ${JSON.stringify(body)}`);
  const m2 = await got2;
  expect(m2.offset === base0 + 2 && m2.data.x === 2, `bad message after HTTP publish ${JSON.stringify(m2)}`);

  clearTimeout(deadline);
  sub.close();
  pub.close();
  console.log(`smoke: ok ${url} (${checks} checks)`);
})().catch((e) => fail(e.stack || String(e)));
