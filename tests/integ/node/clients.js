'use strict';
// Thin, deadline-bound wrappers over the npm `ws` client for the Node
// integration tests: open, read the next message, wait for the close. Not a
// protocol implementation: ws does the framing.

const WebSocket = require('ws');
const { scaled } = require('./hub');

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${scaled(ms)}ms waiting for ${what}`)), scaled(ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens a ws connection and attaches an inbox; resolves once open. Rejects with
 * err.statusCode / err.headers / err.body when the hub refuses the upgrade.
 */
function open(url, opts = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
  attachInbox(ws);
  const opened = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const err = new Error(`upgrade refused: HTTP ${res.statusCode}`);
        err.statusCode = res.statusCode;
        err.headers = res.headers;
        err.body = body;
        reject(err);
        req.destroy();
      });
    });
  });
  return withTimeout(opened, 5000, `open ${url}`);
}

/** Queues every message and the close so tests can await them in order. */
function attachInbox(ws) {
  const queue = [];
  const waiters = [];
  ws.closeInfo = null;
  ws.closed = new Promise((resolve) => {
    ws.once('close', (code, reason) => {
      ws.closeInfo = { code, reason: reason.toString() };
      resolve(ws.closeInfo);
      for (const w of waiters.splice(0)) w.reject(new Error(`closed ${code} ${reason}`));
    });
  });
  ws.on('error', () => { /* surfaced through the close event (1006) */ });
  ws.on('message', (data, isBinary) => {
    const msg = { data, isBinary, text: isBinary ? null : data.toString('utf8') };
    const w = waiters.shift();
    if (w) w.resolve(msg);
    else queue.push(msg);
  });
  /** Resolves to the next {data, isBinary, text}. */
  ws.next = (ms = 5000) => {
    if (queue.length) return Promise.resolve(queue.shift());
    if (ws.closeInfo) return Promise.reject(new Error(`closed ${ws.closeInfo.code}`));
    const p = new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    return withTimeout(p, ms, 'a message');
  };
  /** The next message, which must be a text frame holding JSON. */
  ws.nextJson = async (ms) => {
    const m = await ws.next(ms);
    if (m.isBinary) throw new Error('expected a text frame, got binary');
    return JSON.parse(m.text);
  };
  /** Resolves to {code, reason} when the connection closes. */
  ws.waitClose = (ms = 10000) => withTimeout(ws.closed, ms, 'the close');
  return ws;
}

/** Opens /ws and consumes the welcome frame; returns [ws, welcome]. */
async function openWs(hub, path = '/ws', opts = {}) {
  const ws = await open(hub.url(path), opts);
  const welcome = await ws.nextJson();
  if (welcome.type !== 'welcome') throw new Error(`first frame is not welcome: ${JSON.stringify(welcome)}`);
  return [ws, welcome];
}

/** Closes politely if still open, without waiting long. */
async function closeQuietly(ws) {
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
    ws.close(1000);
    try { await ws.waitClose(3000); } catch { ws.terminate(); }
  }
}

function sendAsync(ws, data, opts = {}) {
  return new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
}

module.exports = { WebSocket, open, openWs, attachInbox, closeQuietly, sendAsync, withTimeout };
