'use strict';
// web/client.js keeping its place in headless Chromium: the hub is stopped
// and restarted (--data-dir, same port) under an open page, which resumes
// without a gap or a duplicate; publishes made while the hub was down are
// delivered once; a reload (or leaving and coming back) resumes from
// sessionStorage; retry delays stay within their jittered bounds.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Hub, browserMissing, closeBrowser, newPage, origin, publish, history, startHub } = require('./support');

const skip = browserMissing() || false;
test.after(closeBrowser);

function offsets(list) {
  return list.map((m) => m.offset);
}

async function received(page) {
  return page.evaluate(() => window.log.messages.map((m) => ({ offset: m.offset, data: m.data })));
}

async function waitReceived(page, n) {
  await page.waitForFunction((k) => window.log.messages.length >= k, n);
  return received(page);
}

test('hub restarted under the page: resumes without a gap, offline publishes are delivered once', { skip },
  async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-browser-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const started = [];
    t.after(async () => {
      for (const h of started) await h.finish();
    });
    async function hubOn(listen) {
      const h = new Hub(['--data-dir', dataDir], {}, { listen });
      started.push(h);
      return h.start();
    }

    const first = await hubOn('127.0.0.1:0');
    const port = first.port;
    const page = await newPage(t);
    await page.goto(`${origin(first)}/examples/log.html?channels=news`);
    await page.waitForSelector('body[data-state="connected"]');
    for (let i = 1; i <= 3; i++) await publish(first, 'news', { n: i });
    assert.deepEqual(offsets(await waitReceived(page, 3)), [1, 2, 3]);

    // The hub goes away; the page notices and retries with backoff.
    assert.equal(await first.stop(), 0);
    first.expectRunning = false; // stopped on purpose, exit status checked here
    await page.waitForSelector('body[data-state="reconnecting"]');
    // A publish from the page while the hub is down waits in its queue.
    await page.evaluate(() => {
      window.queued = window.log.client.publish('news', { n: 'offline' }).then((r) => r, (e) => ({ error: e.code }));
    });
    assert.equal(await page.evaluate(() => window.log.client.pending), 1);

    // Meanwhile other publishers reach the hub at another address (the page
    // cannot see it): these are the messages the page must catch up on.
    const away = await hubOn('127.0.0.1:0');
    for (let i = 4; i <= 6; i++) await publish(away, 'news', { n: i });
    assert.equal(await away.stop(), 0);
    away.expectRunning = false;

    // Back on the page's port: it reconnects by itself, resubscribes with
    // since + epoch, gets 4..6 replayed, then its queued publish goes out.
    const back = await hubOn(`127.0.0.1:${port}`);
    await page.waitForSelector('body[data-state="connected"]', { timeout: 45000 });
    const answer = await page.evaluate(() => window.queued);
    assert.equal(answer.error, undefined, JSON.stringify(answer));
    assert.equal(answer.offset, 7);
    for (let i = 8; i <= 9; i++) await publish(back, 'news', { n: i });
    const got = await waitReceived(page, 9);
    assert.deepEqual(offsets(got), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'every message once, in order');
    assert.deepEqual(got.map((m) => m.data.n), [1, 2, 3, 4, 5, 6, 'offline', 8, 9]);
    assert.deepEqual(await page.evaluate(() => window.log.gaps), [], 'recovered: true, no gap reported');

    // The queued publish is stored exactly once.
    const h = await history(back, 'news');
    assert.deepEqual(h.messages.map((m) => m.data.n), [1, 2, 3, 4, 5, 6, 'offline', 8, 9]);
    page.assertNoProblems();
  });

test('a reload, or leaving the page and coming back, resumes from sessionStorage', { skip }, async (t) => {
  const hub = await startHub(t);
  const page = await newPage(t);
  const url = `${origin(hub)}/examples/log.html?channels=a,b`;
  await page.goto(url);
  await page.waitForSelector('body[data-state="connected"]');
  await page.waitForFunction(() => window.log.client.position('b') !== null);
  await publish(hub, 'a', 'a1');
  await publish(hub, 'b', 'b1');
  await waitReceived(page, 2);

  // Away from the page (same tab, so the same sessionStorage): what is
  // published meanwhile arrives when it comes back, and nothing twice.
  await page.goto('about:blank');
  await publish(hub, 'a', 'a2');
  await publish(hub, 'b', 'b2');
  await publish(hub, 'a', 'a3');
  await page.goto(url);
  const got = await waitReceived(page, 3);
  assert.deepEqual(got.map((m) => m.data).sort(), ['a2', 'a3', 'b2']);
  assert.deepEqual(await page.evaluate(() => window.log.messages.filter((m) => m.channel === 'a').map((m) => m.offset)),
    [2, 3]);

  // A plain reload with nothing new: both channels resume and nothing is
  // delivered again.
  await page.reload();
  await page.waitForSelector('body[data-state="connected"]');
  await page.waitForFunction(() => window.log.resumed.length === 2);
  const resumed = await page.evaluate(() => window.log.resumed);
  assert.deepEqual(resumed.map((e) => [e.channel, e.since, e.recovered]).sort(), [['a', 3, true], ['b', 2, true]]);
  await publish(hub, 'b', 'b3');
  assert.deepEqual(await waitReceived(page, 1), [{ offset: 3, data: 'b3' }]);
  page.assertNoProblems();
});

test('retry delays in the browser are jittered within [0, min(cap, initial * 2^attempt))', { skip }, async (t) => {
  const hub = await startHub(t);
  const page = await newPage(t);
  await page.goto(`${origin(hub)}/examples/log.html?channels=x&persist=0`);
  // A client aimed at a path of the hub that refuses the upgrade (404): every
  // attempt fails at once and is retried.
  const delays = await page.evaluate(async (port) => {
    const { WshubClient } = await import('/client.js');
    const c = new WshubClient({ url: `ws://127.0.0.1:${port}/nope`, initialDelay: 20, maxDelay: 160 });
    const seen = [];
    await new Promise((resolve) => {
      c.on('retry', (e) => {
        seen.push([e.attempt, e.delay]);
        if (seen.length === 12) resolve();
      });
    });
    c.close();
    return seen;
  }, hub.port);
  assert.deepEqual(delays.map((d) => d[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  for (const [attempt, delay] of delays) {
    assert.ok(delay >= 0 && delay < Math.min(160, 20 * 2 ** attempt), `attempt ${attempt}: ${delay}`);
  }
  assert.ok(new Set(delays.slice(3).map((d) => d[1])).size > 1, `jittered: ${delays}`);
});
