'use strict';
// Heartbeats seen by the npm ws client with --heartbeat 1: the hub pings every
// interval, ws's automatic pongs keep the connection, and a client that never
// answers (autoPong: false) is closed after about two intervals. Not for the
// JSON-level ping (proto.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHub, scaled } = require('./hub');
const { openWs, open, closeQuietly, withTimeout } = require('./clients');

function nextPing(ws, ms) {
  return withTimeout(new Promise((resolve) => ws.once('ping', () => resolve(Date.now()))), ms, 'a ping');
}

test('hub pings every interval and answered pings keep the connection', async (t) => {
  const hub = await startHub(t, ['--heartbeat', '1']);
  const [ws, welcome] = await openWs(hub);
  assert.equal(welcome.heartbeat, 1);
  const stamps = [];
  for (let i = 0; i < 3; i++) stamps.push(await nextPing(ws, 3000));
  for (let i = 1; i < stamps.length; i++) {
    const gap = stamps[i] - stamps[i - 1];
    assert.ok(gap >= 500 && gap <= 2000 + scaled(500), `ping gap ${gap}ms with --heartbeat 1`);
  }
  ws.send('{"type":"ping","id":"alive"}');
  assert.equal((await ws.nextJson()).id, 'alive');
  await closeQuietly(ws);
});

test('client that never answers pings is closed after two intervals', async (t) => {
  const hub = await startHub(t, ['--heartbeat', '1']);
  const start = Date.now();
  const [ws] = await openWs(hub, '/ws', { autoPong: false });
  let pings = 0;
  ws.on('ping', () => { pings++; });
  const { code } = await ws.waitClose(scaled(3000) + 2000);
  const elapsed = Date.now() - start;
  assert.ok(elapsed >= 1700, `closed after only ${elapsed}ms`);
  assert.ok(pings >= 1, 'closed without pinging first');
  assert.notEqual(code, 1000, 'a heartbeat timeout is not a normal closure');
});

test('echo connections get pings too', async (t) => {
  const hub = await startHub(t, ['--heartbeat', '1', '--echo']);
  const ws = await open(hub.url('/echo'));
  await nextPing(ws, 3000);
  ws.send('after-ping');
  assert.equal((await ws.next()).text, 'after-ping');
  await closeQuietly(ws);
});
