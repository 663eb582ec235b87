"""Several workers (event-loop threads, SO_REUSEPORT): publishes made on any
worker reach subscribers on every worker exactly once and, per channel, in
offset order, while several publishers race on the same channels. Not for
single-worker behaviour (test_pubsub.py)."""
import asyncio
import json

import pytest

from conftest import run_async
from integ_clients import connect, recv_json, welcome

SUBSCRIBERS = 60
CHANNELS = 6
PUBLISHERS = 6
PER_PUBLISHER = 150  # messages per publisher, spread over every channel


@pytest.mark.parametrize("workers", [2, 4])
@run_async(deadline=90)
async def test_every_worker_gets_each_channel_in_order_exactly_once(hubs, workers):
    h = hubs("--workers", str(workers))
    assert ("workers=%d" % workers) in h.log()  # the harness waited for the ready line
    names = ["w.%d" % c for c in range(CHANNELS)]
    subs = []
    for i in range(SUBSCRIBERS):
        # Every subscriber takes every channel, so each worker that accepted
        # one has local subscribers on all of them.
        ws = await connect(h, "/ws?channels=" + ",".join(names))
        await welcome(ws)
        for _ in names:
            assert (await recv_json(ws))["type"] == "subscribed"
        subs.append(ws)
    pubs = []
    for _ in range(PUBLISHERS):
        ws = await connect(h, "/ws")
        await welcome(ws)
        pubs.append(ws)

    async def publish_all(p, ws):
        # Publishers race: each keeps up to 16 publishes in flight.
        pending = 0
        sent = 0
        while sent < PER_PUBLISHER or pending:
            while sent < PER_PUBLISHER and pending < 16:
                ch = names[(p + sent) % CHANNELS]
                await ws.send(json.dumps({"type": "publish", "channel": ch, "data": {"p": p, "n": sent}}))
                sent += 1
                pending += 1
            reply = await recv_json(ws, 20)
            assert reply["type"] == "published", reply
            pending -= 1

    await asyncio.gather(*(publish_all(p, ws) for p, ws in enumerate(pubs)))
    total = PUBLISHERS * PER_PUBLISHER
    per_channel = {n: total // CHANNELS + (1 if c < total % CHANNELS else 0) for c, n in enumerate(names)}

    async def collect(ws):
        got = {n: [] for n in names}
        seen = 0
        while seen < total:
            doc = await recv_json(ws, 20)
            assert doc["type"] == "message", doc
            got[doc["channel"]].append((doc["offset"], doc["data"]["p"], doc["data"]["n"]))
            seen += 1
        return got

    results = await asyncio.gather(*(collect(ws) for ws in subs))
    reference = None
    for got in results:
        for n in names:
            offsets = [o for o, _, _ in got[n]]
            # In order, gap-free, no duplicate: exactly 1..count.
            assert offsets == list(range(1, per_channel[n] + 1)), (n, offsets[:20])
        if reference is None:
            reference = got
        else:
            # Every subscriber saw the same message under each offset.
            assert got == reference
    # Each publisher's own messages keep their relative order within a channel.
    for n in names:
        for p in range(PUBLISHERS):
            seq = [k for _, pp, k in reference[n] if pp == p]
            assert seq == sorted(seq)
    for ws in subs + pubs:
        await ws.close()
