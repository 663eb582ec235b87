'use strict';
// TLS listeners with Node clients: wss:// pub/sub with the npm ws client
// trusting a self-signed certificate made here with the openssl CLI (`ca:`),
// https:// /health with node:https, a client that does not trust the
// certificate refused by its own verification, ws:// on the TLS port answered
// 400, and the served certificate changing after SIGHUP. Not for TLS details
// the Python suite covers (versions, ALPN, stalled handshakes).

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { setTimeout: delay } = require('node:timers/promises');
const { startHub, scaled } = require('./hub');
const { open, closeQuietly } = require('./clients');

const TLS_LISTEN_RE = /listening addr=127\.0\.0\.1:(\d+) tls$/m;

/** A self-signed P-256 certificate for IP 127.0.0.1: { cert, key, pem }. */
function makeCert(dir, name) {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert, key, pem: fs.readFileSync(cert) };
}

function fingerprint(pem) {
  return new crypto.X509Certificate(pem).fingerprint256;
}

function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Waits for `re` in the hub's log (an event, polled), returns the match. */
async function waitLog(hub, re, ms = 10000) {
  const end = Date.now() + scaled(ms);
  while (Date.now() < end) {
    const m = re.exec(hub.log());
    if (m) return m;
    await delay(10); // polling the log file for the event
  }
  throw new Error(`log never matched ${re}:\n${hub.log()}`);
}

async function startTlsHub(t, c, extra = []) {
  const hub = await startHub(t, ['--tls-listen', '127.0.0.1:0', '--tls-cert', c.cert, '--tls-key', c.key, ...extra]);
  hub.tlsPort = Number((await waitLog(hub, TLS_LISTEN_RE))[1]);
  return hub;
}

/** The certificate the hub serves now (not verified: compared to the files). */
function servedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

function httpsGet(port, ca, p) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: p, ca, timeout: scaled(5000) }, (res) => {
      const protocol = res.socket.getProtocol();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, protocol }));
    });
    req.once('error', reject);
  });
}

test('wss pub/sub with ws trusting the test CA', async (t) => {
  const c = makeCert(tmpDir(t), 'hub');
  const hub = await startTlsHub(t, c);
  const url = `wss://127.0.0.1:${hub.tlsPort}/ws`;
  const sub = await open(url, { ca: c.pem });
  const pub = await open(url, { ca: c.pem });
  try {
    assert.equal((await sub.nextJson()).type, 'welcome');
    assert.equal((await pub.nextJson()).type, 'welcome');
    assert.match(sub._socket.getProtocol(), /^TLSv1\.[23]$/);
    sub.send(JSON.stringify({ type: 'subscribe', channel: 'node-tls' }));
    assert.equal((await sub.nextJson()).type, 'subscribed');
    const data = { text: 'y'.repeat(70000) }; // more than one TLS record
    pub.send(JSON.stringify({ type: 'publish', channel: 'node-tls', data }));
    for (;;) {
      const doc = await sub.nextJson();
      if (doc.type === 'message') {
        assert.deepEqual(doc.data, data);
        break;
      }
    }
  } finally {
    closeQuietly(sub);
    closeQuietly(pub);
  }
});

test('https /health with node:https and the test CA', async (t) => {
  const c = makeCert(tmpDir(t), 'hub');
  const hub = await startTlsHub(t, c);
  const r = await httpsGet(hub.tlsPort, c.pem, '/health');
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).status, 'ok');
  assert.match(r.protocol, /^TLSv1\.[23]$/);
});

test('a client without the CA refuses the self-signed certificate', async (t) => {
  const c = makeCert(tmpDir(t), 'hub');
  const hub = await startTlsHub(t, c);
  await assert.rejects(open(`wss://127.0.0.1:${hub.tlsPort}/ws`), /self[- ]signed/i);
  // The hub is fine and serves a client that trusts it.
  const ws = await open(`wss://127.0.0.1:${hub.tlsPort}/ws`, { ca: c.pem });
  assert.equal((await ws.nextJson()).type, 'welcome');
  closeQuietly(ws);
});

test('ws:// on the TLS port is answered 400 tls_required', async (t) => {
  const c = makeCert(tmpDir(t), 'hub');
  const hub = await startTlsHub(t, c);
  await assert.rejects(open(`ws://127.0.0.1:${hub.tlsPort}/ws`), (err) => {
    assert.equal(err.statusCode, 400);
    assert.equal(JSON.parse(err.body).error.code, 'tls_required');
    return true;
  });
});

test('SIGHUP serves the replaced certificate to new connections', async (t) => {
  const dir = tmpDir(t);
  const a = makeCert(dir, 'first');
  const b = makeCert(dir, 'second');
  const hub = await startTlsHub(t, a);
  assert.equal(await servedFingerprint(hub.tlsPort), fingerprint(a.pem));
  const before = await open(`wss://127.0.0.1:${hub.tlsPort}/ws`, { ca: a.pem });
  assert.equal((await before.nextJson()).type, 'welcome');
  fs.copyFileSync(b.cert, a.cert);
  fs.copyFileSync(b.key, a.key);
  hub.signal('SIGHUP');
  await waitLog(hub, /tls: certificate reloaded generation=2/);
  assert.equal(await servedFingerprint(hub.tlsPort), fingerprint(b.pem));
  // The connection opened before the reload still works.
  before.send(JSON.stringify({ type: 'ping', id: 'p' }));
  assert.equal((await before.nextJson()).type, 'pong');
  closeQuietly(before);
});
