"""The WebSocket opening handshake on /ws and /echo (RFC 6455 §4), from the
websockets library and from raw sockets for the requests it will not send.
Not for what happens after the upgrade (test_ws_proto.py, test_echo.py)."""
import json

import pytest
import websockets
from websockets.exceptions import InvalidStatusCode

from conftest import run_async
from integ_clients import RawConn, RawWS, accept_for, assert_error_body, new_key


def upgrade_headers(key=None, version="13", upgrade="websocket", connection="Upgrade"):
    h = []
    if upgrade is not None:
        h.append(("Upgrade", upgrade))
    if connection is not None:
        h.append(("Connection", connection))
    if key is not None:
        h.append(("Sec-WebSocket-Key", key))
    if version is not None:
        h.append(("Sec-WebSocket-Version", version))
    return h


@run_async()
async def test_websockets_client_connects_to_ws(hub):
    async with websockets.connect(hub.url + "/ws", ping_interval=None) as ws:
        doc = json.loads(await ws.recv())
        assert doc["type"] == "welcome"


@run_async()
async def test_websockets_client_offering_deflate_still_connects(hub):
    # The client offers permessage-deflate; the hub may accept or decline it,
    # but the connection must work either way (RFC 6455 §9.1).
    async with websockets.connect(hub.url + "/ws", ping_interval=None, compression="deflate") as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "ping", "id": 1}))
        assert json.loads(await ws.recv())["type"] == "pong"


def test_raw_handshake_returns_101_with_correct_accept(hub):
    key = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3 example key
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(key))
        r = c.read_response(head=True)
        assert r.status == 101, r
        assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert r.header("upgrade").lower() == "websocket"
        assert "upgrade" in [t.strip().lower() for t in r.header("connection").split(",")]


def test_upgrade_and_connection_tokens_are_case_insensitive(hub):
    key = new_key()
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(key, upgrade="WebSocket", connection="keep-alive, UPGRADE"))
        r = c.read_response(head=True)
        assert r.status == 101, r
        assert r.header("sec-websocket-accept") == accept_for(key)


def test_header_names_are_case_insensitive(hub):
    key = new_key()
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", [("upgrade", "websocket"), ("CONNECTION", "upgrade"),
                                 ("sec-websocket-key", key), ("SEC-WEBSOCKET-VERSION", "13")])
        r = c.read_response(head=True)
        assert r.status == 101, r


def test_connection_header_split_over_two_fields_is_accepted(hub):
    # RFC 9110 §5.3: repeated fields are one comma-separated list.
    key = new_key()
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", [("Upgrade", "websocket"), ("Connection", "keep-alive"),
                                 ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
                                 ("Sec-WebSocket-Version", "13")])
        r = c.read_response(head=True)
        assert r.status == 101, r


def test_first_frame_after_raw_handshake_is_welcome(hub):
    with RawWS.open(hub.port) as ws:
        doc = ws.recv_json()
        assert doc["type"] == "welcome"


@pytest.mark.parametrize("version", ["8", "12", "14", "abc"])
def test_wrong_version_is_426_with_version_13(hub, version):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(new_key(), version=version))
        r = c.read_response()
        assert_error_body(r, 426)
        assert r.header("sec-websocket-version") == "13", r


def test_missing_version_is_rejected(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(new_key(), version=None))
        r = c.read_response()
        assert r.status in (400, 426), r
        assert_error_body(r, r.status)


@pytest.mark.parametrize("key", [
    "",
    "abc",
    "dGhlIHNhbXBsZSBub25jZQ",        # 16 bytes but unpadded
    "dGhlIHNhbXBsZSBub25j",          # 15 bytes (RFC 6455 §4.1: must decode to 16)
    "dGhlIHNhbXBsZSBub25jZTEy",      # 18 bytes
    "!!!!!!!!!!!!!!!!!!!!!!==",      # not base64
])
def test_bad_key_is_400(hub, key):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(key))
        assert_error_body(c.read_response(), 400)


def test_missing_key_is_400(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(None))
        assert_error_body(c.read_response(), 400)


def test_missing_upgrade_header_is_400(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(new_key(), upgrade=None))
        assert_error_body(c.read_response(), 400)


def test_missing_connection_upgrade_token_is_400(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(new_key(), connection="keep-alive"))
        assert_error_body(c.read_response(), 400)


def test_upgrade_to_other_protocol_is_400(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers(new_key(), upgrade="h2c"))
        assert_error_body(c.read_response(), 400)


def test_plain_get_ws_is_400(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/ws")
        assert_error_body(c.read_response(), 400)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_non_get_upgrade_is_405(hub, method):
    with RawConn(hub.port) as c:
        c.request(method, "/ws", upgrade_headers(new_key()), body=b"")
        r = c.read_response()
        assert_error_body(r, 405)
        assert "GET" in (r.header("allow") or "").upper(), r


def test_rejected_handshake_keeps_http_connection_usable_or_closes_cleanly(hub):
    # After a 400 the hub may close; if it keeps the connection, the next
    # request must be answered correctly (no half-upgraded state).
    with RawConn(hub.port) as c:
        c.request("GET", "/ws", upgrade_headers("abc"))
        assert c.read_response().status == 400
        try:
            c.request("GET", "/health")
            r = c.read_response()
        except Exception:
            return
        assert r.status == 200, r


def test_echo_is_404_without_echo_flag(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/echo", upgrade_headers(new_key()))
        assert_error_body(c.read_response(), 404)


@run_async()
async def test_websockets_echo_is_404_without_echo_flag(hub):
    with pytest.raises(InvalidStatusCode) as ei:
        async with websockets.connect(hub.url + "/echo", ping_interval=None):
            pass
    assert ei.value.status_code == 404


def test_echo_upgrades_with_echo_flag(echo_hub):
    with RawWS.open(echo_hub.port, "/echo") as ws:
        ws.send_text("hi")
        f = ws.recv_frame()
        # No welcome on /echo: the first frame is our own echo.
        assert (f.opcode, f.payload) == (1, b"hi")


def test_ws_with_query_string_upgrades(hub):
    # Any parameter besides channels= is ignored (token= is checked: test_auth.py).
    with RawWS.open(hub.port, "/ws?channels=a,b&x=y") as ws:
        assert ws.recv_json()["type"] == "welcome"


def test_request_bytes_after_handshake_are_treated_as_frames(hub):
    """A client may send its first frame in the same segment as the handshake:
    the hub must not drop bytes it read past the request head."""
    key = new_key()
    with RawWS(hub.port) as ws:
        req = ("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode()
        ws.send(req + RawWS.encode(1, json.dumps({"type": "ping", "id": "early"})))
        r = ws.read_response(head=True)
        assert r.status == 101, r
        assert ws.recv_json()["type"] == "welcome"
        pong = ws.recv_json()
        assert pong["type"] == "pong" and pong["id"] == "early", pong
