'use strict';
// Credentials in the browser: the client's token goes out as the first
// `auth` frame (the pages take it from ?token=), a refused token ends the
// client with 4001 and no retry, and the dashboard asks for the API key of a
// hub whose HTTP API wants one.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const { browserMissing, closeBrowser, newPage, origin, startHub } = require('./support');

const skip = browserMissing() || false;
test.after(closeBrowser);

const SECRET = 'browser-test-secret-'.padEnd(40, 'x');

function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${data}.${crypto.createHmac('sha256', SECRET).update(data).digest('base64url')}`;
}

test('a token from ?token= authenticates the overlay; a bad one closes it with 4001 and it does not retry',
  { skip }, async (t) => {
    const hub = await startHub(t, ['--token-secret', SECRET]);
    const token = jwt({ sub: 'overlay-1', exp: Math.floor(Date.now() / 1000) + 600, subs: ['lower-third'] });
    const overlay = await newPage(t);
    await overlay.goto(`${origin(hub)}/examples/overlay.html?hold=0&token=${token}`);
    await overlay.waitForSelector('body[data-state="connected"]');
    const r = await fetch(`${origin(hub)}/api/channels/lower-third/publish`, {
      method: 'POST', body: JSON.stringify({ name: 'Token', title: 'Holder' }),
    });
    assert.equal(r.status, 200);
    await overlay.waitForSelector('.lt[data-acked="true"]');
    assert.equal(await overlay.textContent('.lt .name'), 'Token');
    overlay.assertNoProblems();

    const bad = await newPage(t);
    await bad.goto(`${origin(hub)}/examples/log.html?channels=lower-third&token=not.a.token`);
    await bad.waitForSelector('body[data-state="closed"]');
    // Long enough for the first retries of a client that wrongly retried
    // (500 ms ceiling, then 1 s).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Never 'connected' (that waits for authed), never 'reconnecting'.
    assert.deepEqual(await bad.evaluate(() => window.log.states), [{ state: 'closed', code: 4001 }]);
    const handshakes = hub.log().split('\n').filter((l) => l.includes('client connected')).length;
    assert.equal(handshakes, 2, `one connection each for the two pages:\n${hub.log()}`);
    bad.assertNoProblems();
  });

test('the dashboard asks for the API key of a protected hub and then shows its channels', { skip }, async (t) => {
  const hub = await startHub(t, ['--api-key', 'dash-key-1234', '--protect-metrics']);
  const r = await fetch(`${origin(hub)}/api/channels/keyed/publish`, {
    method: 'POST', body: '1', headers: { authorization: 'Bearer dash-key-1234' },
  });
  assert.equal(r.status, 200);
  const page = await newPage(t);
  page.expected.push(/status of 40[13]/);
  await page.goto(`${origin(hub)}/?interval=250`);
  await page.waitForSelector('#key-form:not([hidden])');
  await page.fill('#key', 'wrong-key');
  await page.click('#key-form button');
  await page.waitForFunction(() => document.getElementById('key-error').textContent === 'that key was refused');
  await page.fill('#key', 'dash-key-1234');
  await page.click('#key-form button');
  await page.waitForSelector('tr[data-channel="keyed"]');
  assert.equal(await page.isHidden('#key-form'), true);
  // The key stays in this tab only: a reload does not ask again.
  await page.reload();
  await page.waitForSelector('tr[data-channel="keyed"]');
  assert.equal(await page.isHidden('#key-form'), true);
  page.assertNoProblems();
});

test('an Origin allow-list that names other sites still lets the hub\'s own pages connect', { skip }, async (t) => {
  const hub = await startHub(t, ['--allowed-origin', 'https://studio.example']);
  const page = await newPage(t);
  await page.goto(`${origin(hub)}/examples/log.html?channels=o`);
  await page.waitForSelector('body[data-state="connected"]');
  // And a page of another origin would be refused: the list is in force.
  const status = await new Promise((resolve, reject) => {
    const req = http.get({
      host: '127.0.0.1', port: hub.port, path: '/ws',
      headers: {
        origin: 'https://evil.example', connection: 'Upgrade', upgrade: 'websocket',
        'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('error', reject);
  });
  assert.equal(status, 403);
  page.assertNoProblems();
});
