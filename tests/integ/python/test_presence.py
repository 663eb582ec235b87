"""Presence end to end (docs/presence.md) with python3-websockets and raw
sockets: the `presence` list, `join`/`leave` to the channel's other
subscribers but never to the connection they are about, leaves on
unsubscribe, on a clean close and on an abrupt TCP reset, the user from a
JWT's `sub`, `presence_disabled` outside presence namespaces, `forbidden`
without the subscribe right, GET /api/channels/{ch}/presence with its
400/401/403/404/405 answers, clients on two different workers seeing each
other, and the caps (max-presence, truncation within max-queue). Not the
registry's internals (tests/unit/test_hub_presence.c)."""
import asyncio
import itertools
import json
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

from auth_tokens import SECRET, claims, hs256
from conftest import run_async
from hubproc import hub_binary
from integ_clients import RawWS, assert_error_body, connect, one_request, recv_json, scaled

PRESENCE_NS = ["--namespace", "room.:anon-sub,anon-pub,presence", "--namespace", "plain.:anon-sub,anon-pub"]
_ids = itertools.count(1)


class Client:
    """One /ws connection: requests matched to their replies by id, and every
    other frame (join, leave, message) kept in arrival order."""

    def __init__(self, ws, welcome):
        self.ws = ws
        self.id = welcome["client"]
        self.backlog = []

    async def request(self, doc, timeout=5):
        rid = "r%d" % next(_ids)
        await self.ws.send(json.dumps(dict(doc, id=rid)))
        while True:
            got = await recv_json(self.ws, timeout)
            # A `message` carries its publisher's request id: not a reply.
            if got.get("id") == rid and got["type"] != "message":
                return got
            self.backlog.append(got)

    async def events(self):
        """Everything queued to this client so far: the frames that arrive
        before the answer to a ping. The hub drains its cross-worker inbox
        before it handles a command, so an event announced before the ping
        is among them."""
        pong = await self.request({"type": "ping"})
        assert pong["type"] == "pong", pong
        out, self.backlog = self.backlog, []
        return out

    async def next_event(self, timeout=5):
        if self.backlog:
            return self.backlog.pop(0)
        return await recv_json(self.ws, timeout)

    async def subscribe(self, channel):
        got = await self.request({"type": "subscribe", "channel": channel})
        assert got["type"] == "subscribed" and got["channel"] == channel, got
        return got

    async def presence(self, channel):
        got = await self.request({"type": "presence", "channel": channel})
        assert got["type"] == "presence" and got["channel"] == channel, got
        return got

    async def close(self):
        await self.ws.close()


async def open_client(hub, token=None, client_id=None):
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if client_id:
        headers["X-Client-Id"] = client_id
    ws = await connect(hub, "/ws", extra_headers=headers or None)
    doc = await recv_json(ws)
    assert doc["type"] == "welcome", doc
    return Client(ws, doc)


def who(reply):
    """The presence list as a sorted list of (client, user or None)."""
    return sorted((c["client"], c.get("user")) for c in reply["clients"])


def http_presence(hub, channel, method="GET", headers=()):
    return one_request(hub.port, method, "/api/channels/%s/presence" % channel, list(headers))


def join(channel, client, user=None):
    d = {"type": "join", "channel": channel, "client": client}
    if user is not None:
        d["user"] = user
    return d


def leave(channel, client, user=None):
    return dict(join(channel, client, user), type="leave")


def reset_close(raw):
    """Closes a raw socket with a TCP reset (SO_LINGER 0): no close frame, no FIN."""
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()


# --- the list, join and leave ---------------------------------------------------

# The hub runs one worker per CPU by default; --workers 1 is the path
# without a bus (events go straight to the local subscribers).
@pytest.mark.parametrize("workers", ["1", "2"])
@run_async()
async def test_presence_lists_subscribers_and_join_reaches_others_not_self(hubs, workers):
    hub = hubs("--workers", workers, *PRESENCE_NS)
    a = await open_client(hub)
    b = await open_client(hub)
    await a.subscribe("room.1")
    assert await a.events() == []  # no join about itself
    got = await a.presence("room.1")
    assert got["count"] == 1 and got["truncated"] is False, got
    assert got["clients"] == [{"client": a.id}], got  # anonymous: no user
    await b.subscribe("room.1")
    assert await a.events() == [join("room.1", b.id)]
    assert await b.events() == []
    for c in (a, b):
        got = await c.presence("room.1")
        assert who(got) == sorted([(a.id, None), (b.id, None)]) and got["count"] == 2, got
    # The reply echoes the id and has exactly these fields.
    raw = await a.request({"type": "presence", "channel": "room.1"})
    assert set(raw) == {"type", "id", "channel", "count", "truncated", "clients"}, raw
    # Anyone with the subscribe right may look without subscribing.
    c = await open_client(hub)
    assert who(await c.presence("room.1")) == sorted([(a.id, None), (b.id, None)])
    # A channel nobody is on: an empty list, not an error.
    got = await c.presence("room.empty")
    assert got["count"] == 0 and got["clients"] == [] and got["truncated"] is False, got
    # Messages and presence events share the channel; publishing still works.
    await c.request({"type": "publish", "channel": "room.1", "data": {"x": 1}})
    assert [e["type"] for e in await a.events()] == ["message"]
    for x in (a, b, c):
        await x.close()


@run_async()
async def test_leave_on_unsubscribe_to_others_not_self(hubs):
    hub = hubs(*PRESENCE_NS)
    a, b = await open_client(hub), await open_client(hub)
    await a.subscribe("room.2")
    await b.subscribe("room.2")
    assert await a.events() == [join("room.2", b.id)]
    got = await b.request({"type": "unsubscribe", "channel": "room.2"})
    assert got["type"] == "unsubscribed", got
    assert await b.events() == []
    assert await a.events() == [leave("room.2", b.id)]
    assert who(await a.presence("room.2")) == [(a.id, None)]
    # Subscribing again is a new join.
    await b.subscribe("room.2")
    assert await a.events() == [join("room.2", b.id)]
    await a.close()
    await b.close()


@pytest.mark.parametrize("workers", ["1", "2"])
@run_async()
async def test_leave_on_clean_close_and_on_abrupt_reset(hubs, workers):
    hub = hubs("--workers", workers, *PRESENCE_NS)
    a = await open_client(hub)
    await a.subscribe("room.3")
    b = await open_client(hub)
    await b.subscribe("room.3")
    assert await a.events() == [join("room.3", b.id)]
    await b.close()
    assert await a.next_event() == leave("room.3", b.id)
    # A raw client that vanishes with a TCP reset, never sending a close frame.
    raw = RawWS.open(hub.port, "/ws")
    welcome = raw.recv_json()
    raw.send_text(json.dumps({"type": "subscribe", "channel": "room.3"}))
    assert raw.recv_json()["type"] == "subscribed"
    assert await a.events() == [join("room.3", welcome["client"])]
    reset_close(raw)
    assert await a.next_event() == leave("room.3", welcome["client"])
    assert who(await a.presence("room.3")) == [(a.id, None)]
    # Nothing leaked into the list: only a remains.
    assert json.loads(http_presence(hub, "room.3").body)["count"] == 1
    await a.close()


@run_async()
async def test_channels_query_subscribes_with_presence(hubs):
    hub = hubs(*PRESENCE_NS)
    a = await open_client(hub)
    await a.subscribe("room.q")
    ws = await connect(hub, "/ws?channels=room.q,plain.q")
    welcome = await recv_json(ws)
    assert [(await recv_json(ws))["type"] for _ in range(2)] == ["subscribed", "subscribed"]
    assert await a.events() == [join("room.q", welcome["client"])]
    await ws.close()
    assert await a.next_event() == leave("room.q", welcome["client"])
    await a.close()


# --- identity and permissions -----------------------------------------------------

@run_async()
async def test_user_is_the_tokens_sub_and_absent_for_anonymous_clients(hubs):
    hub = hubs("--token-secret", SECRET, *PRESENCE_NS, "--namespace", "team.:presence")
    anon = await open_client(hub)
    alice = await open_client(hub, token=hs256(claims(user="alice", subs=["team.*"])))
    await anon.subscribe("room.u")
    await alice.subscribe("room.u")
    assert await anon.events() == [join("room.u", alice.id, "alice")]
    got = await anon.presence("room.u")
    assert who(got) == sorted([(anon.id, None), (alice.id, "alice")]), got
    # A user that needs JSON escapes comes out as valid JSON, unchanged.
    odd = 'bob "the" \\builder\u00e9'
    bob = await open_client(hub, token=hs256(claims(user=odd, subs=["team.*"])))
    await bob.subscribe("room.u")
    evs = await alice.events()
    assert evs == [join("room.u", bob.id, odd)], evs
    # Token-only namespace: the grant is the right to see presence.
    await alice.subscribe("team.x")
    got = await alice.presence("team.x")
    assert who(got) == [(alice.id, "alice")], got
    await bob.close()
    assert await alice.next_event() == leave("room.u", bob.id, odd)
    for c in (anon, alice):
        await c.close()


@run_async()
async def test_presence_needs_the_subscribe_right(hubs):
    hub = hubs("--token-secret", SECRET, *PRESENCE_NS, "--namespace", "team.:presence")
    anon = await open_client(hub)
    got = await anon.request({"type": "presence", "channel": "team.x"})
    assert got["type"] == "error" and got["code"] == "forbidden", got
    other = await open_client(hub, token=hs256(claims(user="eve", subs=["room.*"])))
    got = await other.request({"type": "presence", "channel": "team.x"})
    assert got["type"] == "error" and got["code"] == "forbidden", got
    # Both are still connected and served.
    assert (await anon.presence("room.z"))["count"] == 0
    await anon.close()
    await other.close()


@run_async()
async def test_presence_disabled_without_the_flag_and_no_join_or_leave(hubs):
    hub = hubs(*PRESENCE_NS)
    a, b = await open_client(hub), await open_client(hub)
    for ch in ("plain.x", "elsewhere"):
        got = await a.request({"type": "presence", "channel": ch})
        assert got["type"] == "error" and got["code"] == "presence_disabled" and got["message"], got
        await a.subscribe(ch)
        await b.subscribe(ch)
        await b.request({"type": "unsubscribe", "channel": ch})
        assert await a.events() == []
    await a.close()
    await b.close()


@run_async()
async def test_presence_without_namespaces_is_disabled_everywhere(hubs):
    hub = hubs()
    a = await open_client(hub)
    got = await a.request({"type": "presence", "channel": "room.x"})
    assert got["type"] == "error" and got["code"] == "presence_disabled", got
    assert_error_body(http_presence(hub, "room.x"), 404, "presence_disabled")
    await a.close()


@run_async()
async def test_bad_presence_requests_get_clear_errors(hubs):
    hub = hubs(*PRESENCE_NS)
    a = await open_client(hub)
    for doc, code in [({"type": "presence"}, "bad_request"),
                      ({"type": "presence", "channel": 7}, "bad_request"),
                      ({"type": "presence", "channel": ""}, "bad_channel"),
                      ({"type": "presence", "channel": "room x"}, "bad_channel"),
                      ({"type": "presence", "channel": "r" * 256}, "bad_channel")]:
        got = await a.request(doc)
        assert got["type"] == "error" and got["code"] == code, (doc, got)
    assert (await a.presence("room.ok"))["count"] == 0
    await a.close()


# --- HTTP --------------------------------------------------------------------------

@run_async()
async def test_http_presence_route(hubs):
    hub = hubs(*PRESENCE_NS)
    a = await open_client(hub, client_id="client-a")
    await a.subscribe("room.h")
    r = http_presence(hub, "room.h")
    assert r.status == 200 and r.header("content-type").startswith("application/json"), r
    assert r.json() == {"channel": "room.h", "count": 1, "truncated": False, "clients": [{"client": "client-a"}]}
    # HEAD: same status and length, no body.
    h = http_presence(hub, "room.h", "HEAD")
    assert h.status == 200 and int(h.header("content-length")) == len(r.body), h
    # Percent-encoded names are decoded first.
    assert http_presence(hub, "room%2Eh").json()["count"] == 1
    assert http_presence(hub, "room.none").json() == {"channel": "room.none", "count": 0, "truncated": False,
                                                      "clients": []}
    assert_error_body(http_presence(hub, "bad%20name"), 400, "bad_channel")
    assert_error_body(http_presence(hub, "plain.h"), 404, "presence_disabled")
    assert_error_body(http_presence(hub, "elsewhere"), 404, "presence_disabled")
    r = http_presence(hub, "room.h", "POST")
    assert_error_body(r, 405, "method_not_allowed")
    assert r.header("allow") == "GET, HEAD", r
    for method in ("PUT", "DELETE"):
        # Refused by the router for every /api/channels/ path: 405 with the
        # methods that prefix takes.
        r = http_presence(hub, "room.h", method)
        assert_error_body(r, 405, "method_not_allowed")
        assert "GET" in r.header("allow"), r
    await a.close()


@run_async()
async def test_http_presence_needs_the_api_key(hubs):
    hub = hubs(*PRESENCE_NS, "--api-key", "k-123456")
    a = await open_client(hub)
    await a.subscribe("room.k")
    r = http_presence(hub, "room.k")
    assert_error_body(r, 401, "unauthorized")
    assert r.header("www-authenticate"), r
    assert_error_body(http_presence(hub, "room.k", headers=[("Authorization", "Bearer nope")]), 403, "forbidden")
    r = http_presence(hub, "room.k", headers=[("Authorization", "Bearer k-123456")])
    assert r.status == 200 and r.json()["clients"] == [{"client": a.id}], r
    await a.close()


# --- several workers -----------------------------------------------------------------

ACCEPT_RE = re.compile(r"accepted from 127\.0\.0\.1:(\d+) on worker (\d+)")


async def client_on_each_worker(hub, workers, tries=64):
    """Opens clients until one is known (from the debug log of the accept,
    matched by the client's own port) to sit on each worker. Returns them in
    worker order; closes the extras."""
    found, extra = {}, []
    for _ in range(tries):
        c = await open_client(hub)
        port = c.ws.local_address[1]
        seen = dict((int(p), int(w)) for p, w in ACCEPT_RE.findall(hub.log()))
        w = seen.get(port)
        assert w is not None, "no accept line for port %d" % port
        if w in found:
            extra.append(c)
        else:
            found[w] = c
        if len(found) == workers:
            break
    for c in extra:
        await c.close()
    assert len(found) == workers, "the kernel put %d connections on %s" % (tries, sorted(found))
    return [found[w] for w in range(workers)]


@run_async(deadline=60)
async def test_clients_on_different_workers_see_each_others_join_and_leave(hubs):
    hub = hubs("--workers", "2", "--log-level", "debug", *PRESENCE_NS)
    assert "workers=2" in hub.log()  # the harness waited for the ready line
    a, b = await client_on_each_worker(hub, 2)
    await a.subscribe("room.w")
    await b.subscribe("room.w")
    assert await a.events() == [join("room.w", b.id)]
    assert await b.events() == []  # its own join, drained on its worker, was skipped
    for c in (a, b):
        assert who(await c.presence("room.w")) == sorted([(a.id, None), (b.id, None)])
    await a.request({"type": "unsubscribe", "channel": "room.w"})
    assert await b.events() == [leave("room.w", a.id)]
    assert await a.events() == []
    await a.subscribe("room.w")
    assert await b.events() == [join("room.w", a.id)]
    # b leaves abruptly from the other worker: a hears it.
    b.ws.transport.abort()
    assert await a.next_event(10) == leave("room.w", b.id)
    assert json.loads(http_presence(hub, "room.w").body)["clients"] == [{"client": a.id}]
    await a.close()
    # Every entry is gone once everyone left.
    deadline = time.monotonic() + scaled(10)
    while json.loads(http_presence(hub, "room.w").body)["count"] != 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)  # polling for the asynchronous close


@run_async(deadline=60)
async def test_shutdown_with_silent_members_on_two_workers_exits_0(hubs):
    # Members that never answer the close keep their connections past the
    # drain timeout; the teardown then closes them, and their leaves must be
    # dropped rather than wake loops already freed (ASan catches that).
    hub = hubs("--workers", "2", "--log-level", "debug", "--drain-timeout", "300ms", *PRESENCE_NS)
    assert "workers=2" in hub.log()  # the harness waited for the ready line
    # Members on worker 1 only: worker 0 is disposed first, its inbox stays
    # empty, so a leave from worker 1's teardown would be the one to wake it.
    raws, members = [], 0
    for _ in range(64):
        raw = RawWS.open(hub.port, "/ws")
        raws.append(raw)
        assert raw.recv_json()["type"] == "welcome"
        seen = dict((int(p), int(w)) for p, w in ACCEPT_RE.findall(hub.log()))
        if seen[raw.sock.getsockname()[1]] == 1:
            raw.send_text(json.dumps({"type": "subscribe", "channel": "room.s"}))
            assert raw.recv_json()["type"] == "subscribed"
            members += 1
            if members == 2:
                break
    assert members == 2, "no connection landed on worker 1"
    hub.expect_running = False
    hub.signal(signal.SIGTERM)
    assert hub.wait(15) == 0, hub.log()[-4000:]
    for raw in raws:
        raw.close()


# --- limits ----------------------------------------------------------------------------

def metric(hub, name):
    text = one_request(hub.port, "GET", "/metrics").body.decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, name
    return int(m.group(1))


@run_async()
async def test_full_list_still_subscribes_but_does_not_list_or_announce(hubs):
    hub = hubs(*PRESENCE_NS, "--max-presence", "2")
    a, b, c = await open_client(hub), await open_client(hub), await open_client(hub)
    await a.subscribe("room.cap")
    await b.subscribe("room.cap")
    assert await a.events() == [join("room.cap", b.id)]
    await c.subscribe("room.cap")  # subscribed all the same ...
    assert await a.events() == []  # ... but not announced
    got = await a.presence("room.cap")
    assert got["count"] == 2 and who(got) == sorted([(a.id, None), (b.id, None)]), got
    assert metric(hub, "wshub_presence_entries") == 2
    assert metric(hub, "wshub_presence_refused_total") == 1
    # c receives the channel's messages like anyone.
    await a.request({"type": "publish", "channel": "room.cap", "data": 1})
    assert [e["type"] for e in await c.events()] == ["message"]
    assert [e["type"] for e in await a.events()] == ["message"]
    # c leaving is not announced either; b leaving frees a place for d.
    await c.request({"type": "unsubscribe", "channel": "room.cap"})
    assert await a.events() == []
    await b.close()
    assert await a.next_event() == leave("room.cap", b.id)
    d = await open_client(hub)
    await d.subscribe("room.cap")
    assert await a.events() == [join("room.cap", d.id)]
    assert metric(hub, "wshub_presence_entries") == 2
    for x in (a, c, d):
        await x.close()


@run_async()
async def test_total_cap_spans_channels(hubs):
    hub = hubs(*PRESENCE_NS, "--max-presence-total", "3")
    a = await open_client(hub)
    for ch in ("room.t1", "room.t2", "room.t3", "room.t4"):
        await a.subscribe(ch)
    counts = [(await a.presence(ch))["count"] for ch in ("room.t1", "room.t2", "room.t3", "room.t4")]
    assert counts == [1, 1, 1, 0], counts
    await a.close()


@run_async(deadline=60)
async def test_huge_list_is_truncated_within_the_queue_and_keeps_count(hubs):
    # max-queue 4 KiB: the list may take at most 2 KiB of a reply.
    hub = hubs(*PRESENCE_NS, "--max-queue", "4096")
    clients = []
    for i in range(60):
        c = await open_client(hub, client_id="c%02d-" % i + "x" * 59)
        await c.subscribe("room.big")
        clients.append(c)
    watcher = await open_client(hub)
    got = await watcher.presence("room.big")
    assert got["count"] == 60 and got["truncated"] is True, {k: got[k] for k in ("count", "truncated")}
    assert 0 < len(got["clients"]) < 60
    assert len(json.dumps(got["clients"], separators=(",", ":"))) <= 2048
    listed = {c["client"] for c in got["clients"]}
    assert listed <= {c.id for c in clients}
    # The watcher was not closed for the answer's size (4008): it still works.
    assert (await watcher.request({"type": "ping"}))["type"] == "pong"
    r = http_presence(hub, "room.big").json()
    assert r["count"] == 60 and r["truncated"] is True and 0 < len(r["clients"]) < 60, r["count"]
    # The subscribers never read their joins (websockets stops reading after
    # 32 queued messages), so a polite close would wait out close_timeout:
    # drop them instead, and watch every entry go.
    for c in clients:
        c.ws.transport.abort()
    deadline = time.monotonic() + scaled(10)
    while http_presence(hub, "room.big").json()["count"] != 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)  # polling for the asynchronous closes
    await watcher.close()


@pytest.mark.parametrize("flag,value", [("--max-presence", "0"), ("--max-presence-total", "0"),
                                        ("--max-presence", "lots")])
def test_bad_presence_caps_stop_the_hub(flag, value):
    r = subprocess.run([hub_binary(), "serve", "--listen", "127.0.0.1:0", flag, value], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=scaled(10))
    assert r.returncode == 2, r
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.strip()]
    assert len(lines) == 1 and flag in lines[0] and value in lines[0], lines
