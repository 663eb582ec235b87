"""Heartbeats with --heartbeat 1: the hub pings every interval and closes a
connection from which nothing arrived for two intervals; anything that arrives
(a pong, or any frame) keeps it open. Not for application-level JSON pings
(test_ws_proto.py)."""
import asyncio
import json
import socket
import time

import websockets
from websockets.legacy.client import WebSocketClientProtocol

from conftest import run_async
from integ_clients import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Closed, RawWS, connect, recv_json, scaled, welcome

INTERVAL = 1.0


def test_hub_pings_every_interval_and_answered_pings_keep_connection(hubs):
    h = hubs("--heartbeat", "1")
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["heartbeat"] == 1
        stamps = []
        deadline = time.monotonic() + scaled(6)
        while len(stamps) < 3:
            f = ws.recv_frame(deadline=deadline)
            assert f.opcode != OP_CLOSE, "closed although every ping was answered: %r" % f
            if f.opcode == OP_PING:
                stamps.append(time.monotonic())
                ws.send_frame(OP_PONG, f.payload)  # RFC 6455 §5.5.3: echo the ping's data
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        for g in gaps:
            assert 0.5 <= g <= INTERVAL * 2 + scaled(0.5), "ping gaps %r with --heartbeat 1" % gaps
        # Three intervals have passed: the connection is still served.
        ws.send_text('{"type":"ping","id":"alive"}')
        while True:
            f = ws.recv_frame()
            if f.opcode == OP_PING:
                ws.send_frame(OP_PONG, f.payload)
                continue
            assert f.opcode == OP_TEXT, f
            assert f.json()["id"] == "alive"
            break


def test_silent_client_is_closed_after_two_intervals(hubs):
    h = hubs("--heartbeat", "1")
    with RawWS(h.port) as ws:
        # The handshake is the last thing we send; the hub may be slow to answer
        # it (valgrind), so silence is counted from the moment we sent it.
        last_sent = time.monotonic()
        ws.handshake("/ws")
        assert ws.recv_json()["type"] == "welcome"
        pings = 0
        how = None
        deadline = time.monotonic() + scaled(3 * INTERVAL + 2)
        try:
            while True:
                f = ws.recv_frame(deadline=deadline)
                if f.opcode == OP_PING:
                    pings += 1  # never answered
                    continue
                assert f.opcode == OP_CLOSE, f
                how = "close %d" % f.close_code
                break
        except Closed as e:
            how = e.how
        except socket.timeout:
            raise AssertionError("silent client still open %.1fs after its last byte (%d pings seen)"
                                 % (time.monotonic() - last_sent, pings))
        elapsed = time.monotonic() - last_sent
        assert elapsed >= 2 * INTERVAL - 0.3, "closed (%s) after only %.2fs" % (how, elapsed)
        assert pings >= 1, "closed (%s) without ever pinging" % how
    # The hub still serves new connections.
    with RawWS.open(h.port) as ws2:
        assert ws2.recv_json()["type"] == "welcome"


def test_client_sending_data_but_ignoring_pings_stays_open(hubs):
    h = hubs("--heartbeat", "1")
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        start = time.monotonic()
        n = 0
        # Send an application ping whenever the hub has been quiet for 0.4s;
        # never answer the hub's control pings. Run for three intervals.
        while time.monotonic() - start < 3 * INTERVAL + 0.2:
            try:
                f = ws.recv_frame(timeout=0.4 / (scaled(1)))
            except socket.timeout:
                ws.send_text(json.dumps({"type": "ping", "id": n}))
                n += 1
                continue
            assert f.opcode != OP_CLOSE, "closed after %.2fs although data kept arriving" % (
                time.monotonic() - start)
        ws.send_text('{"type":"ping","id":"end"}')
        while True:
            f = ws.recv_frame()
            assert f.opcode != OP_CLOSE, f
            if f.opcode == OP_TEXT and f.json()["id"] == "end":
                break


class CountingProtocol(WebSocketClientProtocol):
    """Counts the hub's pings as the library answers them."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.pings_seen = 0
        self.ping_event = asyncio.Event()

    async def pong(self, data=b""):
        self.pings_seen += 1
        self.ping_event.set()
        await super().pong(data)


@run_async()
async def test_websockets_client_answers_pings_and_stays_connected(hubs):
    h = hubs("--heartbeat", "1")
    async with connect(h, create_protocol=CountingProtocol) as ws:
        assert (await welcome(ws))["heartbeat"] == 1
        while ws.pings_seen < 3:
            ws.ping_event.clear()
            await asyncio.wait_for(ws.ping_event.wait(), scaled(INTERVAL * 2 + 1))
        await ws.send('{"type":"ping","id":1}')
        assert (await recv_json(ws))["type"] == "pong"


@run_async()
async def test_echo_connections_are_pinged_too(hubs):
    h = hubs("--heartbeat", "1", "--echo")
    async with websockets.connect(h.url + "/echo", ping_interval=None, compression=None,
                                  create_protocol=CountingProtocol) as ws:
        await asyncio.wait_for(ws.ping_event.wait(), scaled(INTERVAL * 2 + 1))
        await ws.send("x")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "x"
