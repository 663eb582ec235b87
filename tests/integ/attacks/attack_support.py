"""Shared checks of the attack suite: after every attack, a fresh client must
still subscribe, publish and receive (the server survived and serves others)."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

from integ_clients import RawConn, RawWS, OP_TEXT, scaled  # noqa: E402,F401


def assert_serves(hub, api_key=None, channel="attack.survivor", token=None):
    """A new WebSocket client (with token, when the hub wants one) subscribes
    and an HTTP publish reaches it: the hub survived and serves others."""
    ws = RawWS.open(hub.port, headers=[("Authorization", "Bearer " + token)] if token else ())
    try:
        doc = ws.recv_json()
        assert doc["type"] == "welcome", doc
        ws.send_text(json.dumps({"type": "subscribe", "channel": channel, "id": 1}))
        doc = ws.recv_json()
        assert doc["type"] == "subscribed", doc
        headers = [("Content-Type", "application/json")]
        if api_key:
            headers.append(("Authorization", "Bearer " + api_key))
        with RawConn(hub.port) as c:
            c.request("POST", "/api/channels/%s/publish" % channel, headers, body='{"alive":true}')
            resp = c.read_response()
            assert resp.status == 200, resp
        while True:
            f = ws.recv_frame()
            if f.opcode == OP_TEXT:
                doc = f.json()
                if doc.get("type") == "message":
                    assert doc["channel"] == channel and doc["data"] == {"alive": True}, doc
                    break
        ws.send_close(1000)
        assert ws.expect_close() == 1000
    finally:
        ws.close()
    assert hub.proc.poll() is None, "hub exited:\n" + hub.log()[-4000:]


def ws_open(hub, headers=()):
    """A raw WebSocket past its welcome frame."""
    ws = RawWS.open(hub.port, headers=headers)
    assert ws.recv_json()["type"] == "welcome"
    return ws


def raw_request(port, data):
    """Sends raw bytes on a fresh connection and reads one response."""
    with RawConn(port) as c:
        c.send(data)
        return c.read_response()
