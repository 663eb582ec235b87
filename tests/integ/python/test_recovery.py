"""Recovery after reconnect (docs/delivery.md): `subscribe` with `since`
(and `epoch`) replays every retained message after it, then live ones, with
no gap and no duplicate at the seam even while publishes continue; when the
gap cannot be filled (epoch changed, `since` older than retention) the hub
says `recovered:false` with the current offset. Also `history: N`,
`since_ts`, the `history` command and GET .../history."""
import asyncio
import json
import urllib.request

import pytest

from conftest import run_async
from integ_clients import connect, recv_json, welcome


async def subscribe(ws, channel, **extra):
    await ws.send(json.dumps(dict(type="subscribe", channel=channel, id="s", **extra)))
    doc = await recv_json(ws)
    assert doc["type"] == "subscribed", doc
    return doc


async def publish(ws, channel, n):
    await ws.send(json.dumps({"type": "publish", "channel": channel, "data": {"n": n}}))


def http_get(h, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (h.port, path), timeout=10) as r:
        return json.loads(r.read())


# "durable": with --data-dir a publish is numbered before its commit and
# delivered after it, so the subscribe snapshot and the replayed offsets must
# follow commits, not numbering (a subscribe between the two once skipped a
# message, and a replay after a batch commit started one offset early).
@pytest.mark.parametrize("workers,durable", [("1", False), ("2", False), ("1", True), ("2", True)])
@run_async(deadline=60)
async def test_resubscribe_with_since_gets_every_message_once_across_the_seam(hubs, tmp_path, workers, durable):
    h = hubs("--workers", workers, *(["--data-dir", str(tmp_path / "data")] if durable else []))
    pub = await connect(h)
    await welcome(pub)
    sub = await connect(h)
    await welcome(sub)
    first = await subscribe(sub, "seam")
    epoch = first["epoch"]
    # A publisher that never stops while the subscriber drops and returns.
    total = 600
    acks = 0
    halfway = asyncio.Event()

    async def publisher():
        nonlocal acks
        for n in range(1, total + 1):
            await publish(pub, "seam", n)
            if n % 8 == 0:
                # Keep a bounded number in flight.
                while acks < n - 8:
                    doc = await recv_json(pub)
                    acks += doc["type"] == "published"
                    if acks >= 300:
                        halfway.set()
        while acks < total:
            doc = await recv_json(pub)
            acks += doc["type"] == "published"

    task = asyncio.create_task(publisher())
    seen = []
    while len(seen) < 100:
        doc = await recv_json(sub)
        assert doc["type"] == "message"
        seen.append(doc["offset"])
    await sub.close()
    # Away while publishing goes on, then back with since + epoch.
    await halfway.wait()  # bounded by the test deadline
    sub = await connect(h)
    await welcome(sub)
    back = await subscribe(sub, "seam", since=seen[-1], epoch=epoch)
    assert back["recovered"] is True and back["epoch"] == epoch
    assert back["offset"] >= seen[-1]
    await task
    while len(seen) < total:
        doc = await recv_json(sub)
        assert doc["type"] == "message", doc
        seen.append(doc["offset"])
    assert seen == list(range(1, total + 1))
    await sub.close()
    await pub.close()


@run_async()
async def test_since_with_another_epoch_is_not_recovered(hub):
    ws = await connect(hub)
    await welcome(ws)
    for n in range(3):
        await publish(ws, "ep", n)
        assert (await recv_json(ws))["type"] == "published"
    doc = await subscribe(ws, "ep", since=1, epoch="0000000000000000")
    assert doc["recovered"] is False and doc["offset"] == 3
    await ws.send(json.dumps({"type": "ping", "id": "after"}))
    assert (await recv_json(ws))["type"] == "pong"  # nothing replayed
    await ws.close()


@run_async()
async def test_since_older_than_retention_is_not_recovered(hubs):
    h = hubs("--history-size", "5")
    ws = await connect(h)
    await welcome(ws)
    for n in range(10):
        await publish(ws, "old", n)
        assert (await recv_json(ws))["type"] == "published"
    doc = await subscribe(ws, "old", since=2)
    assert doc["recovered"] is False and doc["offset"] == 10
    ok = await subscribe(ws, "old", since=5)
    assert ok["recovered"] is True
    got = [(await recv_json(ws))["offset"] for _ in range(5)]
    assert got == [6, 7, 8, 9, 10]
    await ws.close()


@run_async()
async def test_history_n_sends_the_last_n_first(hub):
    ws = await connect(hub)
    await welcome(ws)
    for n in range(1, 8):
        await publish(ws, "late", n)
        assert (await recv_json(ws))["type"] == "published"
    doc = await subscribe(ws, "late", history=3)
    assert doc["recovered"] is False and doc["offset"] == 7
    got = [await recv_json(ws) for _ in range(3)]
    assert [(m["offset"], m["data"]["n"]) for m in got] == [(5, 5), (6, 6), (7, 7)]
    await publish(ws, "late", 8)
    live = await recv_json(ws)
    assert live["type"] == "message" and live["offset"] == 8
    await ws.close()


@run_async()
async def test_since_ts_replays_what_came_after_that_time(hub):
    ws = await connect(hub)
    await welcome(ws)
    stamps = []
    sub = await connect(hub)
    await welcome(sub)
    await subscribe(sub, "ts")
    for n in range(4):
        await publish(ws, "ts", n)
        assert (await recv_json(ws))["type"] == "published"
        stamps.append((await recv_json(sub))["ts"])
    await sub.close()
    again = await connect(hub)
    await welcome(again)
    doc = await subscribe(again, "ts", since_ts=stamps[1])
    assert doc["recovered"] is True
    got = []
    await again.send(json.dumps({"type": "ping", "id": "end"}))
    while True:
        m = await recv_json(again)
        if m["type"] == "pong":
            break
        got.append(m["ts"])
    # Timestamps have millisecond resolution: messages in the same ms as
    # since_ts count as seen.
    assert got == [t for t in stamps if t > stamps[1]]
    await again.close()
    await ws.close()


@run_async()
async def test_history_command_and_http_history_page_through_messages(hub):
    ws = await connect(hub)
    await welcome(ws)
    for n in range(1, 6):
        await publish(ws, "hist", n)
        assert (await recv_json(ws))["type"] == "published"
    await ws.send(json.dumps({"type": "history", "channel": "hist", "since": 2, "limit": 2, "id": 9}))
    doc = await recv_json(ws)
    assert doc["type"] == "history" and doc["id"] == 9 and doc["offset"] == 5 and doc["complete"] is True
    assert [(m["offset"], m["data"]) for m in doc["messages"]] == [(3, {"n": 3}), (4, {"n": 4})]
    page = http_get(hub, "/api/channels/hist/history?since=3")
    assert page["channel"] == "hist" and page["epoch"] == doc["epoch"]
    assert [m["offset"] for m in page["messages"]] == [4, 5]
    assert page["messages"][0]["data"] == {"n": 4} and "ts" in page["messages"][0]
    await ws.send(json.dumps({"type": "history", "channel": "nobody-here"}))
    assert (await recv_json(ws))["code"] == "not_found"
    await ws.close()


@run_async()
async def test_history_prefix_rules_override_the_default_retention(hubs):
    h = hubs("--history-size", "50", "--history-prefix", "events.=3", "--history-prefix", "events.audit.=0")
    ws = await connect(h)
    await welcome(ws)
    for ch in ("events.x", "events.audit.y", "other"):
        for n in range(6):
            await publish(ws, ch, n)
            assert (await recv_json(ws))["type"] == "published"
    kept = {ch: [m["offset"] for m in http_get(h, "/api/channels/%s/history" % ch)["messages"]]
            for ch in ("events.x", "events.audit.y", "other")}
    assert kept == {"events.x": [4, 5, 6], "events.audit.y": [], "other": [1, 2, 3, 4, 5, 6]}
    await ws.close()


def test_bad_history_prefix_rule_fails_at_start():
    import subprocess
    from hubproc import hub_binary
    r = subprocess.run([hub_binary(), "serve", "--listen", "127.0.0.1:0", "--history-prefix", "events."],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "history-prefix" in r.stderr and r.stderr.count("\n") == 1
