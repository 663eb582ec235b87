// Control page for the lower-third overlay: publishes {name, title} to the
// channel with receipts and shows, live, which overlays acknowledged each
// one. Publishes made while the hub is unreachable wait in the client's
// queue and go out (once) when it is back.
//
// Query: ?channel=NAME (default lower-third), ?token=T.
import { WshubClient } from '/client.js';

const params = new URLSearchParams(location.search);
const channel = params.get('channel') || 'lower-third';
const $ = (id) => document.getElementById(id);
const client = new WshubClient({ token: params.get('token') || undefined });
window.control = { client, channel };

client.on('state', (e) => {
  $('state').textContent = e.state;
  $('state').dataset.status = e.state;
});

function row(name, title) {
  const tr = document.createElement('tr');
  tr.dataset.status = 'queued';
  const cells = ['offset', 'what', 'when', 'acks'].map((cls) => {
    const td = document.createElement('td');
    td.className = cls;
    tr.appendChild(td);
    return td;
  });
  cells[0].textContent = '…';
  cells[1].textContent = title ? `${name} — ${title}` : name;
  cells[2].textContent = client.state === 'connected' ? 'sending' : 'queued (offline)';
  $('sent').tBodies[0].prepend(tr);
  return tr;
}

$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('name').value.trim();
  const title = $('title').value.trim();
  if (!name) return;
  const tr = row(name, title);
  const acks = tr.querySelector('.acks');
  const seen = new Set();
  try {
    const p = await client.publish(channel, { name, title }, {
      receipts: true,
      onReceipt: (r) => {
        if (seen.has(r.client)) return;
        seen.add(r.client);
        const tag = document.createElement('span');
        tag.textContent = r.client;
        acks.appendChild(tag);
        tr.dataset.acks = String(seen.size);
      },
    });
    tr.dataset.status = 'published';
    tr.dataset.offset = String(p.offset);
    tr.querySelector('.offset').textContent = String(p.offset);
    tr.querySelector('.when').textContent = new Date().toLocaleTimeString();
  } catch (e) {
    tr.dataset.status = 'failed';
    tr.querySelector('.when').textContent = `failed: ${e.code || e.message}`;
  }
});

// How many overlays are listening, from the HTTP API (the control page
// itself does not subscribe). The list, not /api/channels/{name}: a channel
// nobody holds (e.g. while overlays reconnect after a hub restart) is simply
// absent from it, where the single-channel route answers 404, which a
// browser reports as a console error.
async function watchers() {
  try {
    const r = await fetch('/api/channels', { cache: 'no-store' });
    if (r.ok) {
      const found = (await r.json()).channels.find((c) => c.name === channel);
      const n = found ? found.subscribers : 0;
      $('watchers').textContent = `${n} overlay${n === 1 ? '' : 's'} subscribed to ${channel}`;
    } else {
      $('watchers').textContent = ''; // e.g. the HTTP API wants a key: the count is only a nicety
    }
  } catch {
    $('watchers').textContent = '';
  }
  setTimeout(watchers, 2000);
}
watchers();
