'use strict';
// Shared pieces of the browser suite: Debian's Chromium through
// playwright-core, hubs from tests/integ/node/hub.js, HTTP publishing, and a
// page wrapper that fails the test on any script error or CSP refusal. Not a
// second hub harness: hubs are started and stopped by hub.js.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { Hub, scaled } = require('../integ/node/hub.js');

const CHROMIUM = process.env.WSHUB_CHROMIUM || '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or '' when they can. Only a missing
 * Chromium skips them; a missing playwright-core is a setup error that fails
 * (scripts/install-deps.sh installs both).
 */
function browserMissing() {
  return fs.existsSync(CHROMIUM) ? '' : `${CHROMIUM} not installed (scripts/install-deps.sh installs chromium)`;
}

let browserPromise = null;
/** One headless Chromium per test file, closed when the file's tests end. */
function browser() {
  if (!browserPromise) {
    const { chromium } = require('playwright-core');
    browserPromise = chromium.launch({
      executablePath: CHROMIUM,
      // Chromium's sandbox refuses to run as root (CI containers).
      args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
    });
  }
  return browserPromise;
}

async function closeBrowser() {
  if (!browserPromise) return;
  const b = await browserPromise;
  browserPromise = null;
  await b.close();
}

/**
 * A page in a fresh context (own sessionStorage), registered for cleanup on
 * t. page.problems collects uncaught errors and console errors (a CSP
 * refusal is one); assertNoProblems() fails on any.
 */
async function newPage(t) {
  const b = await browser();
  const context = await b.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(scaled(10000));
  page.problems = [];
  page.expected = []; // regexes of console errors a test provokes on purpose
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A refused WebSocket while the hub is down is the point of some tests;
    // anything else logged as an error is a defect.
    const text = m.text();
    if (m.type() === 'error' && !/WebSocket connection to .* failed/.test(text) &&
        !page.expected.some((re) => re.test(text))) {
      page.problems.push(`console: ${text}`);
    }
  });
  page.assertNoProblems = () => assert.deepEqual(page.problems, [], 'the page logged errors');
  t.after(() => context.close());
  return page;
}

function origin(hub) {
  return `http://127.0.0.1:${hub.port}`;
}

/** Publishes data over HTTP; resolves with the hub's {channel, offset}. */
async function publish(hub, channel, data) {
  const r = await fetch(`${origin(hub)}/api/channels/${encodeURIComponent(channel)}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(data),
  });
  const body = await r.json();
  assert.equal(r.status, 200, `publish answered ${r.status} ${JSON.stringify(body)}`);
  return body;
}

async function history(hub, channel) {
  const r = await fetch(`${origin(hub)}/api/channels/${encodeURIComponent(channel)}/history?since=0&limit=1000`);
  assert.equal(r.status, 200);
  return r.json();
}

/** Starts a hub and registers its teardown (it must survive and exit 0). */
async function startHub(t, args = [], opts = {}) {
  const h = new Hub(args, {}, opts);
  t.after(() => h.finish());
  return h.start();
}

module.exports = { Hub, scaled, browserMissing, browser, closeBrowser, newPage, origin, publish, history, startHub };
