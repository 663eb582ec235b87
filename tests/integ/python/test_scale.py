"""Fan-out at scale: 1,000 WebSocket connections over 100 channels (one to
three channels each, subscribed with ?channels= on connect), messages
published to every channel over WebSocket and HTTP; every connection must
receive exactly the messages of its channels — none lost, none duplicated,
none foreign — in offset order per channel. Not for error paths
(test_pubsub.py)."""
import asyncio
import json
import time

from conftest import run_async
from integ_clients import connect, one_request, recv_json, scaled

CONNS = 1000
CHANNELS = 100
PER_CHANNEL = 10          # messages per channel: half over WS, half over HTTP
OPEN_BATCH = 100          # connections opened concurrently


def channels_of(i):
    """Connection i subscribes to 1-3 distinct channels."""
    return ["scale/%02d" % ((i + 17 * j) % CHANNELS) for j in range(1 + i % 3)]


def payload(ch, m):
    return '{"ch":"%s","m":%d}' % (ch, m)


@run_async(deadline=90)
async def test_1000_connections_over_100_channels_get_exactly_their_messages(hub):
    t_start = time.monotonic()
    conns = [None] * CONNS

    async def open_one(i):
        ws = await connect(hub, "/ws?channels=" + ",".join(channels_of(i)), open_timeout=scaled(30))
        assert (await recv_json(ws, 30))["type"] == "welcome"
        for ch in channels_of(i):
            r = await recv_json(ws, 30)
            assert (r["type"], r["channel"]) == ("subscribed", ch), r
        conns[i] = ws

    received = [[] for _ in range(CONNS)]

    async def read_all(i):
        ws = conns[i]
        while True:
            raw = await ws.recv()
            doc = json.loads(raw)
            if doc["type"] == "message":
                received[i].append((doc["channel"], doc["offset"], json.dumps(doc["data"], separators=(",", ":"))))
            elif doc["type"] == "pong" and doc.get("id") == "end":
                return
            else:
                raise AssertionError("connection %d: unexpected %r" % (i, raw[:200]))

    pub = None
    try:
        for start in range(0, CONNS, OPEN_BATCH):
            await asyncio.gather(*(open_one(i) for i in range(start, min(start + OPEN_BATCH, CONNS))))
        subs_per_channel = {}
        for i in range(CONNS):
            for ch in channels_of(i):
                subs_per_channel[ch] = subs_per_channel.get(ch, 0) + 1
        info = json.loads(one_request(hub.port, "GET", "/api/channels").body)
        assert {c["name"]: c["subscribers"] for c in info["channels"]} == subs_per_channel
        t_open = time.monotonic()

        readers = [asyncio.ensure_future(read_all(i)) for i in range(CONNS)]
        all_channels = ["scale/%02d" % c for c in range(CHANNELS)]

        # First half over one WebSocket publisher, a round of 100 pipelined
        # publishes at a time.
        pub = await connect(hub)
        assert (await recv_json(pub))["type"] == "welcome"
        half = PER_CHANNEL // 2
        for m in range(half):
            for ch in all_channels:
                await pub.send('{"type":"publish","channel":"%s","data":%s}' % (ch, payload(ch, m)))
            offsets = {}
            for _ in all_channels:
                r = await recv_json(pub, 30)
                assert r["type"] == "published", r
                offsets[r["channel"]] = r["offset"]
            assert offsets == {ch: m + 1 for ch in all_channels}

        # Second half over HTTP: per channel, and 50 channels at a time
        # through POST /api/publish.
        def http_round(m):
            if m % 2:
                for ch in all_channels:
                    resp = one_request(hub.port, "POST", "/api/channels/%s/publish" % ch.replace("/", "%2F"),
                                       [("Content-Type", "application/json")], payload(ch, m).encode())
                    assert resp.json() == {"channel": ch, "offset": m + 1}, resp
            else:
                for part in (all_channels[:50], all_channels[50:]):
                    # One data for many channels: the payload names the round only.
                    body = json.dumps({"channels": part, "data": {"ch": "*", "m": m}}).encode()
                    resp = one_request(hub.port, "POST", "/api/publish", [("Content-Type", "application/json")], body)
                    assert resp.json() == {"results": [{"channel": ch, "offset": m + 1} for ch in part]}, resp
        for m in range(half, PER_CHANNEL):
            await asyncio.to_thread(http_round, m)
        t_pub = time.monotonic()

        # Every publish is acknowledged, so every frame is queued ahead of the
        # pong each connection now asks for.
        for ws in conns:
            await ws.send('{"type":"ping","id":"end"}')
        await asyncio.wait_for(asyncio.gather(*readers), scaled(60))
        t_recv = time.monotonic()

        def want_data(ch, m):
            if m >= half and m % 2 == 0:
                return '{"ch":"*","m":%d}' % m
            return payload(ch, m)

        total = 0
        for i in range(CONNS):
            got = received[i]
            mine = channels_of(i)
            assert len(got) == PER_CHANNEL * len(mine), (i, len(got))
            for ch in mine:
                seq = [(off, data) for c, off, data in got if c == ch]
                assert seq == [(m + 1, want_data(ch, m)) for m in range(PER_CHANNEL)], (i, ch, seq[:3])
            total += len(got)
        assert total == PER_CHANNEL * sum(subs_per_channel.values())
        print("scale: open %.1fs publish %.1fs deliver %.1fs, %d frames"
              % (t_open - t_start, t_pub - t_open, t_recv - t_pub, total))
    finally:
        await asyncio.gather(*(ws.close() for ws in conns if ws is not None), return_exceptions=True)
        if pub is not None:
            await pub.close()
