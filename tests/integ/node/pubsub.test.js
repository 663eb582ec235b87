'use strict';
// Channels with Node clients: subscribe and publish over /ws with the npm ws
// client, publish over HTTP with fetch, ?channels= on connect, unsubscribe,
// and a paused subscriber closed with 4008 while another keeps receiving
// every message. Not for JSON error codes or /echo (proto.test.js,
// echo.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHub, scaled } = require('./hub');
const { openWs, closeQuietly } = require('./clients');

/** Sends a request and returns the next JSON frame (the reply). */
async function request(ws, doc) {
  ws.send(JSON.stringify(doc));
  return ws.nextJson();
}

async function subscribe(ws, channel, id) {
  const reply = await request(ws, id === undefined ? { type: 'subscribe', channel } : { type: 'subscribe', channel, id });
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
  assert.equal(reply.channel, channel);
  return reply;
}

let barrierSeq = 0;
/**
 * Sends a ping and resolves to the raw texts that arrived before its pong: the
 * hub answers in order on one loop, so every frame queued to this client
 * before the ping is among them, and nothing else.
 */
async function untilBarrier(ws) {
  const id = `barrier-${++barrierSeq}`;
  ws.send(JSON.stringify({ type: 'ping', id }));
  const out = [];
  for (;;) {
    const m = await ws.next();
    const doc = JSON.parse(m.text);
    if (doc.type === 'pong' && doc.id === id) return out;
    out.push(m.text);
  }
}

async function httpPublish(hub, channel, body) {
  const res = await fetch(`http://127.0.0.1:${hub.port}/api/channels/${encodeURIComponent(channel)}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(scaled(5000)),
  });
  return { status: res.status, body: await res.json() };
}

async function metric(hub, name) {
  const res = await fetch(`http://127.0.0.1:${hub.port}/metrics`, { signal: AbortSignal.timeout(scaled(5000)) });
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

test('ws publish reaches every subscriber of the channel, with offsets and the id', async (t) => {
  const hub = await startHub(t);
  const [a] = await openWs(hub);
  const [b] = await openWs(hub);
  const [other] = await openWs(hub);
  const [pub] = await openWs(hub);
  const sa = await subscribe(a, 'room/1', 'sa');
  assert.deepEqual(Object.keys(sa).sort(), ['channel', 'epoch', 'id', 'offset', 'recovered', 'type']);
  assert.equal(sa.id, 'sa');
  assert.equal(sa.offset, 0);
  assert.equal(sa.recovered, false);
  assert.match(sa.epoch, /^[0-9a-f]{16}$/);
  await subscribe(b, 'room/1');
  await subscribe(other, 'room/2');

  for (let i = 1; i <= 3; i++) {
    const reply = await request(pub, { type: 'publish', channel: 'room/1', id: i, data: { n: i, s: 'caf\u00e9' } });
    assert.deepEqual(reply, { type: 'published', id: i, channel: 'room/1', offset: i });
  }
  for (const ws of [a, b]) {
    const got = (await untilBarrier(ws)).map((s) => JSON.parse(s));
    assert.deepEqual(got.map((m) => [m.type, m.channel, m.offset, m.id, m.data]), [
      ['message', 'room/1', 1, 1, { n: 1, s: 'caf\u00e9' }],
      ['message', 'room/1', 2, 2, { n: 2, s: 'caf\u00e9' }],
      ['message', 'room/1', 3, 3, { n: 3, s: 'caf\u00e9' }],
    ]);
    for (const m of got) assert.ok(Number.isInteger(m.ts) && Math.abs(m.ts - Date.now()) < 60000, `ts ${m.ts}`);
  }
  assert.deepEqual(await untilBarrier(other), []);
  assert.deepEqual(await untilBarrier(pub), []);
  await Promise.all([a, b, other, pub].map(closeQuietly));
});

test('a subscribed publisher gets its own message before the published reply', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  await subscribe(ws, 'echo-self');
  ws.send(JSON.stringify({ type: 'publish', channel: 'echo-self', id: 'p', data: [1, 2] }));
  const first = await ws.nextJson();
  const second = await ws.nextJson();
  assert.deepEqual([first.type, first.data, first.id], ['message', [1, 2], 'p']);
  assert.deepEqual(second, { type: 'published', id: 'p', channel: 'echo-self', offset: 1 });
  await closeQuietly(ws);
});

test('HTTP publish with fetch reaches ws subscribers with data byte for byte', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  const [other] = await openWs(hub);
  await subscribe(ws, 'news/eu');
  await subscribe(other, 'news');
  const body = '{ "z":1, "a" : [ 12345678901234567890.5e-3 , "\\u00e9" ] }';
  const r1 = await httpPublish(hub, 'news/eu', body);
  assert.equal(r1.status, 200);
  assert.deepEqual(r1.body, { channel: 'news/eu', offset: 1 });
  const r2 = await httpPublish(hub, 'news/eu', '"second"');
  assert.deepEqual(r2.body, { channel: 'news/eu', offset: 2 });
  const bad = await httpPublish(hub, 'news/eu', '[1,]');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'bad_request');

  const raws = await untilBarrier(ws);
  assert.equal(raws.length, 2);
  assert.match(raws[0], /^\{"type":"message","channel":"news\/eu","offset":1,"ts":\d+,"data":/);
  assert.ok(raws[0].endsWith(`,"data":${body}}`), raws[0]);
  assert.equal(JSON.parse(raws[1]).data, 'second');
  assert.deepEqual(await untilBarrier(other), []);
  await Promise.all([ws, other].map(closeQuietly));
});

test('?channels= subscribes on connect', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub, '/ws?channels=q1,q2');
  const s1 = await ws.nextJson();
  const s2 = await ws.nextJson();
  assert.deepEqual([s1.type, s1.channel, s2.type, s2.channel], ['subscribed', 'q1', 'subscribed', 'q2']);
  await httpPublish(hub, 'q2', '2');
  await httpPublish(hub, 'q3', '3');
  await httpPublish(hub, 'q1', '1');
  const got = (await untilBarrier(ws)).map((s) => JSON.parse(s));
  assert.deepEqual(got.map((m) => [m.channel, m.data]), [['q2', 2], ['q1', 1]]);
  await closeQuietly(ws);
});

test('unsubscribe stops delivery; a second unsubscribe is not_subscribed', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  const [stay] = await openWs(hub);
  await subscribe(ws, 'topic');
  await subscribe(stay, 'topic');
  await httpPublish(hub, 'topic', '1');
  assert.equal((await untilBarrier(ws)).length, 1);
  assert.deepEqual(await request(ws, { type: 'unsubscribe', channel: 'topic', id: 9 }),
    { type: 'unsubscribed', id: 9, channel: 'topic' });
  await httpPublish(hub, 'topic', '2');
  assert.deepEqual(await untilBarrier(ws), []);
  assert.deepEqual((await untilBarrier(stay)).map((s) => JSON.parse(s).data), [1, 2]);
  const err = await request(ws, { type: 'unsubscribe', channel: 'topic' });
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'not_subscribed');
  await Promise.all([ws, stay].map(closeQuietly));
});

test('a paused subscriber is closed with 4008 while another receives every message', async (t) => {
  const hub = await startHub(t, ['--max-queue', '65536']);
  const [slow] = await openWs(hub, '/ws?channels=firehose');
  const [fast] = await openWs(hub, '/ws?channels=firehose');
  const [pub] = await openWs(hub);
  assert.equal((await slow.nextJson()).type, 'subscribed');
  assert.equal((await fast.nextJson()).type, 'subscribed');
  slow.pause(); // stops reading: the kernel buffers fill, then the hub's queue
  const fastOffsets = [];
  let fastDone;
  const fastFinished = new Promise((resolve) => { fastDone = resolve; });
  fast.on('message', (data) => {
    const doc = JSON.parse(data.toString());
    if (doc.type === 'message') fastOffsets.push(doc.offset);
    else if (doc.type === 'pong' && doc.id === 'end') fastDone();
  });

  // One publish per round trip, so a reading subscriber never has more than
  // one message unsent while the paused one piles them up.
  const data = JSON.stringify('x'.repeat(60000));
  const base = await metric(hub, 'wshub_slow_consumer_closes_total');
  const end = Date.now() + scaled(30000);
  let published = 0;
  for (;;) {
    assert.ok(Date.now() < end, `paused subscriber never closed after ${published} messages`);
    pub.send(`{"type":"publish","channel":"firehose","data":${data}}`);
    const reply = await pub.nextJson();
    assert.equal(reply.offset, ++published);
    if (published % 10 === 0 && (await metric(hub, 'wshub_slow_consumer_closes_total')) > base) break;
  }
  // Reading again at once: what was sent before the close, then 4008.
  slow.resume();
  const { code } = await slow.waitClose(10000);
  assert.equal(code, 4008);

  for (let i = 0; i < 5; i++) {
    pub.send(`{"type":"publish","channel":"firehose","data":${data}}`);
    assert.equal((await pub.nextJson()).offset, ++published);
  }
  fast.send('{"type":"ping","id":"end"}');
  let timer;
  await Promise.race([fastFinished, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('fast subscriber did not finish')), scaled(20000));
  })]);
  clearTimeout(timer);
  assert.deepEqual(fastOffsets, Array.from({ length: published }, (_, i) => i + 1));
  await Promise.all([fast, pub].map(closeQuietly));
});
