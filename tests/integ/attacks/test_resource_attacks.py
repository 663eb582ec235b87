"""Catalogue B36-B45 and fault F12: resource exhaustion (connections per
address and in total, running out of descriptors, slow readers, message and
command floods, idle sockets). Each asserts the exact status or close code
and that the hub still serves a fresh client afterwards."""
import json
import re
import resource
import socket
import time

from attack_support import RawConn, assert_serves, ws_open, scaled
from integ_clients import OP_TEXT, RawWS, Closed  # noqa: F401


def wait_until_the_address_is_served(hub):
    """Closes reach the hub asynchronously and nothing announces that one
    gave its place back: asks /health until it is answered (not 429), with
    a deadline."""
    deadline = time.monotonic() + scaled(5)
    while True:
        with RawConn(hub.port) as c:
            c.request("GET", "/health")
            if c.read_response().status == 200:
                return
        assert time.monotonic() < deadline, "per-address count never went down"
        time.sleep(0.05)  # between probes of the condition


def test_b36_connections_per_address_over_the_cap_get_429(hubs):
    hub = hubs("--max-conns-per-ip", "8", "--workers", "1")
    held = [RawWS.open(hub.port) for _ in range(8)]
    try:
        with RawConn(hub.port) as c:
            c.request("GET", "/health")
            resp = c.read_response()
            assert resp.status == 429, resp
            assert resp.json()["error"]["code"] == "rate_limited"
            assert resp.header("retry-after") == "1", resp
    finally:
        for ws in held:
            ws.close()
    # Closed connections give their places back.
    wait_until_the_address_is_served(hub)
    assert_serves(hub)


ACCEPT_RE = re.compile(r"accepted from 127\.0\.0\.1:(\d+) on worker (\d+)")


def test_b36_the_per_address_cap_is_one_budget_across_workers(hubs):
    """With two workers an address still gets max-conns-per-ip connections in
    all, not that many per worker: connections past the cap are refused on
    whichever worker the kernel hands them to (the debug log names it)."""
    hub = hubs("--max-conns-per-ip", "4", "--workers", "2", "--log-level", "debug")
    held = [RawWS.open(hub.port) for _ in range(4)]
    try:
        refused_on = set()
        for _ in range(32):
            with RawConn(hub.port) as c:
                port = c.sock.getsockname()[1]
                c.request("GET", "/health")
                resp = c.read_response()
                assert resp.status == 429, "connection past the cap on some worker got %d" % resp.status
            seen = dict((int(p), int(w)) for p, w in ACCEPT_RE.findall(hub.log()))
            assert port in seen, "no accept line for port %d" % port
            refused_on.add(seen[port])
            if refused_on == {0, 1}:
                break
        assert refused_on == {0, 1}, "the kernel put every refused connection on worker %s" % refused_on
    finally:
        for ws in held:
            ws.close()
    wait_until_the_address_is_served(hub)
    assert_serves(hub)


def test_b36_handshakes_per_second_per_address_get_429_with_retry_after(hubs):
    hub = hubs("--handshake-rate", "5", "--handshake-burst", "10", "--workers", "1")
    statuses = []
    for _ in range(15):
        with RawConn(hub.port) as c:
            c.request("GET", "/ws", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                     ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                     ("Sec-WebSocket-Version", "13")])
            resp = c.read_response(head=True)
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.header("retry-after")) >= 1, resp
    assert statuses.count(101) >= 10 and 429 in statuses, statuses
    # Plain HTTP is not a handshake: the API still answers.
    with RawConn(hub.port) as c:
        c.request("GET", "/health")
        assert c.read_response().status == 200
    time.sleep(1.2)  # the bucket refills at 5/s: the test waits for one token
    assert_serves(hub)


def test_b37_global_connection_cap_gets_503(hubs):
    hub = hubs("--max-conns", "6", "--workers", "1")
    held = [RawWS.open(hub.port) for _ in range(6)]
    try:
        with RawConn(hub.port) as c:
            c.request("GET", "/health")
            resp = c.read_response()
            assert resp.status == 503, resp
            assert resp.json()["error"]["code"] == "overloaded"
    finally:
        for ws in held:
            ws.close()
    deadline = time.monotonic() + scaled(5)
    while True:
        with RawConn(hub.port) as c:
            c.request("GET", "/health")
            if c.read_response().status == 200:
                break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert_serves(hub)


def test_f12_b37_out_of_descriptors_pauses_accept_without_spinning(hubs):
    hub = hubs("--workers", "1")
    base = len(__import__("os").listdir("/proc/%d/fd" % hub.proc.pid))
    # Lower the running hub's descriptor limit below what the test opens, so
    # accept() itself fails with EMFILE (the cap was computed at start).
    soft, hard = resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE, (base + 8, hard))
    socks = []
    try:
        for _ in range(24):
            s = socket.create_connection(("127.0.0.1", hub.port), timeout=scaled(2))
            socks.append(s)
        time.sleep(1.0)  # let the hub meet EMFILE for a while; the log shows what it did
        log = hub.log()
        pauses = log.count("pausing accepts")
        assert pauses >= 1, log[-3000:]
        # Backing off (50 ms doubling to 1 s) gives a handful of pauses per
        # second; a spinning accept loop would log thousands.
        assert pauses < 40, pauses
    finally:
        for s in socks:
            s.close()
    resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    deadline = time.monotonic() + scaled(10)
    while "accepting again" not in hub.log():
        with RawConn(hub.port) as c:
            c.request("GET", "/health")
            try:
                c.read_response(timeout=2)
            except (Closed, OSError):
                pass
        assert time.monotonic() < deadline, hub.log()[-3000:]
    assert_serves(hub)


def test_b38_slow_reader_gets_4008(hubs):
    hub = hubs("--max-queue", "64KiB", "--workers", "1")
    sub = RawWS.open(hub.port, rcvbuf=4096)  # a small window: the kernel absorbs little for it
    pub = ws_open(hub)
    try:
        assert sub.recv_json()["type"] == "welcome"
        sub.send_text(json.dumps({"type": "subscribe", "channel": "b38", "id": 1}))
        assert sub.recv_json()["type"] == "subscribed"
        payload = json.dumps({"type": "publish", "channel": "b38", "data": "x" * 16000})
        for _ in range(600):  # ~10 MB, well past the kernel's buffers and the 64 KiB cap
            pub.send_text(payload)
            assert pub.recv_json()["type"] == "published"
            if "closing code=4008" in hub.log():
                break
        assert "closing code=4008" in hub.log(), "the hub kept queueing for a reader that never reads"
        # Reading now drains what the kernel holds, then the 4008 close frame
        # (or EOF, when the hub gave up on flushing it to a reader this slow).
        code = None
        try:
            code = sub.expect_close(timeout=20)
        except Closed:
            pass
        assert code in (4008, None), code
    finally:
        sub.close()
        pub.close()
    assert_serves(hub)


def test_b39_history_replies_are_bounded(hubs):
    hub = hubs()
    ws = ws_open(hub)
    try:
        for i in range(5):
            ws.send_text(json.dumps({"type": "publish", "channel": "b39", "data": i}))
            assert ws.recv_json()["type"] == "published"
        ws.send_text(json.dumps({"type": "history", "channel": "b39", "since": 0, "limit": 10 ** 9, "id": 9}))
        doc = ws.recv_json()
        assert (doc["type"] == "error" and doc["code"] == "bad_request") or \
            (doc["type"] == "history" and len(doc["messages"]) == 5), doc
    finally:
        ws.close()
    with RawConn(hub.port) as c:
        c.request("GET", "/api/channels/b39/history?since=0&limit=1000000000")
        resp = c.read_response()
        assert resp.status in (200, 400), resp
        if resp.status == 200:
            assert len(resp.json()["messages"]) == 5
    assert_serves(hub)


def test_b41_message_flood_gets_rate_limited_then_4029(hubs):
    hub = hubs("--msg-rate", "100", "--msg-burst", "200")
    ws = ws_open(hub)
    try:
        ping = RawWS.encode(OP_TEXT, '{"type":"ping"}')
        ws.send(ping * 400)
        pongs = errors = 0
        while pongs + errors < 400:
            doc = ws.recv_json()
            if doc["type"] == "pong":
                pongs += 1
            else:
                assert doc["type"] == "error" and doc["code"] == "rate_limited", doc
                errors += 1
        assert 200 <= pongs < 260 and errors > 0, (pongs, errors)
        # Keeping it up over the next seconds is a sustained breach: 4029.
        code = None
        deadline = time.monotonic() + scaled(6)
        while code is None and time.monotonic() < deadline:
            try:
                ws.send(ping * 300)
            except OSError:
                break
            end = time.monotonic() + 0.5
            try:
                while time.monotonic() < end:
                    f = ws.recv_frame(timeout=0.5)
                    if f.opcode == 0x8:
                        code = f.close_code
                        break
            except (socket.timeout, TimeoutError):
                pass
        if code is None:
            code = ws.expect_close()
        assert code == 4029, code
    finally:
        ws.close()
    assert_serves(hub)


def test_b41_a_steady_client_within_the_rate_is_never_limited(hubs):
    hub = hubs("--msg-rate", "100", "--msg-burst", "200")
    ws = ws_open(hub)
    try:
        for i in range(150):
            ws.send_text(json.dumps({"type": "ping", "id": i}))
            doc = ws.recv_json()
            assert doc["type"] == "pong", doc
    finally:
        ws.close()
    assert_serves(hub)


def test_b42_pong_and_close_echo_exactly_what_was_sent(hubs):
    hub = hubs()
    ws = ws_open(hub)
    try:
        payload = bytes(range(125))
        ws.send_frame(0x9, payload)
        f = ws.recv_frame()
        assert f.opcode == 0xA and f.payload == payload, f
        ws.send_close(4000, b"")
        f = ws.recv_frame()
        assert f.opcode == 0x8 and f.payload == b"\x0f\xa0", f  # the code, no stray reason bytes
    finally:
        ws.close()
    assert_serves(hub)


def test_b44_silent_websocket_is_closed_by_the_heartbeat(hubs):
    hub = hubs("--heartbeat", "1s")
    ws = ws_open(hub)
    try:
        assert ws.expect_close(timeout=10) == 1001
    finally:
        ws.close()
    with RawConn(hub.port, timeout=10) as c:  # an idle HTTP socket goes too
        how, data = c.read_to_close(timeout=15)
        assert how in ("eof", "reset") and data == b""
    assert_serves(hub)


def test_b45_one_flooding_connection_does_not_starve_the_others(hubs):
    import threading
    hub = hubs("--workers", "1")
    flooder = ws_open(hub)
    stop = threading.Event()
    # `ack` frames get no answer, so the flooder's own queue never fills:
    # the only brake is how the hub shares its one loop.
    burst = b"".join(RawWS.encode(OP_TEXT, json.dumps({"type": "ack", "channel": "b45", "offset": i}))
                     for i in range(2000))
    sent = [0]

    def flood():
        try:
            while not stop.is_set():
                flooder.send(burst)
                sent[0] += len(burst)
        except OSError:
            pass

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        probe = ws_open(hub)
        for i in range(20):
            probe.send_text(json.dumps({"type": "ping", "id": i}))
            assert probe.recv_json(timeout=5)["id"] == i
        probe.close()
        assert t.is_alive(), "the flood ended before the probe finished"
    finally:
        stop.set()
        t.join(timeout=10)
        flooder.close()
    assert sent[0] > len(burst)
    assert_serves(hub)
