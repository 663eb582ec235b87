"""Slow consumers: a client that keeps sending to /echo but never reads makes
its unsent output exceed --max-queue; the hub must close that connection (4008)
instead of buffering without bound, and keep serving everyone else. Not for
fast-path echo correctness (test_echo.py)."""
import asyncio
import os
import select
import socket
import time

import websockets

from conftest import run_async
from integ_clients import OP_BINARY, OP_CLOSE, Closed, RawWS, connect, scaled

MSG = 32 * 1024
# The flood is bounded by time, not bytes: after deciding on 4008 the hub may
# keep reading (and discarding) until its close-handshake timeout, which on
# loopback can swallow gigabytes.
FLOOD_SECONDS = 15
UNBOUNDED = 1 << 50


def flood_until_closed(ws, budget_bytes, deadline):
    """Sends 32 KiB binary messages without reading until the hub stops taking
    them. Returns (bytes_sent, how) where how says why sending stopped."""
    frame = RawWS.encode(OP_BINARY, os.urandom(MSG))
    sent = 0
    ws.sock.setblocking(False)
    view = memoryview(b"")
    while sent < budget_bytes:
        if time.monotonic() > deadline:
            return sent, "deadline"
        if not view:
            view = memoryview(frame)
        try:
            n = ws.sock.send(view)
        except BlockingIOError:
            # Our send buffer is full: wait for room (an event), with a short
            # bound so the deadline is honoured.
            _, w, x = select.select([], [ws.sock], [ws.sock], 0.2)
            if not w and not x:
                # No room for 0.2s: the hub stopped reading from us. That is
                # fine only if it closed the connection; keep checking.
                if peer_closed(ws):
                    return sent, "closed"
            continue
        except (BrokenPipeError, ConnectionResetError):
            return sent, "reset"
        sent += n
        view = view[n:]
    return sent, "budget"


def peer_closed(ws):
    """True when the hub has closed or reset its side (a FIN or RST arrived),
    found without reading, so the client still never consumes its echoes."""
    p = select.poll()
    p.register(ws.sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return bool(p.poll(0))


def test_client_that_never_reads_is_closed_4008_and_others_are_served(hubs):
    h = hubs("--echo", "--max-queue", "65536")
    # A small receive buffer keeps the kernel from absorbing megabytes of echoes
    # on the hub's behalf, so the hub's own queue fills sooner.
    slow = RawWS.open(h.port, "/echo", rcvbuf=4096)
    try:
        deadline = time.monotonic() + scaled(FLOOD_SECONDS)
        sent, how = flood_until_closed(slow, UNBOUNDED, deadline)
        assert how in ("closed", "reset"), (
            "hub kept accepting from a client that never reads: sent %d MiB, stopped by %s"
            % (sent >> 20, how))
        # Afterwards, reading yields the 4008 close frame or a reset/EOF.
        slow.sock.setblocking(True)
        code = None
        try:
            while True:
                f = slow.recv_frame(timeout=10)
                if f.opcode == OP_CLOSE:
                    code = f.close_code
                    break
        except Closed:
            pass
        except socket.timeout:
            raise AssertionError("slow consumer connection neither closed nor reset")
        assert code in (None, 4008), "slow consumer closed with %s, want 4008" % code
    finally:
        slow.close()
    # Another client is still served normally.
    with RawWS.open(h.port, "/echo") as ok:
        ok.send_frame(OP_BINARY, b"still-alive")
        f = ok.recv_frame()
        assert f.payload == b"still-alive"


@run_async(deadline=60)
async def test_slow_consumer_does_not_stall_a_concurrent_client(hubs):
    h = hubs("--echo", "--max-queue", "65536")
    loop = asyncio.get_running_loop()
    slow = RawWS.open(h.port, "/echo", rcvbuf=4096)
    try:
        flood = loop.run_in_executor(None, flood_until_closed, slow, UNBOUNDED,
                                     time.monotonic() + scaled(FLOOD_SECONDS))
        async with connect(h, "/echo") as ws:
            # While the flood runs, a well-behaved client keeps getting echoes.
            for i in range(50):
                await ws.send("fast-%d" % i)
                assert await asyncio.wait_for(ws.recv(), scaled(5)) == "fast-%d" % i
        sent, how = await flood
        assert how in ("closed", "reset"), "flood stopped by %s after %d MiB" % (how, sent >> 20)
    finally:
        slow.close()


@run_async()
async def test_websockets_client_that_stops_reading_is_disconnected(hubs):
    """The same through the websockets library: pause the transport so the
    library stops reading, keep sending, and expect the hub to drop us."""
    h = hubs("--echo", "--max-queue", "65536")
    ws = await websockets.connect(h.url + "/echo", ping_interval=None, compression=None,
                                  max_size=None, write_limit=1 << 16)
    try:
        ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws.transport.pause_reading()
        payload = os.urandom(MSG)
        closed = False
        end = time.monotonic() + scaled(FLOOD_SECONDS)
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(ws.send(payload), scaled(5))
            except (websockets.ConnectionClosed, ConnectionResetError, BrokenPipeError):
                closed = True
                break
            except asyncio.TimeoutError:
                # The hub stopped reading; it must also have closed us. Resume
                # reading to find out.
                ws.transport.resume_reading()
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), scaled(10))
                except websockets.ConnectionClosed as e:
                    closed = True
                    assert e.rcvd is None or e.rcvd.code == 4008, e
                break
        assert closed, "hub never closed a websockets client that stopped reading"
    finally:
        ws.transport.abort()
