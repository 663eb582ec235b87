"""/echo (hub started with --echo): text and binary come back unchanged, at
every frame-length boundary, fragmented, up to 1 MiB, from many clients at once.
Not for /ws semantics (test_ws_proto.py)."""
import asyncio
import os

import websockets

from conftest import run_async
from integ_clients import OP_BINARY, OP_CONT, OP_TEXT, RawWS, connect, expect_close_code, scaled


async def roundtrip(ws, msg, timeout=10):
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), scaled(timeout))
    assert type(got) is type(msg), "sent %s, got %s" % (type(msg).__name__, type(got).__name__)
    assert got == msg, "echo differs (len sent %d, got %d)" % (len(msg), len(got))


@run_async()
async def test_echo_has_no_welcome_and_echoes_text(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        await roundtrip(ws, "hello, echo")


@run_async()
async def test_echo_text_is_not_interpreted_as_json(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        await roundtrip(ws, '{"type":"ping","id":1}')
        await roundtrip(ws, "not json at all {")


@run_async()
async def test_echo_binary_unchanged(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        await roundtrip(ws, bytes(range(256)) * 4)


@run_async()
async def test_echo_empty_text_and_binary(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        await roundtrip(ws, "")
        await roundtrip(ws, b"")


@run_async()
async def test_echo_at_frame_length_boundaries(echo_hub):
    # RFC 6455 §5.2: 7-bit, 16-bit and 64-bit payload lengths switch at 126 and 65536.
    async with connect(echo_hub, "/echo") as ws:
        for n in (1, 125, 126, 127, 65535, 65536, 65537):
            await roundtrip(ws, os.urandom(n))
            await roundtrip(ws, "t" * n)


@run_async()
async def test_echo_unicode_text(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        await roundtrip(ws, "\u00e9\u20ac\U0001F600 \u4e2d\u6587 \u0000 tail")


@run_async(deadline=60)
async def test_echo_1mib_binary_and_text(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        await roundtrip(ws, os.urandom(1 << 20), timeout=30)
        await roundtrip(ws, "m" * (1 << 20), timeout=30)


@run_async()
async def test_echo_over_max_message_closes_1009(hubs):
    h = hubs("--echo", "--max-message", "64KiB")
    async with connect(h, "/echo") as ws:
        await roundtrip(ws, os.urandom(65536))
        await ws.send(os.urandom(65537))
        assert await expect_close_code(ws) == 1009


@run_async()
async def test_echo_fragmented_send_comes_back_whole(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        parts = ["alpha-", "beta-", "", "gamma"]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), scaled(5))
        assert got == "".join(parts)
        bparts = [os.urandom(1000) for _ in range(5)]
        await ws.send(bparts)
        got = await asyncio.wait_for(ws.recv(), scaled(5))
        assert got == b"".join(bparts)


def test_echo_raw_fragments_with_interleaved_ping(echo_hub):
    with RawWS.open(echo_hub.port, "/echo") as ws:
        ws.send_frame(OP_BINARY, b"\x01\x02", fin=False)
        ws.send_frame(0x9, b"p")
        ws.send_frame(OP_CONT, b"\x03", fin=False)
        ws.send_frame(OP_CONT, b"\x04", fin=True)
        frames = []
        payload = b""
        while True:
            f = ws.recv_frame()
            frames.append(f)
            if f.opcode == 0xA:
                assert f.payload == b"p"
                continue
            payload += f.payload
            if f.fin:
                break
        assert payload == b"\x01\x02\x03\x04", frames
        assert any(f.opcode == 0xA for f in frames) or ws.recv_frame().opcode == 0xA


def test_echo_invalid_utf8_closes_1007(echo_hub):
    with RawWS.open(echo_hub.port, "/echo") as ws:
        ws.send_frame(OP_TEXT, b"ok \xf8\x88\x80\x80\x80")
        assert ws.expect_close() == 1007


@run_async()
async def test_echo_many_messages_in_order(echo_hub):
    async with connect(echo_hub, "/echo") as ws:
        for i in range(500):
            await ws.send("m%d" % i)
        got = [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in range(500)]
        assert got == ["m%d" % i for i in range(500)]


@run_async()
async def test_echo_concurrent_clients_get_only_their_own_data(echo_hub):
    async def one(i):
        async with connect(echo_hub, "/echo") as ws:
            for j in range(20):
                msg = ("c%d-%d-" % (i, j)) * (1 + j * 50)
                await roundtrip(ws, msg)
    await asyncio.gather(*(one(i) for i in range(16)))


@run_async()
async def test_echo_websockets_default_settings_with_keepalive_pings(echo_hub):
    # The library's own keepalive (ping_interval) must be answered by the hub.
    async with websockets.connect(echo_hub.url + "/echo", ping_interval=0.2, ping_timeout=scaled(2)) as ws:
        pong = await ws.ping(b"lib")
        await asyncio.wait_for(pong, scaled(5))
        await roundtrip(ws, "still here")
