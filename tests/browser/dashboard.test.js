'use strict';
// The dashboard (/) in headless Chromium: health, connections and a channel
// with its subscribers and last offset, refreshed from /health,
// /api/channels and /metrics. And a dead link: a hub that stops answering
// (SIGSTOP) is detected by the page within two heartbeat intervals.

const test = require('node:test');
const assert = require('node:assert/strict');
const { browserMissing, closeBrowser, newPage, origin, publish, startHub } = require('./support');

const skip = browserMissing() || false;
test.after(closeBrowser);

test('dashboard shows health and a channel with subscribers, last offset and rates', { skip }, async (t) => {
  const hub = await startHub(t);
  const log = await newPage(t);
  await log.goto(`${origin(hub)}/examples/log.html?channels=scores`);
  await log.waitForSelector('body[data-state="connected"]');
  for (let i = 0; i < 3; i++) await publish(hub, 'scores', { goal: i });

  const page = await newPage(t);
  await page.goto(`${origin(hub)}/?interval=250`);
  await page.waitForSelector('#status[data-status="ok"]');
  const row = 'tr[data-channel="scores"]';
  await page.waitForSelector(row);
  const cells = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cells.slice(0, 3), ['scores', '1', '3']);
  assert.equal(await page.textContent('#version'), 'v0.1.0');
  assert.ok(Number(await page.textContent('#connections')) >= 1);
  assert.equal(await page.isHidden('#no-channels'), true);

  // Later polls pick up new offsets and turn them into a rate.
  const polls = Number(await page.evaluate(() => document.body.dataset.polls));
  for (let i = 0; i < 5; i++) await publish(hub, 'scores', { goal: 3 + i });
  await page.waitForFunction((n) => Number(document.body.dataset.polls) > n + 1, polls);
  await page.waitForFunction(() =>
    document.querySelector('tr[data-channel="scores"] td:nth-child(3)').textContent === '8');
  assert.match(await page.textContent('#pub-rate'), /^\d+(\.\d)?$/);
  page.assertNoProblems();
  log.assertNoProblems();
});

test('a hub that stops answering is detected as a dead link and the page comes back after it does', { skip },
  async (t) => {
    const hub = await startHub(t, ['--heartbeat', '1s']);
    const page = await newPage(t);
    await page.goto(`${origin(hub)}/examples/log.html?channels=beat`);
    await page.waitForSelector('body[data-state="connected"]');
    assert.equal(await page.evaluate(() => window.log.client.state), 'connected');
    // The TCP connection stays open but nothing arrives any more.
    hub.signal('SIGSTOP');
    let resumed = false;
    t.after(() => { if (!resumed) hub.signal('SIGCONT'); });
    const t0 = Date.now();
    await page.waitForSelector('body[data-state="reconnecting"]');
    const took = Date.now() - t0;
    hub.signal('SIGCONT');
    resumed = true;
    // The last frame (a pong to the client's ping) is at most ~1.25 s old at SIGSTOP,
    // so two quiet 1 s intervals cannot have passed within 0.5 s: not a flap.
    assert.ok(took >= 500, `not at once (${took} ms)`);
    await page.waitForSelector('body[data-state="connected"]', { timeout: 30000 });
    await publish(hub, 'beat', 'after');
    await page.waitForFunction(() => window.log.messages.some((m) => m.data === 'after'));
    page.assertNoProblems();
  });
