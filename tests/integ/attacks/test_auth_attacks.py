"""Catalogue B40, B48, B49, B50 against the token auth (docs/security.md
Authentication and Namespaces): pre-auth limits, expired tokens on open
connections, per-operation per-channel checks, and token-parser abuse. The
hub requires tokens except in an `attack.` namespace left open for the
survivor check, so every test still proves a fresh client is served."""
import json
import time

from attack_support import assert_serves, ws_open, raw_request
from integ_clients import new_key
from auth_tokens import SECRET, b64url, claims, hs256

OPEN_NS = ("--namespace", "attack.:anon-sub,anon-pub")


def auth_hub(hubs, *extra):
    return hubs("--token-secret", SECRET, *OPEN_NS, *extra)


def handshake(port, token=None, query=""):
    lines = ["GET /ws%s HTTP/1.1" % query, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + new_key(), "Sec-WebSocket-Version: 13"]
    if token is not None:
        lines.append("Authorization: Bearer " + token)
    return raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode())


def test_b40_pre_auth_connection_is_bounded_then_closed(hubs):
    # Tokens required everywhere: every connection starts unauthenticated.
    hub = hubs("--token-secret", SECRET, "--auth-timeout", "1s")
    # Before auth a message over 4 KiB is refused with 1009 ...
    ws = ws_open(hub)
    try:
        ws.send_text(json.dumps({"type": "ping", "pad": "x" * 5000}))
        assert ws.expect_close() == 1009
    finally:
        ws.close()
    # ... and a connection that never authenticates is closed 4001.
    ws = ws_open(hub)
    try:
        assert ws.expect_close(timeout=10) == 4001
    finally:
        ws.close()
    assert_serves(hub, token=hs256(claims(subs=["attack.*"])))


def test_b48_expired_token_closes_the_open_connection_with_4001(hubs):
    hub = auth_hub(hubs, "--token-grace", "300ms")
    tok = hs256(claims(ttl=1, subs=["news.*"]))
    ws = ws_open(hub, headers=[("Authorization", "Bearer " + tok)])
    try:
        ws.send_text(json.dumps({"type": "subscribe", "channel": "news.a", "id": 1}))
        assert ws.recv_json()["type"] == "subscribed"
        assert ws.expect_close(timeout=15) == 4001
    finally:
        ws.close()
    # An already expired token never gets the upgrade.
    resp = handshake(hub.port, hs256(claims(ttl=-120, subs=["news.*"])))
    assert resp.status == 401 and resp.json()["error"]["code"] == "unauthorized", resp
    assert_serves(hub)


def test_b49_permissions_are_checked_per_operation_and_channel(hubs):
    hub = auth_hub(hubs, "--namespace", "news.:publish")
    tok = hs256(claims(subs=["news.a"], pubs=["news.a"]))
    ws = ws_open(hub, headers=[("Authorization", "Bearer " + tok)])
    try:
        for doc in ({"type": "subscribe", "channel": "news.b", "id": 1},
                    {"type": "publish", "channel": "news.b", "data": 1, "id": 2},
                    {"type": "history", "channel": "news.b", "id": 3}):
            ws.send_text(json.dumps(doc))
            reply = ws.recv_json()
            assert reply["type"] == "error" and reply["code"] == "forbidden", (doc, reply)
        # Refusals leave the connection open and the granted channel usable.
        ws.send_text(json.dumps({"type": "subscribe", "channel": "news.a", "id": 4}))
        assert ws.recv_json()["type"] == "subscribed"
        ws.send_text(json.dumps({"type": "publish", "channel": "news.a", "data": "ok", "id": 5}))
        assert {ws.recv_json()["type"], ws.recv_json()["type"]} == {"message", "published"}
    finally:
        ws.close()
    assert_serves(hub)


def test_b50_token_parser_abuse_gets_401(hubs):
    hub = auth_hub(hubs)
    good = hs256(claims(subs=["news.*"]))
    h, p, s = good.split(".")
    now = int(time.time())
    bad = [
        b64url('{"alg":"none","typ":"JWT"}') + "." + p + ".",
        hs256(claims(), header={"alg": "none"}),
        hs256(claims(pad="x" * 5000)),                 # over the 4 KiB cap
        h + "." + p + "." + s + "=",                   # padding is not base64url
        h + "." + p + ".." + s,
        h + "!" + "." + p + "." + s,
        "." * 3,
        h + "." + b64url("[1,2]") + "." + s,
        hs256({"sub": "x", "exp": now + 60, "nbf": "soon"}),
    ]
    for tok in bad:
        if len(tok) < 4000:
            resp = handshake(hub.port, tok)
            assert resp.status == 401, (tok[:60], resp)
        resp = handshake(hub.port, query="?token=" + tok)
        assert resp.status in (401, 414), (tok[:60], resp)
    assert handshake(hub.port, good).status == 101
    assert_serves(hub)
