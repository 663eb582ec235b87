'use strict';
// web/client.js in Node with the npm `ws` WebSocket (no browser, fast): the
// paths the page tests do not reach — a hub restarted without --data-dir
// (new epoch: a `recovered:false` event, then delivery from the new offsets),
// errors that reject publishes, the bounded offline queue, close(), receipts
// through the API, and duplicates dropped by offset.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const WebSocket = require('../integ/node/node_modules/ws');
const { Hub, scaled, publish } = require('./support');

const CLIENT = pathToFileURL(path.join(__dirname, '..', '..', 'web', 'client.js')).href;

/** Resolves with the next `event` detail that satisfies pred, or fails after ms. */
function next(client, event, pred = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${event} within ${scaled(ms)} ms`)); }, scaled(ms));
    const off = client.on(event, (d) => {
      if (!pred(d)) return;
      clearTimeout(timer);
      off();
      resolve(d);
    });
  });
}

async function hubFor(t, args = [], opts = {}) {
  const h = new Hub(args, {}, opts);
  t.after(() => h.finish());
  return h.start();
}

async function clientFor(t, hub, opts = {}) {
  const { WshubClient } = await import(CLIENT);
  const c = new WshubClient({ url: hub.url(), WebSocket, initialDelay: 50, maxDelay: 400, ...opts });
  t.after(() => c.close());
  if (c.state !== 'connected') await next(c, 'connected');
  return c;
}

test('a hub restarted without --data-dir: recovered:false, then the new epoch is delivered from offset 1',
  async (t) => {
    const first = await hubFor(t);
    const c = await clientFor(t, first);
    const got = [];
    c.subscribe('news', (m) => got.push(m.offset));
    await next(c, 'subscribed');
    const second2 = next(c, 'message', (m) => m.offset === 2);
    await publish(first, 'news', 'a');
    await publish(first, 'news', 'b');
    await second2;
    const before = c.position('news');
    assert.equal(before.offset, 2);

    const reconnecting = next(c, 'reconnecting');
    assert.equal(await first.stop(), 0);
    first.expectRunning = false;
    await reconnecting;
    const recovered = next(c, 'recovered');
    const second = await hubFor(t, [], { listen: `127.0.0.1:${first.port}` });
    const rec = await recovered;
    assert.equal(rec.recovered, false);
    assert.equal(rec.since, 2);
    assert.notEqual(rec.epoch, before.epoch, 'a new epoch');
    assert.deepEqual(c.position('news'), { offset: 0, epoch: rec.epoch });
    const third = next(c, 'message', (m) => m.data === 'c');
    await publish(second, 'news', 'c');
    await third;
    assert.deepEqual(got, [1, 2, 1], 'the new epoch starts over at 1 and is not taken for a duplicate');
  });

test('publish errors reject, the offline queue is bounded, close() rejects what waits', async (t) => {
  const hub = await hubFor(t);
  const c = await clientFor(t, hub, { queueLimit: 2 });
  await assert.rejects(c.publish('bad channel!', 1), (e) => e.code === 'bad_channel');
  assert.equal(c.pending, 0);
  const ok = await c.publish('fine', { x: 1 });
  assert.equal(ok.offset, 1);
  assert.equal(ok.duplicate, false);

  hub.signal('SIGSTOP'); // answers stop coming; the client cannot know why
  t.after(() => { if (hub.running) hub.signal('SIGCONT'); });
  const waiting = [c.publish('fine', 2), c.publish('fine', 3)];
  await assert.rejects(c.publish('fine', 4), (e) => e.code === 'queue_full');
  assert.equal(c.pending, 2);
  c.close();
  hub.signal('SIGCONT');
  for (const p of waiting) await assert.rejects(p, (e) => e.code === 'closed');
  assert.equal(c.state, 'closed');
  await assert.rejects(c.publish('fine', 5), (e) => e.code === 'closed');
});

test('receipts through the API: the publisher hears from each subscriber that acked', async (t) => {
  const hub = await hubFor(t);
  const pub = await clientFor(t, hub);
  const subs = [await clientFor(t, hub), await clientFor(t, hub)];
  for (const s of subs) {
    s.subscribe('rc', (m) => { assert.equal(m.receipts, true); m.ack(); });
    await next(s, 'subscribed');
  }
  const receipts = [];
  const two = new Promise((resolve) => {
    pub.publish('rc', { v: 1 }, {
      receipts: true,
      onReceipt: (r) => { receipts.push(r); if (receipts.length === 2) resolve(); },
    }).then((p) => assert.equal(p.offset, 1));
  });
  await two;
  assert.deepEqual(receipts.map((r) => r.client).sort(), subs.map((s) => s.clientId).sort());
  assert.ok(receipts.every((r) => r.channel === 'rc' && r.offset === 1));
});

test('a message at or below the last delivered offset of the epoch is dropped', async (t) => {
  const hub = await hubFor(t);
  const c = await clientFor(t, hub);
  const got = [];
  c.subscribe('d', (m) => got.push(m.offset));
  await next(c, 'subscribed');
  const three = next(c, 'message', (m) => m.offset === 3);
  for (let i = 0; i < 3; i++) await publish(hub, 'd', i);
  await three;
  // The same frames again, as an overlapping replay would bring them.
  for (const offset of [2, 3]) {
    c._onFrame(JSON.stringify({ type: 'message', channel: 'd', offset, ts: 0, data: offset - 1 }));
  }
  const four = next(c, 'message', (m) => m.offset === 4);
  await publish(hub, 'd', 3);
  await four;
  assert.deepEqual(got, [1, 2, 3, 4]);
});

test('a publish in flight when the link drops is sent again with its key and stored once', async (t) => {
  const hub = await hubFor(t);
  const c = await clientFor(t, hub);
  const watcher = await clientFor(t, hub);
  const seen = [];
  watcher.subscribe('once', (m) => seen.push(m.data));
  await next(watcher, 'subscribed');

  // The hub stops reading: the publish sits in its socket buffer, unanswered.
  hub.signal('SIGSTOP');
  t.after(() => { if (hub.running) hub.signal('SIGCONT'); });
  const answer = c.publish('once', 'only-once');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(c.pending, 1);
  // The client gives up on that connection (as after a dead link) and
  // reconnects; the hub then reads the old publish AND gets it resent on the
  // new connection, with the same idempotency key.
  const reconnected = next(c, 'connected');
  c.reconnect();
  hub.signal('SIGCONT');
  await reconnected;
  const p = await answer;
  assert.equal(p.offset, 1);
  const more = next(watcher, 'message', (m) => m.data === 'after');
  await publish(hub, 'once', 'after');
  await more;
  assert.deepEqual(seen, ['only-once', 'after'], 'delivered once');
  const h = await (await fetch(`http://127.0.0.1:${hub.port}/api/channels/once/history?since=0`)).json();
  assert.deepEqual(h.messages.map((m) => m.data), ['only-once', 'after'], 'stored once');
});

test('ping() measures a round trip, and rejects when the connection goes first', async (t) => {
  const hub = await hubFor(t);
  const c = await clientFor(t, hub);
  const rtt = await c.ping();
  assert.ok(Number.isInteger(rtt) && rtt >= 0);
  hub.signal('SIGSTOP');
  t.after(() => { if (hub.running) hub.signal('SIGCONT'); });
  const p = c.ping();
  c.reconnect();
  await assert.rejects(p, (e) => e.code === 'not_connected');
  hub.signal('SIGCONT');
  await next(c, 'connected');
});

test('presence() asked while the hub is down is answered after the reconnect; its queue is bounded',
  async (t) => {
    const ns = ['--namespace', 'room.:anon-sub,anon-pub,presence'];
    const first = await hubFor(t, ns);
    const c = await clientFor(t, first, { queueLimit: 2 });
    c.subscribe('room.n', () => {});
    await next(c, 'subscribed');
    const reconnecting = next(c, 'reconnecting');
    assert.equal(await first.stop(), 0);
    first.expectRunning = false;
    await reconnecting;
    const asked = [c.presence('room.n'), c.presence('room.other')];
    await assert.rejects(c.presence('room.n'), (e) => e.code === 'queue_full');
    const second = await hubFor(t, ns, { listen: `127.0.0.1:${first.port}` });
    assert.ok(second);
    // Resubscribed before the question is sent: the list has this client.
    const [mine, other] = await Promise.all(asked);
    assert.deepEqual(mine, { channel: 'room.n', count: 1, truncated: false, clients: [{ client: c.clientId }] });
    assert.deepEqual(other, { channel: 'room.other', count: 0, truncated: false, clients: [] });
  });

test('presence entries and join/leave frames without a string client id are left out', async (t) => {
  // A fake hub (the npm ws server): the real one never sends these.
  const server = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
  t.after(() => new Promise((resolve) => server.close(resolve)));
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (sock) => {
    sock.send(JSON.stringify({ type: 'welcome', client: 'me', heartbeat: 25 }));
    sock.on('message', (raw) => {
      const req = JSON.parse(raw);
      if (req.type === 'subscribe') {
        sock.send(JSON.stringify({ type: 'subscribed', id: req.id, channel: req.channel, offset: 0,
          epoch: '00000000000000dd', recovered: false }));
        sock.send(JSON.stringify({ type: 'join', channel: req.channel, user: 'no client' }));
        sock.send(JSON.stringify({ type: 'join', channel: 'room.not-mine', client: 'z' }));
        sock.send(JSON.stringify({ type: 'join', channel: req.channel, client: 'b' }));
      } else if (req.type === 'presence') {
        sock.send(JSON.stringify({ type: 'presence', id: req.id, channel: req.channel, count: 4, truncated: true,
          clients: [null, { client: 5 }, { user: 'x' }, { client: 'a', user: 'u' }] }));
      }
    });
  });
  const { WshubClient } = await import(CLIENT);
  const c = new WshubClient({ url: `ws://127.0.0.1:${server.address().port}/ws`, WebSocket });
  t.after(() => c.close());
  const joins = [];
  c.on('join', (e) => joins.push(e));
  const joined = next(c, 'join');
  c.subscribe('room.f', () => {});
  assert.deepEqual(await joined, { channel: 'room.f', client: 'b' });
  const got = await c.presence('room.f');
  assert.deepEqual(got, { channel: 'room.f', count: 4, truncated: true, clients: [{ client: 'a', user: 'u' }] });
  assert.deepEqual(joins, [{ channel: 'room.f', client: 'b' }]);
});
