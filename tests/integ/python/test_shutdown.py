"""Graceful shutdown: SIGTERM stops accepting, closes every WebSocket with 1001,
waits for the clients' close frames up to --drain-timeout, then exits 0; a
second SIGTERM or SIGINT during the drain exits at once. Not for per-test
teardown (conftest.py already checks that every hub exits 0)."""
import asyncio
import signal
import socket
import subprocess
import time

import pytest
import websockets

from conftest import run_async
from integ_clients import OP_CLOSE, OP_TEXT, Closed, RawConn, RawWS, connect, scaled, welcome


def wait_exit(h, timeout):
    try:
        return h.proc.wait(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        raise AssertionError("hub still running %.1fs after the signal:\n%s" % (scaled(timeout), h.log()))


def expect_1001(ws):
    code = ws.expect_close(timeout=5)
    assert code == 1001, "shutdown close code %s, want 1001" % code


def answer_close(ws):
    """Behave like a well-mannered client: echo the close, wait for the hub to
    close TCP (RFC 6455 §7.1.1: the server closes first), then close ours."""
    ws.send_close(1001)
    ws.read_to_close(timeout=5)
    ws.close()


def test_sigterm_with_no_clients_exits_0_promptly(hubs):
    h = hubs("--drain-timeout", "30s")
    h.expect_running = False
    start = time.monotonic()
    h.signal(signal.SIGTERM)
    assert wait_exit(h, 5) == 0, h.log()
    assert time.monotonic() - start < scaled(3), "idle hub waited for the drain timeout"


@run_async()
async def test_sigterm_closes_websockets_clients_with_1001_and_exits_0(hubs):
    h = hubs("--drain-timeout", "30s", "--echo")
    h.expect_running = False
    clients = [await connect(h) for _ in range(3)] + [await connect(h, "/echo")]
    for ws in clients[:3]:
        await welcome(ws)
    await clients[3].send("warm")
    assert await clients[3].recv() == "warm"
    start = time.monotonic()
    h.signal(signal.SIGTERM)
    for ws in clients:
        with pytest.raises(websockets.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), scaled(5))
        assert ei.value.rcvd is not None and ei.value.rcvd.code == 1001, ei.value
    # The library answered each close, so the hub need not wait for --drain-timeout.
    rc = await asyncio.get_running_loop().run_in_executor(None, wait_exit, h, 10)
    assert rc == 0, h.log()
    assert time.monotonic() - start < scaled(5), "hub waited for the drain timeout although every client answered"


def test_drain_waits_for_unresponsive_client_until_drain_timeout(hubs):
    h = hubs("--drain-timeout", "1s")
    h.expect_running = False
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        start = time.monotonic()
        h.signal(signal.SIGTERM)
        expect_1001(ws)  # and never answer it
        rc = wait_exit(h, 6)
        elapsed = time.monotonic() - start
        assert rc == 0, h.log()
        assert elapsed >= 0.8, "hub exited after %.2fs, before the 1s drain timeout" % elapsed


def test_drain_ends_when_raw_client_answers_close(hubs):
    h = hubs("--drain-timeout", "30s")
    h.expect_running = False
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        start = time.monotonic()
        h.signal(signal.SIGTERM)
        expect_1001(ws)
        answer_close(ws)
        assert wait_exit(h, 5) == 0, h.log()
        assert time.monotonic() - start < scaled(1.5), "hub waited for the drain timeout"


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_during_drain_exits_at_once(hubs, second):
    h = hubs("--drain-timeout", "60s")
    h.expect_running = False
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        h.signal(signal.SIGTERM)
        expect_1001(ws)  # the drain has begun; we never answer
        start = time.monotonic()
        h.signal(second)
        wait_exit(h, 3)  # any exit code
        assert time.monotonic() - start < scaled(3)


def test_sigint_starts_graceful_drain_too(hubs):
    h = hubs("--drain-timeout", "30s")
    h.expect_running = False
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["type"] == "welcome"
        start = time.monotonic()
        h.signal(signal.SIGINT)
        expect_1001(ws)
        answer_close(ws)
        assert wait_exit(h, 5) == 0, h.log()
        assert time.monotonic() - start < scaled(1.5), "hub waited for the drain timeout"


def test_hub_stops_accepting_during_drain(hubs):
    h = hubs("--drain-timeout", "60s")
    h.expect_running = False
    try:
        with RawWS.open(h.port) as ws:
            assert ws.recv_json()["type"] == "welcome"
            h.signal(signal.SIGTERM)
            expect_1001(ws)  # the hub is now draining and must not take new work
            try:
                with RawConn(h.port, timeout=3) as c:
                    c.request("GET", "/health")
                    try:
                        r = c.read_response(timeout=3)
                    except Closed:
                        r = None
                    except socket.timeout:
                        raise AssertionError("new connection during drain was accepted by the kernel "
                                             "but never answered (listener left open)")
                    assert r is None or r.status == 503, "hub served %r during drain" % r
            except ConnectionRefusedError:
                pass
    finally:
        if h.proc.poll() is None:
            h.signal(signal.SIGTERM)
            wait_exit(h, 3)


def test_open_http_keepalive_connection_does_not_block_exit(hubs):
    h = hubs("--drain-timeout", "30s")
    h.expect_running = False
    with RawConn(h.port) as c:
        c.request("GET", "/health")
        assert c.read_response().status == 200
        start = time.monotonic()
        h.signal(signal.SIGTERM)
        assert wait_exit(h, 5) == 0, h.log()
        assert time.monotonic() - start < scaled(3), "idle HTTP keep-alive held the drain"
        c.read_to_close(timeout=3)


def test_messages_sent_before_sigterm_are_delivered_before_1001(hubs):
    h = hubs("--drain-timeout", "30s", "--echo")
    h.expect_running = False
    with RawWS.open(h.port, "/echo") as ws:
        for i in range(100):
            ws.send_text("n%d" % i)
        got = []
        while len(got) < 1:  # the hub has started answering
            f = ws.recv_frame()
            got.append(f.payload)
        h.signal(signal.SIGTERM)
        while True:
            f = ws.recv_frame(timeout=5)
            if f.opcode == OP_CLOSE:
                assert f.close_code == 1001
                break
            assert f.opcode == OP_TEXT
            got.append(f.payload)
        # Everything the hub echoed came in order, with nothing after the close.
        assert got == [b"n%d" % i for i in range(len(got))]
        answer_close(ws)
        assert wait_exit(h, 5) == 0, h.log()
