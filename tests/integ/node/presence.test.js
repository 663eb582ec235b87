'use strict';
// Presence with the npm ws client (docs/presence.md): the `presence` list,
// `join` and `leave` to the other subscribers of a presence channel but not to
// the connection they are about, a leave when a client terminates its socket,
// `presence_disabled` outside presence namespaces, and the HTTP route read
// with fetch. Not the caps or several workers (tests/integ/python/test_presence.py).

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHub, scaled } = require('./hub');
const { openWs, closeQuietly } = require('./clients');

const NS = ['--namespace', 'room.:anon-sub,anon-pub,presence', '--namespace', 'plain.:anon-sub'];

let seq = 0;
/** Sends doc with a fresh id; resolves to the reply with that id, keeping
 *  every other frame in ws.events. */
async function request(ws, doc) {
  const id = `n${++seq}`;
  ws.events = ws.events || [];
  ws.send(JSON.stringify({ ...doc, id }));
  for (;;) {
    const got = await ws.nextJson();
    if (got.id === id) return got;
    ws.events.push(got);
  }
}

/** The frames queued to ws before the answer to a ping. */
async function events(ws) {
  const pong = await request(ws, { type: 'ping' });
  assert.equal(pong.type, 'pong');
  const out = ws.events;
  ws.events = [];
  return out;
}

async function nextEvent(ws) {
  if (ws.events && ws.events.length) return ws.events.shift();
  return ws.nextJson();
}

test('join and leave reach the others, the list says who is there', async (t) => {
  const hub = await startHub(t, NS);
  const [a, wa] = await openWs(hub);
  const [b, wb] = await openWs(hub, '/ws', { headers: { 'X-Client-Id': 'node-b' } });
  assert.equal(wb.client, 'node-b');
  assert.equal((await request(a, { type: 'subscribe', channel: 'room.n' })).type, 'subscribed');
  assert.deepEqual(await events(a), []);
  assert.equal((await request(b, { type: 'subscribe', channel: 'room.n' })).type, 'subscribed');
  assert.deepEqual(await events(a), [{ type: 'join', channel: 'room.n', client: 'node-b' }]);
  assert.deepEqual(await events(b), []);

  const list = await request(b, { type: 'presence', channel: 'room.n' });
  assert.equal(list.type, 'presence');
  assert.equal(list.channel, 'room.n');
  assert.equal(list.count, 2);
  assert.equal(list.truncated, false);
  assert.deepEqual(list.clients.map((c) => c.client).sort(), [wa.client, 'node-b'].sort());

  const res = await fetch(`http://127.0.0.1:${hub.port}/api/channels/room.n/presence`, {
    signal: AbortSignal.timeout(scaled(5000)),
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.channel, 'room.n');
  assert.deepEqual(body.clients.map((c) => c.client).sort(), [wa.client, 'node-b'].sort());

  // b vanishes without a close frame: a hears the leave.
  b.terminate();
  assert.deepEqual(await nextEvent(a), { type: 'leave', channel: 'room.n', client: 'node-b' });
  const after = await request(a, { type: 'presence', channel: 'room.n' });
  assert.deepEqual(after.clients, [{ client: wa.client }]);
  await closeQuietly(a);
});

test('outside presence namespaces: presence_disabled, and no join', async (t) => {
  const hub = await startHub(t, NS);
  const [a] = await openWs(hub);
  const [b] = await openWs(hub);
  const err = await request(a, { type: 'presence', channel: 'plain.x' });
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'presence_disabled');
  await request(a, { type: 'subscribe', channel: 'plain.x' });
  await request(b, { type: 'subscribe', channel: 'plain.x' });
  assert.deepEqual(await events(a), []);
  const res = await fetch(`http://127.0.0.1:${hub.port}/api/channels/plain.x/presence`, {
    signal: AbortSignal.timeout(scaled(5000)),
  });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, 'presence_disabled');
  await Promise.all([a, b].map(closeQuietly));
});
