'use strict';
// permessage-deflate (RFC 7692, docs/compression.md) with the npm ws client's
// perMessageDeflate: negotiation, /echo round trips compressed both ways, and
// pub/sub where a deflate subscriber and a plain one receive the same bytes.
// Not the offer parser (tests/unit/test_ws_deflate.c) or raw-frame faults
// (tests/integ/python/test_deflate.py).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const { startHub } = require('./hub');
const { WebSocket, attachInbox, withTimeout, closeQuietly } = require('./clients');

const RESPONSE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

/** Opens url with ws; ws.agreed is the Sec-WebSocket-Extensions of the 101 ('' when none). */
function open(url, opts = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
  attachInbox(ws);
  ws.once('upgrade', (res) => { ws.agreed = res.headers['sec-websocket-extensions'] || ''; });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
  return withTimeout(opened, 5000, `open ${url}`);
}

async function openWs(hub, path, opts = {}) {
  const ws = await open(hub.url(path), opts);
  assert.equal((await ws.nextJson()).type, 'welcome');
  return [ws];
}

function metrics(hub) {
  return new Promise((resolve, reject) => {
    http.get(hub.url('/metrics').replace(/^ws/, 'http'), (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  assert.ok(line, `no metric ${name}`);
  return Number(line.split(' ')[1]);
}

test('perMessageDeflate: true is accepted and echoes byte-exact both ways', async (t) => {
  const hub = await startHub(t, ['--echo', '--permessage-deflate']);
  const ws = await open(hub.url('/echo'), { perMessageDeflate: true });
  assert.equal(ws.agreed, RESPONSE);
  assert.equal(ws.extensions, 'permessage-deflate');
  // ws compresses what it sends from 1 KiB (its default threshold).
  for (const data of ['short', 'j'.repeat(5000), JSON.stringify({ a: Array.from({ length: 5000 }, (_, i) => i) }),
    crypto.randomBytes(3000), Buffer.alloc(200000), '\u00e9\u20ac\u{1F600}'.repeat(3000)]) {
    const binary = Buffer.isBuffer(data);
    ws.send(data, { binary });
    const m = await ws.next(20000);
    assert.equal(m.isBinary, binary);
    if (binary) assert.ok(m.data.equals(data));
    else assert.equal(m.text, data);
  }
  const text = await metrics(hub);
  assert.ok(metric(text, 'wshub_inflate_out_bytes_total') > metric(text, 'wshub_inflate_in_bytes_total'));
  assert.ok(metric(text, 'wshub_deflate_in_bytes_total') > metric(text, 'wshub_deflate_out_bytes_total'));
  await closeQuietly(ws);
});

test('ws options: server window bits and no context takeover', async (t) => {
  const hub = await startHub(t, ['--echo', '--permessage-deflate']);
  for (const opts of [{ serverMaxWindowBits: 10 }, { clientMaxWindowBits: 9 }, { serverNoContextTakeover: true },
    { clientNoContextTakeover: true, serverMaxWindowBits: 9 }]) {
    const ws = await open(hub.url('/echo'), { perMessageDeflate: { threshold: 0, ...opts } });
    assert.ok(ws.agreed.startsWith(RESPONSE), ws.agreed);
    if (opts.serverMaxWindowBits) assert.ok(ws.agreed.endsWith(`server_max_window_bits=${opts.serverMaxWindowBits}`));
    for (let i = 0; i < 3; i++) {
      const s = `message ${i} `.repeat(400);
      ws.send(s);
      assert.equal((await ws.next(10000)).text, s);
    }
    await closeQuietly(ws);
  }
});

test('deflate and plain subscribers of one channel get the same message', async (t) => {
  const hub = await startHub(t, ['--permessage-deflate']);
  const [zsub] = await openWs(hub, '/ws?channels=n.mix', { perMessageDeflate: true });
  const [psub] = await openWs(hub, '/ws?channels=n.mix');
  assert.equal(zsub.agreed, RESPONSE);
  assert.equal(psub.agreed, '');
  assert.equal((await zsub.nextJson()).type, 'subscribed');
  assert.equal((await psub.nextJson()).type, 'subscribed');
  const [pub] = await openWs(hub, '/ws', { perMessageDeflate: true });
  for (const data of [{ small: 1 }, { rows: Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `row ${i}` })) }]) {
    pub.send(JSON.stringify({ type: 'publish', channel: 'n.mix', data }));
    assert.equal((await pub.nextJson(10000)).type, 'published');
    const a = await zsub.next(10000);
    const b = await psub.next(10000);
    assert.equal(a.text, b.text);
    assert.deepEqual(JSON.parse(a.text).data, data);
  }
  await closeQuietly(pub);
  await closeQuietly(zsub);
  await closeQuietly(psub);
});

test('perMessageDeflate offer is declined when the hub has it off', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'), { perMessageDeflate: true });
  assert.equal(ws.agreed, '');
  assert.equal(ws.extensions, '');
  ws.send('x'.repeat(5000));
  assert.equal((await ws.next(10000)).text, 'x'.repeat(5000));
  await closeQuietly(ws);
});
