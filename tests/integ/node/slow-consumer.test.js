'use strict';
// A ws client that stops reading (ws.pause) while it keeps sending to /echo is
// dropped by the hub once its unsent output exceeds --max-queue, and another
// client is still served. Not for echo correctness (echo.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startHub, scaled } = require('./hub');
const { open, closeQuietly } = require('./clients');

test('paused ws client flooding /echo is closed (4008 or reset), others served', async (t) => {
  const hub = await startHub(t, ['--echo', '--max-queue', '65536']);
  const slow = await open(hub.url('/echo'));
  slow.pause();
  const chunk = crypto.randomBytes(32 * 1024);
  const end = Date.now() + scaled(15000);
  let closed = false;
  slow.closed.then(() => { closed = true; });
  // Keep ws's own buffer short and yield to the event loop after every send,
  // so the close (or the reset) is noticed as soon as it happens.
  while (!closed && Date.now() < end) {
    if (slow.readyState === slow.OPEN && slow.bufferedAmount < (1 << 20)) slow.send(chunk);
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(closed, 'hub never dropped a client that stopped reading');
  slow.resume();
  const { code } = await slow.waitClose(10000);
  assert.ok(code === 4008 || code === 1006, `slow consumer closed with ${code}, want 4008 or a reset`);

  const ok = await open(hub.url('/echo'));
  ok.send('still served');
  assert.equal((await ok.next()).text, 'still served');
  await closeQuietly(ok);
});
