'use strict';
// Token auth through the npm ws client, with tokens minted by Node's own
// crypto (HMAC-SHA256, and ECDSA P-256 with the ieee-p1363 R||S encoding that
// JWS uses): Bearer header and ?token= transports, 401 on a bad handshake
// token, error + close 4001 on a bad `auth`, the auth timeout, and forbidden
// subscribes that keep the connection open. Not the full matrix
// (tests/integ/python/test_auth.py, test_namespaces.py).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startHub } = require('./hub');
const { open, openWs, closeQuietly } = require('./clients');

const SECRET = 'node-integration-secret-0123456789abcdef';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function claims(extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { sub: 'nodeuser', iat: now, exp: now + 3600, subs: ['news.*'], pubs: ['news.a'], ...extra };
}

function hs256(payload, secret = SECRET, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(crypto.createHmac('sha256', secret).update(input).digest())}`;
}

function es256(payload, privateKey) {
  const input = `${b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

async function request(ws, doc) {
  ws.send(JSON.stringify(doc));
  return ws.nextJson();
}

test('Bearer header: granted subscribe works, others are forbidden and the connection stays open', async (t) => {
  const hub = await startHub(t, ['--token-secret', SECRET]);
  const [ws] = await openWs(hub, '/ws', { headers: { Authorization: `Bearer ${hs256(claims())}` } });
  const sub = await request(ws, { type: 'subscribe', channel: 'news.x', id: 1 });
  assert.equal(sub.type, 'subscribed');
  const denied = await request(ws, { type: 'subscribe', channel: 'sport.x', id: 2 });
  assert.equal(denied.type, 'error');
  assert.equal(denied.code, 'forbidden');
  assert.equal(denied.id, 2);
  const pong = await request(ws, { type: 'ping', id: 3 });
  assert.equal(pong.type, 'pong');
  await closeQuietly(ws);
});

test('ES256 token from Node crypto on ?token=', async (t) => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-node-keys-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pem = path.join(dir, 'node-ec.pem');
  fs.writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
  const hub = await startHub(t, ['--token-key', pem]);
  const [ws] = await openWs(hub, `/ws?token=${es256(claims({ sub: 'ecuser' }), privateKey)}`);
  const authed = await request(ws, { type: 'auth', token: es256(claims({ sub: 'ecuser' }), privateKey), id: 'r' });
  assert.deepEqual({ type: authed.type, user: authed.user, id: authed.id }, { type: 'authed', user: 'ecuser', id: 'r' });
  const sub = await request(ws, { type: 'subscribe', channel: 'news.eu' });
  assert.equal(sub.type, 'subscribed');
  await closeQuietly(ws);
});

test('bad handshake token gets 401 JSON; bad auth message gets error then 4001', async (t) => {
  const hub = await startHub(t, ['--token-secret', SECRET]);
  const expired = hs256(claims({ exp: Math.floor(Date.now() / 1000) - 600 }));
  await assert.rejects(open(hub.url('/ws'), { headers: { Authorization: `Bearer ${expired}` } }), (err) => {
    assert.equal(err.statusCode, 401);
    assert.equal(JSON.parse(err.body).error.code, 'unauthorized');
    return true;
  });
  const none = `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(claims()))}.`;
  const [ws] = await openWs(hub);
  const err = await request(ws, { type: 'auth', token: none });
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'unauthorized');
  const { code } = await ws.waitClose();
  assert.equal(code, 4001);
});

test('no auth within auth-timeout closes 4001', async (t) => {
  const hub = await startHub(t, ['--token-secret', SECRET, '--auth-timeout', '300ms']);
  const [ws] = await openWs(hub);
  const { code } = await ws.waitClose();
  assert.equal(code, 4001);
});
