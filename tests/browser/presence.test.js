'use strict';
// Presence through web/client.js in Chromium (docs/presence.md, "Clients"):
// a second page's join and leave reach the first page's `join`/`leave`
// events (on unsubscribe, and when the page goes away), never its own;
// presence() lists both pages, waits for the connection when asked before
// it, and rejects with the hub's code (presence_disabled) where the
// namespace has no presence.

const test = require('node:test');
const assert = require('node:assert/strict');
const { browserMissing, closeBrowser, newPage, origin, startHub } = require('./support');

const skip = browserMissing() || false;
test.after(closeBrowser);

const ROOM = 'room.b1';

/**
 * A page of the hub (so /client.js loads under the hub's CSP) with a second
 * client, window.pc, that records join/leave events in window.seen and is
 * subscribed to ROOM. Resolves with that client's id.
 */
async function presencePage(t, hub) {
  const page = await newPage(t);
  await page.goto(`${origin(hub)}/examples/log.html?channels=plain.log&persist=0`);
  await page.waitForSelector('body[data-state="connected"]');
  return {
    page,
    id: await page.evaluate(async ({ port, room }) => {
      const { WshubClient } = await import('/client.js');
      const pc = new WshubClient({ url: `ws://127.0.0.1:${port}/ws`, initialDelay: 50, maxDelay: 400 });
      window.pc = pc;
      window.seen = [];
      pc.on('join', (e) => window.seen.push({ type: 'join', ...e }));
      pc.on('leave', (e) => window.seen.push({ type: 'leave', ...e }));
      const subscribed = new Promise((resolve) => {
        const off = pc.on('subscribed', (e) => { if (e.channel === room) { off(); resolve(); } });
      });
      pc.subscribe(room, () => {});
      await subscribed;
      return pc.clientId;
    }, { port: hub.port, room: ROOM }),
  };
}

async function waitSeen(page, n) {
  await page.waitForFunction((k) => window.seen.length >= k, n);
  return page.evaluate(() => window.seen);
}

test('a second page\'s join and leave reach the first page, and presence() lists both', { skip }, async (t) => {
  const hub = await startHub(t, ['--namespace', 'room.:anon-sub,anon-pub,presence',
    '--namespace', 'plain.:anon-sub,anon-pub']);
  const a = await presencePage(t, hub);
  const b = await presencePage(t, hub);
  assert.notEqual(a.id, b.id);

  assert.deepEqual(await waitSeen(a.page, 1), [{ type: 'join', channel: ROOM, client: b.id }]);
  const lists = await Promise.all([a, b].map((p) => p.page.evaluate((room) => window.pc.presence(room), ROOM)));
  for (const got of lists) {
    assert.equal(got.channel, ROOM);
    assert.equal(got.count, 2);
    assert.equal(got.truncated, false);
    // Anonymous connections: no user field at all.
    assert.deepEqual(got.clients.sort((x, y) => (x.client < y.client ? -1 : 1)),
      [{ client: a.id }, { client: b.id }].sort((x, y) => (x.client < y.client ? -1 : 1)));
  }
  assert.deepEqual(await b.page.evaluate(() => window.seen), [], 'no event about itself');

  // Unsubscribing is a leave; subscribing again a join.
  await b.page.evaluate((room) => window.pc.unsubscribe(room), ROOM);
  assert.deepEqual((await waitSeen(a.page, 2))[1], { type: 'leave', channel: ROOM, client: b.id });
  await b.page.evaluate((room) => window.pc.subscribe(room, () => {}), ROOM);
  assert.deepEqual((await waitSeen(a.page, 3))[2], { type: 'join', channel: ROOM, client: b.id });

  // The page goes away without closing its client: the hub sees the
  // connection end, and that is a leave too.
  b.page.assertNoProblems();
  await b.page.context().close();
  assert.deepEqual((await waitSeen(a.page, 4))[3], { type: 'leave', channel: ROOM, client: b.id });
  const after = await a.page.evaluate((room) => window.pc.presence(room), ROOM);
  assert.deepEqual(after, { channel: ROOM, count: 1, truncated: false, clients: [{ client: a.id }] });
  assert.equal((await a.page.evaluate(() => window.seen)).length, 4);
  a.page.assertNoProblems();
});

test('presence() waits for the connection, and rejects with presence_disabled without the flag', { skip },
  async (t) => {
    const hub = await startHub(t, ['--namespace', 'room.:anon-sub,anon-pub,presence',
      '--namespace', 'plain.:anon-sub,anon-pub']);
    const page = await newPage(t);
    await page.goto(`${origin(hub)}/examples/log.html?channels=plain.log&persist=0`);
    await page.waitForSelector('body[data-state="connected"]');
    const got = await page.evaluate(async (port) => {
      const { WshubClient } = await import('/client.js');
      const c = new WshubClient({ url: `ws://127.0.0.1:${port}/ws` });
      const stateAtAsk = c.state;
      // Asked before the welcome: sent once connected.
      const empty = await c.presence('room.nobody');
      let disabled = null;
      try {
        await c.presence('plain.x');
      } catch (e) {
        disabled = { name: e.name, code: e.code, message: e.message };
      }
      let bad = null;
      try {
        await c.presence('bad name');
      } catch (e) {
        bad = e.code;
      }
      const pending = c.presence('room.nobody');
      c.close();
      let closed = null;
      try {
        await pending;
      } catch (e) {
        closed = e.code;
      }
      let afterClose = null;
      try {
        await c.presence('room.nobody');
      } catch (e) {
        afterClose = e.code;
      }
      return { stateAtAsk, empty, disabled, bad, closed, afterClose };
    }, hub.port);
    assert.equal(got.stateAtAsk, 'connecting');
    assert.deepEqual(got.empty, { channel: 'room.nobody', count: 0, truncated: false, clients: [] });
    assert.equal(got.disabled.name, 'WshubError');
    assert.equal(got.disabled.code, 'presence_disabled');
    assert.ok(got.disabled.message.length > 0);
    assert.equal(got.bad, 'bad_channel');
    // A question the hub had not answered when close() ran is rejected (the
    // answer cannot arrive in between: close() runs synchronously after the
    // send), as is one asked afterwards.
    assert.equal(got.closed, 'closed');
    assert.equal(got.afterClose, 'closed');
    page.assertNoProblems();
  });
