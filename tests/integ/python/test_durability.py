"""Durability with --data-dir (docs/delivery.md): a publish answered
`published` (or HTTP 200) survives SIGKILL of the hub with its original
offset; offsets continue after a restart without reuse; the epoch stays the
same; retention applies to what is reloaded."""
import asyncio
import json
import os
import random
import shutil
import signal
import tempfile
import urllib.request

import pytest

from conftest import run_async
from hubproc import Hub
from integ_clients import connect, recv_json, welcome


def get(h, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (h.port, path), timeout=10) as r:
        return json.loads(r.read())


def post(h, path, body):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (h.port, path), data=body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def history(h, channel):
    out, since = [], 0
    while True:
        page = get(h, "/api/channels/%s/history?since=%d&limit=1000" % (channel, since))
        if not page["messages"]:
            return page, out
        out += page["messages"]
        since = page["messages"][-1]["offset"]


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix="wshub-data-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("kill_after", [40, 250, 700])
@run_async(deadline=90)
async def test_acknowledged_publishes_survive_sigkill(data_dir, kill_after):
    rng = random.Random(kill_after)
    acked = {}
    h = Hub("--data-dir", data_dir, "--history-size", "100000")
    h.start()
    try:
        ws = await connect(h)
        await welcome(ws)
        sent = 0
        inflight = {}
        # As fast as possible with a window of 32, until the kill point.
        while len(acked) < kill_after:
            while len(inflight) < 32:
                sent += 1
                await ws.send(json.dumps({"type": "publish", "channel": "crash", "id": sent, "data": {"n": sent}}))
                inflight[sent] = True
            doc = await recv_json(ws, 20)
            assert doc["type"] == "published", doc
            acked[doc["id"]] = doc["offset"]
            del inflight[doc["id"]]
        # Kill mid-flight: publishes in the window may or may not be stored,
        # but every acknowledged one must be.
        for _ in range(rng.randint(0, 8)):
            sent += 1
            await ws.send(json.dumps({"type": "publish", "channel": "crash", "id": sent, "data": {"n": sent}}))
        h.signal(signal.SIGKILL)
        h.wait()
    finally:
        h.close()

    again = Hub("--data-dir", data_dir, "--history-size", "100000")
    again.start()
    try:
        page, msgs = history(again, "crash")
        by_offset = {m["offset"]: m["data"]["n"] for m in msgs}
        for n, off in acked.items():
            assert by_offset.get(off) == n, "acknowledged publish %d (offset %d) lost" % (n, off)
        offsets = sorted(by_offset)
        assert offsets == list(range(1, len(offsets) + 1))  # gap-free from 1
        last = page["offset"]
        assert last == offsets[-1]
        # Offsets continue without reuse, in the same epoch.
        nxt = post(again, "/api/channels/crash/publish", '{"n":"after"}')
        assert nxt["offset"] == last + 1
        assert get(again, "/api/channels/crash")["epoch"] == page["epoch"]
    finally:
        assert again.stop() == 0
        again.close()


@run_async(deadline=60)
async def test_restart_keeps_epoch_offsets_and_recovery(data_dir):
    h = Hub("--data-dir", data_dir)
    h.start()
    try:
        for n in range(1, 6):
            assert post(h, "/api/channels/keep/publish", '{"n":%d}' % n)["offset"] == n
        epoch = get(h, "/api/channels/keep")["epoch"]
        assert h.stop() == 0
    finally:
        h.close()
    h = Hub("--data-dir", data_dir)
    h.start()
    try:
        ws = await connect(h)
        await welcome(ws)
        await ws.send(json.dumps({"type": "subscribe", "channel": "keep", "since": 2, "epoch": epoch}))
        doc = await recv_json(ws)
        assert doc["type"] == "subscribed" and doc["recovered"] is True and doc["offset"] == 5
        assert doc["epoch"] == epoch
        got = [(await recv_json(ws))["offset"] for _ in range(3)]
        assert got == [3, 4, 5]
        await ws.close()
    finally:
        assert h.stop() == 0
        h.close()


@run_async(deadline=60)
async def test_retention_applies_on_disk_and_on_reload(data_dir):
    h = Hub("--data-dir", data_dir, "--history-size", "10")
    h.start()
    try:
        for n in range(1, 31):
            post(h, "/api/channels/trim/publish", '{"n":%d}' % n)
        assert h.stop() == 0
    finally:
        h.close()
    h = Hub("--data-dir", data_dir, "--history-size", "10")
    h.start()
    try:
        page, msgs = history(h, "trim")
        assert [m["offset"] for m in msgs] == list(range(21, 31))
        assert page["offset"] == 30
        assert get(h, "/api/channels/trim/history?since=5")["complete"] is False
    finally:
        assert h.stop() == 0
        h.close()


@run_async(deadline=60)
async def test_subscribers_get_messages_only_after_commit_in_order(data_dir, hubs):
    h = hubs("--data-dir", data_dir, "--workers", "2")
    subs = []
    for _ in range(4):
        ws = await connect(h, "/ws?channels=d")
        await welcome(ws)
        assert (await recv_json(ws))["type"] == "subscribed"
        subs.append(ws)
    pub = await connect(h)
    await welcome(pub)
    for n in range(50):
        await pub.send(json.dumps({"type": "publish", "channel": "d", "data": n}))
    replies = [await recv_json(pub) for _ in range(50)]
    assert [r["offset"] for r in replies] == list(range(1, 51))
    for ws in subs:
        assert [(await recv_json(ws))["offset"] for _ in range(50)] == list(range(1, 51))
    assert os.path.exists(os.path.join(data_dir, "wshub.db"))
