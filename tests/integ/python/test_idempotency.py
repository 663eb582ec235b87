"""Idempotent publish (docs/delivery.md): a publish carrying an idempotency
key already seen on that channel within the window answers the original
offset with "duplicate": true and is not delivered again, over WebSocket
(`idempotency_key`) and HTTP (`Idempotency-Key`), also across a restart
with --data-dir."""
import json
import shutil
import tempfile
import time
import urllib.request

from conftest import run_async
from hubproc import Hub
from integ_clients import connect, recv_json, scaled, welcome


def post(h, path, body, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (h.port, path), data=body.encode(), method="POST",
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def publish(ws, channel, data, key):
    await ws.send(json.dumps({"type": "publish", "channel": channel, "data": data, "idempotency_key": key}))
    return await recv_json(ws)


@run_async()
async def test_ws_duplicate_key_returns_original_offset_and_is_not_delivered(hub):
    sub = await connect(hub, "/ws?channels=idem")
    await welcome(sub)
    assert (await recv_json(sub))["type"] == "subscribed"
    pub = await connect(hub)
    await welcome(pub)
    first = await publish(pub, "idem", {"v": 1}, "k-1")
    assert first == {"type": "published", "channel": "idem", "offset": 1}
    again = await publish(pub, "idem", {"v": "retry"}, "k-1")
    assert again == {"type": "published", "channel": "idem", "offset": 1, "duplicate": True}
    other = await publish(pub, "idem", {"v": 2}, "k-2")
    assert other["offset"] == 2 and "duplicate" not in other
    elsewhere = await publish(pub, "idem-b", {"v": 1}, "k-1")  # keys are per channel
    assert elsewhere["offset"] == 1 and "duplicate" not in elsewhere
    got = [await recv_json(sub) for _ in range(2)]
    assert [(m["offset"], m["data"]) for m in got] == [(1, {"v": 1}), (2, {"v": 2})]
    await sub.send('{"type":"ping","id":"end"}')
    assert (await recv_json(sub))["type"] == "pong"  # nothing else was delivered
    bad = await publish(pub, "idem", 1, "")
    assert bad["code"] == "bad_request"


def test_http_idempotency_key_header(hub):
    assert post(hub, "/api/channels/h/publish", '{"a":1}', "abc") == {"channel": "h", "offset": 1}
    assert post(hub, "/api/channels/h/publish", '{"a":1}', "abc") == {"channel": "h", "offset": 1, "duplicate": True}
    assert post(hub, "/api/channels/h/publish", '{"a":1}') == {"channel": "h", "offset": 2}


def test_key_is_forgotten_after_the_window(hubs):
    h = hubs("--idempotency-window", "200ms")
    assert post(h, "/api/channels/w/publish", "1", "k")["offset"] == 1
    deadline = time.monotonic() + scaled(10)
    while True:
        doc = post(h, "/api/channels/w/publish", "1", "k")
        if not doc.get("duplicate"):
            assert doc["offset"] == 2
            break
        assert time.monotonic() < deadline, "key never expired"


def test_key_survives_a_restart_with_data_dir():
    d = tempfile.mkdtemp(prefix="wshub-idem-")
    try:
        h = Hub("--data-dir", d)
        h.start()
        try:
            assert post(h, "/api/channels/r/publish", '"x"', "once")["offset"] == 1
            assert h.stop() == 0
        finally:
            h.close()
        h = Hub("--data-dir", d)
        h.start()
        try:
            assert post(h, "/api/channels/r/publish", '"x"', "once") == {"channel": "r", "offset": 1, "duplicate": True}
            assert post(h, "/api/channels/r/publish", '"y"', "twice")["offset"] == 2
            assert h.stop() == 0
        finally:
            h.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
