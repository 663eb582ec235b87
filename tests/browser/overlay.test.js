'use strict';
// The lower-third demo in headless Chromium: two overlay pages and the
// control page of one hub. A publish from the control page is shown by each
// overlay, acked after its animation, and the control page lists both
// overlays' receipts live; one sent while the hub restarts waits in the
// control page's queue and is shown and acknowledged once the hub is back.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Hub, browserMissing, closeBrowser, newPage, origin, startHub } = require('./support');

const skip = browserMissing() || false;
test.after(closeBrowser);

test('overlay shows a lower third from the control page, acks it, and the control page shows the receipts',
  { skip }, async (t) => {
    const hub = await startHub(t);
    const overlays = [];
    for (let i = 0; i < 2; i++) {
      const p = await newPage(t);
      await p.goto(`${origin(hub)}/examples/overlay.html?hold=0&debug=1`);
      await p.waitForSelector('body[data-state="connected"]');
      overlays.push(p);
    }
    const ids = await Promise.all(overlays.map((p) => p.evaluate(() => document.body.dataset.client)));
    assert.equal(new Set(ids).size, 2, `two overlay client ids: ${ids}`);

    const control = await newPage(t);
    await control.goto(`${origin(hub)}/examples/control.html`);
    await control.waitForSelector('#state[data-status="connected"]');
    await control.waitForFunction(() => /2 overlays subscribed/.test(document.getElementById('watchers').textContent));
    await control.fill('#name', 'Ada Lovelace');
    await control.fill('#title', 'Analyst');
    await control.click('#send');

    for (const p of overlays) {
      // Shown, then acked when the entry animation ended.
      await p.waitForSelector('.lt[data-acked="true"]');
      assert.equal(await p.textContent('.lt .name'), 'Ada Lovelace');
      assert.equal(await p.textContent('.lt .title'), 'Analyst');
      assert.equal(await p.getAttribute('.lt', 'data-offset'), '1');
    }
    await control.waitForSelector('#sent tr[data-offset="1"][data-acks="2"]');
    const acked = await control.$$eval('#sent tr[data-offset="1"] .acks span', (els) => els.map((e) => e.textContent));
    assert.deepEqual(acked.sort(), [...ids].sort(), 'each overlay acked once');

    // The hub recorded the acks too: nothing went to the dead letters.
    const r = await fetch(`${origin(hub)}/api/channels/lower-third/dead-letters`);
    assert.equal(r.status, 200);
    const dl = await r.json();
    assert.equal(JSON.stringify(dl).includes('ack_timeout'), false, JSON.stringify(dl));

    // A second lower third replaces the first on every overlay.
    await control.fill('#name', 'Grace Hopper');
    await control.fill('#title', 'Admiral');
    await control.click('#send');
    await control.waitForSelector('#sent tr[data-offset="2"][data-acks="2"]');
    for (const p of overlays) {
      await p.waitForSelector('.lt[data-offset="2"][data-acked="true"]');
      assert.equal(await p.textContent('.lt .name'), 'Grace Hopper');
      assert.equal(await p.$$eval('.lt', (els) => els.length), 1);
      p.assertNoProblems();
    }
    control.assertNoProblems();
  });

test('a lower third sent while the hub restarts is queued by the control page, then shown and acknowledged',
  { skip }, async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-browser-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const hubs = [];
    t.after(async () => { for (const h of hubs) await h.finish(); });
    const first = new Hub(['--data-dir', dataDir]);
    hubs.push(first);
    await first.start();

    const overlay = await newPage(t);
    await overlay.goto(`${origin(first)}/examples/overlay.html?hold=0`);
    await overlay.waitForSelector('body[data-state="connected"]');
    const control = await newPage(t);
    await control.goto(`${origin(first)}/examples/control.html`);
    await control.waitForSelector('#state[data-status="connected"]');

    assert.equal(await first.stop(), 0);
    first.expectRunning = false;
    await control.waitForSelector('#state[data-status="reconnecting"]');
    await control.fill('#name', 'Queued Person');
    await control.click('#send');
    await control.waitForSelector('#sent tr[data-status="queued"]');
    assert.equal(await control.textContent('#sent tr .when'), 'queued (offline)');

    const back = new Hub(['--data-dir', dataDir], {}, { listen: `127.0.0.1:${first.port}` });
    hubs.push(back);
    await back.start();
    await control.waitForSelector('#sent tr[data-status="published"][data-offset="1"]', { timeout: 45000 });
    await overlay.waitForSelector('.lt[data-offset="1"][data-acked="true"]', { timeout: 45000 });
    assert.equal(await overlay.textContent('.lt .name'), 'Queued Person');
    const overlayId = await overlay.evaluate(() => document.body.dataset.client);
    await control.waitForSelector('#sent tr[data-offset="1"][data-acks="1"]');
    assert.equal(await control.textContent('#sent tr[data-offset="1"] .acks span'), overlayId);
    assert.equal(await control.$$eval('#sent tbody tr', (rows) => rows.length), 1, 'published once');
    overlay.assertNoProblems();
    control.assertNoProblems();
  });
