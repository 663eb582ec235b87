// wshub browser client: one WebSocket to a wshub hub that never loses its
// place. Reconnects with exponential backoff and full jitter, resubscribes
// with `since` + `epoch` and drops duplicates by offset (every message once,
// in order), detects a dead link, queues publishes while offline and sends
// them with idempotency keys, and can keep its resume positions in
// sessionStorage so a page reload resumes too. Presence: who is on a channel
// (presence()) and join/leave events (docs/presence.md). An ES module with no build
// step and no dependency; served by the hub at /client.js. Not a UI.
//
// Wire contract: docs/protocol.md and docs/delivery.md. API: docs/clients.md.

export const VERSION = '0.1.0';

/** Connection states, in the order a connection goes through them. */
export const State = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  CLOSED: 'closed',
});

/** Close codes after which retrying cannot help (unauthorized, policy). */
export const NO_RETRY_CODES = Object.freeze([4001, 1008]);

const DEFAULTS = Object.freeze({
  initialDelay: 500,      // ms, first backoff ceiling
  maxDelay: 30000,        // ms, backoff cap
  connectTimeout: 10000,  // ms from new WebSocket() to `welcome`
  queueLimit: 1000,       // publishes waiting for their `published` answer
  heartbeat: null,        // ms; null = the hub's (from `welcome`), 0 = off
});

/**
 * Full-jitter backoff: a uniformly random delay in [0, min(cap, initial * 2^attempt)).
 * attempt counts failed tries since the last good connection, from 0.
 * Pure, so it is tested without a browser; rand defaults to Math.random.
 */
export function backoffDelay(attempt, initialDelay = DEFAULTS.initialDelay, maxDelay = DEFAULTS.maxDelay,
  rand = Math.random) {
  const n = Math.max(0, Math.min(Math.floor(attempt) || 0, 62));
  const ceiling = Math.min(maxDelay, initialDelay * 2 ** n);
  return Math.floor(rand() * ceiling);
}

/** The hub's /ws URL for a page it served (ws: or wss: after the page's scheme). */
export function defaultUrl(loc = globalThis.location) {
  if (!loc) throw new Error('wshub: no url given and no page location to derive it from');
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

// Request id of the auth frame, so its error is told apart from others.
const AUTH_ID = 'auth';

let keySeq = 0;
/** A key unique across pages and reloads, so a retried publish is never taken for another one. */
function newKey() {
  const c = globalThis.crypto;
  const base = c && typeof c.randomUUID === 'function' ? c.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  keySeq += 1;
  return `${base}-${keySeq}`;
}

class WshubError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'WshubError';
    this.code = code;
  }
}
export { WshubError };

/**
 * A client for one hub. Create it, subscribe and publish; it connects at once
 * (unless options.connect is false) and keeps itself connected until close().
 */
export class WshubClient {
  constructor(options = {}) {
    const o = { ...DEFAULTS, ...options };
    this.url = o.url || defaultUrl();
    this.options = o;
    this._WebSocket = o.WebSocket || globalThis.WebSocket;
    if (!this._WebSocket) throw new Error('wshub: no WebSocket implementation (pass options.WebSocket)');
    this._rand = o.random || Math.random;
    this.state = State.CONNECTING;
    this.clientId = null;         // this connection's id from `welcome`
    this.user = null;             // the token's subject from `authed`
    this._welcome = null;         // `welcome` held until `authed` when a token was sent
    this._listeners = new Map();  // event -> Set of functions
    this._subs = new Map();       // channel -> { handlers: Set, pos: {offset, epoch} | null, history }
    this._outbox = [];            // publishes not yet answered, in order: { id, text, resolve, reject, sent }
    this._acks = [];              // acks made while offline, sent on reconnect
    this._receiptCbs = new Map(); // publish id -> { cb, timer }: onReceipt until no receipt can come
    this._queries = new Map();    // presence request id -> { text, resolve, reject, sent }, until answered
    this._ids = 0;
    this._attempt = 0;
    this._ws = null;
    this._timer = null;           // backoff or connect deadline
    this._beat = null;            // heartbeat / dead-link check
    this._lastRx = 0;
    this._heartbeatMs = 0;
    this._storage = this._pickStorage(o.persist);
    this._storageKey = o.persistKey || `wshub:${this.url}`;
    this._saved = this._load();
    this._onOnline = () => {
      // The browser says the network is back: skip the rest of the backoff.
      if (this.state === State.RECONNECTING && !this._ws && !this._opening) this._connectNow();
    };
    if (globalThis.addEventListener) globalThis.addEventListener('online', this._onOnline);
    if (o.connect !== false) this._open();
  }

  // ---- events ---------------------------------------------------------------

  /** Registers fn for event; returns a function that removes it. */
  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    const set = this._listeners.get(event);
    if (set) set.delete(fn);
  }

  /** Calls fn once, at the next event. */
  once(event, fn) {
    const off = this.on(event, (d) => { off(); fn(d); });
    return off;
  }

  _emit(event, detail) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(detail);
      } catch (e) {
        // An application callback must not break the client's bookkeeping.
        if (event !== 'error') this._emit('error', { code: 'callback', error: e });
        else setTimeout(() => { throw e; });
      }
    }
  }

  _setState(next, detail = {}) {
    if (this.state === next) return;
    const previous = this.state;
    this.state = next;
    this._emit('state', { state: next, previous, ...detail });
    this._emit(next, detail);
  }

  // ---- public API -----------------------------------------------------------

  /**
   * Subscribes handler to channel; it gets every message once, in order:
   * { channel, offset, ts, data, id, receipts, ack() }. opts.history asks the
   * hub for the last N messages the first time (not when resuming). Returns a
   * function that removes this handler (and unsubscribes when it was the last).
   */
  subscribe(channel, handler, opts = {}) {
    if (typeof channel !== 'string' || !channel) throw new TypeError('wshub: channel must be a non-empty string');
    let sub = this._subs.get(channel);
    if (!sub) {
      const saved = this._saved[channel];
      sub = {
        handlers: new Set(),
        pos: saved && Number.isSafeInteger(saved.offset) && typeof saved.epoch === 'string' ? { ...saved } : null,
        history: opts.history,
        wantHistory: false,
      };
      this._subs.set(channel, sub);
      if (this.state === State.CONNECTED) this._sendSubscribe(channel, sub);
    }
    if (handler) sub.handlers.add(handler);
    return () => {
      if (handler) sub.handlers.delete(handler);
      if (sub.handlers.size === 0) this.unsubscribe(channel);
    };
  }

  /** Stops receiving channel. Its saved resume position is forgotten too. */
  unsubscribe(channel) {
    if (!this._subs.delete(channel)) return;
    delete this._saved[channel];
    this._save();
    if (this.state === State.CONNECTED) this._send({ type: 'unsubscribe', channel });
  }

  /** The last position seen on channel: { offset, epoch }, or null. */
  position(channel) {
    const sub = this._subs.get(channel);
    const pos = sub ? sub.pos : this._saved[channel];
    return pos ? { ...pos } : null;
  }

  /**
   * Publishes data (any JSON value) to channel. Resolves with the hub's answer
   * { channel, offset, id, duplicate } once the message is stored (with
   * --data-dir: on disk); rejects with a WshubError (code from the hub, or
   * 'queue_full', 'closed'). While disconnected it waits in a bounded queue;
   * every publish carries an idempotency key, so resending it after a
   * reconnect never publishes twice. opts: receipts (bool), receiptTimeout
   * (ms), onReceipt(receipt), idempotencyKey (string).
   */
  publish(channel, data, opts = {}) {
    if (this.state === State.CLOSED) return Promise.reject(new WshubError('closed', 'client is closed'));
    if (typeof channel !== 'string' || !channel) {
      return Promise.reject(new TypeError('wshub: channel must be a non-empty string'));
    }
    if (data === undefined) return Promise.reject(new TypeError('wshub: data must be a JSON value'));
    if (this._outbox.length >= this.options.queueLimit) {
      return Promise.reject(new WshubError('queue_full', `more than ${this.options.queueLimit} publishes waiting`));
    }
    this._ids += 1;
    const id = `p${this._ids}`;
    const frame = { type: 'publish', id, channel, data, idempotency_key: opts.idempotencyKey || newKey() };
    if (opts.receipts) {
      frame.receipts = true;
      if (opts.receiptTimeout) frame.receipt_timeout = opts.receiptTimeout;
      if (opts.onReceipt) this._receiptCbs.set(id, { cb: opts.onReceipt, timer: null });
    }
    let text;
    try {
      text = JSON.stringify(frame);
    } catch (e) {
      this._receiptCbs.delete(id);
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const entry = { id, text, resolve, reject, sent: false, receiptTimeout: opts.receiptTimeout || 30000 };
      this._outbox.push(entry);
      if (this.state === State.CONNECTED) {
        entry.sent = this._sendText(text);
      }
    });
  }

  /**
   * Asks the hub who is on channel (docs/presence.md). Resolves with
   * { channel, count, truncated, clients: [{ client, user? }] }: count is the
   * full number even when truncated cut the list. Rejects with a WshubError
   * whose code is the hub's (presence_disabled, forbidden, bad_channel, ...),
   * 'queue_full' or 'closed'. Made while not connected, it waits for the
   * connection; one in flight when the link drops is asked again on the next
   * one (it only reads). Keep a local copy by applying `join`/`leave` events
   * on top of the answer.
   */
  presence(channel) {
    if (this.state === State.CLOSED) return Promise.reject(new WshubError('closed', 'client is closed'));
    if (typeof channel !== 'string' || !channel) {
      return Promise.reject(new TypeError('wshub: channel must be a non-empty string'));
    }
    if (this._queries.size >= this.options.queueLimit) {
      return Promise.reject(new WshubError('queue_full', `more than ${this.options.queueLimit} requests waiting`));
    }
    this._ids += 1;
    const id = `w${this._ids}`;
    const text = JSON.stringify({ type: 'presence', id, channel });
    return new Promise((resolve, reject) => {
      const q = { text, resolve, reject, sent: false };
      this._queries.set(id, q);
      if (this.state === State.CONNECTED) q.sent = this._sendText(text);
    });
  }

  /** Publishes waiting for their answer (queued offline or in flight). */
  get pending() {
    return this._outbox.length;
  }

  /** Acknowledges a message (the publisher gets a receipt). Held while offline. */
  ack(channel, offset) {
    const text = JSON.stringify({ type: 'ack', channel, offset });
    if (this.state === State.CONNECTED && this._sendText(text)) return;
    if (this._acks.length < this.options.queueLimit) this._acks.push(text);
  }

  /** Sends {type:'ping'}; resolves with the round trip in ms. */
  ping() {
    this._ids += 1;
    const id = `q${this._ids}`;
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      if (this.state !== State.CONNECTED) {
        reject(new WshubError('not_connected', 'not connected'));
        return;
      }
      const offPong = this.on('_pong', (m) => {
        if (m.id === id) { done(); resolve(Date.now() - t0); }
      });
      // A pong cannot come over a connection that is gone.
      const offState = this.on('state', () => {
        done();
        reject(new WshubError('not_connected', 'connection lost before the pong'));
      });
      const done = () => { offPong(); offState(); };
      this._send({ type: 'ping', id });
    });
  }

  /** Starts connecting, for a client made with { connect: false }. */
  connect() {
    if (this.state === State.CONNECTING && !this._ws && !this._opening) this._open();
  }

  /** Reconnects now if waiting to retry (e.g. from a "retry now" button). */
  reconnect() {
    if (this.state === State.CLOSED) return;
    if (this._ws) this._drop(4000, 'reconnect requested', true);
    else this._connectNow();
  }

  /** Closes for good: no retry; waiting publishes are rejected with 'closed'. */
  close(code = 1000, reason = '') {
    if (this.state === State.CLOSED) return;
    this._shutdown(code, reason);
    if (this._ws) {
      const ws = this._ws;
      this._detach();
      try { ws.close(code, reason); } catch { /* already closing */ }
    }
  }

  // ---- connection -----------------------------------------------------------

  async _open() {
    clearTimeout(this._timer);
    this._timer = null;
    // One attempt at a time: the 'online' event and a backoff timer may both
    // ask while a token callback is still running.
    if (this._opening || this._ws) return;
    this._opening = true;
    let url = this.url;
    let token = this.options.token;
    try {
      if (typeof token === 'function') token = await token();
    } catch (e) {
      this._emit('error', { code: 'token', error: e });
      this._retry(0, 'token callback failed');
      return;
    } finally {
      this._opening = false;
    }
    if (this.state === State.CLOSED) return;
    if (token && this.options.tokenInQuery) {
      url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
      token = null;
    }
    let ws;
    try {
      ws = new this._WebSocket(url);
    } catch (e) {
      // A malformed URL cannot get better by retrying.
      this._emit('error', { code: 'bad_url', error: e });
      this._shutdown(1006, String(e && e.message));
      return;
    }
    this._ws = ws;
    this._token = token;
    ws.onopen = () => {
      // The first frame the hub reads from us is auth; nothing else is sent
      // until it answers `authed` (a refusal closes with 4001).
      if (this._token) this._send({ type: 'auth', id: AUTH_ID, token: this._token });
    };
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => this._onClose(ev.code, ev.reason);
    ws.onerror = () => { /* the close event that follows says what happened */ };
    this._timer = setTimeout(() => this._drop(4000, 'connect timeout'), this.options.connectTimeout);
  }

  _connectNow() {
    clearTimeout(this._timer);
    this._timer = null;
    this._open();
  }

  _detach() {
    const ws = this._ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this._ws = null;
    this._welcome = null;
    clearTimeout(this._timer);
    this._timer = null;
    clearInterval(this._beat);
    this._beat = null;
  }

  /** Gives up on the current socket (timeout, dead link) and retries. */
  _drop(code, reason, immediately = false) {
    const ws = this._ws;
    this._detach();
    try { ws.close(code, reason); } catch { /* not open yet */ }
    if (immediately) {
      this._markUnsent();
      this._setState(State.RECONNECTING, { attempt: 0, delay: 0, code, reason });
      this._open();
    } else {
      this._retry(code, reason);
    }
  }

  _onClose(code, reason) {
    this._detach();
    if (this.state === State.CLOSED) return;
    const noRetry = this.options.noRetryCodes || NO_RETRY_CODES;
    if (noRetry.includes(code)) {
      this._shutdown(code, reason);
      return;
    }
    this._retry(code, reason);
  }

  _retry(code, reason) {
    const delay = backoffDelay(this._attempt, this.options.initialDelay, this.options.maxDelay, this._rand);
    const attempt = this._attempt;
    this._attempt += 1;
    this._markUnsent();
    this._setState(State.RECONNECTING, { attempt, delay, code, reason });
    this._emit('retry', { attempt, delay, code, reason });
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._open(), delay);
  }

  _shutdown(code, reason) {
    clearTimeout(this._timer);
    this._timer = null;
    clearInterval(this._beat);
    this._beat = null;
    if (globalThis.removeEventListener) globalThis.removeEventListener('online', this._onOnline);
    const waiting = this._outbox.splice(0);
    const queries = [...this._queries.values()];
    this._queries.clear();
    for (const r of this._receiptCbs.values()) clearTimeout(r.timer);
    this._receiptCbs.clear();
    this._acks = [];
    this._setState(State.CLOSED, { code, reason });
    for (const e of waiting) e.reject(new WshubError('closed', `connection closed (${code}) before the hub answered`));
    for (const q of queries) q.reject(new WshubError('closed', `connection closed (${code}) before the hub answered`));
  }

  // A publish sent on a connection that died may or may not have arrived:
  // mark it unsent so the next connection sends it again. Its idempotency key
  // makes the hub answer the original offset instead of publishing twice.
  _markUnsent() {
    for (const e of this._outbox) e.sent = false;
    for (const q of this._queries.values()) q.sent = false;
  }

  _onWelcome(m) {
    this.clientId = m.client;
    this._welcome = m;
    // With a token, the connection counts only once the hub accepted it.
    if (!this._token) this._ready();
  }

  _onAuthed(m) {
    this.user = m.user;
    this._emit('authed', m);
    if (this._welcome) this._ready();
  }

  _ready() {
    const m = this._welcome;
    this._welcome = null;
    clearTimeout(this._timer);
    this._timer = null;
    this._attempt = 0;
    const hb = this.options.heartbeat;
    this._heartbeatMs = hb === null || hb === undefined ? (Number(m.heartbeat) || 0) * 1000 : hb;
    this._startBeat();
    this._setState(State.CONNECTED, { client: m.client, heartbeat: this._heartbeatMs });
    // Order matters: subscriptions first (so a publisher subscribed to its
    // own channel sees its messages, and a presence question asked after a
    // subscribe lists this client), then the presence questions, the
    // publishes that waited, then the acks, each in the order the
    // application made them.
    for (const [channel, sub] of this._subs) this._sendSubscribe(channel, sub);
    for (const q of this._queries.values()) {
      if (!q.sent) q.sent = this._sendText(q.text);
    }
    for (const e of this._outbox) {
      if (!e.sent) e.sent = this._sendText(e.text);
    }
    const acks = this._acks.splice(0);
    for (const a of acks) this._sendText(a);
  }

  // Browsers answer the hub's pings without telling the page, so liveness is
  // judged on what the page sees: any frame counts; after one quiet interval
  // an app-level ping asks for a pong; the link is dead when two intervals
  // passed without a frame AND the ping has had a whole interval to be
  // answered (the hub applies the same two-interval rule on its side). The
  // second condition matters in background tabs, where browsers fire timers
  // late: a ping sent late must get its chance before the link is judged.
  _startBeat() {
    clearInterval(this._beat);
    this._beat = null;
    this._lastRx = Date.now();
    const hb = this._heartbeatMs;
    if (!hb) return;
    let pingAt = 0; // when the unanswered ping of this quiet spell went out, 0 if none
    this._beat = setInterval(() => {
      const now = Date.now();
      const quiet = now - this._lastRx;
      if (quiet < hb) {
        pingAt = 0;
      } else if (!pingAt || pingAt < this._lastRx) {
        pingAt = now;
        this._send({ type: 'ping' });
      } else if (quiet >= 2 * hb && now - pingAt >= hb) {
        this._emit('error', { code: 'dead_link', message: `nothing from the hub for ${quiet} ms` });
        this._drop(4000, 'dead link');
      }
    }, Math.max(50, Math.floor(hb / 4)));
  }

  _send(obj) {
    return this._sendText(JSON.stringify(obj));
  }

  _sendText(text) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  _sendSubscribe(channel, sub) {
    const frame = { type: 'subscribe', channel };
    if (sub.pos) {
      frame.since = sub.pos.offset;
      frame.epoch = sub.pos.epoch;
    } else if (sub.history) {
      frame.history = sub.history;
    }
    sub.wantHistory = !sub.pos && !!sub.history;
    sub.resuming = !!sub.pos;
    this._send(frame);
  }

  // ---- frames from the hub -------------------------------------------------

  _onFrame(text) {
    this._lastRx = Date.now();
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      this._emit('error', { code: 'bad_frame', message: 'frame from the hub is not JSON' });
      return;
    }
    switch (m.type) {
      case 'welcome': this._onWelcome(m); break;
      case 'message': this._onMessage(m); break;
      case 'subscribed': this._onSubscribed(m); break;
      case 'published': this._onPublished(m); break;
      case 'receipt': this._onReceipt(m); break;
      case 'error': this._onError(m); break;
      case 'pong': this._emit('_pong', m); break;
      case 'authed': this._onAuthed(m); break;
      case 'presence': this._onPresence(m); break;
      case 'join': case 'leave': this._onPresenceEvent(m); break;
      default: this._emit(m.type, m); break; // unsubscribed, history, ...
    }
  }

  _onSubscribed(m) {
    const sub = this._subs.get(m.channel);
    if (!sub) return;
    const since = sub.pos ? sub.pos.offset : null;
    if (m.recovered && sub.pos && sub.pos.epoch === m.epoch) {
      // Replay of since+1 .. m.offset follows; nothing to reset.
    } else {
      // A fresh start, or a gap the hub cannot fill (new epoch, retention
      // passed). Continue from what the hub has now; a requested history
      // replays older offsets, so then accept from the beginning.
      sub.pos = { offset: sub.wantHistory ? 0 : m.offset, epoch: m.epoch };
      this._persist(m.channel, sub.pos);
    }
    const detail = { channel: m.channel, offset: m.offset, epoch: m.epoch, recovered: !!m.recovered, since };
    this._emit('subscribed', detail);
    if (sub.resuming) {
      sub.resuming = false;
      this._emit('recovered', detail);
    }
  }

  _onMessage(m) {
    const sub = this._subs.get(m.channel);
    if (!sub || !sub.pos) return;
    const offset = Number(m.offset);
    // The same offset of the same epoch is the same message: a replay that
    // overlaps what was already delivered is dropped here.
    if (!(offset > sub.pos.offset)) return;
    sub.pos.offset = offset;
    this._persist(m.channel, sub.pos);
    const msg = {
      channel: m.channel,
      offset,
      ts: m.ts,
      data: m.data,
      id: m.id,
      receipts: !!m.receipts,
      ack: () => this.ack(m.channel, offset),
    };
    for (const h of [...sub.handlers]) {
      try {
        h(msg);
      } catch (e) {
        this._emit('error', { code: 'callback', error: e });
      }
    }
    this._emit('message', msg);
  }

  _takeOutbox(id) {
    const i = this._outbox.findIndex((e) => e.id === id);
    return i < 0 ? null : this._outbox.splice(i, 1)[0];
  }

  _onPublished(m) {
    const e = this._takeOutbox(m.id);
    if (!e) return;
    e.resolve({ channel: m.channel, offset: m.offset, id: m.id, duplicate: !!m.duplicate });
    const r = this._receiptCbs.get(m.id);
    if (r) {
      // Forget the callback once no receipt can come any more (the hub's
      // receipt deadline, plus a margin for the last receipt in flight).
      r.timer = setTimeout(() => this._receiptCbs.delete(m.id), e.receiptTimeout + 5000);
    }
  }

  _onReceipt(m) {
    const r = { id: m.id, channel: m.channel, offset: m.offset, client: m.client };
    const entry = this._receiptCbs.get(m.id);
    if (entry) {
      try {
        entry.cb(r);
      } catch (e) {
        this._emit('error', { code: 'callback', error: e });
      }
    }
    this._emit('receipt', r);
  }

  _onPresence(m) {
    const q = this._queries.get(m.id);
    if (!q) return;
    this._queries.delete(m.id);
    // Entries without a string client id cannot be applied to anyone's set: left out.
    const clients = Array.isArray(m.clients) ? m.clients.filter(isEntry).map(presenceEntry) : [];
    q.resolve({
      channel: m.channel,
      count: Number.isSafeInteger(m.count) ? m.count : clients.length,
      truncated: !!m.truncated,
      clients,
    });
  }

  // join/leave: another connection subscribed to or left a channel this one
  // is on (never about this connection itself). Events for a channel the
  // application has just unsubscribed from may still be in flight: dropped.
  _onPresenceEvent(m) {
    if (!this._subs.has(m.channel) || !isEntry(m)) return;
    this._emit(m.type, { channel: m.channel, ...presenceEntry(m) });
  }

  _onError(m) {
    const q = m.id !== undefined ? this._queries.get(m.id) : null;
    if (q) {
      this._queries.delete(m.id);
      q.reject(new WshubError(m.code, m.message));
      return;
    }
    const e = m.id !== undefined ? this._takeOutbox(m.id) : null;
    if (e) {
      this._receiptCbs.delete(m.id);
      e.reject(new WshubError(m.code, m.message));
      return;
    }
    this._emit('error', { code: m.code, message: m.message, id: m.id });
  }

  // ---- resume positions in storage ------------------------------------------

  _pickStorage(persist) {
    if (!persist) return null;
    if (typeof persist === 'object') return persist;
    try {
      return globalThis.sessionStorage || null;
    } catch {
      return null; // storage disabled (privacy settings, sandboxed frame)
    }
  }

  _load() {
    if (!this._storage) return {};
    try {
      const v = JSON.parse(this._storage.getItem(this._storageKey) || '{}');
      return v && typeof v === 'object' ? v : {};
    } catch {
      return {};
    }
  }

  _persist(channel, pos) {
    if (!this._storage) return;
    this._saved[channel] = { offset: pos.offset, epoch: pos.epoch };
    this._save();
  }

  _save() {
    if (!this._storage) return;
    try {
      this._storage.setItem(this._storageKey, JSON.stringify(this._saved));
    } catch {
      // Quota or disabled storage: resuming within this page still works.
    }
  }
}

function isEntry(m) {
  return !!m && typeof m === 'object' && typeof m.client === 'string';
}

/** { client, user? } of one presence entry or join/leave frame: user only when the hub sent one. */
function presenceEntry(m) {
  const e = { client: m.client };
  if (typeof m.user === 'string') e.user = m.user;
  return e;
}

/** Shorthand: new WshubClient(options). */
export function connect(options) {
  return new WshubClient(options);
}

export default WshubClient;
