"""The /ws endpoint after the upgrade: welcome, client ids, ping/pong, JSON
errors, and the close codes for binary, oversized and invalid UTF-8 messages,
driven by the websockets library (and raw frames where it is too polite).
Not for /echo or heartbeats (test_echo.py, test_heartbeat.py)."""
import asyncio
import json
import socket
import time

import pytest
from websockets.exceptions import ConnectionClosed

from conftest import run_async
from integ_clients import (OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWS, connect,
                           expect_close_code, recv_json, scaled, welcome)


# --- welcome and client ids ----------------------------------------------------

@run_async()
async def test_welcome_is_first_frame_with_id_version_heartbeat(hub):
    async with connect(hub) as ws:
        doc = await welcome(ws)
        assert isinstance(doc["client"], str) and doc["client"], doc
        assert doc["version"] == "0.1.0", doc
        assert doc["heartbeat"] == 25 and isinstance(doc["heartbeat"], int), doc


@run_async()
async def test_welcome_heartbeat_reflects_flag(hubs):
    h = hubs("--heartbeat", "7")
    async with connect(h) as ws:
        assert (await welcome(ws))["heartbeat"] == 7


@run_async()
async def test_welcome_heartbeat_with_unit_suffix(hubs):
    h = hubs("--heartbeat", "2m")
    async with connect(h) as ws:
        assert (await welcome(ws))["heartbeat"] == 120


@run_async()
async def test_client_ids_are_unique_per_connection(hub):
    conns = [await connect(hub) for _ in range(20)]
    try:
        ids = [(await welcome(ws))["client"] for ws in conns]
    finally:
        await asyncio.gather(*(ws.close() for ws in conns))
    assert len(set(ids)) == len(ids), ids


@run_async()
async def test_client_id_is_not_reused_after_disconnect(hub):
    seen = set()
    for _ in range(5):
        async with connect(hub) as ws:
            cid = (await welcome(ws))["client"]
        assert cid not in seen
        seen.add(cid)


@pytest.mark.parametrize("cid", ["alice", "user-1.a:b_C", "x", "A" * 64, "0123456789"])
@run_async()
async def test_valid_x_client_id_is_used(hub, cid):
    async with connect(hub, extra_headers={"X-Client-Id": cid}) as ws:
        assert (await welcome(ws))["client"] == cid


@pytest.mark.parametrize("cid", ["A" * 65, "has space", "semi;colon", "slash/x", "quote\"x", "caf\u00e9"])
def test_invalid_x_client_id_is_replaced_by_generated_id(hub, cid):
    # Raw socket: websockets refuses to send some of these header values.
    with RawWS(hub.port) as ws:
        ws.handshake("/ws", [("X-Client-Id", cid)])
        doc = ws.recv_json()
        assert doc["type"] == "welcome"
        assert doc["client"] and doc["client"] != cid, doc
        assert cid not in doc["client"], doc


# --- ping / pong ---------------------------------------------------------------

@run_async()
async def test_ping_with_integer_id_gets_pong_with_id_and_ts(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        before = time.time() * 1000
        await ws.send(json.dumps({"type": "ping", "id": 7}))
        doc = await recv_json(ws)
        after = time.time() * 1000
        assert doc["type"] == "pong" and doc["id"] == 7, doc
        assert isinstance(doc["id"], int)
        assert isinstance(doc["ts"], int), doc
        assert before - 2000 <= doc["ts"] <= after + 2000, (before, doc, after)


@run_async()
async def test_ping_with_string_id_echoes_string(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(json.dumps({"type": "ping", "id": "req-\u00e9-1"}))
        doc = await recv_json(ws)
        assert doc == {"type": "pong", "id": "req-\u00e9-1", "ts": doc["ts"]}, doc


@run_async()
async def test_ping_with_large_integer_id_is_echoed_exactly(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send('{"type":"ping","id":9007199254740993}')
        raw = await asyncio.wait_for(ws.recv(), scaled(5))
        assert json.loads(raw)["id"] == 9007199254740993, raw


@run_async()
async def test_ping_without_id_gets_pong(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send('{"type":"ping"}')
        doc = await recv_json(ws)
        assert doc["type"] == "pong" and isinstance(doc["ts"], int), doc
        assert doc.get("id") is None, doc


@run_async()
async def test_ping_with_whitespace_and_extra_fields_gets_pong(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(' {\n "extra": {"a": [1, 2]},\t"type" : "ping", "id" : 3 } ')
        doc = await recv_json(ws)
        assert doc["type"] == "pong" and doc["id"] == 3, doc


@run_async()
async def test_many_pings_are_answered_in_order(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        for i in range(200):
            await ws.send(json.dumps({"type": "ping", "id": i}))
        ids = [(await recv_json(ws))["id"] for _ in range(200)]
        assert ids == list(range(200))


@run_async()
async def test_fragmented_ping_is_reassembled(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(['{"type":', '"ping",', '"id":', '"frag"}'])
        doc = await recv_json(ws)
        assert doc["type"] == "pong" and doc["id"] == "frag", doc


def test_utf8_split_across_fragments_is_accepted(hub):
    payload = json.dumps({"type": "ping", "id": "\u00e9\u20ac\U0001F600"}, ensure_ascii=False).encode()
    cut = payload.index("\u20ac".encode()) + 1  # inside the 3-byte euro sign
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, payload[:cut], fin=False)
        ws.send_frame(OP_CONT, payload[cut:], fin=True)
        doc = ws.recv_json()
        assert doc["type"] == "pong" and doc["id"] == "\u00e9\u20ac\U0001F600", doc


def test_control_ping_frame_gets_pong_with_same_payload(hub):
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_PING, b"are-you-there")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"are-you-there"), f


def test_control_ping_between_fragments_is_answered(hub):
    # RFC 6455 §5.4: control frames may be injected in the middle of a message.
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, b'{"type":"pi', fin=False)
        ws.send_frame(OP_PING, b"mid")
        ws.send_frame(OP_CONT, b'ng","id":1}', fin=True)
        frames = [ws.recv_frame(), ws.recv_frame()]
        ops = sorted(f.opcode for f in frames)
        assert ops == [OP_TEXT, OP_PONG], frames
        pong = [f for f in frames if f.opcode == OP_PONG][0]
        assert pong.payload == b"mid"
        text = [f for f in frames if f.opcode == OP_TEXT][0]
        assert text.json()["type"] == "pong"


# --- application errors keep the connection open -------------------------------

@pytest.mark.parametrize("text", ["not json", "{", '{"type":"ping",}', "{'type':'ping'}", ""])
@run_async()
async def test_invalid_json_is_bad_request_and_connection_stays_open(hub, text):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(text)
        doc = await recv_json(ws)
        assert doc["type"] == "error" and doc["code"] == "bad_request", doc
        assert isinstance(doc["message"], str) and doc["message"], doc
        await ws.send('{"type":"ping","id":"after"}')
        doc = await recv_json(ws)
        assert doc["type"] == "pong" and doc["id"] == "after", doc


@pytest.mark.parametrize("text", ["[1,2]", "42", '"ping"', "null"])
@run_async()
async def test_json_that_is_not_an_object_is_an_error_and_connection_stays_open(hub, text):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(text)
        doc = await recv_json(ws)
        assert doc["type"] == "error" and doc["code"] in ("bad_request", "unknown_type"), doc
        await ws.send('{"type":"ping","id":1}')
        assert (await recv_json(ws))["type"] == "pong"


@pytest.mark.parametrize("req_id", [9, "abc"])
@run_async()
async def test_unknown_type_is_error_with_id(hub, req_id):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(json.dumps({"type": "frobnicate", "id": req_id}))
        doc = await recv_json(ws)
        assert doc["type"] == "error" and doc["code"] == "unknown_type", doc
        assert doc["id"] == req_id, doc
        assert isinstance(doc["message"], str) and doc["message"], doc
        await ws.send('{"type":"ping","id":2}')
        assert (await recv_json(ws))["id"] == 2


@pytest.mark.parametrize("obj", [{"id": 3}, {"type": 5, "id": 3}, {"type": None, "id": 3}, {"type": "PING", "id": 3}])
@run_async()
async def test_object_without_known_type_is_unknown_type(hub, obj):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(json.dumps(obj))
        doc = await recv_json(ws)
        assert doc["type"] == "error" and doc["code"] in ("unknown_type", "bad_request"), doc
        if doc["code"] == "unknown_type":
            assert doc["id"] == 3, doc
        await ws.send('{"type":"ping","id":4}')
        assert (await recv_json(ws))["id"] == 4


@run_async()
async def test_unknown_type_without_id_has_no_id(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send('{"type":"nope"}')
        doc = await recv_json(ws)
        assert doc["code"] == "unknown_type" and doc.get("id") is None, doc


@run_async()
async def test_error_replies_are_valid_json_even_for_hostile_input(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send('{"type":"\\"},\\u0000<script>","id":"\\"\\\\x"}')
        doc = await recv_json(ws)  # must parse
        assert doc["type"] == "error" and doc["id"] == '"\\x', doc


# --- close codes ---------------------------------------------------------------

@run_async()
async def test_binary_message_on_ws_closes_1003(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        await ws.send(b"\x00\x01\x02")
        assert await expect_close_code(ws) == 1003


@run_async()
async def test_message_over_max_message_closes_1009(hubs):
    h = hubs("--max-message", "1024")
    async with connect(h) as ws:
        await welcome(ws)
        await ws.send("x" * 1025)
        assert await expect_close_code(ws) == 1009


@run_async()
async def test_message_of_exactly_max_message_is_accepted(hubs):
    h = hubs("--max-message", "1024")
    async with connect(h) as ws:
        await welcome(ws)
        msg = '{"type":"ping","id":1,"pad":"%s"}' % ("p" * 1024)
        msg = msg[:1024 - 2] + '"}'
        assert len(msg.encode()) == 1024
        await ws.send(msg)
        doc = await recv_json(ws)
        assert doc["type"] == "pong", doc


@run_async()
async def test_max_message_accepts_size_suffix(hubs):
    h = hubs("--max-message", "2KiB")
    async with connect(h) as ws:
        await welcome(ws)
        await ws.send(json.dumps({"type": "ping", "id": 1, "pad": "p" * 1900}))
        assert (await recv_json(ws))["type"] == "pong"
        await ws.send("y" * 2049)
        assert await expect_close_code(ws) == 1009


@run_async()
async def test_max_message_from_environment(hubs):
    h = hubs(env={"WSHUB_MAX_MESSAGE": "512"})
    async with connect(h) as ws:
        await welcome(ws)
        await ws.send("z" * 513)
        assert await expect_close_code(ws) == 1009


@run_async()
async def test_fragmented_message_over_max_message_closes_1009(hubs):
    h = hubs("--max-message", "1024")
    async with connect(h) as ws:
        await welcome(ws)
        # Each fragment is small; only the reassembled total is too big.
        try:
            await ws.send(["a" * 300 for _ in range(10)])
        except ConnectionClosed:
            pass  # the hub may close before the last fragment is written
        assert await expect_close_code(ws) == 1009


@run_async()
async def test_default_max_message_is_1mib(hub):
    async with connect(hub) as ws:
        await welcome(ws)
        body = '{"type":"ping","id":1,"pad":"%s"}'
        pad = (1 << 20) - len(body % "")
        await ws.send(body % ("q" * pad))
        assert (await recv_json(ws, timeout=10))["type"] == "pong"
        await ws.send("r" * ((1 << 20) + 1))
        assert await expect_close_code(ws) == 1009


def test_invalid_utf8_text_closes_1007(hub):
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, b'{"type":"ping","id":"\xff\xfe"}')
        assert ws.expect_close() == 1007


def test_invalid_utf8_in_last_fragment_closes_1007(hub):
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, b'{"type":"ping","id":"\xc3', fin=False)
        ws.send_frame(OP_CONT, b'("}', fin=True)  # 0xC3 0x28 is not UTF-8
        assert ws.expect_close() == 1007


def test_overlong_utf8_encoding_closes_1007(hub):
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, b'{"type":"ping","id":"\xc0\xaf"}')  # overlong '/'
        assert ws.expect_close() == 1007


def test_utf16_surrogate_in_utf8_closes_1007(hub):
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, b'"\xed\xa0\x80"')  # U+D800 encoded, forbidden by RFC 3629
        assert ws.expect_close() == 1007


def test_unmasked_client_frame_closes_1002(hub):
    # RFC 6455 §5.1: the server MUST close on an unmasked client frame.
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, b'{"type":"ping"}', mask=False)
        assert ws.expect_close() == 1002


def test_client_close_is_echoed_then_tcp_closed(hub):
    with RawWS.open(hub.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        ws.send_close(1000, b"bye")
        f = ws.recv_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1000, f
        how, rest = ws.read_to_close()
        assert rest == b""


@run_async()
async def test_client_close_is_clean_for_websockets(hub):
    ws = await connect(hub)
    await welcome(ws)
    await ws.close(code=1000, reason="done")
    assert ws.close_code == 1000
    # The hub answered the close frame (websockets would report 1006 otherwise).
    assert ws.close_rcvd is not None and ws.close_rcvd.code == 1000


@run_async()
async def test_closing_one_connection_does_not_affect_another(hub):
    async with connect(hub) as a, connect(hub) as b:
        await welcome(a)
        await welcome(b)
        await a.send(b"binary")  # a is closed 1003
        assert await expect_close_code(a) == 1003
        await b.send('{"type":"ping","id":"b"}')
        assert (await recv_json(b))["id"] == "b"


def test_idle_websocket_is_not_subject_to_http_request_timeout(hubs):
    # --request-timeout governs HTTP requests; once upgraded, only the
    # heartbeat (25s here) may close an idle WebSocket.
    h = hubs("--request-timeout", "1s")
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        try:
            f = ws.recv_frame(timeout=2.5 / scaled(1))  # a window, not a guess: nothing may arrive
            raise AssertionError("hub sent %r to an idle WebSocket within 2.5s" % f)
        except socket.timeout:
            pass
        ws.send_text('{"type":"ping","id":"idle"}')
        assert ws.recv_json()["id"] == "idle"


@run_async(deadline=60)
async def test_two_hundred_concurrent_connections_each_get_their_pong(hub):
    conns = await asyncio.gather(*(connect(hub) for _ in range(200)))
    try:
        await asyncio.gather(*(welcome(ws) for ws in conns))
        for i, ws in enumerate(conns):
            await ws.send(json.dumps({"type": "ping", "id": i}))
        ids = await asyncio.gather(*(recv_json(ws) for ws in conns))
        assert [d["id"] for d in ids] == list(range(200))
    finally:
        await asyncio.gather(*(ws.close() for ws in conns))
