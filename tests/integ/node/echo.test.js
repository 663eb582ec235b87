'use strict';
// /echo through the npm ws client: text and binary unchanged at every length
// boundary, 1 MiB messages, fragmented sends, ordering and isolation between
// clients. Not for /ws (proto.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startHub } = require('./hub');
const { open, closeQuietly } = require('./clients');

async function roundtrip(ws, data, ms = 10000) {
  const binary = Buffer.isBuffer(data);
  ws.send(data, { binary });
  const m = await ws.next(ms);
  assert.equal(m.isBinary, binary, 'frame type changed in the echo');
  if (binary) assert.ok(m.data.equals(data), `binary echo differs (sent ${data.length}, got ${m.data.length})`);
  else assert.equal(m.text, data);
}

test('echo text and binary unchanged', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'));
  await roundtrip(ws, 'hello from node ws');
  await roundtrip(ws, '\u00e9\u20ac\u{1F600}');
  await roundtrip(ws, crypto.randomBytes(4096));
  await roundtrip(ws, '');
  await roundtrip(ws, Buffer.alloc(0));
  await closeQuietly(ws);
});

test('echo at 7/16/64-bit payload length boundaries', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'));
  for (const n of [125, 126, 65535, 65536, 65537]) {
    await roundtrip(ws, crypto.randomBytes(n));
    await roundtrip(ws, 'b'.repeat(n));
  }
  await closeQuietly(ws);
});

test('echo 1 MiB binary and 1 MiB text', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'));
  await roundtrip(ws, crypto.randomBytes(1 << 20), 30000);
  await roundtrip(ws, 'm'.repeat(1 << 20), 30000);
  await closeQuietly(ws);
});

test('echo 1 MiB with permessage-deflate offered', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'), { perMessageDeflate: true });
  await roundtrip(ws, crypto.randomBytes(1 << 20), 30000);
  await closeQuietly(ws);
});

test('fragmented sends (fin:false) come back as one message', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'));
  ws.send('one-', { fin: false });
  ws.send('two-', { fin: false });
  ws.send('three', { fin: true });
  assert.equal((await ws.next()).text, 'one-two-three');
  const parts = [crypto.randomBytes(1000), crypto.randomBytes(70000), crypto.randomBytes(3)];
  parts.forEach((p, i) => ws.send(p, { binary: true, fin: i === parts.length - 1 }));
  const m = await ws.next();
  assert.ok(m.isBinary);
  assert.ok(m.data.equals(Buffer.concat(parts)));
  await closeQuietly(ws);
});

test('echo over --max-message closes 1009', async (t) => {
  const hub = await startHub(t, ['--echo', '--max-message', '16KiB']);
  const ws = await open(hub.url('/echo'));
  await roundtrip(ws, crypto.randomBytes(16384));
  ws.send(crypto.randomBytes(16385));
  assert.equal((await ws.waitClose()).code, 1009);
});

test('many messages are echoed in order', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'));
  for (let i = 0; i < 1000; i++) ws.send(`n${i}`);
  for (let i = 0; i < 1000; i++) assert.equal((await ws.next()).text, `n${i}`);
  await closeQuietly(ws);
});

test('concurrent clients only get their own echoes', async (t) => {
  const hub = await startHub(t, ['--echo']);
  await Promise.all(Array.from({ length: 12 }, async (_, c) => {
    const ws = await open(hub.url('/echo'));
    for (let i = 0; i < 30; i++) await roundtrip(ws, `c${c}-${i}-`.repeat(1 + i * 40));
    await closeQuietly(ws);
  }));
});
