'use strict';
// Delivery guarantees of docs/delivery.md seen by npm ws clients: recovery
// with since+epoch across a disconnect while publishing goes on (1 and 2
// workers), a wrong epoch, history: N, since_ts, durability with --data-dir
// across SIGTERM and SIGKILL restarts, idempotent publish over WS and HTTP,
// and receipts. Not for plain pub/sub or JSON error codes (pubsub.test.js,
// proto.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Hub, startHub, scaled } = require('./hub');
const { openWs, closeQuietly } = require('./clients');

/** Sends a request and returns the next JSON frame (the reply). */
async function request(ws, doc, ms) {
  ws.send(JSON.stringify(doc));
  return ws.nextJson(ms);
}

async function subscribe(ws, channel, extra = {}) {
  const reply = await request(ws, { type: 'subscribe', channel, id: 's', ...extra });
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
  assert.equal(reply.channel, channel);
  return reply;
}

async function publish(ws, channel, data, extra = {}) {
  const reply = await request(ws, { type: 'publish', channel, data, ...extra });
  assert.equal(reply.type, 'published', JSON.stringify(reply));
  return reply;
}

let barrierSeq = 0;
/**
 * Sends a ping and resolves to the JSON frames that arrived before its pong:
 * the hub answers a connection in order, so everything queued to it before
 * the ping is among them.
 */
async function untilBarrier(ws) {
  const id = `barrier-${++barrierSeq}`;
  ws.send(JSON.stringify({ type: 'ping', id }));
  const out = [];
  for (;;) {
    const doc = await ws.nextJson();
    if (doc.type === 'pong' && doc.id === id) return out;
    out.push(doc);
  }
}

/** Opens /ws?channels=CH and returns [ws, client id] once subscribed. */
async function openSub(hub, channel) {
  const [ws, welcome] = await openWs(hub, `/ws?channels=${channel}`);
  const sub = await ws.nextJson();
  assert.equal(sub.type, 'subscribed', JSON.stringify(sub));
  return [ws, welcome.client];
}

async function http(hub, method, p, { body, headers = {}, ms = 5000 } = {}) {
  const res = await fetch(`http://127.0.0.1:${hub.port}${p}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(scaled(ms)),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${method} ${p} -> ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Every retained message of a channel, paged through GET .../history. */
async function fullHistory(hub, channel) {
  const out = [];
  let since = 0;
  for (;;) {
    const page = await http(hub, 'GET', `/api/channels/${channel}/history?since=${since}&limit=1000`);
    if (page.messages.length === 0) return { page, messages: out };
    out.push(...page.messages);
    since = page.messages[page.messages.length - 1].offset;
  }
}

/**
 * A temp data dir for hubs started with --data-dir. One after-hook stops every
 * hub started through it (each must exit 0 unless marked otherwise) before the
 * directory goes, so SQLite never sees its files vanish under it.
 */
function dataDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-nodedel-'));
  const hubs = [];
  t.after(async () => {
    try {
      for (const h of hubs) await h.finish();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return {
    dir,
    async start(extra = []) {
      const h = new Hub(['--data-dir', dir, ...extra]);
      hubs.push(h);
      return h.start();
    },
  };
}

/** Flips the last hex digit: an epoch that is certainly not the channel's. */
function otherEpoch(epoch) {
  const last = epoch[epoch.length - 1] === '0' ? '1' : '0';
  return epoch.slice(0, -1) + last;
}

for (const workers of ['1', '2']) {
  test(`resubscribing with since+epoch gets every offset exactly once across the seam (workers=${workers})`, async (t) => {
    const hub = await startHub(t, ['--workers', workers]);
    const [pub] = await openWs(hub);
    let [sub] = await openWs(hub);
    const first = await subscribe(sub, 'seam');
    const epoch = first.epoch;
    assert.equal(first.offset, 0);

    // A publisher that keeps at most 8 publishes in flight and never stops
    // while the subscriber drops and comes back; `reached(n)` resolves once
    // n publishes were answered, so the test waits on that event.
    const total = 600;
    let acks = 0;
    const waits = [];
    const reached = (n) => new Promise((resolve) => {
      if (acks >= n) resolve();
      else waits.push({ n, resolve });
    });
    const readAck = async () => {
      const doc = await pub.nextJson();
      assert.equal(doc.type, 'published', JSON.stringify(doc));
      assert.equal(doc.offset, doc.id, 'one publisher on a fresh channel: offset n for publish n');
      acks++;
      for (let i = waits.length - 1; i >= 0; i--) {
        if (acks >= waits[i].n) waits.splice(i, 1)[0].resolve();
      }
    };
    const publisher = (async () => {
      for (let n = 1; n <= total; n++) {
        pub.send(JSON.stringify({ type: 'publish', channel: 'seam', id: n, data: { n } }));
        if (n % 8 === 0) while (acks < n - 8) await readAck();
      }
      while (acks < total) await readAck();
    })();
    publisher.catch(() => { /* awaited below; avoid an unhandled rejection meanwhile */ });

    const seen = [];
    while (seen.length < 100) {
      const doc = await sub.nextJson();
      assert.equal(doc.type, 'message', JSON.stringify(doc));
      assert.equal(doc.data.n, doc.offset);
      seen.push(doc.offset);
    }
    await closeQuietly(sub);
    // Away while publishing goes on; back once 300 publishes were answered.
    await reached(300);
    [sub] = await openWs(hub);
    const back = await subscribe(sub, 'seam', { since: seen[seen.length - 1], epoch });
    assert.equal(back.recovered, true, JSON.stringify(back));
    assert.equal(back.epoch, epoch);
    assert.ok(back.offset >= 300 && back.offset <= total, JSON.stringify(back));
    await publisher;
    while (seen.length < total) {
      const doc = await sub.nextJson();
      assert.equal(doc.type, 'message', JSON.stringify(doc));
      assert.equal(doc.data.n, doc.offset, 'replayed data matches its offset');
      seen.push(doc.offset);
    }
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i + 1));
    assert.deepEqual(await untilBarrier(sub), [], 'nothing after the last offset: no duplicate');
    await closeQuietly(sub);
    await closeQuietly(pub);
  });
}

test('since with another epoch is not recovered and replays nothing', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  for (let n = 1; n <= 3; n++) assert.equal((await publish(ws, 'ep', n)).offset, n);
  const { epoch } = await http(hub, 'GET', '/api/channels/ep');
  assert.match(epoch, /^[0-9a-f]{16}$/);

  const doc = await subscribe(ws, 'ep', { since: 1, epoch: otherEpoch(epoch) });
  assert.equal(doc.recovered, false);
  assert.equal(doc.offset, 3);
  assert.equal(doc.epoch, epoch, 'the answer carries the channel\'s real epoch');
  assert.deepEqual(await untilBarrier(ws), [], 'nothing replayed');

  // Control: the same since with the right epoch replays 2 and 3.
  const [ok] = await openWs(hub);
  const good = await subscribe(ok, 'ep', { since: 1, epoch });
  assert.equal(good.recovered, true);
  const got = await untilBarrier(ok);
  assert.deepEqual(got.map((m) => [m.type, m.offset, m.data]), [['message', 2, 2], ['message', 3, 3]]);
  await closeQuietly(ok);
  await closeQuietly(ws);
});

test('history: 3 sends the last 3 messages first, then live ones', async (t) => {
  const hub = await startHub(t);
  const [pub] = await openWs(hub);
  for (let n = 1; n <= 7; n++) await publish(pub, 'late', { n });
  const [ws] = await openWs(hub);
  const doc = await subscribe(ws, 'late', { history: 3 });
  assert.equal(doc.recovered, false);
  assert.equal(doc.offset, 7);
  const got = [];
  for (let i = 0; i < 3; i++) got.push(await ws.nextJson());
  assert.deepEqual(got.map((m) => [m.type, m.offset, m.data.n]), [['message', 5, 5], ['message', 6, 6], ['message', 7, 7]]);
  await publish(pub, 'late', { n: 8 });
  const live = await ws.nextJson();
  assert.deepEqual([live.type, live.offset, live.data.n], ['message', 8, 8]);
  assert.deepEqual(await untilBarrier(ws), []);
  await closeQuietly(ws);
  await closeQuietly(pub);
});

test('since_ts replays exactly the kept messages stamped after that millisecond', async (t) => {
  const hub = await startHub(t);
  const [sub] = await openSub(hub, 'ts');
  const [pub] = await openWs(hub);
  const stamps = [];
  for (let n = 1; n <= 4; n++) {
    await publish(pub, 'ts', { n });
    stamps.push((await sub.nextJson()).ts);
  }
  await closeQuietly(sub);
  const [again] = await openWs(hub);
  const doc = await subscribe(again, 'ts', { since_ts: stamps[1] });
  assert.equal(doc.recovered, true);
  assert.equal(doc.offset, 4);
  const got = await untilBarrier(again);
  // Millisecond resolution: messages in the very millisecond of since_ts
  // count as seen.
  assert.deepEqual(got.map((m) => m.ts), stamps.filter((s) => s > stamps[1]));
  await closeQuietly(again);
  await closeQuietly(pub);
});

test('--data-dir: after SIGTERM and a restart on the same dir, since+epoch recovers and offsets continue', async (t) => {
  const data = dataDir(t);
  let hub = await data.start();
  let [sub] = await openWs(hub);
  const first = await subscribe(sub, 'keep');
  const epoch = first.epoch;
  let [pub] = await openWs(hub);
  for (let n = 1; n <= 5; n++) {
    assert.equal((await publish(pub, 'keep', { n }, { idempotency_key: `k${n}` })).offset, n);
  }
  for (let n = 1; n <= 5; n++) assert.equal((await sub.nextJson()).offset, n);
  await closeQuietly(sub);
  // Published while the subscriber is away, then the hub stops.
  for (let n = 6; n <= 8; n++) assert.equal((await publish(pub, 'keep', { n })).offset, n);
  hub.expectRunning = false;
  assert.equal(await hub.stop(), 0, hub.log());
  assert.ok(fs.existsSync(path.join(data.dir, 'wshub.db')));

  hub = await data.start();
  [sub] = await openWs(hub);
  const back = await subscribe(sub, 'keep', { since: 5, epoch });
  assert.equal(back.recovered, true, JSON.stringify(back));
  assert.equal(back.epoch, epoch, 'the epoch survives the restart');
  assert.equal(back.offset, 8);
  const replay = [];
  for (let i = 0; i < 3; i++) replay.push(await sub.nextJson());
  assert.deepEqual(replay.map((m) => [m.type, m.offset, m.data.n]), [['message', 6, 6], ['message', 7, 7], ['message', 8, 8]]);

  [pub] = await openWs(hub);
  assert.deepEqual(await request(pub, { type: 'publish', channel: 'keep', data: { n: 9 } }),
    { type: 'published', channel: 'keep', offset: 9 }, 'offsets continue without reuse');
  const live = await sub.nextJson();
  assert.deepEqual([live.type, live.offset, live.data.n], ['message', 9, 9]);
  // A retry after the restart of a publish made before it is still a duplicate.
  assert.deepEqual(await request(pub, { type: 'publish', channel: 'keep', data: { n: 'retry' }, idempotency_key: 'k3' }),
    { type: 'published', channel: 'keep', offset: 3, duplicate: true });
  assert.deepEqual(await untilBarrier(sub), [], 'the duplicate was not delivered');
  await closeQuietly(sub);
  await closeQuietly(pub);
});

test('--data-dir: every acknowledged publish is in GET .../history after SIGKILL and a restart', async (t) => {
  const data = dataDir(t);
  const args = ['--history-size', '100000', '--workers', '2'];
  let hub = await data.start(args);
  const [pub] = await openWs(hub);
  const acked = new Map(); // publish n -> offset
  let sent = 0;
  let inflight = 0;
  // As fast as possible with 32 in flight, until 150 are acknowledged.
  while (acked.size < 150) {
    while (inflight < 32) {
      sent++;
      pub.send(JSON.stringify({ type: 'publish', channel: 'crash', id: sent, data: { n: sent } }));
      inflight++;
    }
    const doc = await pub.nextJson(10000);
    assert.equal(doc.type, 'published', JSON.stringify(doc));
    acked.set(doc.id, doc.offset);
    inflight--;
  }
  const { epoch } = await http(hub, 'GET', '/api/channels/crash');
  // Kill with publishes still in flight: they may or may not be stored, but
  // every acknowledged one must be.
  for (let i = 0; i < 5; i++) {
    sent++;
    pub.send(JSON.stringify({ type: 'publish', channel: 'crash', id: sent, data: { n: sent } }));
  }
  hub.expectRunning = false;
  hub.signal('SIGKILL');
  assert.equal((await hub.waitExit()).signal, 'SIGKILL');
  pub.terminate();

  hub = await data.start(args);
  const { page, messages } = await fullHistory(hub, 'crash');
  const byOffset = new Map(messages.map((m) => [m.offset, m.data.n]));
  for (const [n, off] of acked) {
    assert.equal(byOffset.get(off), n, `acknowledged publish ${n} (offset ${off}) lost`);
  }
  const offsets = messages.map((m) => m.offset);
  assert.deepEqual(offsets, Array.from({ length: offsets.length }, (_, i) => i + 1), 'gap-free from 1, in order');
  assert.ok(offsets.length >= 150 && offsets.length <= sent);
  assert.equal(page.offset, offsets[offsets.length - 1]);
  assert.equal(page.epoch, epoch, 'SIGKILL does not change the epoch');
  const next = await http(hub, 'POST', '/api/channels/crash/publish', { body: '{"n":"after"}' });
  assert.deepEqual(next, { channel: 'crash', offset: page.offset + 1 });
});

test('idempotent publish over WS: a repeated key answers the original offset with duplicate:true and delivers nothing', async (t) => {
  const hub = await startHub(t);
  const [sub] = await openSub(hub, 'idem');
  const [pub] = await openWs(hub);
  assert.deepEqual(await request(pub, { type: 'publish', channel: 'idem', data: { v: 1 }, idempotency_key: 'k-1' }),
    { type: 'published', channel: 'idem', offset: 1 });
  assert.deepEqual(await request(pub, { type: 'publish', channel: 'idem', data: { v: 'retry' }, idempotency_key: 'k-1', id: 7 }),
    { type: 'published', id: 7, channel: 'idem', offset: 1, duplicate: true });
  const other = await request(pub, { type: 'publish', channel: 'idem', data: { v: 2 }, idempotency_key: 'k-2' });
  assert.deepEqual(other, { type: 'published', channel: 'idem', offset: 2 });
  const elsewhere = await request(pub, { type: 'publish', channel: 'idem-b', data: { v: 1 }, idempotency_key: 'k-1' });
  assert.deepEqual(elsewhere, { type: 'published', channel: 'idem-b', offset: 1 }, 'keys are per channel');
  const got = await untilBarrier(sub);
  assert.deepEqual(got.map((m) => [m.type, m.offset, m.data]), [['message', 1, { v: 1 }], ['message', 2, { v: 2 }]]);
  const bad = await request(pub, { type: 'publish', channel: 'idem', data: 1, idempotency_key: '' });
  assert.equal(bad.type, 'error');
  assert.equal(bad.code, 'bad_request');
  await closeQuietly(sub);
  await closeQuietly(pub);
});

test('idempotent publish over HTTP: Idempotency-Key repeats answer duplicate:true, also for a key first used over WS', async (t) => {
  const hub = await startHub(t);
  const [sub] = await openSub(hub, 'h');
  const post = (body, key) => http(hub, 'POST', '/api/channels/h/publish', { body, headers: key ? { 'Idempotency-Key': key } : {} });
  assert.deepEqual(await post('{"a":1}', 'abc'), { channel: 'h', offset: 1 });
  assert.deepEqual(await post('{"a":1}', 'abc'), { channel: 'h', offset: 1, duplicate: true });
  assert.deepEqual(await post('{"a":1}'), { channel: 'h', offset: 2 }, 'no key, no deduplication');
  const [pub] = await openWs(hub);
  assert.deepEqual(await request(pub, { type: 'publish', channel: 'h', data: 'ws', idempotency_key: 'from-ws' }),
    { type: 'published', channel: 'h', offset: 3 });
  assert.deepEqual(await post('"http"', 'from-ws'), { channel: 'h', offset: 3, duplicate: true }, 'keys are shared by WS and HTTP');
  const got = await untilBarrier(sub);
  assert.deepEqual(got.map((m) => [m.offset, m.data]), [[1, { a: 1 }], [2, { a: 1 }], [3, 'ws']]);
  await closeQuietly(sub);
  await closeQuietly(pub);
});

for (const workers of ['1', '2']) {
  test(`receipts: each of two subscribers' first ack gives the publisher one receipt with its client id (workers=${workers})`, async (t) => {
    const hub = await startHub(t, ['--workers', workers]);
    const [a, aid] = await openSub(hub, 'rc');
    const [b, bid] = await openSub(hub, 'rc');
    assert.notEqual(aid, bid);
    const [pub] = await openWs(hub);
    assert.deepEqual(await request(pub, { type: 'publish', channel: 'rc', data: { x: 1 }, receipts: true, id: 'r1' }),
      { type: 'published', id: 'r1', channel: 'rc', offset: 1 });
    for (const ws of [a, b]) {
      const m = await ws.nextJson();
      assert.deepEqual([m.type, m.offset, m.receipts, m.id], ['message', 1, true, 'r1']);
      ws.send(JSON.stringify({ type: 'ack', channel: 'rc', offset: 1 }));
    }
    const receipts = [await pub.nextJson(), await pub.nextJson()];
    for (const r of receipts) {
      assert.deepEqual([r.type, r.id, r.channel, r.offset], ['receipt', 'r1', 'rc', 1], JSON.stringify(r));
    }
    assert.deepEqual(receipts.map((r) => r.client).sort(), [aid, bid].sort());
    // Repeated acks and acks of unknown offsets or channels are ignored.
    for (const ws of [a, b]) {
      ws.send(JSON.stringify({ type: 'ack', channel: 'rc', offset: 1 }));
      ws.send(JSON.stringify({ type: 'ack', channel: 'rc', offset: 99 }));
      ws.send(JSON.stringify({ type: 'ack', channel: 'nowhere', offset: 1 }));
      assert.deepEqual(await untilBarrier(ws), [], 'no error for a repeated or unknown ack');
    }
    assert.deepEqual(await untilBarrier(pub), [], 'exactly two receipts');
    for (const ws of [a, b, pub]) await closeQuietly(ws);
  });
}

test('receipts over HTTP: ?receipts=2&timeout=5000 answers with both client ids and complete:true once both acked', async (t) => {
  const hub = await startHub(t);
  const [a, aid] = await openSub(hub, 'hr');
  const [b, bid] = await openSub(hub, 'hr');
  const started = Date.now();
  const answer = http(hub, 'POST', '/api/channels/hr/publish?receipts=2&timeout=5000', { body: '{"show":1}', ms: 10000 });
  answer.catch(() => { /* awaited below */ });
  for (const ws of [a, b]) {
    const m = await ws.nextJson();
    assert.deepEqual([m.type, m.offset, m.receipts, m.data], ['message', 1, true, { show: 1 }]);
    ws.send(JSON.stringify({ type: 'ack', channel: 'hr', offset: m.offset }));
  }
  const doc = await answer;
  assert.deepEqual(Object.keys(doc).sort(), ['acked', 'channel', 'complete', 'offset']);
  assert.equal(doc.channel, 'hr');
  assert.equal(doc.offset, 1);
  assert.equal(doc.complete, true);
  assert.deepEqual([...doc.acked].sort(), [aid, bid].sort());
  assert.ok(Date.now() - started < scaled(5000), 'answered on the second ack, not at the timeout');
  for (const ws of [a, b]) await closeQuietly(ws);
});
