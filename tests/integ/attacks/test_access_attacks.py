"""Catalogue B46-B47 and the HTTP API keys: cross-site WebSocket hijacking
(the Origin allow-list), credentials in URLs and headers kept out of logs,
and the API-key gate of the HTTP API (401 without a key, 403 with a wrong
one). Each test also proves the hub still serves a fresh client."""
import json
import re

from attack_support import RawConn, assert_serves, raw_request
from integ_clients import Closed, RawWS, new_key

KEY = "k-7f3a9c21e5b84d06a1f2"


def handshake(port, origin=None, host="127.0.0.1:%d", extra=()):
    lines = ["GET /ws HTTP/1.1", "Host: " + (host % port if "%d" in host else host), "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: " + new_key(), "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append("Origin: " + origin)
    lines += list(extra)
    return raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode())


def test_b46_cross_site_origin_gets_403_before_upgrade(hubs):
    hub = hubs("--allowed-origin", "https://app.example.com", "--allowed-origin", "https://*.example.org")
    assert handshake(hub.port, "https://evil.example.net").status == 403
    assert handshake(hub.port, "https://app.example.com.evil.net").status == 403
    assert handshake(hub.port, "http://app.example.com").status == 403  # scheme is part of the origin
    assert handshake(hub.port, "https://app.example.com:8443").status == 403  # and so is the port
    assert handshake(hub.port, "null").status == 403
    assert handshake(hub.port, "https://example.org").status == 403  # the wildcard needs a label in front
    assert handshake(hub.port, "https://badexample.org").status == 403
    assert handshake(hub.port, "not an origin").status == 403
    assert handshake(hub.port, "https://app.example.com", extra=["Origin: https://x.example.org"]).status == 403
    resp = handshake(hub.port, "https://evil.example.net")
    assert resp.json()["error"]["code"] == "forbidden", resp
    assert (resp.header("connection") or "").lower() == "close", resp
    # Allowed: listed exactly, by wildcard, same-origin pages and non-browser clients.
    assert handshake(hub.port, "https://app.example.com").status == 101
    assert handshake(hub.port, "https://APP.example.com:443").status == 101
    assert handshake(hub.port, "https://a.b.example.org").status == 101
    assert handshake(hub.port, "http://127.0.0.1:%d" % hub.port).status == 101
    assert handshake(hub.port).status == 101
    assert_serves(hub)


def test_b46_without_a_list_every_origin_is_allowed(hubs):
    hub = hubs()
    assert handshake(hub.port, "https://anything.example").status == 101
    assert handshake(hub.port, "null").status == 101
    assert_serves(hub)


def test_api_key_gate_answers_401_without_and_403_with_a_wrong_key(hubs):
    hub = hubs("--api-key", KEY, "--api-key", "second-key-for-rotation")

    def call(method, path, auth=None, body=None):
        headers = [("Authorization", auth)] if auth else []
        with RawConn(hub.port) as c:
            c.request(method, path, headers, body)
            return c.read_response()

    for method, path, body in (("POST", "/api/channels/k/publish", "1"), ("POST", "/api/publish",
                               '{"channel":"k","data":1}'), ("GET", "/api/channels", None),
                               ("GET", "/api/channels/k/history", None), ("GET", "/api/channels/k/dead-letters", None)):
        resp = call(method, path, body=body)
        assert resp.status == 401, (path, resp)
        assert resp.header("www-authenticate", ) and "Bearer" in resp.header("www-authenticate"), resp
        assert resp.json()["error"]["code"] == "unauthorized"
        for bad in ("Bearer wrong", "Bearer " + KEY + "x", "Bearer " + KEY[:-1]):
            resp = call(method, path, bad, body)
            assert resp.status == 403, (path, bad, resp)
            assert resp.json()["error"]["code"] == "forbidden"
        for malformed in ("Basic " + KEY, KEY, "Bearer", "Bearer  ", "Bearer a b"):
            assert call(method, path, malformed, body).status == 401, (path, malformed)
        assert call(method, path, "Bearer " + KEY, body).status == 200, path
        assert call(method, path, "bearer   second-key-for-rotation", body).status == 200, path
    # /health and /metrics stay open without --protect-metrics; /ws needs no key.
    assert call("GET", "/health").status == 200
    assert call("GET", "/metrics").status == 200
    assert_serves(hub, api_key=KEY)


def test_api_key_is_checked_on_the_head_before_the_body_is_read(hubs):
    """An unauthenticated client must not make the hub buffer a body up to
    max-body (1 MiB per connection): the key is checked when the head is in,
    the answer comes without waiting for the declared body, and the
    connection closes (its body is never read)."""
    hub = hubs("--api-key", KEY)
    head = ("POST /api/channels/k/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000000\r\n%s\r\n")
    for auth, status in (("", 401), ("Authorization: Bearer wrong\r\n", 403)):
        with RawConn(hub.port) as c:
            c.send(head % auth)  # and no body at all
            resp = c.read_response(timeout=3)
            assert resp.status == status, resp
            assert (resp.header("connection") or "").lower() == "close", resp
            try:
                c.read_until(b"never", timeout=3)
                raise AssertionError("the connection stayed open after the refusal")
            except Closed:
                pass
    # Expect: 100-continue with no key: the final answer, never the interim 100.
    with RawConn(hub.port) as c:
        c.send(head % "Expect: 100-continue\r\n")
        resp = c.read_response(timeout=3)
        assert resp.status == 401, resp
    # With the key, the interim 100 comes and the body is read as usual.
    with RawConn(hub.port) as c:
        body = b'{"n":1}'
        c.send(("POST /api/channels/k/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                "Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (KEY, len(body))))
        assert c.read_until(b"\r\n\r\n", timeout=3).startswith(b"HTTP/1.1 100 "), "no 100 Continue"
        c.send(body)
        resp = c.read_response(timeout=3)
        assert resp.status == 200, resp
        assert resp.json()["offset"] == 1, resp
        # Keep-alive is unaffected on an authorised connection.
        c.request("POST", "/api/channels/k/publish", [("Authorization", "Bearer " + KEY)], "2")
        assert c.read_response(timeout=3).status == 200
    assert_serves(hub, api_key=KEY)


def test_protect_metrics_puts_health_and_metrics_behind_the_key(hubs):
    hub = hubs("--api-key", KEY, "--protect-metrics")
    for path in ("/health", "/metrics"):
        with RawConn(hub.port) as c:
            c.request("GET", path)
            assert c.read_response().status == 401, path
            c.request("GET", path, [("Authorization", "Bearer nope")])
            assert c.read_response().status == 403, path
            c.request("GET", path, [("Authorization", "Bearer " + KEY)])
            assert c.read_response().status == 200, path
    assert_serves(hub, api_key=KEY)


def test_b47_tokens_and_keys_never_reach_the_log(hubs):
    secret_q = "qsecret0123456789abcdef"
    secret_h = "hsecret0123456789abcdef"
    hub = hubs("--log-level", "debug", "--api-key", KEY, "--allowed-origin", "https://ok.example")
    # A token in the URL of a refused handshake, of a 404 and of an accepted one.
    handshake(hub.port, "https://evil.example", extra=["Authorization: Bearer " + secret_h])
    raw_request(hub.port, ("GET /nowhere?token=%s&access_token=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                           % (secret_q, secret_q)).encode())
    raw_request(hub.port, ("GET /ws?api_key=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                           % (secret_q, secret_h)).encode())
    # A handshake carrying both: whatever the answer (101, or 401 when the
    # token is checked), the log must not show them.
    raw_request(hub.port, ("GET /ws?channels=a&token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % (secret_q, new_key(), secret_h)).encode())
    with RawConn(hub.port) as c:
        c.request("POST", "/api/channels/x/publish", [("Authorization", "Bearer " + KEY)], body="1")
        assert c.read_response().status == 200
        c.request("GET", "/api/channels", [("Authorization", "Bearer wrong-" + secret_h)])
        assert c.read_response().status == 403
    assert_serves(hub, api_key=KEY)
    hub.expect_running = False
    assert hub.stop() == 0
    log = hub.log()
    assert "handshake refused" in log  # the log was written at all
    for s in (secret_q, secret_h, KEY):
        assert s not in log, "%r leaked into the log:\n%s" % (s, log)


def test_bad_allowed_origin_stops_the_hub_at_start():
    import subprocess
    from hubproc import hub_binary
    for bad in ("ftp://x.example", "https://*.com", "https://x.example/path", "null"):
        p = subprocess.run([hub_binary(), "serve", "--listen", "127.0.0.1:0", "--allowed-origin", bad],
                           capture_output=True, timeout=30)
        assert p.returncode == 2, (bad, p)
        assert b"--allowed-origin: invalid origin" in p.stderr and bad.encode() in p.stderr, p.stderr
