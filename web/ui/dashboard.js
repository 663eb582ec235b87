// The hub's dashboard (/): polls /health, /api/channels and /metrics and
// shows health, connections, channels with subscribers, last offsets and
// rates. Plain DOM, no framework; rates are differences between two polls.

const params = new URLSearchParams(location.search);
const intervalMs = Math.max(250, Number(params.get('interval')) || 2000);
const $ = (id) => document.getElementById(id);

let prev = null; // { t, published, delivered, offsets: Map }
let pollTimer = null;

/** Sums every sample of a metric in Prometheus text (all label sets). */
export function metricSum(text, name) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : null;
}

function duration(s) {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function rate(now, before, dt) {
  if (now === null || before === null || before === undefined || dt <= 0) return '–';
  const r = Math.max(0, now - before) / dt;
  return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
}

// A hub started with --api-key wants `Authorization: Bearer KEY` on /api/
// (and, with --protect-metrics, on /health and /metrics). The key is asked
// for once and kept in this tab's sessionStorage, never in the URL.
const KEY_ITEM = 'wshub:api-key';
let apiKey = sessionStorage.getItem(KEY_ITEM) || '';

class NeedsKey extends Error {}

async function get(path) {
  const headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const r = await fetch(path, { cache: 'no-store', headers });
  if (r.status === 401 || r.status === 403) throw new NeedsKey(r.status === 403 ? 'that key was refused' : '');
  if (!r.ok) throw new Error(`${path} answered ${r.status}`);
  return r;
}

async function getJson(path) {
  return (await get(path)).json();
}

$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  apiKey = $('key').value.trim();
  sessionStorage.setItem(KEY_ITEM, apiKey);
  $('key-form').hidden = true;
  clearTimeout(pollTimer);
  poll();
});

function cell(tr, text) {
  const td = document.createElement('td');
  td.textContent = text;
  tr.appendChild(td);
}

function renderChannels(channels, dt) {
  const body = $('channels').tBodies[0];
  const rows = [];
  const offsets = new Map();
  channels.sort((a, b) => a.name.localeCompare(b.name));
  for (const c of channels) {
    offsets.set(c.name, c.offset);
    const tr = document.createElement('tr');
    tr.dataset.channel = c.name;
    cell(tr, c.name);
    cell(tr, String(c.subscribers));
    cell(tr, String(c.offset));
    cell(tr, prev ? rate(c.offset, prev.offsets.get(c.name), dt) : '–');
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  $('no-channels').hidden = channels.length > 0;
  $('channel-count').textContent = String(channels.length);
  return offsets;
}

async function poll() {
  const t = performance.now();
  try {
    const [health, list, metrics] = await Promise.all([
      getJson('/health'),
      getJson('/api/channels'),
      get('/metrics').then((r) => r.text()),
    ]);
    const dt = prev ? (t - prev.t) / 1000 : 0;
    const status = $('status');
    status.textContent = health.status;
    status.dataset.status = health.status;
    $('version').textContent = `v${health.version}`;
    $('uptime').textContent = duration(health.uptime_s);
    $('connections').textContent = String(health.connections);
    $('workers').textContent = health.workers === undefined ? '–' : String(health.workers);
    const published = metricSum(metrics, 'wshub_messages_published_total');
    const delivered = metricSum(metrics, 'wshub_messages_delivered_total');
    $('pub-rate').textContent = prev ? rate(published, prev.published, dt) : '–';
    $('del-rate').textContent = prev ? rate(delivered, prev.delivered, dt) : '–';
    const offsets = renderChannels(list.channels || [], dt);
    prev = { t, published, delivered, offsets };
    $('error').textContent = '';
    $('key-form').hidden = true;
    delete document.body.dataset.needsKey;
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (e) {
    if (e instanceof NeedsKey) {
      $('key-form').hidden = false;
      $('key-error').textContent = e.message;
      document.body.dataset.needsKey = 'true';
      prev = null;
      return; // polling resumes when a key is given
    }
    const status = $('status');
    status.textContent = 'unreachable';
    status.dataset.status = 'down';
    $('error').textContent = `Last poll failed: ${e.message}`;
    prev = null;
  }
  pollTimer = setTimeout(poll, intervalMs);
}

$('interval').textContent = String(intervalMs / 1000);
poll();
