'use strict';
// The reconnect delay of web/client.js, as a pure function in Node (no
// browser): full jitter in [0, min(cap, initial * 2^attempt)), configurable.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const CLIENT = pathToFileURL(path.join(__dirname, '..', '..', 'web', 'client.js')).href;

test('backoff: ceilings double from 500 ms and stop at 30 s', async () => {
  const { backoffDelay } = await import(CLIENT);
  const almostOne = () => 0.999999;
  const ceilings = [];
  for (let a = 0; a < 12; a++) ceilings.push(backoffDelay(a, undefined, undefined, almostOne));
  assert.deepEqual(ceilings, [499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999, 29999, 29999, 29999]);
  assert.equal(backoffDelay(0, undefined, undefined, () => 0), 0, 'full jitter reaches down to 0');
  assert.equal(backoffDelay(1e9, 500, 30000, almostOne), 29999, 'a huge attempt count stays at the cap');
});

test('backoff: initial and cap are configurable', async () => {
  const { backoffDelay } = await import(CLIENT);
  const top = () => 0.999999;
  assert.equal(backoffDelay(0, 100, 1000, top), 99);
  assert.equal(backoffDelay(3, 100, 1000, top), 799);
  assert.equal(backoffDelay(4, 100, 1000, top), 999);
  assert.equal(backoffDelay(2, 100, 1000, () => 0.5), 200);
});

test('backoff: delays are jittered across the whole range and never exceed the ceiling', async () => {
  const { backoffDelay } = await import(CLIENT);
  for (let attempt = 0; attempt < 10; attempt++) {
    const ceiling = Math.min(30000, 500 * 2 ** attempt);
    const seen = new Set();
    let low = 0;
    let high = 0;
    for (let i = 0; i < 400; i++) {
      const d = backoffDelay(attempt);
      assert.ok(Number.isInteger(d) && d >= 0 && d < ceiling, `attempt ${attempt}: ${d} outside [0, ${ceiling})`);
      seen.add(d);
      if (d < ceiling / 2) low++;
      else high++;
    }
    // 400 uniform draws: both halves of the range are hit and values differ
    // (the chance of failing by luck is below 1e-100).
    assert.ok(seen.size > 50, `attempt ${attempt}: only ${seen.size} distinct delays`);
    assert.ok(low > 100 && high > 100, `attempt ${attempt}: lopsided ${low}/${high}`);
  }
});
