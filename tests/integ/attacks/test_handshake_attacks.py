"""Catalogue B1-B11 (../shared/reference/attacks-and-faults.md): attacks on the
HTTP request and the WebSocket opening handshake. Each test asserts the exact
status and that the hub still serves a fresh client afterwards."""
import time

import pytest

from attack_support import RawConn, RawWS, assert_serves, raw_request, scaled
from integ_clients import accept_for, new_key, Closed


def upgrade_lines(key=None, extra=()):
    lines = ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + (key or new_key()), "Sec-WebSocket-Version: 13"]
    return lines + list(extra)


def send_upgrade(port, extra=(), key=None):
    data = ("\r\n".join(upgrade_lines(key, extra)) + "\r\n\r\n").encode("latin-1")
    return raw_request(port, data)


def test_b1_request_head_over_16kib_gets_431(hubs):
    hub = hubs()
    resp = send_upgrade(hub.port, ["X-Pad: " + "a" * 17000])
    assert resp.status == 431, resp
    assert_serves(hub)


def test_b2_more_than_64_headers_get_431(hubs):
    hub = hubs()
    resp = send_upgrade(hub.port, ["X-H%d: v" % i for i in range(65)])
    assert resp.status == 431, resp
    assert_serves(hub)


def test_b3_slowloris_head_gets_408_within_the_request_timeout(hubs):
    hub = hubs("--request-timeout", "1s")
    with RawConn(hub.port, timeout=10) as c:
        start = time.monotonic()
        c.send(b"GET /ws HTTP/1.1\r\n")
        try:
            for _ in range(40):  # one byte per 100 ms would take 4 s
                c.send(b"X")
                time.sleep(0.1)
        except OSError:
            pass  # the hub closed on us: the answer is waiting in the buffer
        resp = c.read_response()
        assert resp.status == 408, resp
        assert time.monotonic() - start < scaled(4)
    assert_serves(hub)


def test_b4_long_head_sent_in_tiny_pieces_is_parsed_once(hubs):
    # An incremental parser keeps its state; a re-parsing one would spend
    # quadratic time here. Only the outcome is asserted (no timing).
    hub = hubs()
    head = ("\r\n".join(upgrade_lines(extra=["X-Long: " + "b" * 12000])) + "\r\n\r\n").encode()
    with RawConn(hub.port) as c:
        for i in range(0, len(head), 16):
            c.send(head[i:i + 16])
        resp = c.read_response(head=True)
        assert resp.status == 101, resp
    assert_serves(hub)


def test_b5_pathological_protocol_and_extension_lists_are_not_a_redos(hubs):
    hub = hubs()
    proto = "Sec-WebSocket-Protocol: " + " ," * 3000 + "x"
    ext = 'Sec-WebSocket-Extensions: foo; bar="' + "\\c" * 2000
    for extra in ([proto], [ext]):
        resp = send_upgrade(hub.port, extra)
        assert resp.status in (101, 400), resp
        # Nothing unasked-for is echoed: no subprotocol, no extension.
        assert resp.header("sec-websocket-protocol") is None, resp
        assert resp.header("sec-websocket-extensions") is None, resp
    assert_serves(hub)


def test_b6_control_bytes_in_header_values_get_400(hubs):
    hub = hubs()
    for bad in (b"Sec-WebSocket-Protocol: a\x00b", b"Sec-WebSocket-Protocol: a\x01b", b"X-Bad: \x7f"):
        data = ("\r\n".join(upgrade_lines())).encode() + b"\r\n" + bad + b"\r\n\r\n"
        resp = raw_request(hub.port, data)
        assert resp.status == 400, (bad, resp)
    # Non-ASCII bytes are not a crash either: an answer, never a 101 echoing them.
    data = ("\r\n".join(upgrade_lines())).encode() + b"\r\nSec-WebSocket-Protocol: \xff\xfe\r\n\r\n"
    resp = raw_request(hub.port, data)
    assert resp.status in (101, 400), resp
    assert resp.header("sec-websocket-protocol") is None, resp
    assert_serves(hub)


def test_b7_bad_upgrade_semantics_get_405_or_400(hubs):
    hub = hubs()
    key = new_key()
    cases = [
        (405, ["POST /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13", "Content-Length: 0"]),
        (400, ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Version: 13"]),
        (400, ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"]),
        (400, ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Key: " + new_key(), "Sec-WebSocket-Version: 13"]),
        (400, ["GET /ws HTTP/1.0", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]),
        (400, ["GET /ws HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]),
        (400, ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: h2c", "Connection: Upgrade",
               "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]),
    ]
    for status, lines in cases:
        resp = raw_request(hub.port, ("\r\n".join(lines) + "\r\n\r\n").encode())
        assert resp.status == status, (lines, resp)
        if status == 405:
            assert "GET" in (resp.header("allow") or ""), resp
    # Case-insensitive list tokens are valid.
    resp = raw_request(hub.port, ("\r\n".join(["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: WebSocket",
                                              "Connection: keep-alive, UPGRADE", "Sec-WebSocket-Key: " + key,
                                              "Sec-WebSocket-Version: 13"]) + "\r\n\r\n").encode())
    assert resp.status == 101 and resp.header("sec-websocket-accept") == accept_for(key), resp
    assert_serves(hub)


def test_b8_unsupported_version_gets_426_with_version_13(hubs):
    hub = hubs()
    lines = [l for l in upgrade_lines() if not l.startswith("Sec-WebSocket-Version")] + ["Sec-WebSocket-Version: 8"]
    resp = raw_request(hub.port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert resp.status == 426, resp
    assert resp.header("sec-websocket-version") == "13", resp
    assert_serves(hub)


def test_b9_upgrade_with_a_body_gets_400_and_never_tunnels(hubs):
    hub = hubs()
    with RawConn(hub.port) as c:
        # A handshake with a body, then bytes a smuggler hopes reach an
        # internal route as a tunnelled request.
        smuggled = b"GET /api/channels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        head = "\r\n".join(upgrade_lines(extra=["Content-Length: %d" % len(smuggled)])) + "\r\n\r\n"
        c.send(head.encode() + smuggled)
        resp = c.read_response()
        assert resp.status == 400, resp
        # A non-101 answer to a request carrying Upgrade ends the connection
        # (Connection: close, then EOF): the smuggled request is never read.
        assert any(k.lower() == "connection" and v.lower() == "close" for k, v in resp.headers), resp
        with pytest.raises((Closed, OSError)):
            c.read_response(timeout=scaled(5))
    # Content-Length and Transfer-Encoding together: 400 (RFC 9112 §6.1).
    resp = raw_request(hub.port, ("\r\n".join(upgrade_lines(extra=["Content-Length: 5",
                                                                   "Transfer-Encoding: chunked"])) +
                                  "\r\n\r\n0\r\n\r\n").encode())
    assert resp.status == 400, resp
    # The REST API never answers 101, even to an upgrade request.
    resp = raw_request(hub.port, ("\r\n".join(["GET /api/channels HTTP/1.1", "Host: 127.0.0.1",
                                              "Upgrade: websocket", "Connection: Upgrade",
                                              "Sec-WebSocket-Key: " + new_key(),
                                              "Sec-WebSocket-Version: 13"]) + "\r\n\r\n").encode())
    assert resp.status != 101, resp
    assert_serves(hub)


def test_b10_unknown_extension_and_subprotocol_offers_are_declined(hubs):
    hub = hubs()
    resp = send_upgrade(hub.port, ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99, x-foo",
                                   "Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.c2VjcmV0"])
    assert resp.status == 101, resp
    assert resp.header("sec-websocket-extensions") is None, resp
    assert resp.header("sec-websocket-protocol") is None, resp  # a token-bearing protocol is never echoed
    assert_serves(hub)


def test_b11_request_target_over_8kib_gets_414(hubs):
    hub = hubs()
    resp = raw_request(hub.port, ("GET /ws?x=" + "a" * 8200 + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode())
    assert resp.status == 414, resp
    assert resp.json()["error"]["code"] == "uri_too_long"
    # Just under the cap is an ordinary request (here: a 404).
    resp = raw_request(hub.port, ("GET /nothing?x=" + "a" * 8000 + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode())
    assert resp.status == 404, resp
    assert_serves(hub)
