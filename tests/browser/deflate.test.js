'use strict';
// permessage-deflate with Debian's Chromium (docs/compression.md): the
// browser's own offer is accepted by a hub run with --permessage-deflate,
// compressed messages go both ways through /echo, and a /ws subscriber gets
// a large published message byte for byte.

const test = require('node:test');
const assert = require('node:assert/strict');
const { browserMissing, closeBrowser, newPage, origin, startHub } = require('./support');

const skip = browserMissing() || false;
test.after(closeBrowser);

const RESPONSE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

async function metric(hub, name) {
  const text = await (await fetch(`${origin(hub)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no metric ${name}`);
  return Number(line.split(' ')[1]);
}

test('Chromium negotiates permessage-deflate and echoes and receives byte for byte', { skip }, async (t) => {
  const hub = await startHub(t, ['--echo', '--permessage-deflate']);
  const page = await newPage(t);
  await page.goto(`${origin(hub)}/examples/log.html?channels=b.idle`);
  const out = await page.evaluate(async () => {
    const open = (path) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}${path}`);
      const inbox = [];
      const waiters = [];
      ws.onmessage = (e) => { const w = waiters.shift(); if (w) w(e.data); else inbox.push(e.data); };
      ws.next = () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => waiters.push(r)));
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`cannot open ${path}`));
    });
    const echo = await open('/echo');
    const text = JSON.stringify({ rows: Array.from({ length: 3000 }, (_, i) => ({ i, s: `row ${i}` })) });
    echo.send(text);
    const back = await echo.next();
    echo.send('short');
    const shortBack = await echo.next();
    echo.close();
    const ws = await open('/ws');
    JSON.parse(await ws.next()); // welcome
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'b.deflate' }));
    const subscribed = JSON.parse(await ws.next());
    const data = { text: 'compressible '.repeat(5000) };
    await fetch('/api/channels/b.deflate/publish', { method: 'POST', body: JSON.stringify(data) });
    const msg = JSON.parse(await ws.next());
    ws.close();
    return {
      ext: echo.extensions, wsExt: ws.extensions, echoed: back === text, shortEchoed: shortBack === 'short',
      subscribed: subscribed.type, same: JSON.stringify(msg.data) === JSON.stringify(data),
    };
  });
  assert.equal(out.ext, RESPONSE);
  assert.equal(out.wsExt, RESPONSE);
  assert.ok(out.echoed, 'the large echo differs');
  assert.ok(out.shortEchoed, 'the short echo differs');
  assert.equal(out.subscribed, 'subscribed');
  assert.ok(out.same, 'the published message differs');
  // The hub inflated what Chromium compressed and compressed what it sent.
  assert.ok(await metric(hub, 'wshub_inflate_out_bytes_total') > await metric(hub, 'wshub_inflate_in_bytes_total'));
  assert.ok(await metric(hub, 'wshub_deflate_in_bytes_total') > await metric(hub, 'wshub_deflate_out_bytes_total'));
  page.assertNoProblems();
});
