'use strict';
// The opening handshake as the npm ws client performs it: accepted upgrades on
// /ws and /echo, and the refusals ws reports as unexpected responses. Not for
// frames after the upgrade (proto.test.js, echo.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startHub, scaled } = require('./hub');
const { open, openWs, closeQuietly } = require('./clients');

function assertErrorBody(err, status) {
  assert.equal(err.statusCode, status, `want HTTP ${status}, got ${err.statusCode}`);
  assert.match(err.headers['content-type'] || '', /^application\/json/);
  const doc = JSON.parse(err.body);
  assert.equal(typeof doc.error.code, 'string');
  assert.ok(doc.error.code.length > 0);
  assert.equal(typeof doc.error.message, 'string');
  assert.ok(doc.error.message.length > 0);
}

test('ws client upgrades on /ws and gets welcome first', async (t) => {
  const hub = await startHub(t);
  const [ws, welcome] = await openWs(hub);
  assert.equal(welcome.type, 'welcome');
  assert.equal(welcome.version, '0.1.0');
  assert.equal(welcome.heartbeat, 25);
  assert.equal(typeof welcome.client, 'string');
  assert.ok(welcome.client.length > 0);
  await closeQuietly(ws);
});

test('ws client offering permessage-deflate still connects and works', async (t) => {
  const hub = await startHub(t);
  const [ws] = await openWs(hub, '/ws', { perMessageDeflate: true });
  ws.send(JSON.stringify({ type: 'ping', id: 'd' }));
  const pong = await ws.nextJson();
  assert.equal(pong.type, 'pong');
  assert.equal(pong.id, 'd');
  await closeQuietly(ws);
});

test('X-Client-Id header becomes the client id', async (t) => {
  const hub = await startHub(t);
  const [ws, welcome] = await openWs(hub, '/ws', { headers: { 'X-Client-Id': 'node-client_1.a:b' } });
  assert.equal(welcome.client, 'node-client_1.a:b');
  await closeQuietly(ws);
});

test('over-long X-Client-Id is replaced by a generated id', async (t) => {
  const hub = await startHub(t);
  const long = 'n'.repeat(65);
  const [ws, welcome] = await openWs(hub, '/ws', { headers: { 'X-Client-Id': long } });
  assert.notEqual(welcome.client, long);
  assert.ok(welcome.client.length > 0);
  await closeQuietly(ws);
});

test('protocol version 8 is refused with 426 and Sec-WebSocket-Version: 13', async (t) => {
  const hub = await startHub(t);
  const err = await open(hub.url('/ws'), { protocolVersion: 8 }).then(
    () => assert.fail('hub accepted version 8'), (e) => e);
  assertErrorBody(err, 426);
  assert.equal(err.headers['sec-websocket-version'], '13');
});

test('/echo is 404 without --echo', async (t) => {
  const hub = await startHub(t);
  const err = await open(hub.url('/echo')).then(() => assert.fail('upgraded /echo'), (e) => e);
  assertErrorBody(err, 404);
});

test('unknown path is 404 for an upgrade request', async (t) => {
  const hub = await startHub(t);
  const err = await open(hub.url('/nope')).then(() => assert.fail('upgraded /nope'), (e) => e);
  assertErrorBody(err, 404);
});

test('/echo upgrades with --echo and sends no welcome', async (t) => {
  const hub = await startHub(t, ['--echo']);
  const ws = await open(hub.url('/echo'));
  ws.send('first');
  const m = await ws.next();
  assert.equal(m.text, 'first');
  await closeQuietly(ws);
});

test('query string on /ws does not prevent the upgrade', async (t) => {
  const hub = await startHub(t);
  // Any parameter besides channels= is ignored (token= is checked: auth.test.js).
  const [ws, welcome] = await openWs(hub, '/ws?channels=a&x=y');
  assert.equal(welcome.type, 'welcome');
  await closeQuietly(ws);
});

test('node http client: GET /health, 404, 405 with Allow, 413 before the body', async (t) => {
  const hub = await startHub(t, ['--max-body', '1024']);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  function req(method, path, { headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
      const r = http.request({ host: '127.0.0.1', port: hub.port, method, path, headers, agent,
        timeout: scaled(5000) }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { data += d; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      });
      r.on('timeout', () => r.destroy(new Error('request timed out')));
      r.on('error', reject);
      if (body !== undefined) r.write(body);
      r.end();
    });
  }
  const h = await req('GET', '/health');
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.body).status, 'ok');
  const nf = await req('GET', '/missing');
  assert.equal(nf.status, 404);
  assert.equal(typeof JSON.parse(nf.body).error.code, 'string');
  const na = await req('POST', '/health', { body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(na.status, 405);
  const allow = (na.headers.allow || '').split(',').map((s) => s.trim().toUpperCase());
  assert.ok(allow.includes('GET') && allow.includes('HEAD'), `Allow: ${na.headers.allow}`);

  // Declared length over --max-body: the answer must come without the body.
  const big = await new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: hub.port, method: 'POST', path: '/x',
      headers: { 'content-length': '4096' }, timeout: scaled(5000) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    r.on('timeout', () => r.destroy(new Error('no 413 before the body was sent')));
    r.on('error', reject);
    r.flushHeaders(); // head only; never write the body
  });
  assert.equal(big, 413);
});
