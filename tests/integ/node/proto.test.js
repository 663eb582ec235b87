'use strict';
// The /ws protocol through the npm ws client: ping/pong, JSON errors that keep
// the connection open, and the close codes for binary (1003), oversized (1009)
// and invalid UTF-8 (1007) messages, including fragmented sends. Not for /echo
// (echo.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHub } = require('./hub');
const { openWs, closeQuietly, sendAsync } = require('./clients');

test('ping with integer id gets pong with id and ms timestamp', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  const before = Date.now();
  ws.send(JSON.stringify({ type: 'ping', id: 7 }));
  const pong = await ws.nextJson();
  const after = Date.now();
  assert.equal(pong.type, 'pong');
  assert.equal(pong.id, 7);
  assert.ok(Number.isInteger(pong.ts));
  assert.ok(pong.ts >= before - 2000 && pong.ts <= after + 2000, `ts ${pong.ts} not near ${before}..${after}`);
  await closeQuietly(ws);
});

test('ping with string id echoes the string', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  ws.send(JSON.stringify({ type: 'ping', id: 'abc-\u00e9' }));
  const pong = await ws.nextJson();
  assert.deepEqual(Object.keys(pong).sort(), ['id', 'ts', 'type']);
  assert.equal(pong.id, 'abc-\u00e9');
  await closeQuietly(ws);
});

test('client ids are unique across connections', async (t) => {
  const hub = await startHub(t);
  const conns = await Promise.all(Array.from({ length: 10 }, () => openWs(hub)));
  const ids = conns.map(([, w]) => w.client);
  assert.equal(new Set(ids).size, ids.length, `duplicate ids: ${ids}`);
  await Promise.all(conns.map(([ws]) => closeQuietly(ws)));
});

test('invalid JSON is bad_request and the connection stays open', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  ws.send('{not json');
  const err = await ws.nextJson();
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'bad_request');
  assert.equal(typeof err.message, 'string');
  ws.send('{"type":"ping","id":1}');
  assert.equal((await ws.nextJson()).type, 'pong');
  await closeQuietly(ws);
});

test('unknown type is unknown_type with the request id, connection stays open', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  ws.send(JSON.stringify({ type: 'teleport', id: 42 }));
  const err = await ws.nextJson();
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'unknown_type');
  assert.equal(err.id, 42);
  ws.send(JSON.stringify({ type: 'teleport', id: 'str' }));
  assert.equal((await ws.nextJson()).id, 'str');
  ws.send('{"type":"ping","id":2}');
  assert.equal((await ws.nextJson()).id, 2);
  await closeQuietly(ws);
});

test('fragmented text message (fin:false) is reassembled', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  ws.send('{"type":"pi', { fin: false });
  ws.send('ng","id":"fr', { fin: false });
  ws.send('ag"}', { fin: true });
  const pong = await ws.nextJson();
  assert.equal(pong.type, 'pong');
  assert.equal(pong.id, 'frag');
  await closeQuietly(ws);
});

test('binary message on /ws closes 1003', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  ws.send(Buffer.from([1, 2, 3]));
  const { code } = await ws.waitClose();
  assert.equal(code, 1003);
});

test('message over --max-message closes 1009', async (t) => {
  const hub = await startHub(t, ['--max-message', '1024']);
  const [ws] = await openWs(hub);
  ws.send('x'.repeat(1025));
  assert.equal((await ws.waitClose()).code, 1009);
});

test('fragments that only together exceed --max-message close 1009', async (t) => {
  const hub = await startHub(t, ['--max-message', '1024']);
  const [ws] = await openWs(hub);
  for (let i = 0; i < 9; i++) ws.send('y'.repeat(200), { fin: false });
  ws.send('y', { fin: true });
  assert.equal((await ws.waitClose()).code, 1009);
});

test('invalid UTF-8 in a text frame closes 1007', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  // ws sends a Buffer as-is; binary:false makes it a text frame.
  await sendAsync(ws, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
  assert.equal((await ws.waitClose()).code, 1007);
});

test('invalid UTF-8 split across fragments closes 1007', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  ws.send(Buffer.from('"\xe2\x82', 'latin1'), { binary: false, fin: false });
  ws.send(Buffer.from('(x"', 'latin1'), { binary: false, fin: true }); // E2 82 28 is not UTF-8
  assert.equal((await ws.waitClose()).code, 1007);
});

test('ws ping frame is answered with a pong carrying the same data', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  const got = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(Buffer.from('node-ping'));
  assert.equal((await got).toString(), 'node-ping');
  await closeQuietly(ws);
});

test('client close 4000 is answered by the hub', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub);
  ws.close(4000, 'bye');
  const { code } = await ws.waitClose();
  // ws reports the code it received back. RFC 6455 §5.5.1: the reply typically
  // echoes the code; 1005/1006 would mean the hub did not answer at all.
  assert.ok(code === 4000 || code === 1000, `close reply code ${code}`);
});
