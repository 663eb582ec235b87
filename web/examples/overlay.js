// Lower-third overlay: shows {name, title} published to a channel (default
// `lower-third`) with an entry animation, and acks each message once its
// entry animation has ended, so the publisher's receipt means "it is on
// screen". The newest message replaces the one showing (a lower third is
// about now); a message replaced before its animation ended is not acked.
//
// Query: ?channel=NAME, ?hold=MS (how long it stays; 0 = until the next one,
// default 8000), ?token=T, ?debug=1 (shows the connection state).
import { WshubClient } from '/client.js';

const params = new URLSearchParams(location.search);
const channel = params.get('channel') || 'lower-third';
const hold = params.has('hold') ? Math.max(0, Number(params.get('hold')) || 0) : 8000;
const stage = document.getElementById('stage');
const debug = document.getElementById('debug');
debug.hidden = !params.has('debug');

// The resume position survives a reload (sessionStorage), so a browser
// source that is refreshed still gets what was published meanwhile.
const client = new WshubClient({ persist: true, token: params.get('token') || undefined });
const shown = []; // the last messages shown, for diagnostics: {offset, name, title, acked}
window.overlay = { client, shown, channel };

let leaveTimer = null;

function showState(state) {
  document.body.dataset.state = state;
  debug.textContent = `${channel} · ${state}${client.clientId ? ` · ${client.clientId}` : ''}`;
}
client.on('state', (e) => showState(e.state));
client.on('connected', (e) => {
  document.body.dataset.client = e.client;
  showState('connected');
});

function show(msg) {
  const d = msg.data && typeof msg.data === 'object' ? msg.data : { name: String(msg.data) };
  const entry = { offset: msg.offset, name: String(d.name ?? ''), title: String(d.title ?? ''), acked: false };
  shown.push(entry);
  if (shown.length > 100) shown.shift();

  clearTimeout(leaveTimer);
  const box = document.createElement('div');
  box.className = 'lt';
  box.dataset.offset = String(msg.offset);
  const name = document.createElement('div');
  name.className = 'name';
  name.textContent = entry.name;
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = entry.title;
  box.append(name, title);
  const entered = () => {
    if (entry.acked) return;
    entry.acked = true;
    box.dataset.acked = 'true';
    msg.ack();
    if (hold > 0) leaveTimer = setTimeout(() => box.classList.add('leaving'), hold);
  };
  box.addEventListener('animationend', (e) => {
    if (e.animationName === 'lt-in') entered();
    else if (e.animationName === 'lt-out') box.remove();
  });
  stage.replaceChildren(box);
  // A user style that turns animations off (or a browser source that does
  // not run them) must not leave the message unacknowledged forever: with
  // no entry animation running, it is on screen now.
  requestAnimationFrame(() => {
    if (box.isConnected && typeof box.getAnimations === 'function' && box.getAnimations().length === 0) entered();
  });
}

client.subscribe(channel, show);
showState(client.state);
