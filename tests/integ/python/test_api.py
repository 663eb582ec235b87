"""The HTTP publishing and channel inspection API: POST
/api/channels/{ch}/publish, POST /api/publish with "channel" or "channels",
GET /api/channels and GET /api/channels/{ch} — answers, status codes, error
bodies, percent-decoded names, all-or-nothing multi-channel publishes, and
what WebSocket subscribers receive. Raw HTTP/1.1 over sockets. Not for
delivery order or WS commands (test_pubsub.py)."""
import asyncio
import json
import re

import pytest

from conftest import run_async
from integ_clients import RawConn, assert_error_body, connect, one_request, recv_json, scaled

EPOCH_RE = re.compile(r"^[0-9a-f]{16}$")
JSON_HDR = [("Content-Type", "application/json")]


def post(port, path, body):
    if isinstance(body, str):
        body = body.encode()
    return one_request(port, "POST", path, JSON_HDR, body)


def get(port, path):
    return one_request(port, "GET", path)


def assert_json_ok(resp):
    assert resp.status == 200, resp
    assert (resp.header("content-type") or "").split(";")[0].strip() == "application/json", resp
    return resp.json()


async def open_sub(hub, *channels):
    ws = await connect(hub, "/ws?channels=" + ",".join(channels) if channels else "/ws")
    assert (await recv_json(ws))["type"] == "welcome"
    for ch in channels:
        r = await recv_json(ws)
        assert (r["type"], r["channel"]) == ("subscribed", ch), r
    return ws


async def drain(ws):
    """Frames that arrived before the answer to a ping (see test_pubsub.py)."""
    await ws.send('{"type":"ping","id":"drain"}')
    out = []
    while True:
        doc = await recv_json(ws)
        if doc["type"] == "pong" and doc.get("id") == "drain":
            return out
        out.append(doc)


# --- POST /api/channels/{channel}/publish ---------------------------------------

def test_publish_answers_channel_and_consecutive_offsets(hub):
    for i in range(1, 4):
        assert assert_json_ok(post(hub.port, "/api/channels/news/publish", '{"n":%d}' % i)) == \
            {"channel": "news", "offset": i}
    # Offsets are per channel.
    assert assert_json_ok(post(hub.port, "/api/channels/sports/publish", "1")) == {"channel": "sports", "offset": 1}
    assert assert_json_ok(post(hub.port, "/api/channels/news/publish", "4"))["offset"] == 4


def test_publish_accepts_any_json_value_as_the_body(hub):
    for i, body in enumerate(['"s"', "1", "-2.5e3", "true", "false", "null", "[]", "{}", '[{"a":[null]}]']):
        assert assert_json_ok(post(hub.port, "/api/channels/any/publish", body))["offset"] == i + 1


@pytest.mark.parametrize("body", [b"{", b"[1,]", b'{"a":1,}', b"01", b'"\\x"', b'"\\ud800"', b"1 2", b"nul",
                                  b"", b" ", b"{'a':1}", b'{"a":1}x'])
def test_publish_with_invalid_json_is_400_bad_request(hub, body):
    assert_error_body(post(hub.port, "/api/channels/news/publish", body), 400, "bad_request")


@pytest.mark.parametrize("body", [b'"\xff"', b'"\xc3"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xc0\xaf"'])
def test_publish_with_a_body_that_is_not_utf8_is_400_bad_request(hub, body):
    assert_error_body(post(hub.port, "/api/channels/news/publish", body), 400, "bad_request")


@pytest.mark.parametrize("name", ["bad%20name", "a%23b", "%C3%A9", "x" * 256, "x" * 300, "a,b", "a%2Cb", "%00",
                                  "%ZZ", "a%2", "caf%C3%A9"])
def test_publish_to_a_bad_channel_name_is_400_bad_channel(hub, name):
    assert_error_body(post(hub.port, "/api/channels/%s/publish" % name, "1"), 400, "bad_channel")


def test_publish_to_the_longest_valid_name_works(hub):
    name = "n" * 255
    assert assert_json_ok(post(hub.port, "/api/channels/%s/publish" % name, "1")) == {"channel": name, "offset": 1}


def test_get_on_publish_is_405_allowing_post(hub):
    resp = get(hub.port, "/api/channels/news/publish")
    assert_error_body(resp, 405, "method_not_allowed")
    assert resp.header("allow") == "POST", resp
    # The refused request published nothing.
    assert get(hub.port, "/api/channels/news").status == 404


def test_other_methods_on_publish_are_405(hub):
    for method in ("PUT", "DELETE", "PATCH"):
        resp = one_request(hub.port, method, "/api/channels/news/publish", JSON_HDR, b"1")
        assert resp.status == 405, (method, resp)
        assert "POST" in (resp.header("allow") or ""), resp


def test_errors_keep_the_connection_usable(hub):
    with RawConn(hub.port) as c:
        c.request("POST", "/api/channels/k/publish", JSON_HDR, b"[1,]")
        assert_error_body(c.read_response(), 400, "bad_request")
        c.request("POST", "/api/channels/bad%20name/publish", JSON_HDR, b"1")
        assert_error_body(c.read_response(), 400, "bad_channel")
        c.request("GET", "/api/channels/k/publish")
        assert_error_body(c.read_response(), 405)
        c.request("POST", "/api/channels/k/publish", JSON_HDR, b"1")
        assert assert_json_ok(c.read_response()) == {"channel": "k", "offset": 1}


@run_async()
async def test_percent_encoded_slash_names_the_same_channel(hub):
    ws = await open_sub(hub, "a/b")
    try:
        assert assert_json_ok(post(hub.port, "/api/channels/a%2Fb/publish", '"encoded"')) == \
            {"channel": "a/b", "offset": 1}
        assert assert_json_ok(post(hub.port, "/api/channels/a%2fb/publish", '"lower"'))["offset"] == 2
        # A literal slash inside the name works too: the action is the last segment.
        assert assert_json_ok(post(hub.port, "/api/channels/a/b/publish", '"raw"'))["offset"] == 3
        # Other escapes of allowed characters decode to the same name.
        assert assert_json_ok(post(hub.port, "/api/channels/%61%2F%62/publish", '"hex"'))["offset"] == 4
        got = await drain(ws)
        assert [(m["channel"], m["offset"], m["data"]) for m in got] == \
            [("a/b", 1, "encoded"), ("a/b", 2, "lower"), ("a/b", 3, "raw"), ("a/b", 4, "hex")]
        info = assert_json_ok(get(hub.port, "/api/channels/a%2Fb"))
        assert (info["name"], info["offset"], info["subscribers"]) == ("a/b", 4, 1), info
        # A channel whose name ends in "/publish" is reached by encoding that slash.
        assert assert_json_ok(post(hub.port, "/api/channels/x%2Fpublish/publish", "1")) == \
            {"channel": "x/publish", "offset": 1}
    finally:
        await ws.close()


@run_async()
async def test_http_publish_reaches_subscribers_with_data_verbatim(hub):
    ws = await open_sub(hub, "verbatim")
    other = await open_sub(hub, "elsewhere")
    try:
        body = '{ "z" : [1,2 ,3], "a" : "\\u00e9", "big": 12345678901234567890.5e-3 }'
        post(hub.port, "/api/channels/verbatim/publish", body)
        await ws.send('{"type":"ping","id":"d"}')
        raw = await asyncio.wait_for(ws.recv(), scaled(5))
        assert raw.startswith('{"type":"message","channel":"verbatim","offset":1,"ts":'), raw
        assert raw.endswith(',"data":%s}' % body), raw
        assert (await recv_json(ws))["type"] == "pong"
        assert await drain(other) == []
    finally:
        await ws.close()
        await other.close()


# --- POST /api/publish ---------------------------------------------------------------

@run_async()
async def test_api_publish_with_one_channel(hub):
    ws = await open_sub(hub, "one")
    try:
        assert assert_json_ok(post(hub.port, "/api/publish", '{"channel":"one","data":{"k" : [1]}}')) == \
            {"channel": "one", "offset": 1}
        # Field order does not matter; data may come first.
        assert assert_json_ok(post(hub.port, "/api/publish", '{"data":"second","channel":"one"}'))["offset"] == 2
        await ws.send('{"type":"ping"}')
        raw = await asyncio.wait_for(ws.recv(), scaled(5))
        assert raw.endswith(',"data":{"k" : [1]}}'), raw
        got = [json.loads(raw)] + await drain(ws)
        assert [m.get("data") for m in got if m["type"] == "message"] == [{"k": [1]}, "second"]
    finally:
        await ws.close()


@run_async()
async def test_api_publish_with_many_channels_answers_results_in_order(hub):
    a, b, c = await open_sub(hub, "m/a"), await open_sub(hub, "m/b"), await open_sub(hub, "m/c", "m/a")
    try:
        post(hub.port, "/api/channels/m%2Fb/publish", "0")  # m/b is one ahead
        doc = assert_json_ok(post(hub.port, "/api/publish", '{"channels":["m/a","m/b","m/c"],"data":[1,"two"]}'))
        assert doc == {"results": [{"channel": "m/a", "offset": 1}, {"channel": "m/b", "offset": 2},
                                   {"channel": "m/c", "offset": 1}]}, doc
        ga, gb, gc = await drain(a), await drain(b), await drain(c)
        assert [(m["channel"], m["data"]) for m in ga] == [("m/a", [1, "two"])]
        assert [(m["channel"], m["offset"]) for m in gb] == [("m/b", 1), ("m/b", 2)]
        assert sorted((m["channel"], m["offset"]) for m in gc) == [("m/a", 1), ("m/c", 1)]
    finally:
        for ws in (a, b, c):
            await ws.close()


@run_async()
async def test_api_publish_with_one_bad_name_publishes_nothing(hub):
    ws = await open_sub(hub, "ok1", "ok2")
    try:
        for body in ('{"channels":["ok1","bad name","ok2"],"data":1}',
                     '{"channels":["ok1","ok2","%s"],"data":1}' % ("x" * 300),
                     '{"channels":["ok1",""],"data":1}',
                     '{"channels":["ok1",5],"data":1}'):
            resp = post(hub.port, "/api/publish", body)
            assert resp.status == 400, (body, resp)
            assert_error_body(resp, 400)
            assert resp.json()["error"]["code"] in ("bad_channel", "bad_request"), resp
        assert_error_body(post(hub.port, "/api/publish", '{"channels":["ok1","bad name"],"data":1}'), 400,
                          "bad_channel")
        assert await drain(ws) == []
        for ch in ("ok1", "ok2"):
            assert assert_json_ok(get(hub.port, "/api/channels/" + ch))["offset"] == 0
    finally:
        await ws.close()


@pytest.mark.parametrize("body", [
    '{"data":1}',                                   # neither channel nor channels
    '{"channel":"a"}',                              # no data
    '{"channels":["a"]}',
    '{"channel":"a","channels":["b"],"data":1}',    # both
    '{"channel":5,"data":1}',
    '{"channel":null,"data":1}',
    '{"channel":["a"],"data":1}',
    '{"channels":"a","data":1}',
    '{"channels":[],"data":1}',
    '{"channels":{"a":1},"data":1}',
    '[{"channel":"a","data":1}]',
    '"a"',
    '{"channel":"a","data":01}',
    '{"channel":"a","data":[1,]}',
    '{"channel":"a","data":"\\ud800"}',
    '{"channel":"a","data":1',
    '{"channel":"a","data":1}}',
])
def test_api_publish_envelope_errors_are_400_bad_request(hub, body):
    assert_error_body(post(hub.port, "/api/publish", body), 400, "bad_request")
    assert get(hub.port, "/api/channels/a").status == 404  # nothing was published


def test_api_publish_bad_single_channel_is_400_bad_channel(hub):
    assert_error_body(post(hub.port, "/api/publish", '{"channel":"no spaces","data":1}'), 400, "bad_channel")
    assert_error_body(post(hub.port, "/api/publish", '{"channel":"","data":1}'), 400, "bad_channel")


def test_api_publish_takes_up_to_64_channels(hub):
    names = ["ch%02d" % i for i in range(64)]
    doc = assert_json_ok(post(hub.port, "/api/publish", json.dumps({"channels": names, "data": 1})))
    assert doc == {"results": [{"channel": n, "offset": 1} for n in names]}
    resp = post(hub.port, "/api/publish", json.dumps({"channels": names + ["ch64"], "data": 1}))
    assert_error_body(resp, 400, "bad_request")
    assert assert_json_ok(get(hub.port, "/api/channels/ch00"))["offset"] == 1


def test_api_publish_get_is_405(hub):
    resp = get(hub.port, "/api/publish")
    assert_error_body(resp, 405, "method_not_allowed")
    assert "POST" in (resp.header("allow") or ""), resp


# --- GET /api/channels[/{channel}] ----------------------------------------------------

@run_async()
async def test_channel_list_shows_subscribed_and_published_channels(hub):
    assert assert_json_ok(get(hub.port, "/api/channels")) == {"channels": []}
    a = await open_sub(hub, "listed/one", "listed/two")
    b = await open_sub(hub, "listed/one")
    try:
        post(hub.port, "/api/channels/listed%2Fone/publish", "1")
        post(hub.port, "/api/channels/listed%2Fone/publish", "2")
        post(hub.port, "/api/channels/published-only/publish", "1")
        doc = assert_json_ok(get(hub.port, "/api/channels"))
        assert set(doc) == {"channels"}
        by_name = {c["name"]: c for c in doc["channels"]}
        assert len(by_name) == len(doc["channels"]) == 3, doc
        assert by_name["listed/one"] == {"name": "listed/one", "subscribers": 2, "offset": 2}
        assert by_name["listed/two"] == {"name": "listed/two", "subscribers": 1, "offset": 0}
        assert by_name["published-only"] == {"name": "published-only", "subscribers": 0, "offset": 1}
        assert [m["offset"] for m in await drain(b)] == [1, 2]
        await b.send('{"type":"unsubscribe","channel":"listed/one"}')
        assert (await recv_json(b))["type"] == "unsubscribed"
        by_name = {c["name"]: c for c in assert_json_ok(get(hub.port, "/api/channels"))["channels"]}
        assert by_name["listed/one"]["subscribers"] == 1
    finally:
        await a.close()
        await b.close()


@run_async()
async def test_channel_info_has_name_subscribers_offset_and_epoch(hub):
    ws = await open_sub(hub)
    try:
        await ws.send('{"type":"subscribe","channel":"info"}')
        sub = await recv_json(ws)
        doc = assert_json_ok(get(hub.port, "/api/channels/info"))
        assert doc == {"name": "info", "subscribers": 1, "offset": 0, "epoch": sub["epoch"]}, doc
        assert EPOCH_RE.match(doc["epoch"])
        for _ in range(3):
            post(hub.port, "/api/channels/info/publish", "1")
        doc = assert_json_ok(get(hub.port, "/api/channels/info"))
        assert (doc["offset"], doc["subscribers"], doc["epoch"]) == (3, 1, sub["epoch"]), doc
    finally:
        await ws.close()


def test_channel_info_for_an_unknown_channel_is_404(hub):
    assert_error_body(get(hub.port, "/api/channels/nobody-here"), 404, "not_found")
    assert_error_body(get(hub.port, "/api/channels/bad%20name"), 400, "bad_channel")


def test_channel_info_survives_its_subscribers_once_published(hub):
    post(hub.port, "/api/channels/kept/publish", "1")
    doc = assert_json_ok(get(hub.port, "/api/channels/kept"))
    assert (doc["name"], doc["subscribers"], doc["offset"]) == ("kept", 0, 1), doc
