'use strict';
// The hub's log never contains message payloads or query-string tokens sent by
// the npm ws client. Not for the log format in detail (see the Python suite).

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHub } = require('./hub');
const { open, openWs } = require('./clients');

test('payloads and ?token= never reach the log', async (t) => {
  const hub = await startHub(t, ['--echo', '--log-level', 'debug']);
  hub.expectRunning = false;
  const SECRET = 'NODESECRET123';
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
  for (const needle of [SECRET, MARK]) {
    const bad = log.split('\n').filter((l) => l.includes(needle));
    assert.deepEqual(bad, [], `${needle} leaked into the log`);
  }
});
