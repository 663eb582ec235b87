"""permessage-deflate (RFC 7692, docs/compression.md) against the real hub:
negotiation with python websockets 10.4's offers and raw handshakes, compressed
pub/sub side by side with plain subscribers, fragmented compressed messages
from a raw socket, the threshold (RSV1 on or off, seen on the wire), RSV1
violations, bombs and corrupt data. Not the offer parser's corner cases
(tests/unit/test_ws_deflate.c)."""
import asyncio
import json
import os
import zlib

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from conftest import run_async
from integ_clients import (OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, OP_BINARY, RawWS, connect, expect_close_code,
                           one_request, recv_json, scaled, welcome)

RESPONSE = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def client_deflate(data, final=False, wbits=15):
    """Compresses one message the way a client does (RFC 7692 §7.2.1)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + (c.flush(zlib.Z_FINISH) if final else c.flush(zlib.Z_SYNC_FLUSH))
    if not final:
        assert out.endswith(b"\x00\x00\xff\xff")
        out = out[:-4]
    return out


def server_inflate(payload):
    """Inflates a frame from the hub as a client would (§7.2.2)."""
    d = zlib.decompressobj(-15)
    return d.decompress(payload + b"\x00\x00\xff\xff")


def deflate_hub(hubs, *args):
    return hubs("--permessage-deflate", "--echo", *args)


def open_raw(hub, path="/echo", offer="permessage-deflate"):
    return RawWS.open(hub.port, path, headers=[("Sec-WebSocket-Extensions", offer)] if offer else [])


def body(f):
    """A frame's message bytes, inflated when RSV1 says it is compressed."""
    return server_inflate(f.payload) if f.rsv & 4 else f.payload


def recv_data(ws):
    """The next data frame, skipping pings."""
    while True:
        f = ws.recv_frame(timeout=10)
        if f.opcode not in (OP_PING,):
            return f


def metric(hub, name):
    body = one_request(hub.port, "GET", "/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric " + name)


# --- negotiation --------------------------------------------------------------

@run_async()
async def test_deflate_is_off_by_default_and_the_offer_declined(hub):
    async with connect(hub, compression="deflate") as ws:
        assert ws.response_headers.get("Sec-WebSocket-Extensions") is None
        assert ws.extensions == []
        await welcome(ws)
        await ws.send(json.dumps({"type": "ping", "id": 1}) + " " * 500)
        assert (await recv_json(ws))["type"] == "pong"
    # And RSV1 on a connection that did not negotiate it fails with 1002.
    with open_raw(hub, "/ws") as ws:
        assert ws.recv_frame().json()["type"] == "welcome"
        ws.send_frame(OP_TEXT, client_deflate(b'{"type":"ping"}'), rsv=4)
        assert ws.expect_close() == 1002


@run_async()
async def test_deflate_websockets_default_offer_is_accepted(hubs):
    hub = deflate_hub(hubs)
    async with connect(hub, compression="deflate") as ws:
        assert ws.response_headers["Sec-WebSocket-Extensions"] == RESPONSE
        assert [e.name for e in ws.extensions] == ["permessage-deflate"]
        doc = await welcome(ws)
        assert doc["type"] == "welcome"
        big = {"type": "publish", "channel": "d.ch", "data": {"text": "lorem ipsum " * 400}}
        await ws.send(json.dumps({"type": "subscribe", "channel": "d.ch"}))
        assert (await recv_json(ws))["type"] == "subscribed"
        await ws.send(json.dumps(big))
        got = [await recv_json(ws), await recv_json(ws)]
        msg = [g for g in got if g["type"] == "message"][0]
        assert msg["data"] == big["data"]


@pytest.mark.parametrize("kw", [
    dict(server_max_window_bits=10),
    dict(server_max_window_bits=9),
    dict(server_max_window_bits=8),
    dict(client_max_window_bits=9),
    dict(client_max_window_bits=15, server_max_window_bits=15),
    dict(server_no_context_takeover=True),
    dict(client_no_context_takeover=True),
    dict(server_no_context_takeover=True, client_no_context_takeover=True, server_max_window_bits=12,
         client_max_window_bits=11),
])
@run_async()
async def test_deflate_offer_variants_echo_byte_exact(hubs, kw):
    hub = deflate_hub(hubs)
    factory = ClientPerMessageDeflateFactory(**kw)
    async with connect(hub, "/echo", compression=None, extensions=[factory]) as ws:
        resp = ws.response_headers["Sec-WebSocket-Extensions"]
        assert resp.startswith(RESPONSE), resp
        if "server_max_window_bits" in kw:
            assert resp.endswith("server_max_window_bits=%d" % kw["server_max_window_bits"]), resp
        text = "".join(chr(0x20 + (i * 7 + i // 31) % 90) for i in range(3000))
        for msg in ["", "x", "short", text, text * 40, os.urandom(5000), bytes(70000), "\u00e9\u20ac" * 5000]:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), scaled(10))
            assert got == msg


def test_deflate_unacceptable_offer_is_declined_not_refused(hubs):
    hub = deflate_hub(hubs)
    for offer in ["permessage-deflate; foo", "permessage-deflate; server_max_window_bits=16",
                  "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                  "x-webkit-deflate-frame"]:
        with open_raw(hub, "/echo", offer) as ws:
            pass
    # The handshake itself: 101 without the extension header.
    with RawWS(hub.port) as ws:
        resp = ws.handshake("/echo", [("Sec-WebSocket-Extensions", "permessage-deflate; foo")])
        assert resp.header("sec-websocket-extensions") is None
        ws.send_frame(OP_TEXT, client_deflate(b"hello"), rsv=4)
        assert ws.expect_close() == 1002


def test_deflate_first_acceptable_of_several_offers_and_headers(hubs):
    hub = deflate_hub(hubs)
    with RawWS(hub.port) as ws:
        resp = ws.handshake("/echo", [("Sec-WebSocket-Extensions", "x-foo, permessage-deflate; bogus"),
                                      ("Sec-WebSocket-Extensions",
                                       'permessage-deflate; server_max_window_bits="11"; client_max_window_bits')])
        assert resp.header("sec-websocket-extensions") == RESPONSE + "; server_max_window_bits=11"


def test_deflate_malformed_extension_header_gets_400_when_on(hubs):
    on = deflate_hub(hubs)
    off = hubs("--echo")
    bad = 'permessage-deflate; a="unclosed'
    with RawWS(on.port) as ws:
        ws.request("GET", "/echo", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                    ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Extensions", bad)])
        assert ws.read_response().status == 400
    # With the option off the header is not read at all (as before).
    with open_raw(off, "/echo", bad):
        pass


# --- data -------------------------------------------------------------------

def test_deflate_threshold_decides_rsv1_on_the_wire(hubs):
    hub = deflate_hub(hubs)
    with open_raw(hub) as ws:
        small = b"a" * 100
        ws.send_frame(OP_TEXT, small)
        f = recv_data(ws)
        assert f.rsv == 0 and f.payload == small  # under 128: plain
        big = b'{"k":"' + b"abcdefgh" * 200 + b'"}'
        ws.send_frame(OP_TEXT, big)
        f = recv_data(ws)
        assert f.rsv == 4 and f.opcode == OP_TEXT and f.fin
        assert len(f.payload) < len(big) // 10
        assert server_inflate(f.payload) == big
        # Incompressible data goes out plain even over the threshold.
        rnd = os.urandom(4000)
        ws.send_frame(OP_BINARY, rnd)
        f = recv_data(ws)
        assert f.rsv == 0 and f.payload == rnd
    hub0 = deflate_hub(hubs, "--deflate-threshold", "0")
    with open_raw(hub0) as ws:
        ws.send_frame(OP_TEXT, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        f = recv_data(ws)
        assert f.rsv == 4 and server_inflate(f.payload) == b"a" * 40
    # A connection that did not offer deflate never sees RSV1.
    with open_raw(hub, offer=None) as ws:
        ws.send_frame(OP_TEXT, big)
        f = recv_data(ws)
        assert f.rsv == 0 and f.payload == big


def test_deflate_compressed_frame_in_the_same_write_as_the_handshake(hubs):
    # The client's first frame arrives with the upgrade request: deflate must
    # be on before the hub reads it.
    hub = deflate_hub(hubs)
    text = b"pipelined " * 50
    with RawWS(hub.port) as ws:
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        head = ("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n" % key).encode()
        ws.send(head + RawWS.encode(OP_TEXT, client_deflate(text), rsv=4))
        resp = ws.read_response(head=True)
        assert resp.status == 101 and resp.header("sec-websocket-extensions") == RESPONSE, resp
        assert body(recv_data(ws)) == text


def test_deflate_fragmented_compressed_message_from_a_raw_client(hubs):
    hub = deflate_hub(hubs)
    text = ("fragmented and compressed \u00e9 " * 300).encode()
    for final in (False, True):
        comp = client_deflate(text, final=final)
        parts = [comp[:5], comp[5:40], comp[40:]]
        with open_raw(hub) as ws:
            # RFC 7692 §6.1: RSV1 on the first frame only.
            ws.send_frame(OP_TEXT, parts[0], fin=False, rsv=4)
            ws.send_frame(OP_CONT, parts[1], fin=False)
            ws.send_frame(OP_PING, b"in between")
            ws.send_frame(OP_CONT, parts[2], fin=True)
            f = recv_data(ws)
            assert f.opcode == 0xA and f.payload == b"in between"
            f = recv_data(ws)
            assert f.rsv == 4 and server_inflate(f.payload) == text
            # Then uncompressed and compressed messages alternate freely.
            ws.send_frame(OP_TEXT, b"plain " * 50)
            f = recv_data(ws)
            assert server_inflate(f.payload) == b"plain " * 50
            ws.send_frame(OP_BINARY, client_deflate(bytes(range(256)) * 8), rsv=4)
            f = recv_data(ws)
            assert f.opcode == OP_BINARY and server_inflate(f.payload) == bytes(range(256)) * 8
            # An empty compressed message (§7.2.3.6) is a single 0x00.
            ws.send_frame(OP_TEXT, b"\x00", rsv=4)
            f = recv_data(ws)
            assert f.rsv == 0 and f.payload == b""


@run_async()
async def test_deflate_and_plain_subscribers_get_byte_exact_messages(hubs):
    hub = hubs("--permessage-deflate")
    async with connect(hub, compression="deflate") as zsub, connect(hub) as psub, \
            connect(hub, compression="deflate") as pub:
        assert zsub.extensions and not psub.extensions
        for ws in (zsub, psub, pub):
            await welcome(ws)
        for ws in (zsub, psub):
            await ws.send(json.dumps({"type": "subscribe", "channel": "mix"}))
            assert (await recv_json(ws))["type"] == "subscribed"
        raw = RawWS.open(hub.port, "/ws?channels=mix", headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
        try:
            assert raw.recv_frame().json()["type"] == "welcome"
            assert raw.recv_frame().json()["type"] == "subscribed"
            payloads = [{"n": 1}, {"text": "x" * 200}, {"big": ["item %d" % i for i in range(30000)]},
                        {"u": "\u00e9\u4e2d" * 1000}]
            for i, data in enumerate(payloads):
                await pub.send(json.dumps({"type": "publish", "channel": "mix", "data": data, "id": i}))
                assert (await recv_json(pub, 10))["type"] == "published"
                a = await asyncio.wait_for(zsub.recv(), scaled(10))
                b = await asyncio.wait_for(psub.recv(), scaled(10))
                assert a == b, "deflate and plain subscribers differ"
                assert json.loads(a)["data"] == data
                f = raw.recv_frame(timeout=10)
                body = server_inflate(f.payload) if f.rsv else f.payload
                assert body.decode() == a
                assert bool(f.rsv) == (len(a.encode()) >= 128)
        finally:
            raw.close()
    assert metric(hub, "wshub_deflate_in_bytes_total") > metric(hub, "wshub_deflate_out_bytes_total") > 0
    assert metric(hub, "wshub_inflate_out_bytes_total") > metric(hub, "wshub_inflate_in_bytes_total") > 0


@run_async()
async def test_deflate_history_replay_and_several_workers(hubs):
    hub = hubs("--permessage-deflate", "--workers", "2")
    async with connect(hub, compression="deflate") as pub:
        await welcome(pub)
        for i in range(5):
            await pub.send(json.dumps({"type": "publish", "channel": "rep", "data": {"i": i, "pad": "p" * 300}}))
            assert (await recv_json(pub))["type"] == "published"
    subs = [connect(hub, compression="deflate") for _ in range(4)]
    conns = [await s.__aenter__() for s in subs]
    try:
        for ws in conns:
            await welcome(ws)
            await ws.send(json.dumps({"type": "subscribe", "channel": "rep", "history": 5}))
            assert (await recv_json(ws))["type"] == "subscribed"
            got = [(await recv_json(ws))["data"]["i"] for _ in range(5)]
            assert got == list(range(5))
    finally:
        for s, ws in zip(subs, conns):
            await s.__aexit__(None, None, None)


# --- faults -----------------------------------------------------------------

def test_deflate_rsv1_on_continuation_or_control_frames_gets_1002(hubs):
    hub = deflate_hub(hubs)
    comp = client_deflate(b"hello hello hello")
    with open_raw(hub) as ws:
        ws.send_frame(OP_TEXT, comp[:3], fin=False, rsv=4)
        ws.send_frame(OP_CONT, comp[3:], fin=True, rsv=4)
        assert ws.expect_close() == 1002
    with open_raw(hub) as ws:
        ws.send_frame(OP_PING, b"x", rsv=4)
        assert ws.expect_close() == 1002
    with open_raw(hub) as ws:
        ws.send_frame(OP_TEXT, comp, rsv=2)  # RSV2 is no extension's
        assert ws.expect_close() == 1002
    with open_raw(hub, offer=None) as ws:  # deflate on, but this client did not offer it
        ws.send_frame(OP_TEXT, comp, rsv=4)
        assert ws.expect_close() == 1002


def test_deflate_corrupt_data_gets_1007(hubs):
    hub = deflate_hub(hubs)
    for bad in [b"\x07\x00", b"\xff" * 20, b"\x00\x05\x00\x00\x00Hello"]:
        with open_raw(hub) as ws:
            ws.send_frame(OP_TEXT, bad, rsv=4)
            assert ws.expect_close() == 1007
    # Context takeover although the hub answered client_no_context_takeover:
    # the second message refers back into the first, which is not there.
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    m = b"repeat me please, repeat me please " * 3
    first = (c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    second = (c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    with open_raw(hub) as ws:
        ws.send_frame(OP_TEXT, first, rsv=4)
        assert body(recv_data(ws)) == m
        ws.send_frame(OP_TEXT, second, rsv=4)
        assert ws.expect_close() == 1007


def test_deflate_invalid_utf8_after_inflating_gets_1007(hubs):
    hub = deflate_hub(hubs)
    with open_raw(hub) as ws:
        ws.send_frame(OP_TEXT, client_deflate(b"valid then \xc3\x28 invalid"), rsv=4)
        assert ws.expect_close() == 1007
    # The same bytes as binary are fine.
    with open_raw(hub) as ws:
        ws.send_frame(OP_BINARY, client_deflate(b"valid then \xc3\x28 invalid"), rsv=4)
        assert recv_data(ws).opcode == OP_BINARY


def read_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_deflate_bomb_gets_1009_without_growing_the_hub(hubs):
    # Catalogue B33: 256 MiB of zeros in ~256 KiB, under a 1 MiB message cap.
    hub = deflate_hub(hubs, "--max-message", "1MiB")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [c.compress(chunk) for _ in range(256)]
    bomb = (b"".join(parts) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(bomb) < 512 * 1024
    before = read_hwm_kib(hub.proc.pid)
    for path in ("/echo", "/ws"):
        with open_raw(hub, path) as ws:
            if path == "/ws":
                assert ws.recv_frame().json()["type"] == "welcome"
            ws.send_frame(OP_TEXT, bomb, rsv=4)
            assert ws.expect_close(timeout=30) == 1009
    # Far less than the 256 MiB the bomb holds (sanitizer builds carry more
    # overhead, hence the loose bound).
    assert read_hwm_kib(hub.proc.pid) - before < 96 * 1024
    # Just under the cap inflates and echoes.
    ok = b"z" * ((1 << 20) - 10)
    with open_raw(hub) as ws:
        ws.send_frame(OP_TEXT, client_deflate(ok), rsv=4)
        assert server_inflate(recv_data(ws).payload) == ok
    # One byte over is 1009.
    with open_raw(hub) as ws:
        ws.send_frame(OP_TEXT, client_deflate(b"z" * ((1 << 20) + 1)), rsv=4)
        assert ws.expect_close() == 1009


def test_deflate_preauth_cap_applies_to_inflated_size(hubs):
    # Before auth a connection that needs a token may send at most 4.5 KiB;
    # a compressed message is judged by what it inflates to, not its ~60
    # bytes on the wire.
    hub = hubs("--permessage-deflate", "--token-secret", "s" * 40)
    with open_raw(hub, "/ws") as ws:
        ws.send_frame(OP_TEXT, client_deflate(b'{"type":"ping","pad":"' + b"x" * 8000 + b'"}'), rsv=4)
        assert ws.expect_close() == 1009
