// Message log: every message of the channels in ?channels=a,b (default
// lower-third), newest first, resumed across hub restarts and page reloads
// (positions in sessionStorage). A gap the hub could not fill is shown.
//
// Query: ?channels=a,b, ?token=T, ?persist=0 (do not keep positions).
import { WshubClient } from '/client.js';

const params = new URLSearchParams(location.search);
const channels = (params.get('channels') || 'lower-third').split(',').filter(Boolean);
const $ = (id) => document.getElementById(id);
const client = new WshubClient({ persist: params.get('persist') !== '0', token: params.get('token') || undefined });
const messages = []; // {channel, offset, data}, in arrival order (kept for the page's lifetime, capped)
const gaps = [];
const resumed = []; // every resubscribe answered after a reconnect or reload: {channel, since, recovered, ...}
const states = []; // every state change: {state, code}
window.log = { client, messages, gaps, resumed, states };

$('channels').textContent = channels.join(', ');
client.on('state', (e) => {
  states.push({ state: e.state, code: e.code });
  $('state').textContent = e.state;
  $('state').dataset.status = e.state;
  document.body.dataset.state = e.state;
});
client.on('recovered', (e) => {
  resumed.push(e);
  if (e.recovered) return;
  gaps.push(e);
  $('notice').textContent = `${e.channel}: the hub could not replay everything after offset ${e.since}; ` +
    `continuing from ${e.offset}.`;
});

const body = $('log').tBodies[0];
function add(msg) {
  messages.push({ channel: msg.channel, offset: msg.offset, data: msg.data });
  if (messages.length > 100000) messages.shift();
  const tr = document.createElement('tr');
  tr.dataset.channel = msg.channel;
  tr.dataset.offset = String(msg.offset);
  for (const text of [msg.channel, String(msg.offset), new Date(msg.ts).toLocaleTimeString(),
    JSON.stringify(msg.data)]) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.appendChild(td);
  }
  body.prepend(tr);
  if (body.rows.length > 200) body.lastElementChild.remove();
}

for (const ch of channels) client.subscribe(ch, add);
