"""Acks, receipts and dead letters (docs/delivery.md): a publish with
receipts makes each subscriber's first ack of that offset produce one
receipt to the publisher; over HTTP, ?receipts=N&timeout=MS answers once N
subscribers acked or at the timeout; a message some subscriber did not ack
in time lands in the channel's dead letters."""
import asyncio
import json
import threading
import time
import urllib.request

import pytest

from conftest import run_async
from integ_clients import connect, recv_json, scaled, welcome




async def open_sub(h, channel):
    ws = await connect(h, "/ws?channels=" + channel)
    w = await recv_json(ws)
    assert w["type"] == "welcome"
    assert (await recv_json(ws))["type"] == "subscribed"
    return ws, w["client"]


async def barrier(ws):
    await ws.send('{"type":"ping","id":"barrier"}')
    got = []
    while True:
        doc = await recv_json(ws)
        if doc["type"] == "pong" and doc.get("id") == "barrier":
            return got
        got.append(doc)


@pytest.mark.parametrize("workers", ["1", "2"])
@run_async()
async def test_each_subscriber_ack_gives_one_receipt(hubs, workers):
    h = hubs("--workers", workers)
    (a, aid), (b, bid) = await open_sub(h, "rc"), await open_sub(h, "rc")
    pub = await connect(h)
    await welcome(pub)
    await pub.send(json.dumps({"type": "publish", "channel": "rc", "data": {"x": 1}, "receipts": True, "id": "r1"}))
    assert (await recv_json(pub)) == {"type": "published", "id": "r1", "channel": "rc", "offset": 1}
    for ws in (a, b):
        m = await recv_json(ws)
        assert m["type"] == "message" and m["receipts"] is True and m["id"] == "r1"
        await ws.send(json.dumps({"type": "ack", "channel": "rc", "offset": 1}))
    receipts = [await recv_json(pub, 10) for _ in range(2)]
    assert sorted(r["client"] for r in receipts) == sorted([aid, bid])
    for r in receipts:
        assert (r["type"], r["id"], r["channel"], r["offset"]) == ("receipt", "r1", "rc", 1)
    # Repeated and unknown acks are ignored without an error.
    await a.send(json.dumps({"type": "ack", "channel": "rc", "offset": 1}))
    await a.send(json.dumps({"type": "ack", "channel": "rc", "offset": 99}))
    await a.send(json.dumps({"type": "ack", "channel": "nowhere", "offset": 1}))
    assert await barrier(a) == []
    assert await barrier(pub) == []
    for ws in (a, b, pub):
        await ws.close()


def http_publish(h, path, body):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (h.port, path), data=body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=scaled(20)) as r:
        return json.loads(r.read())


@run_async()
async def test_http_publish_waits_for_n_acks(hub):
    (a, aid), (b, bid) = await open_sub(hub, "hr"), await open_sub(hub, "hr")
    result = {}
    t = threading.Thread(target=lambda: result.update(http_publish(hub, "/api/channels/hr/publish?receipts=2&timeout=10000", '{"show":1}')))
    t.start()
    for ws in (a, b):
        m = await recv_json(ws)
        assert m["receipts"] is True
        await ws.send(json.dumps({"type": "ack", "channel": "hr", "offset": m["offset"]}))
    await asyncio.get_running_loop().run_in_executor(None, t.join, scaled(20))
    assert result["channel"] == "hr" and result["offset"] == 1 and result["complete"] is True
    assert sorted(result["acked"]) == sorted([aid, bid])
    for ws in (a, b):
        await ws.close()


@run_async()
async def test_http_receipts_time_out_and_dead_letters_record_the_missing_ack(hub):
    (a, aid), (b, _) = await open_sub(hub, "dl"), await open_sub(hub, "dl")
    result = {}
    t = threading.Thread(target=lambda: result.update(http_publish(hub, "/api/channels/dl/publish?receipts=2&timeout=300", '"x"')))
    t.start()
    m = await recv_json(a)
    await a.send(json.dumps({"type": "ack", "channel": "dl", "offset": m["offset"]}))
    await recv_json(b)  # b receives but never acks
    await asyncio.get_running_loop().run_in_executor(None, t.join, scaled(20))
    assert result == {"channel": "dl", "offset": 1, "acked": [aid], "complete": False}
    deadline = time.monotonic() + scaled(10)
    while True:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/channels/dl/dead-letters" % hub.port) as r:
            doc = json.loads(r.read())
        if doc["dead_letters"]:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)  # polling the endpoint until the deadline sweep ran
    d = doc["dead_letters"][0]
    assert (d["offset"], d["reason"], d["expected"], d["acked"]) == (1, "ack_timeout", 2, [aid])
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % hub.port) as r:
        assert "wshub_dead_letters_total 1" in r.read().decode()
    for ws in (a, b):
        await ws.close()


@run_async()
async def test_bad_receipt_fields_are_rejected(hub):
    pub = await connect(hub)
    await welcome(pub)
    await pub.send(json.dumps({"type": "publish", "channel": "x", "data": 1, "receipts": "yes"}))
    assert (await recv_json(pub))["code"] == "bad_request"
    await pub.send(json.dumps({"type": "publish", "channel": "x", "data": 1, "receipts": True, "receipt_timeout": 0}))
    assert (await recv_json(pub))["code"] == "bad_request"
    await pub.send(json.dumps({"type": "ack", "channel": "x"}))
    assert (await recv_json(pub))["code"] == "bad_request"
    await pub.close()
