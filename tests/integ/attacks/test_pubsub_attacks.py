"""Catalogue B51-B57: pub/sub-layer abuse (strange channel names, channel
and subscription storms, forged recovery positions, replays, oversized and
deeply nested publishes, fan-out amplification). Each asserts the exact
error, status or close code and that the hub still serves a fresh client."""
import json

from attack_support import RawConn, assert_serves, ws_open
from integ_clients import OP_TEXT, RawWS


def post(hub, path, body, headers=()):
    with RawConn(hub.port) as c:
        c.request("POST", path, [("Content-Type", "application/json")] + list(headers), body=body)
        return c.read_response()


def test_b51_bad_channel_names_get_bad_channel_and_400(hubs):
    hub = hubs()
    ws = ws_open(hub)
    try:
        for name in ("", "a" * 256, "spaces here", "nul\u0000byte", "wild*card", "caf\u00e9", "a#b", "a\tb"):
            ws.send_text(json.dumps({"type": "subscribe", "channel": name, "id": 1}))
            doc = ws.recv_json()
            assert doc["type"] == "error" and doc["code"] == "bad_channel", (name, doc)
            ws.send_text(json.dumps({"type": "publish", "channel": name, "data": 1, "id": 2}))
            doc = ws.recv_json()
            assert doc["type"] == "error" and doc["code"] == "bad_channel", (name, doc)
        # Names are opaque keys, never paths: "../etc" is just a channel.
        for name in ("a" * 255, "../etc"):
            ws.send_text(json.dumps({"type": "subscribe", "channel": name, "id": 3}))
            assert ws.recv_json()["type"] == "subscribed"
    finally:
        ws.close()
    for path in ("/api/channels/" + "a" * 256 + "/publish", "/api/channels/sp%20ace/publish",
                 "/api/channels/nul%00/publish", "/api/channels/st*r/publish"):
        resp = post(hub, path, "1")
        assert resp.status == 400 and resp.json()["error"]["code"] == "bad_channel", (path, resp)
    assert_serves(hub)


def test_b52_channel_storm_hits_the_channel_cap(hubs):
    hub = hubs("--max-channels", "20")
    created = 0
    for i in range(30):
        resp = post(hub, "/api/channels/storm.%d/publish" % i, "1")
        if resp.status == 503:
            assert resp.json()["error"]["code"] == "limit_exceeded", resp
            break
        assert resp.status == 200, resp
        created += 1
    assert created == 20, created
    ws = ws_open(hub)
    try:
        ws.send_text(json.dumps({"type": "subscribe", "channel": "storm.new", "id": 1}))
        doc = ws.recv_json()
        assert doc["type"] == "error" and doc["code"] == "limit_exceeded", doc
        ws.send_text(json.dumps({"type": "publish", "channel": "storm.other", "data": 1, "id": 2}))
        doc = ws.recv_json()
        assert doc["type"] == "error" and doc["code"] == "limit_exceeded", doc
        # Existing channels keep working.
        ws.send_text(json.dumps({"type": "subscribe", "channel": "storm.3", "id": 3}))
        assert ws.recv_json()["type"] == "subscribed"
        ws.send_text(json.dumps({"type": "publish", "channel": "storm.3", "data": "ok", "id": 4}))
        types = {ws.recv_json()["type"], ws.recv_json()["type"]}
        assert types == {"message", "published"}, types
    finally:
        ws.close()
    # Subscribing to made-up names leaves nothing behind once they unsubscribe.
    resp = post(hub, "/api/channels/storm.0/publish", "2")
    assert resp.status == 200, resp
    assert_serves(hub, channel="storm.1")


def test_b53_subscription_storm_hits_max_subscriptions(hubs):
    hub = hubs("--max-subscriptions", "128")
    ws = ws_open(hub)
    try:
        batch = b"".join(RawWS.encode(OP_TEXT, json.dumps({"type": "subscribe", "channel": "s.%d" % i, "id": i}))
                         for i in range(140))
        ws.send(batch)
        ok = limited = 0
        for _ in range(140):
            doc = ws.recv_json()
            if doc["type"] == "subscribed":
                ok += 1
            else:
                assert doc["type"] == "error" and doc["code"] == "limit_exceeded", doc
                limited += 1
        assert (ok, limited) == (128, 12), (ok, limited)
        # Churn: unsubscribe and subscribe again stays within the cap.
        for i in range(50):
            ws.send_text(json.dumps({"type": "unsubscribe", "channel": "s.%d" % i}))
            assert ws.recv_json()["type"] == "unsubscribed"
            ws.send_text(json.dumps({"type": "subscribe", "channel": "s.%d" % i}))
            assert ws.recv_json()["type"] == "subscribed"
    finally:
        ws.close()
    assert_serves(hub)


def test_b54_forged_recovery_positions_get_recovered_false(hubs):
    hub = hubs()
    for i in range(3):
        assert post(hub, "/api/channels/b54/publish", str(i)).status == 200
    ws = ws_open(hub)
    try:
        real = None
        for since, epoch in ((10 ** 18, None), (1, "forged-epoch"), (2 ** 64 - 1, None)):
            req = {"type": "subscribe", "channel": "b54", "since": since, "id": 1}
            if epoch:
                req["epoch"] = epoch
            ws.send_text(json.dumps(req))
            doc = ws.recv_json()
            assert doc["type"] == "subscribed" and doc["recovered"] is False, (req, doc)
            real = doc["epoch"]
            ws.send_text(json.dumps({"type": "unsubscribe", "channel": "b54"}))
            assert ws.recv_json()["type"] == "unsubscribed"
        ws.send_text(json.dumps({"type": "subscribe", "channel": "b54", "since": 2 ** 64, "id": 2}))
        doc = ws.recv_json()
        assert doc["type"] == "error" and doc["code"] == "bad_request", doc
        # The honest position still recovers exactly what was missed.
        ws.send_text(json.dumps({"type": "subscribe", "channel": "b54", "since": 1, "epoch": real}))
        doc = ws.recv_json()
        assert doc["recovered"] is True, doc
        assert [ws.recv_json()["data"] for _ in range(2)] == [1, 2]
    finally:
        ws.close()
    assert_serves(hub)


def test_b55_replayed_publish_with_an_idempotency_key_is_not_delivered_twice(hubs):
    hub = hubs()
    first = post(hub, "/api/channels/b55/publish", '{"order":1}', [("Idempotency-Key", "k-1")])
    again = post(hub, "/api/channels/b55/publish", '{"order":1}', [("Idempotency-Key", "k-1")])
    assert first.status == again.status == 200
    assert again.json()["offset"] == first.json()["offset"] and again.json().get("duplicate") is True, again
    assert post(hub, "/api/channels/b55/publish", "1", [("Idempotency-Key", "k" * 257)]).status == 400
    assert_serves(hub)


def test_b56_oversized_and_deeply_nested_rest_publishes_get_413_and_400(hubs):
    hub = hubs("--max-body", "64KiB")
    resp = post(hub, "/api/channels/b56/publish", '"' + "x" * (64 * 1024) + '"')
    assert resp.status == 413 and resp.json()["error"]["code"] == "too_large", resp
    resp = post(hub, "/api/channels/b56/publish", "[" * 100 + "]" * 100)
    assert resp.status == 400 and resp.json()["error"]["code"] == "bad_request", resp
    resp = post(hub, "/api/publish", '{"channel":"b56","data":' + "[" * 100 + "]" * 100 + "}")
    assert resp.status == 400, resp
    for junk in ("{", '{"a":1,}', "\xff", "01", "[1] [2]"):
        resp = post(hub, "/api/channels/b56/publish", junk)
        assert resp.status == 400, (junk, resp)
    assert_serves(hub)


def test_b57_fan_out_amplification_is_bounded_by_max_message(hubs):
    hub = hubs("--max-message", "64KiB")
    subs = [ws_open(hub) for _ in range(20)]
    pub = ws_open(hub)
    try:
        for s in subs:
            s.send_text(json.dumps({"type": "subscribe", "channel": "b57"}))
            assert s.recv_json()["type"] == "subscribed"
        pub.send_text(json.dumps({"type": "publish", "channel": "b57", "data": "y" * (70 * 1024)}))
        assert pub.expect_close() == 1009
        # The subscribers got nothing from it, and still get the next one.
        ok = ws_open(hub)
        ok.send_text(json.dumps({"type": "publish", "channel": "b57", "data": "small"}))
        for s in subs:
            doc = s.recv_json()
            assert doc["type"] == "message" and doc["data"] == "small", doc
        ok.close()
    finally:
        for s in subs:
            s.close()
        pub.close()
    assert_serves(hub)
