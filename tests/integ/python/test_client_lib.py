"""libwshub against the real hub (and a fake one where the hub cannot be made
to misbehave), through tests/client/client_driver.c, which uses only the
public API of the shared library: reconnect with backoff after kill -9,
exactly-once in-order delivery across restarts, offline publishes delivered
once, recovered:false, no retry after 4001/1008, dead-link detection,
receipts, gap repair, fragmentation, ping/pong and the closing handshake,
presence (the list, join/leave, errors, a request resent after a drop and
failed by close), and runs under valgrind (on builds without sanitizers)."""
import asyncio
import json
import os
import shutil
import signal
import tempfile
import threading
import time

import pytest

from auth_tokens import SECRET, claims, hs256
from client_support import (Driver, FakeHub, RestartableHub, http_history, http_publish, scaled, wait_subscribers,
                            welcome)


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix="wshub-client-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def cleanup():
    """Things to stop at teardown, whatever the test's outcome."""
    items = []
    yield items
    for it in reversed(items):
        (it.kill if isinstance(it, Driver) else it.close if isinstance(it, RestartableHub) else it.stop)()


def connected_and_subscribed(d, hub_port, channel):
    """Waits until the hub has the driver's subscription (its own report of
    the channel's subscribers): the driver acks `sub` when the library takes
    the command, before the hub has it, and a publish racing ahead of the
    subscribe would be missed (the driver prints no `subscribed` event).
    Each caller is the channel's only subscriber."""
    d.state("CONNECTED")
    d.send("sub %s" % channel)
    d.expect(lambda e: e["ev"] == "cmd" and e["cmd"] == "sub", what="sub ack")
    wait_subscribers(hub_port, channel)


def test_kill9_restart_while_messages_flow_delivers_every_message_once_in_order(data_dir, cleanup):
    rh = RestartableHub("--data-dir", data_dir)
    cleanup.append(rh)
    d = Driver(rh.url, "--seed", 1, "--backoff-initial", 50, "--backoff-max", 400)
    cleanup.append(d)
    connected_and_subscribed(d, rh.port, "flow")
    # The subscription is live once a first message arrives.
    http_publish(rh.port, "flow", {"n": 0}, key="k0")
    first = d.messages("flow", 1)[0]
    assert first["offset"] == 1 and first["data"] == {"n": 0}

    total = 60
    acked = {0}
    kill_at, restarted = threading.Event(), threading.Event()

    def publisher():
        # Each message keeps its idempotency key through retries, so a publish
        # whose answer was lost to the kill is not stored twice.
        for n in range(1, total):
            end = time.monotonic() + scaled(30)
            while time.monotonic() < end:
                try:
                    http_publish(rh.port, "flow", {"n": n}, key="k%d" % n, timeout=2)
                    acked.add(n)
                    break
                except OSError:
                    restarted.wait(scaled(10))
            if n == 20:
                kill_at.set()

    t = threading.Thread(target=publisher, daemon=True)
    t.start()
    assert kill_at.wait(scaled(20))
    rh.kill9()
    d.expect(lambda e: e["ev"] == "state" and e["state"] == "RECONNECTING", what="RECONNECTING")
    rh.restart()
    restarted.set()
    t.join(scaled(60))
    assert acked == set(range(total))

    d.expect(lambda e: e["ev"] == "state" and e["state"] == "CONNECTED" and e["connections"] >= 2,
             timeout=15, what="reconnect")
    # A last message once the resubscription is in place: a message lost at
    # the resubscribe seam shows up as a hole before it, which the client
    # fills from history (docs/clients.md "Gap repair"); without a later
    # message no client could notice the loss.
    wait_subscribers(rh.port, "flow")
    http_publish(rh.port, "flow", {"n": total}, key="k%d" % total)
    total += 1
    hist = http_history(rh.port, "flow")
    last = hist["messages"][-1]["offset"]
    assert last >= total
    msgs = [first] + d.messages("flow", last - 1)
    d.drain()
    assert [m["offset"] for m in msgs] == list(range(1, last + 1))   # in order, no gap
    assert not [e for e in d._unread if e["ev"] == "message"]         # and no duplicate
    assert sorted(m["data"]["n"] for m in msgs) == list(range(total))  # every message exactly once
    assert not [e for e in d.events if e["ev"] == "lost"]             # same epoch: nothing lost
    assert d.finish() == 0


def test_offline_publishes_are_delivered_exactly_once_after_the_hub_returns(data_dir, cleanup):
    rh = RestartableHub("--data-dir", data_dir)
    cleanup.append(rh)
    pub = Driver(rh.url, "--backoff-initial", 50, "--backoff-max", 300)
    sub = Driver(rh.url, "--backoff-initial", 50, "--backoff-max", 300)
    cleanup += [pub, sub]
    connected_and_subscribed(sub, rh.port, "q")
    pub.state("CONNECTED")
    pub.send('pub q {"n":0}')
    assert pub.expect(lambda e: e["ev"] == "published")["offset"] == 1
    assert sub.messages("q", 1)[0]["data"] == {"n": 0}

    # Freeze the hub: this publish is written to the socket but never
    # answered; then kill it. The client must send it again, with its key.
    rh.hub.signal(signal.SIGSTOP)
    pub.send('pub q {"n":1}')
    pub.expect(lambda e: e["ev"] == "cmd" and e["id"] == 2)
    rh.kill9()
    pub.expect(lambda e: e["ev"] == "state" and e["state"] == "RECONNECTING", what="RECONNECTING")
    for n in range(2, 6):
        pub.send('pub q {"n":%d}' % n)
        ev = pub.expect(lambda e, n=n: e["ev"] == "cmd" and e["id"] == n + 1)
        assert ev["rc"] == 0
    assert ev["pending"] == 5  # queued while offline (the unanswered one included)
    rh.restart()

    answers = [pub.expect(lambda e: e["ev"] == "published", timeout=15) for _ in range(5)]
    assert all(a["err"] == 0 for a in answers)
    assert [a["id"] for a in answers] == [2, 3, 4, 5, 6]          # in the order they were made
    assert [a["offset"] for a in answers] == [2, 3, 4, 5, 6]
    got = sub.messages("q", 5, timeout=15)
    assert [m["data"]["n"] for m in got] == [1, 2, 3, 4, 5]
    assert [m["offset"] for m in got] == [2, 3, 4, 5, 6]
    stored = http_history(rh.port, "q")["messages"]
    assert [m["data"]["n"] for m in stored] == [0, 1, 2, 3, 4, 5]  # none lost, none twice
    assert pub.finish() == 0
    assert sub.finish() == 0


def test_restart_without_data_dir_reports_recovered_false_and_continues(cleanup):
    rh = RestartableHub()
    cleanup.append(rh)
    d = Driver(rh.url, "--backoff-initial", 50, "--backoff-max", 300)
    cleanup.append(d)
    connected_and_subscribed(d, rh.port, "r")
    for n in range(3):
        http_publish(rh.port, "r", n)
    old = d.messages("r", 3)
    assert [m["offset"] for m in old] == [1, 2, 3]
    rh.kill9()
    rh.restart()
    lost = d.expect(lambda e: e["ev"] == "lost", timeout=15, what="recovered:false callback")
    assert lost["channel"] == "r" and lost["since"] == 3 and lost["offset"] == 0
    assert lost["epoch"] != old[0]["epoch"]
    # Offsets restart in the new epoch: offset 1 is new, not a duplicate.
    http_publish(rh.port, "r", "fresh")
    m = d.messages("r", 1)[0]
    assert m["offset"] == 1 and m["data"] == "fresh" and m["epoch"] == lost["epoch"]
    assert d.finish() == 0


@pytest.mark.parametrize("code", [4001, 1008])
def test_no_retry_after_a_refusing_close_code(code, cleanup):
    async def refuse(ws, n):
        await ws.send(welcome())
        await ws.close(code, "go away")

    fake = FakeHub(refuse)
    cleanup.append(fake)
    d = Driver(fake.url, "--backoff-initial", 10, "--backoff-max", 20)
    cleanup.append(d)
    closed = d.state("CLOSED")
    assert closed["close_code"] == code
    assert closed["errname"].startswith("refused")
    assert d.expect(lambda e: e["ev"] == "exit")["state"] == "CLOSED"
    assert d.finish() == 0
    assert fake.connections == 1


def test_other_close_codes_are_retried(cleanup):
    """The control for the test above: 1001 (hub going away) means come back."""
    async def going_away(ws, n):
        await ws.send(welcome())
        if n < 3:
            await ws.close(1001)
        else:
            await ws.wait_closed()

    fake = FakeHub(going_away)
    cleanup.append(fake)
    d = Driver(fake.url, "--backoff-initial", 10, "--backoff-max", 20)
    cleanup.append(d)
    d.expect(lambda e: e["ev"] == "state" and e["state"] == "CONNECTED" and e["connections"] == 3,
             what="third connection")
    assert fake.connections == 3
    assert d.finish() == 0


def test_a_silent_link_is_dropped_after_two_heartbeats_and_replaced(cleanup):
    async def silent(ws, n):
        # heartbeat 1 s, then neither pings nor messages: a dead link.
        await ws.send(welcome(heartbeat=1))
        await ws.wait_closed()

    fake = FakeHub(silent)
    cleanup.append(fake)
    d = Driver(fake.url, "--backoff-initial", 10, "--backoff-max", 20)
    cleanup.append(d)
    d.state("CONNECTED")
    t0 = time.monotonic()
    lost = d.state("RECONNECTING", timeout=10)
    assert lost["errname"] == "timed out"
    assert time.monotonic() - t0 >= 1.5  # not before two intervals (2 s, minus scheduling slack)
    d.expect(lambda e: e["ev"] == "state" and e["state"] == "CONNECTED" and e["connections"] == 2)
    assert d.finish() == 0


def test_publish_errors_and_receipts_reach_their_callbacks(hub, cleanup):
    url = hub.url + "/ws"
    acker = Driver(url, "--auto-ack")
    pub = Driver(url)
    cleanup += [acker, pub]
    connected_and_subscribed(acker, hub.port, "rc")
    pub.state("CONNECTED")
    # The subscription is in place once a plain message reaches it.
    pub.send("pub rc 0")
    acker.messages("rc", 1)
    pub.send('pubr rc {"ask":"ack"}')
    r = pub.expect(lambda e: e["ev"] == "receipt", what="receipt")
    assert r["id"] == 2 and r["channel"] == "rc" and r["offset"] == 2
    pub.send("pub bad..name?! 1")
    assert pub.expect(lambda e: e["ev"] == "cmd" and e["id"] == 0)["rc"] == -1  # refused locally: EINVAL
    pub.send("pub rc {not json")
    assert pub.expect(lambda e: e["ev"] == "cmd" and e["id"] == 0)["rc"] == -1
    assert pub.finish() == 0
    assert acker.finish() == 0


def test_unreachable_hub_gives_up_after_max_attempts(cleanup):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    d = Driver("ws://127.0.0.1:%d/ws" % port, "--max-attempts", 3, "--backoff-initial", 10)
    cleanup.append(d)
    first = d.state("RECONNECTING")
    assert first["errname"] == "cannot connect to the hub"
    closed = d.state("CLOSED")
    assert closed["errname"] == "cannot connect to the hub"
    assert d.finish() == 0


def test_bad_url_is_refused_at_creation():
    d = Driver("http://127.0.0.1:1/ws")
    ev = d.expect(lambda e: e["ev"] == "new_failed")
    assert ev["errname"].startswith("invalid URL")
    d.finish()


def can_valgrind():
    return bool(shutil.which("valgrind")) and \
        os.environ.get("WSHUB_SANITIZE", "").lower() not in ("1", "on", "true")


VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=all"]


@pytest.mark.skipif(not can_valgrind(), reason="needs valgrind and a build without sanitizers")
def test_library_is_valgrind_clean_through_a_reconnect(cleanup):
    rh = RestartableHub()
    cleanup.append(rh)
    d = Driver(rh.url, "--backoff-initial", 50, "--backoff-max", 200,
               wrap=["valgrind", "-q", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=all"])
    cleanup.append(d)
    d.state("CONNECTED", timeout=30)
    d.send("sub v")
    d.send("pub v {\"a\":1}")
    d.expect(lambda e: e["ev"] == "published", timeout=30)
    assert d.messages("v", 1, timeout=30)[0]["data"] == {"a": 1}
    rh.kill9()
    d.state("RECONNECTING", timeout=30)
    d.send("pub v 2")
    rh.restart()
    d.expect(lambda e: e["ev"] == "published", timeout=30)
    d.expect(lambda e: e["ev"] == "lost", timeout=30)
    d.send("pub v 3")  # left unanswered or answered: close must free it either way
    assert d.finish(timeout=60) == 0


def msg(channel, offset, data):
    return json.dumps({"type": "message", "channel": channel, "offset": offset, "ts": 1, "data": data})


@pytest.mark.parametrize("hub_has_it", [True, False])
def test_a_hole_in_the_offsets_is_filled_from_history_or_reported(hub_has_it, cleanup):
    """A hub that skips offset 2 (as a hub bug or a lost frame would): the
    client holds 3, asks `history` after 1, and delivers 2 then 3 - or, when
    the hub no longer has 2, reports the hole through on_lost and goes on."""
    requests = []

    async def skipping(ws, n):
        await ws.send(welcome())
        async for raw in ws:
            req = json.loads(raw)
            requests.append(req)
            if req["type"] == "subscribe":
                await ws.send(json.dumps({"type": "subscribed", "channel": "g", "offset": 0,
                                          "epoch": "00000000000000aa", "recovered": False, "id": req["id"]}))
                await ws.send(msg("g", 1, "one"))
                await ws.send(msg("g", 3, "three"))
                await ws.send(msg("g", 4, "four"))
            elif req["type"] == "history":
                kept = [json.loads(msg("g", 2, "two"))] if hub_has_it else []
                await ws.send(json.dumps({"type": "history", "id": req["id"], "channel": "g",
                                          "epoch": "00000000000000aa", "offset": 4, "complete": hub_has_it,
                                          "messages": kept}))

    fake = FakeHub(skipping)
    cleanup.append(fake)
    d = Driver(fake.url)
    cleanup.append(d)
    d.state("CONNECTED")
    d.send("sub g")
    if hub_has_it:
        got = d.messages("g", 4)
        assert [(m["offset"], m["data"]) for m in got] == [(1, "one"), (2, "two"), (3, "three"), (4, "four")]
    else:
        got = d.messages("g", 3)
        assert [m["offset"] for m in got] == [1, 3, 4]
        lost = d.expect(lambda e: e["ev"] == "lost")
        assert (lost["since"], lost["offset"]) == (1, 2)
    hist = [r for r in requests if r["type"] == "history"]
    assert len(hist) == 1 and hist[0]["since"] == 1 and hist[0]["channel"] == "g"
    assert d.finish() == 0


def test_fragmented_frames_pings_and_the_closing_handshake(cleanup):
    """RFC 6455 details a real hub does not exercise: messages split into
    continuation frames are reassembled, a ping is answered with a pong
    carrying its payload, and close() ends with the close handshake (1000)."""
    result = {}

    async def fragmenting(ws, n):
        await ws.send(["{\"type\":\"wel", "come\",\"client\":\"f\",", "\"heartbeat\":25}"])
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)  # resolves only on a pong with this payload
        result["pong"] = True
        async for raw in ws:
            req = json.loads(raw)
            if req["type"] == "subscribe":
                await ws.send(json.dumps({"type": "subscribed", "channel": "fr", "offset": 0,
                                          "epoch": "00000000000000bb", "recovered": False, "id": req["id"]}))
                body = json.dumps({"type": "message", "channel": "fr", "offset": 1, "ts": 5,
                                   "data": {"big": "x" * 70000}})
                await ws.send([body[i:i + 1000] for i in range(0, len(body), 1000)])
        result["close_code"] = ws.close_code

    fake = FakeHub(fragmenting)
    cleanup.append(fake)
    d = Driver(fake.url)
    cleanup.append(d)
    d.state("CONNECTED")
    d.send("sub fr")
    m = d.messages("fr", 1)[0]
    assert m["data"] == {"big": "x" * 70000}
    assert d.finish() == 0
    end = time.monotonic() + scaled(5)
    while "close_code" not in result and time.monotonic() < end:
        time.sleep(0.01)  # the fake's handler records the code once its loop ends
    assert result.get("pong") and result.get("close_code") == 1000


# --- presence (docs/presence.md) ----------------------------------------------------

PRESENCE_NS = ["--namespace", "room.:anon-sub,anon-pub,presence", "--namespace", "plain.:anon-sub,anon-pub"]


def presence_answer(d, request_id, timeout=10.0):
    return d.expect(lambda e: e["ev"] == "presence" and e["id"] == request_id, timeout, "presence answer")


def ask_presence(d, channel, timeout=10.0):
    d.send("presence %s" % channel)
    ack = d.expect(lambda e: e["ev"] == "cmd" and e["cmd"] == "presence", what="presence ack")
    assert ack["rc"] == 0, ack
    return presence_answer(d, ack["id"], timeout)


def who(answer):
    return sorted((c["client"], c["user"]) for c in answer["clients"])


def test_presence_lists_and_join_leave_reach_the_callbacks_with_users_from_tokens(hubs, cleanup):
    hub = hubs("--token-secret", SECRET, *PRESENCE_NS)
    url = "ws://127.0.0.1:%d/ws" % hub.port
    a = Driver(url)
    cleanup.append(a)
    a_id = a.state("CONNECTED")["client"]
    a.send("sub room.1")
    wait_subscribers(hub.port, "room.1")
    # A user that needs JSON escapes comes through the library unchanged.
    odd = 'bob "the" \\builder\u00e9\n'
    b = Driver(url, "--token", hs256(claims(user=odd, subs=["room.*"])))
    cleanup.append(b)
    b_id = b.state("CONNECTED")["client"]
    assert a_id and b_id and a_id != b_id
    b.send("sub room.1")
    j = a.expect(lambda e: e["ev"] == "join", what="join")
    assert j == {"ev": "join", "channel": "room.1", "client": b_id, "user": odd}
    for d in (a, b):
        got = ask_presence(d, "room.1")
        assert got["err"] == 0 and got["count"] == 2 and got["truncated"] is False, got
        assert who(got) == sorted([(a_id, None), (b_id, odd)])
        assert got["code"] is None
    b.send("unsub room.1")
    assert a.expect(lambda e: e["ev"] == "leave", what="leave") == \
        {"ev": "leave", "channel": "room.1", "client": b_id, "user": odd}
    b.send("sub room.1")
    assert a.expect(lambda e: e["ev"] == "join", what="second join")["client"] == b_id
    assert b.finish() == 0
    assert a.expect(lambda e: e["ev"] == "leave", what="leave on close")["client"] == b_id
    got = ask_presence(a, "room.1")
    assert (got["count"], who(got)) == (1, [(a_id, None)])
    # Nobody there: an empty list, not an error. Without the flag: the hub's code.
    got = ask_presence(a, "room.nobody")
    assert (got["err"], got["count"], got["clients"]) == (0, 0, [])
    got = ask_presence(a, "plain.x")
    assert got["err"] == -13 and got["code"] == "presence_disabled" and got["message"], got
    assert got["clients"] == [] and got["channel"] == "plain.x"
    # A bad name fails at the call; nothing is sent.
    a.send("presence bad!name")
    assert a.expect(lambda e: e["ev"] == "cmd" and e["cmd"] == "presence")["rc"] == -1
    a.drain()
    assert not [e for e in a.events if e["ev"] in ("join", "leave") and e["client"] == a_id], "never about itself"
    assert not [e for e in b.events if e["ev"] in ("join", "leave")]
    assert a.finish() == 0


def test_presence_request_waits_for_the_link_is_resent_after_a_drop_and_fails_on_close(cleanup):
    """Against a fake hub (under valgrind where it can run): a request made before the
    connection is sent on it; the link drops before the answer (1001), so it
    is asked again, after the resubscribe, and answered once (truncated, the
    full count kept); a malformed answer is EPROTO; join/leave for a channel
    the client is not on, or without a client id, are dropped; a request the
    hub never answers gets ECLOSED from close()."""
    asked = []
    hang_asked = threading.Event()  # set by the fake's thread when it reads room.hang

    async def hub(ws, n):
        await ws.send(welcome(client="me"))
        async for raw in ws:
            req = json.loads(raw)
            asked.append((n, req["type"], req.get("channel")))
            if req["type"] == "subscribe" and n >= 2:
                await ws.send(json.dumps({"type": "subscribed", "channel": req["channel"], "offset": 0,
                                          "epoch": "00000000000000cc", "recovered": False, "id": req["id"]}))
                await ws.send(json.dumps({"type": "join", "channel": "room.not-mine", "client": "z"}))
                await ws.send(json.dumps({"type": "join", "channel": req["channel"], "user": "no client"}))
                await ws.send(json.dumps({"type": "join", "channel": req["channel"], "client": "y"}))
            elif req["type"] == "presence" and n == 1:
                await ws.close(1001)
                return
            elif req["type"] == "presence" and req["channel"] == "room.q":
                await ws.send(json.dumps({"type": "presence", "id": req["id"], "channel": "room.q", "count": 3,
                                          "truncated": True, "clients": [{"client": "x", "user": "u"}]}))
            elif req["type"] == "presence" and req["channel"] == "room.bad":
                await ws.send(json.dumps({"type": "presence", "id": req["id"], "channel": "room.bad", "count": 1,
                                          "truncated": False, "clients": [{"user": "no client"}]}))
            elif req["type"] == "presence" and req["channel"] == "room.hang":
                hang_asked.set()  # and never answered

    fake = FakeHub(hub)
    cleanup.append(fake)
    # Under valgrind when it can run (not on a sanitizer build, whose ASan
    # and LeakSanitizer then check the same paths).
    d = Driver(fake.url, "--backoff-initial", 50, "--backoff-max", 200,
               wrap=VALGRIND if can_valgrind() else None)
    cleanup.append(d)
    d.send("sub room.mine")
    d.send("presence room.q")
    rid = d.expect(lambda e: e["ev"] == "cmd" and e["cmd"] == "presence", timeout=30)["id"]
    got = presence_answer(d, rid, timeout=30)
    assert got == {"ev": "presence", "id": rid, "channel": "room.q", "err": 0, "code": None, "message": None,
                   "count": 3, "truncated": True, "clients": [{"client": "x", "user": "u"}]}
    assert asked[:2] == [(1, "subscribe", "room.mine"), (1, "presence", "room.q")]
    assert asked[2:4] == [(2, "subscribe", "room.mine"), (2, "presence", "room.q")]
    assert d.expect(lambda e: e["ev"] == "join", timeout=30) == \
        {"ev": "join", "channel": "room.mine", "client": "y", "user": None}
    got = ask_presence(d, "room.bad", timeout=30)
    assert got["err"] == -7 and got["clients"] == [], got
    d.send("presence room.hang")
    hang = d.expect(lambda e: e["ev"] == "cmd" and e["cmd"] == "presence", timeout=30)["id"]
    assert hang_asked.wait(scaled(30)), "the fake hub never read the room.hang request"
    d.send("close")
    got = presence_answer(d, hang, timeout=30)
    assert got["err"] == -10 and got["channel"] == "room.hang"
    assert d.finish(timeout=60) == 0
    assert len([e for e in d.events if e["ev"] == "presence" and e["id"] == rid]) == 1
    assert not [e for e in d.events if e["ev"] == "join" and e["channel"] != "room.mine"]
    assert len([e for e in d.events if e["ev"] == "join"]) == 1
