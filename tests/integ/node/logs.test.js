'use strict';
// The hub's log never contains message payloads or query-string tokens sent by
// the npm ws client. Not for the log format in detail (see the Python suite).

const crypto = require('node:crypto');
const test = require('node:test');
const assert = require('node:assert/strict');
const { startHub } = require('./hub');
const { open, openWs } = require('./clients');

// A real token the hub accepts (it runs with --token-secret), so the
// connection succeeds and every later log line has a chance to leak it.
function token(key) {
  const b64url = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'nodelog', exp: now + 3600, subs: ['*'], pubs: ['*'] })}`;
  return `${input}.${crypto.createHmac('sha256', key).update(input).digest('base64url')}`;
}

test('payloads and ?token= never reach the log', async (t) => {
  const KEY = 'node-log-signing-key-0123456789abcdef';
  const hub = await startHub(t, ['--echo', '--log-level', 'debug', '--token-secret', KEY]);
  hub.expectRunning = false;
  const SECRET = token(KEY);
  const MARK = 'NODEPAYLOAD987';
  const [ws] = await openWs(hub, `/ws?token=${SECRET}`);
  ws.send(JSON.stringify({ type: 'ping', id: 1, data: MARK }));
  assert.equal((await ws.nextJson()).type, 'pong');
  ws.send(`garbage ${MARK}`);
  assert.equal((await ws.nextJson()).code, 'bad_request');
  ws.send(JSON.stringify({ type: MARK }));
  assert.equal((await ws.nextJson()).code, 'unknown_type');
  ws.send(Buffer.from(MARK));
  assert.equal((await ws.waitClose()).code, 1003);
  const echo = await open(hub.url(`/echo?token=${SECRET}`));
  echo.send(MARK);
  assert.equal((await echo.next()).text, MARK);
  echo.close();
  await echo.waitClose();
  assert.equal(await hub.stop(), 0);
  const log = hub.log();
  assert.ok(log.split('\n').length > 3, `expected connection events in the log:\n${log}`);
  for (const needle of [SECRET, SECRET.split('.')[2], KEY, MARK]) {
    const bad = log.split('\n').filter((l) => l.includes(needle));
    assert.deepEqual(bad, [], `${needle} leaked into the log`);
  }
});
