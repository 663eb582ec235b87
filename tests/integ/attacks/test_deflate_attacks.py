"""Catalogue B10, B13, B33-B35 with permessage-deflate on (docs/compression.md):
offer abuse, RSV1 where RFC 7692 forbids it, decompression bombs, corrupt
streams and context-takeover memory, each on /ws with the catalogue's limits
(64 KiB messages). Each test asserts the exact status or close code and that
the hub still serves a fresh client afterwards."""
import json
import zlib

from attack_support import assert_serves, raw_request
from integ_clients import OP_CONT, OP_PING, OP_TEXT, RawWS, new_key

DEFLATE = ("--permessage-deflate", "--max-message", "64KiB")
OFFER = ("Sec-WebSocket-Extensions", "permessage-deflate")


def comp(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def open_deflate(hub):
    ws = RawWS.open(hub.port, "/ws", headers=[OFFER])
    assert ws.recv_json()["type"] == "welcome"
    return ws


def close_code(hub, *frames):
    ws = open_deflate(hub)
    try:
        for f in frames:
            ws.send(f)
        return ws.expect_close()
    finally:
        ws.close()


def test_b10_deflate_offer_abuse_is_declined_or_400(hubs):
    hub = hubs(*DEFLATE)
    base = ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Version: 13"]

    def upgrade(ext):
        lines = base + ["Sec-WebSocket-Key: " + new_key(), "Sec-WebSocket-Extensions: " + ext]
        return raw_request(hub.port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    # Unknown, repeated or invalid parameters: declined, the upgrade goes on.
    for ext in ["permessage-deflate; client_max_window_bits=99, x-foo",
                "permessage-deflate; server_max_window_bits=7",
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                "permessage-deflate; mystery=1"]:
        resp = upgrade(ext)
        assert resp.status == 101, (ext, resp)
        assert resp.header("sec-websocket-extensions") is None, (ext, resp)
    # websocket-extensions CVE-2020-7662/7663: an unclosed quoted string full
    # of escapes is refused in one pass (400), not backtracked over.
    resp = upgrade('permessage-deflate; a="' + "\\c" * 3000)
    assert resp.status == 400, resp
    assert_serves(hub)


def test_b13_rsv1_on_continuation_and_control_frames_gets_1002(hubs):
    hub = hubs(*DEFLATE)
    c = comp(b'{"type":"ping","pad":"' + b"p" * 500 + b'"}')
    assert close_code(hub, RawWS.encode(OP_TEXT, c[:10], fin=False, rsv=4),
                      RawWS.encode(OP_CONT, c[10:], rsv=4)) == 1002
    assert close_code(hub, RawWS.encode(OP_PING, b"", rsv=4)) == 1002
    assert close_code(hub, RawWS.encode(OP_TEXT, c, rsv=6)) == 1002
    assert_serves(hub)


def test_b33_decompression_bomb_gets_1009(hubs):
    hub = hubs(*DEFLATE)
    # 64 MiB of spaces inside a JSON string: ~64 KiB on the wire, 1000x the cap.
    inner = b'{"type":"ping","pad":"' + b" " * (64 << 20) + b'"}'
    bomb = comp(inner, 9)
    assert len(bomb) < 64 * 1024
    assert close_code(hub, RawWS.encode(OP_TEXT, bomb, rsv=4)) == 1009
    # The same in 200 fragments.
    step = len(bomb) // 200 + 1
    frames = [RawWS.encode(OP_TEXT if i == 0 else OP_CONT, bomb[i:i + step], fin=i + step >= len(bomb),
                           rsv=4 if i == 0 else 0) for i in range(0, len(bomb), step)]
    assert close_code(hub, b"".join(frames)) == 1009
    # A message that inflates to just under the cap is served.
    ws = open_deflate(hub)
    try:
        ok = json.dumps({"type": "ping", "id": 7, "pad": "q" * 60000}).encode()
        ws.send(RawWS.encode(OP_TEXT, comp(ok), rsv=4))
        f = ws.recv_frame()
        assert json.loads(f.payload)["type"] == "pong"
    finally:
        ws.close()
    assert_serves(hub)


def test_b33_corrupt_stream_gets_1007(hubs):
    hub = hubs(*DEFLATE)
    assert close_code(hub, RawWS.encode(OP_TEXT, b"\x07\x00\x00\x00", rsv=4)) == 1007
    assert close_code(hub, RawWS.encode(OP_TEXT, comp(b"x" * 100)[:-1] + b"\xff\xff\xff", rsv=4)) == 1007
    assert_serves(hub)


def test_b34_deflate_connections_hold_no_zlib_state(hubs):
    # 300 deflate connections that each had a message inflated, held open,
    # must cost about what 300 plain connections doing the same cost: not a
    # zlib inflater each (~39 KiB: 32 KiB window + state), which would be
    # 11 MiB more. Measured against plain connections so that sanitizer
    # builds' own overhead (shadow memory) cancels out; ASan's quarantine of
    # the freed 1 KiB output buffers still shows (~4 KiB each), hence a
    # 16 KiB-per-connection bound, well under an inflater's 39 KiB.
    hub = hubs(*DEFLATE)

    def rss_kib():
        with open("/proc/%d/status" % hub.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    text = json.dumps({"type": "ping", "pad": "r" * 1000}).encode()
    zmsg = RawWS.encode(OP_TEXT, comp(text), rsv=4)
    pmsg = RawWS.encode(OP_TEXT, text)

    def batch(n, deflate):
        conns = [open_deflate(hub) if deflate else RawWS.open(hub.port, "/ws") for _ in range(n)]
        if not deflate:
            for ws in conns:
                assert ws.recv_json()["type"] == "welcome"
        for ws in conns:
            ws.send(zmsg if deflate else pmsg)
        for ws in conns:
            assert json.loads(ws.recv_frame().payload)["type"] == "pong"
        return conns
    held = batch(20, False) + batch(20, True)  # warm both paths first
    r0 = rss_kib()
    held += batch(300, False)
    r1 = rss_kib()
    held += batch(300, True)
    r2 = rss_kib()
    for ws in held:
        ws.close()
    extra = (r2 - r1) - (r1 - r0)
    assert extra < 300 * 16, "300 deflate connections cost %d KiB more than 300 plain ones (%d vs %d)" % (
        extra, r2 - r1, r1 - r0)
    assert_serves(hub)
