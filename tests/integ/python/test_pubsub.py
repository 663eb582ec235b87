"""Channels on /ws end to end: subscribe, unsubscribe and publish commands,
`?channels=` on connect, HTTP publish reaching WebSocket subscribers, exact
per-channel delivery in offset order, payloads delivered byte for byte, every
command error (the connection stays open), invalid JSON never delivered, and a
subscriber that stops reading closed with 4008 while the others keep
receiving. Driven by the websockets library, curl and raw sockets. Not for the
HTTP API's own answers (test_api.py) or metrics (test_metrics.py)."""
import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import run_async
from integ_clients import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Closed, RawWS, connect, one_request, recv_json, scaled

EPOCH_RE = re.compile(r"^[0-9a-f]{16}$")


# --- helpers ------------------------------------------------------------------

async def open_ws(hub, path="/ws", **kw):
    """Opens /ws and consumes the welcome."""
    ws = await connect(hub, path, **kw)
    doc = await recv_json(ws)
    assert doc["type"] == "welcome", doc
    return ws


async def send_json(ws, doc):
    await ws.send(json.dumps(doc) if not isinstance(doc, str) else doc)


async def subscribe(ws, channel, req_id=None):
    doc = {"type": "subscribe", "channel": channel}
    if req_id is not None:
        doc["id"] = req_id
    await send_json(ws, doc)
    reply = await recv_json(ws)
    assert reply["type"] == "subscribed", reply
    assert reply["channel"] == channel, reply
    return reply


_barrier_ids = iter(range(1, 1 << 30))


async def until_barrier(ws, timeout=10):
    """Sends a ping and returns the raw text frames that arrived before its
    pong. The hub runs one loop and each connection's frames go out in order,
    so everything queued to this client before the ping was handled is in the
    list, and nothing else."""
    bid = "barrier-%d" % next(_barrier_ids)
    await send_json(ws, {"type": "ping", "id": bid})
    frames = []
    while True:
        raw = await asyncio.wait_for(ws.recv(), scaled(timeout))
        assert isinstance(raw, str), raw
        doc = json.loads(raw)
        if doc.get("type") == "pong" and doc.get("id") == bid:
            return frames
        frames.append(raw)


def messages(frames):
    docs = [json.loads(f) for f in frames]
    for d in docs:
        assert d["type"] == "message", d
    return docs


async def ws_publish(ws, channel, data_raw, req_id=None):
    """Publishes raw JSON text as data; returns the `published` reply (frames
    before it are returned too, for publishers that subscribe)."""
    id_part = "" if req_id is None else ',"id":%s' % json.dumps(req_id)
    await ws.send('{"type":"publish","channel":%s%s,"data":%s}' % (json.dumps(channel), id_part, data_raw))
    before = []
    while True:
        doc = await recv_json(ws)
        if doc["type"] == "published":
            return doc, before
        before.append(doc)


def http_publish(port, channel_path, body, headers=()):
    if isinstance(body, str):
        body = body.encode()
    return one_request(port, "POST", "/api/channels/%s/publish" % channel_path,
                       [("Content-Type", "application/json")] + list(headers), body)


def channel_info(port, name):
    resp = one_request(port, "GET", "/api/channels/%s" % name.replace("/", "%2F"))
    return resp.json() if resp.status == 200 else None


def frame_re(channel, data_raw, id_raw=None):
    """The exact text of a message frame, with offset and ts free."""
    return re.compile(r'^\{"type":"message","channel":%s,"offset":(\d+),"ts":(\d+)%s,"data":%s\}$'
                      % (re.escape(json.dumps(channel)), "" if id_raw is None else re.escape(',"id":' + id_raw),
                         re.escape(data_raw)), re.S)


async def assert_still_open(ws):
    assert await until_barrier(ws) == []


# --- subscribe / unsubscribe replies --------------------------------------------

@run_async()
async def test_subscribed_reply_has_offset_epoch_and_echoes_id(hub):
    async with connect(hub) as ws:
        await recv_json(ws)
        await send_json(ws, {"type": "subscribe", "channel": "news", "id": "s1"})
        r = await recv_json(ws)
        assert set(r) == {"type", "id", "channel", "offset", "epoch", "recovered"}, r
        assert r["type"] == "subscribed" and r["id"] == "s1" and r["channel"] == "news", r
        assert r["offset"] == 0 and r["recovered"] is False, r
        assert EPOCH_RE.match(r["epoch"]), r
        # Integer ids are echoed too; without an id there is none.
        await send_json(ws, {"type": "subscribe", "channel": "other", "id": 7})
        r2 = await recv_json(ws)
        assert r2["id"] == 7 and r2["channel"] == "other", r2
        await send_json(ws, {"type": "subscribe", "channel": "third"})
        r3 = await recv_json(ws)
        assert "id" not in r3 and r3["type"] == "subscribed", r3
        assert r3["epoch"] == r["epoch"]  # one epoch per process without durable history


@run_async()
async def test_subscribed_offset_is_the_channels_last_offset(hub):
    for i in range(3):
        assert http_publish(hub.port, "scores", '{"n":%d}' % i).json() == {"channel": "scores", "offset": i + 1}
    async with connect(hub) as ws:
        await recv_json(ws)
        r = await subscribe(ws, "scores")
        assert r["offset"] == 3, r
        assert r["epoch"] == channel_info(hub.port, "scores")["epoch"]
        # No history is replayed: nothing arrives until the next publish.
        assert await until_barrier(ws) == []


@run_async()
async def test_double_subscribe_is_idempotent_and_delivers_once(hub):
    async with connect(hub) as ws:
        await recv_json(ws)
        await subscribe(ws, "dup")
        await subscribe(ws, "dup")
        assert channel_info(hub.port, "dup")["subscribers"] == 1
        assert http_publish(hub.port, "dup", "1").status == 200
        assert len(messages(await until_barrier(ws))) == 1


@run_async()
async def test_unsubscribe_stops_delivery_to_that_client_only(hub):
    async with connect(hub) as a, connect(hub) as b:
        await recv_json(a)
        await recv_json(b)
        await subscribe(a, "weather")
        await subscribe(b, "weather")
        http_publish(hub.port, "weather", '"sunny"')
        assert [m["data"] for m in messages(await until_barrier(a))] == ["sunny"]
        await send_json(a, {"type": "unsubscribe", "channel": "weather", "id": "u1"})
        assert await recv_json(a) == {"type": "unsubscribed", "id": "u1", "channel": "weather"}
        http_publish(hub.port, "weather", '"rain"')
        assert await until_barrier(a) == []
        assert [m["data"] for m in messages(await until_barrier(b))] == ["sunny", "rain"]
        # A second unsubscribe: not subscribed any more.
        await send_json(a, {"type": "unsubscribe", "channel": "weather"})
        err = await recv_json(a)
        assert err["type"] == "error" and err["code"] == "not_subscribed", err
        # Subscribing again resumes delivery with the next offset.
        r = await subscribe(a, "weather")
        assert r["offset"] == 2
        http_publish(hub.port, "weather", '"snow"')
        got = messages(await until_barrier(a))
        assert [(m["offset"], m["data"]) for m in got] == [(3, "snow")]


@run_async()
async def test_channel_is_gone_when_its_last_subscriber_disconnects(hub):
    ws = await open_ws(hub)
    await subscribe(ws, "ephemeral")
    assert channel_info(hub.port, "ephemeral")["subscribers"] == 1
    await ws.close()
    deadline = time.monotonic() + scaled(5)
    while channel_info(hub.port, "ephemeral") is not None:  # never published: 404 once empty
        assert time.monotonic() < deadline, "channel survived its last subscriber"
        await asyncio.sleep(0.01)  # polling the API for the asynchronous close


# --- delivery ------------------------------------------------------------------

CHANNELS = ["c/alpha", "c/beta", "c:gamma@x"]
# Who subscribes to what; "none" subscribes to nothing.
SUBS = {"a": ["c/alpha"], "b": ["c/alpha", "c/beta"], "c": ["c:gamma@x"], "d": ["c/beta", "c:gamma@x"], "none": []}
PER_CHANNEL = 20


async def check_exact_delivery(hub, publish):
    clients = {}
    try:
        for name, chans in SUBS.items():
            ws = await open_ws(hub)
            for ch in chans:
                await subscribe(ws, ch)
            clients[name] = ws
        sent = {ch: [] for ch in CHANNELS}
        # Interleave the channels so ordering is per channel, not global.
        for i in range(PER_CHANNEL):
            for ch in CHANNELS:
                data = '{"ch":%s,"i":%d}' % (json.dumps(ch), i)
                offset = await publish(ch, data)
                assert offset == i + 1, (ch, i, offset)
                sent[ch].append(data)
        for name, ws in clients.items():
            got = messages(await until_barrier(ws))
            by_ch = {}
            for m in got:
                assert m["channel"] in SUBS[name], (name, m)
                by_ch.setdefault(m["channel"], []).append(m)
            assert set(by_ch) == set(SUBS[name]), (name, sorted(by_ch))
            for ch, ms in by_ch.items():
                assert [m["offset"] for m in ms] == list(range(1, PER_CHANNEL + 1)), (name, ch)
                assert [json.dumps(m["data"], separators=(",", ":")) for m in ms] == sent[ch], (name, ch)
            assert len(got) == PER_CHANNEL * len(SUBS[name])
    finally:
        await asyncio.gather(*(ws.close() for ws in clients.values()))


@run_async()
async def test_ws_publish_reaches_exactly_each_channels_subscribers_in_offset_order(hub):
    pub = await open_ws(hub)
    try:
        async def publish(ch, data):
            reply, before = await ws_publish(pub, ch, data)
            assert before == [] and reply["channel"] == ch, (reply, before)
            return reply["offset"]
        await check_exact_delivery(hub, publish)
    finally:
        await pub.close()


@run_async()
async def test_http_publish_reaches_exactly_each_channels_subscribers_in_offset_order(hub):
    async def publish(ch, data):
        resp = await asyncio.to_thread(http_publish, hub.port, ch.replace("/", "%2F"), data)
        assert resp.status == 200, resp
        doc = resp.json()
        assert doc["channel"] == ch, doc
        return doc["offset"]
    await check_exact_delivery(hub, publish)


@run_async()
async def test_message_frame_has_the_contract_fields(hub):
    async with connect(hub) as sub, connect(hub) as pub:
        await recv_json(sub)
        await recv_json(pub)
        await subscribe(sub, "fields")
        t0 = int(time.time() * 1000)
        reply, _ = await ws_publish(pub, "fields", '{"k":"v"}', req_id="p-1")
        t1 = int(time.time() * 1000)
        assert reply == {"type": "published", "id": "p-1", "channel": "fields", "offset": 1}, reply
        [raw] = await until_barrier(sub)
        m = frame_re("fields", '{"k":"v"}', '"p-1"').match(raw)
        assert m, raw
        assert int(m.group(1)) == 1
        assert t0 - 1000 <= int(m.group(2)) <= t1 + 1000, (t0, raw, t1)
        # Without an id there is no id field; an integer id passes as is.
        await ws_publish(pub, "fields", "[]")
        await ws_publish(pub, "fields", "null", req_id=12)
        raws = await until_barrier(sub)
        assert frame_re("fields", "[]").match(raws[0]), raws
        assert frame_re("fields", "null", "12").match(raws[1]), raws


@run_async()
async def test_publisher_subscribed_to_its_channel_gets_message_before_published(hub):
    async with connect(hub) as ws:
        await recv_json(ws)
        await subscribe(ws, "self")
        reply, before = await ws_publish(ws, "self", '"me"', req_id="x")
        assert [(d["type"], d["data"], d["offset"], d["id"]) for d in before] == [("message", "me", 1, "x")]
        assert reply == {"type": "published", "id": "x", "channel": "self", "offset": 1}
        assert await until_barrier(ws) == []


@run_async()
async def test_query_channels_subscribes_on_connect(hub):
    async with connect(hub, "/ws?channels=q1,q2/x") as ws:
        assert (await recv_json(ws))["type"] == "welcome"
        r1, r2 = await recv_json(ws), await recv_json(ws)
        assert (r1["type"], r1["channel"], r1["offset"]) == ("subscribed", "q1", 0), r1
        assert (r2["type"], r2["channel"]) == ("subscribed", "q2/x"), r2
        assert "id" not in r1 and EPOCH_RE.match(r1["epoch"]), r1
        for ch in ("q1", "q2%2Fx", "q3"):
            assert http_publish(hub.port, ch, '"%s"' % ch).status == 200
        got = messages(await until_barrier(ws))
        assert [(m["channel"], m["data"]) for m in got] == [("q1", "q1"), ("q2/x", "q2%2Fx")]


@run_async()
async def test_query_channels_percent_encoded_and_with_a_bad_name(hub):
    # A name with a space (%20 decoded) is refused alone; the others hold.
    async with connect(hub, "/ws?channels=good,bad%20name,also-good") as ws:
        await recv_json(ws)
        frames = [await recv_json(ws) for _ in range(3)]
        assert [f["type"] for f in frames] == ["subscribed", "error", "subscribed"], frames
        assert frames[1]["code"] == "bad_channel", frames
        assert [frames[0]["channel"], frames[2]["channel"]] == ["good", "also-good"]
        assert await until_barrier(ws) == []


# --- payload fidelity ----------------------------------------------------------

FIDELITY = [
    '{ "b" : 1 ,\t"a" :\n[ 1 , 2 ] }',            # whitespace inside the value
    '{"z":1,"y":2,"a":3,"m":{"q":0,"b":1}}',       # key order
    '"\\u00e9\\ud83d\\ude00 \\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0000"',  # escapes stay escapes
    '"caf\u00e9 \u2603 \U0001F600"',               # raw UTF-8
    '12345678901234567890.5e-3',                   # beyond double precision
    '-0.0E+00',
    '1e400',                                       # grammatical, overflows a double
    '[[[[[]]]],[{}],[null,true,false],[-1,0.5,1E2]]',
    '{"a":{"a":{"a":{"a":[1,{"b":[[]]}]}}}}',
    '""',
    '0',
]


@run_async()
async def test_ws_publish_delivers_data_byte_for_byte(hub):
    async with connect(hub) as sub, connect(hub) as pub:
        await recv_json(sub)
        await recv_json(pub)
        await subscribe(sub, "fidelity")
        for data in FIDELITY:
            await ws_publish(pub, "fidelity", data)
        raws = await until_barrier(sub)
        assert len(raws) == len(FIDELITY)
        for raw, data in zip(raws, FIDELITY):
            assert frame_re("fidelity", data).match(raw), (data, raw)


@run_async()
async def test_http_publish_delivers_data_byte_for_byte(hub):
    async with connect(hub) as sub:
        await recv_json(sub)
        await subscribe(sub, "fidelity")
        for data in FIDELITY:
            assert http_publish(hub.port, "fidelity", data).status == 200
        # Whitespace around the body is not part of the value.
        assert http_publish(hub.port, "fidelity", ' \r\n\t{"x" : 1}\n').status == 200
        raws = await until_barrier(sub)
        assert len(raws) == len(FIDELITY) + 1
        for raw, data in zip(raws, FIDELITY):
            assert frame_re("fidelity", data).match(raw), (data, raw)
        assert frame_re("fidelity", '{"x" : 1}').match(raws[-1]), raws[-1]


@run_async()
async def test_large_payloads_are_delivered_whole(hub):
    # Sizes around the 16-bit and 64-bit frame length boundaries.
    async with connect(hub) as sub, connect(hub) as pub:
        await recv_json(sub)
        await recv_json(pub)
        await subscribe(sub, "big")
        sizes = [120, 125, 126, 65400, 65536, 200000]
        datas = ['"%s"' % ("x" * n) for n in sizes]
        for d in datas:
            await ws_publish(pub, "big", d)
        raws = await until_barrier(sub)
        assert len(raws) == len(datas)
        for raw, d in zip(raws, datas):
            assert raw.endswith(',"data":%s}' % d), len(raw)


# --- command errors -------------------------------------------------------------

LONG = "x" * 300
ERRORS = [
    ('{"type":"subscribe"}', "bad_request"),
    ('{"type":"subscribe","channel":5}', "bad_request"),
    ('{"type":"subscribe","channel":null}', "bad_request"),
    ('{"type":"subscribe","channel":["a"]}', "bad_request"),
    ('{"type":"subscribe","channel":{"a":1}}', "bad_request"),
    ('{"type":"subscribe","channel":true}', "bad_request"),
    ('{"type":"subscribe","channel":""}', "bad_channel"),
    ('{"type":"subscribe","channel":"%s"}' % LONG, "bad_channel"),
    ('{"type":"subscribe","channel":"%s"}' % ("y" * 256), "bad_channel"),
    ('{"type":"subscribe","channel":"a b"}', "bad_channel"),
    ('{"type":"subscribe","channel":"a,b"}', "bad_channel"),
    ('{"type":"subscribe","channel":"a#b"}', "bad_channel"),
    ('{"type":"subscribe","channel":"caf\u00e9"}', "bad_channel"),
    ('{"type":"subscribe","channel":"a\\u0000b"}', "bad_channel"),
    ('{"type":"unsubscribe"}', "bad_request"),
    ('{"type":"unsubscribe","channel":1}', "bad_request"),
    ('{"type":"unsubscribe","channel":"%s"}' % LONG, "bad_channel"),
    ('{"type":"unsubscribe","channel":"never"}', "not_subscribed"),
    ('{"type":"publish","channel":"p"}', "bad_request"),
    ('{"type":"publish","data":1}', "bad_request"),
    ('{"type":"publish","channel":7,"data":1}', "bad_request"),
    ('{"type":"publish","channel":null,"data":1}', "bad_request"),
    ('{"type":"publish","channel":"bad name","data":1}', "bad_channel"),
    ('{"type":"publish","channel":"%s","data":1}' % LONG, "bad_channel"),
    ('{"type":"publish","channel":"","data":1}', "bad_channel"),
    ('{"type":"teleport","channel":"p"}', "unknown_type"),
    ('{"type":"Subscribe","channel":"p"}', "unknown_type"),
    ('{"type":""}', "unknown_type"),
    ('{"type":5}', "bad_request"),
    ('{"type":null}', "bad_request"),
    ('{"channel":"p"}', "bad_request"),
    ('{}', "bad_request"),
    ('[]', "bad_request"),
    ('"subscribe"', "bad_request"),
    ('{"type":"ping","id":1.5}', "bad_request"),
    ('{"type":"ping","id":{}}', "bad_request"),
    ('{"type":"ping","id":"%s"}' % ("i" * 300), "bad_request"),
]


@pytest.mark.parametrize("with_id", [False, True], ids=["no-id", "id"])
@run_async()
async def test_every_command_error_has_its_code_and_keeps_the_connection(hub, with_id):
    async with connect(hub) as ws:
        await recv_json(ws)
        for text, code in ERRORS:
            has_good_id = with_id and '"id"' not in text
            if has_good_id:
                text = '{"id":"e-1",' + text[1:] if text.startswith("{") and text != "{}" else text
                if text == "{}":
                    text = '{"id":"e-1"}'
            await ws.send(text)
            err = await recv_json(ws)
            assert err["type"] == "error" and err["code"] == code, (text, err)
            assert isinstance(err["message"], str) and err["message"], err
            if has_good_id and text.startswith("{"):
                assert err.get("id") == "e-1", (text, err)
            else:
                assert "id" not in err, (text, err)
        # Still open and nothing was subscribed or published by the errors.
        await assert_still_open(ws)
        r = await subscribe(ws, "p")
        assert r["offset"] == 0, r


@run_async()
async def test_subscription_cap_is_limit_exceeded_and_connection_stays(hubs):
    h = hubs("--max-subscriptions", "3")
    async with connect(h) as ws:
        await recv_json(ws)
        for ch in ("s1", "s2", "s3"):
            await subscribe(ws, ch)
        await send_json(ws, {"type": "subscribe", "channel": "s4", "id": 4})
        err = await recv_json(ws)
        assert (err["type"], err["code"], err["id"]) == ("error", "limit_exceeded", 4), err
        # Re-subscribing to a held channel is still fine; leaving one makes room.
        await subscribe(ws, "s2")
        await send_json(ws, {"type": "unsubscribe", "channel": "s1"})
        assert (await recv_json(ws))["type"] == "unsubscribed"
        await subscribe(ws, "s4")
        http_publish(h.port, "s4", "4")
        assert [m["channel"] for m in messages(await until_barrier(ws))] == ["s4"]
    # The cap is per connection: ?channels= stops at it too.
    async with connect(h, "/ws?channels=a,b,c,d,e") as ws:
        await recv_json(ws)
        frames = [await recv_json(ws) for _ in range(4)]
        assert [f["type"] for f in frames] == ["subscribed"] * 3 + ["error"], frames
        assert frames[3]["code"] == "limit_exceeded"
        assert await until_barrier(ws) == []


# --- invalid data is never delivered ----------------------------------------------

INVALID_DATA = [
    '"\\x"',            # bad escape
    '"\\ud800"',        # lone high surrogate
    '"\\udc00"',        # lone low surrogate
    '"\\ud800\\u0041"',  # high surrogate not followed by a low one
    '"\\u12"',          # short \u escape
    '01',               # leading zero
    '[1,]',             # trailing comma
    '{"a":1,}',
    '[1 2]',
    '{"a" 1}',
    "'single'",
    'NaN',
    'tru',
    '+1',
    '.5',
    '1.',
    '"tab\there"',      # raw control character in a string
]


@run_async()
async def test_invalid_data_over_ws_is_bad_request_and_never_delivered(hub):
    async with connect(hub) as sub, connect(hub) as pub:
        await recv_json(sub)
        await recv_json(pub)
        await subscribe(sub, "strict")
        frames = ['{"type":"publish","channel":"strict","data":%s}' % d for d in INVALID_DATA]
        # Trailing garbage after the command object.
        frames += ['{"type":"publish","channel":"strict","data":1} x',
                   '{"type":"publish","channel":"strict","data":1}}',
                   '{"type":"publish","channel":"strict","data":1,}']
        for text in frames:
            await pub.send(text)
            err = await recv_json(pub)
            assert (err["type"], err["code"]) == ("error", "bad_request"), (text, err)
        assert await until_barrier(sub) == []
        assert channel_info(hub.port, "strict")["offset"] == 0
        # The connection still publishes valid data afterwards.
        reply, _ = await ws_publish(pub, "strict", "1")
        assert reply["offset"] == 1


@run_async()
async def test_invalid_data_over_http_is_400_and_never_delivered(hub):
    async with connect(hub) as sub:
        await recv_json(sub)
        await subscribe(sub, "strict")
        bodies = [d.encode() for d in INVALID_DATA]
        bodies += [b'1 x', b'{"a":1}}', b'[1] [2]', b'', b'   ', b'"\xff"', b'"\xc3"', b'"\xed\xa0\x80"']
        for body in bodies:
            resp = http_publish(hub.port, "strict", body)
            assert resp.status == 400, (body, resp)
            assert resp.json()["error"]["code"] == "bad_request", (body, resp)
            resp = one_request(hub.port, "POST", "/api/publish", [("Content-Type", "application/json")],
                               b'{"channel":"strict","data":' + body + b'}')
            assert resp.status == 400, (body, resp)
        assert await until_barrier(sub) == []
        assert channel_info(hub.port, "strict")["offset"] == 0


# --- the lower-third case ------------------------------------------------------------

@run_async()
async def test_curl_post_reaches_every_lower_third_subscriber_and_no_other(hub):
    """The seed scenario: a graphics operator's script POSTs a lower-third with
    curl; every overlay subscribed to lower-third shows it, nothing else does."""
    body = '{"name":"Ada Lovelace","title":"Analyst, \u00c9cole","style":{"theme":"dark","ms":4000}}'
    overlays = [await open_ws(hub, "/ws?channels=lower-third") for _ in range(3)]
    others = [await open_ws(hub, "/ws?channels=" + ch) for ch in ("lower-thirds", "lower", "Lower-Third", "ticker")]
    try:
        for ws in overlays + others:
            assert (await recv_json(ws))["type"] == "subscribed"
        url = hub.http_url + "/api/channels/lower-third/publish"
        if shutil.which("curl"):
            out = await asyncio.to_thread(
                subprocess.run,
                ["curl", "-sS", "--max-time", str(scaled(10)), "-X", "POST", "-H", "Content-Type: application/json",
                 "--data-binary", body, url],
                capture_output=True, check=True)
            answer = json.loads(out.stdout)
        else:  # the same request from the standard library
            req = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"}, method="POST")
            answer = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=10).read()))
        assert answer == {"channel": "lower-third", "offset": 1}, answer
        for ws in overlays:
            [raw] = await until_barrier(ws)
            assert frame_re("lower-third", body).match(raw), raw
        for ws in others:
            assert await until_barrier(ws) == []
    finally:
        await asyncio.gather(*(ws.close() for ws in overlays + others))


# --- slow consumers ------------------------------------------------------------------

def scrape(port):
    text = one_request(port, "GET", "/metrics").body.decode()
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            vals[k] = float(v)
    return vals


def read_until_close(ws):
    """Reads a raw client until the close frame: (close code, message offsets)."""
    ws.sock.setblocking(True)
    offsets = []
    try:
        while True:
            f = ws.recv_frame(timeout=10)
            if f.opcode == OP_CLOSE:
                return f.close_code, offsets
            if f.opcode in (OP_PING, OP_PONG):
                continue
            assert f.opcode == OP_TEXT, f
            doc = f.json()
            if doc["type"] == "message":
                offsets.append(doc["offset"])
    except Closed as e:
        raise AssertionError("connection %s before the close frame, after %d messages" % (e.how, len(offsets)))


@run_async(deadline=60)
async def test_subscriber_that_stops_reading_is_closed_4008_and_others_get_everything(hubs):
    h = hubs("--max-queue", "65536")
    data = '"%s"' % ("s" * 16000)
    # The slow subscriber: a raw socket with a tiny receive window that never
    # reads, so the kernel cannot absorb the backlog on the hub's behalf.
    slow = RawWS.open(h.port, "/ws?channels=firehose", rcvbuf=4096)
    fast = [await open_ws(h, "/ws?channels=firehose") for _ in range(2)]
    pub = await open_ws(h)
    received = [[] for _ in fast]

    async def drain(i, ws):
        while True:
            doc = json.loads(await ws.recv())
            if doc["type"] == "message":
                received[i].append(doc["offset"])
            elif doc["type"] == "pong" and doc.get("id") == "done":
                return

    try:
        for ws in fast:
            assert (await recv_json(ws))["type"] == "subscribed"
        readers = [asyncio.ensure_future(drain(i, ws)) for i, ws in enumerate(fast)]
        base_slow = scrape(h.port).get("wshub_slow_consumer_closes_total", 0)
        published = 0
        deadline = time.monotonic() + scaled(30)
        closed = False
        while not closed:
            assert time.monotonic() < deadline, "the slow subscriber was never closed (%d published)" % published
            # One publish per round trip: the hub flushes before it sleeps, so
            # a subscriber that reads never holds more than one message unsent,
            # while the one that does not read piles them up.
            for _ in range(10):
                reply, _ = await ws_publish(pub, "firehose", data)
                published += 1
                assert reply["offset"] == published, reply
            closed = scrape(h.port)["wshub_slow_consumer_closes_total"] > base_slow
        # The slow one reads now, at once (the hub lingers only briefly for a
        # peer that does not drain): whole messages in order, then 4008.
        slow_read = asyncio.ensure_future(asyncio.to_thread(read_until_close, slow))
        # Meanwhile more messages: the others keep receiving.
        for _ in range(10):
            reply, _ = await ws_publish(pub, "firehose", data)
            published += 1
            assert reply["offset"] == published
        for ws in fast:
            await send_json(ws, {"type": "ping", "id": "done"})
        await asyncio.wait_for(asyncio.gather(*readers), scaled(20))
        for got in received:
            assert got == list(range(1, published + 1)), (len(got), published)

        code, offsets = await slow_read
        assert code == 4008, code
        assert offsets == list(range(1, len(offsets) + 1)), offsets[:10]
        assert len(offsets) < published
        # Once it is gone, the channel counts only the two that read.
        deadline = time.monotonic() + scaled(10)
        while channel_info(h.port, "firehose")["subscribers"] != 2:
            assert time.monotonic() < deadline, channel_info(h.port, "firehose")
            await asyncio.sleep(0.01)  # polling the API for the asynchronous close
    finally:
        slow.close()
        for ws in fast + [pub]:
            await ws.close()
