'use strict';
// The web/ files embedded in the binary, over plain HTTP (no browser): every
// file served with its content type and byte for byte, ETag revalidation
// (304), HEAD, the security headers, and 404/405 around them.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { startHub, origin } = require('./support');

const WEB = path.join(__dirname, '..', '..', 'web');
const TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.ts': 'application/typescript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function rawGet(hub, rawPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: hub.port, path: rawPath }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

function webFiles(dir = WEB, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...webFiles(path.join(dir, e.name), r));
    else if (TYPES[path.extname(e.name)]) out.push(r);
  }
  return out;
}

test('client.js is served as JavaScript with validators and security headers', async (t) => {
  const hub = await startHub(t);
  const r = await fetch(`${origin(hub)}/client.js`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /(^|; )default-src 'self'(;|$)/);
  assert.match(csp, /(^|; )connect-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, 'the policy allows only the hub itself');
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{20}"$/);
  const body = Buffer.from(await r.arrayBuffer());
  assert.ok(body.equals(fs.readFileSync(path.join(WEB, 'client.js'))), 'client.js byte for byte');
  assert.equal(Number(r.headers.get('content-length')), body.length);

  // Revalidation: the same tag (also weak, or in a list) is 304 with no body.
  for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
    const c = await fetch(`${origin(hub)}/client.js`, { headers: { 'if-none-match': inm } });
    assert.equal(c.status, 304, `If-None-Match: ${inm}`);
    assert.equal(c.headers.get('etag'), etag);
    assert.equal((await c.arrayBuffer()).byteLength, 0);
  }
  const stale = await fetch(`${origin(hub)}/client.js`, { headers: { 'if-none-match': '"0123456789abcdef0123"' } });
  assert.equal(stale.status, 200, 'another tag gets the file');
  assert.equal((await stale.arrayBuffer()).byteLength, body.length);

  const head = await fetch(`${origin(hub)}/client.js`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(Number(head.headers.get('content-length')), body.length);
  assert.equal(head.headers.get('etag'), etag);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test('every page and script of web/ is served with its type; / is the dashboard', async (t) => {
  const hub = await startHub(t);
  const files = webFiles();
  assert.ok(files.includes('client.d.ts') && files.includes('examples/overlay.html'));
  for (const rel of files) {
    const url = rel === 'index.html' ? '/' : `/${rel}`;
    const r = await fetch(`${origin(hub)}${url}`);
    assert.equal(r.status, 200, url);
    assert.equal(r.headers.get('content-type'), TYPES[path.extname(rel)], url);
    const body = Buffer.from(await r.arrayBuffer());
    assert.ok(body.equals(fs.readFileSync(path.join(WEB, rel))), `${url} byte for byte`);
  }
  const home = await (await fetch(`${origin(hub)}/`)).text();
  assert.match(home, /<title>wshub<\/title>/);
});

test('unknown files are 404 JSON, other methods 405, and nothing outside web/ is reachable', async (t) => {
  const hub = await startHub(t);
  // Raw paths (fetch would resolve the dot segments before sending them).
  for (const url of ['/examples/nope.html', '/examples/', '/examples/../client.js', '/ui/%2e%2e/client.js',
    '/package.json', '/client.js.map', '/examples/overlay.html/']) {
    const r = await rawGet(hub, url);
    assert.equal(r.status, 404, url);
    assert.equal(r.headers['content-type'], 'application/json', url);
    assert.equal(JSON.parse(r.body).error.code, 'not_found', url);
  }
  const post = await fetch(`${origin(hub)}/client.js`, { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  // The API and health routes still win over the pages.
  assert.equal((await fetch(`${origin(hub)}/health`)).status, 200);
  assert.equal((await fetch(`${origin(hub)}/api/channels`)).status, 200);
});
