"""GET /metrics on the real hub: the Prometheus text names every metric, and
the numbers move as the hub works — clients, subscriptions and channels
gauges, published and delivered counters, the publish-to-write latency
histogram, closes by code, slow-consumer closes and HTTP requests and errors.
Scrapes go over one keep-alive connection so the scraper itself is a constant.
Not for the exposition format's unit-level details (tests/unit/test_obs_metrics.c)."""
import asyncio
import time

from conftest import run_async
from integ_clients import RawConn, RawWS, connect, one_request, recv_json, scaled

JSON_HDR = [("Content-Type", "application/json")]


class Scraper:
    def __init__(self, port):
        self.conn = RawConn(port)

    def raw(self):
        self.conn.request("GET", "/metrics")
        resp = self.conn.read_response()
        assert resp.status == 200, resp
        return resp

    def __call__(self):
        vals = {}
        for line in self.raw().body.decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                vals[k] = float(v)
        return vals

    def wait_for(self, pred, what, timeout=5):
        """Scrapes until pred(values) holds; the hub updates some gauges only
        after an asynchronous close."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            vals = self()
            if pred(vals):
                return vals
            assert time.monotonic() < deadline, "metrics never showed %s: %r" % (what, vals)
            time.sleep(0.01)  # polling /metrics for the asynchronous update

    def close(self):
        self.conn.close()


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


async def open_ws(hub, path="/ws"):
    ws = await connect(hub, path)
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def barrier(ws):
    await ws.send('{"type":"ping","id":"b"}')
    out = []
    while True:
        doc = await recv_json(ws)
        if doc["type"] == "pong" and doc.get("id") == "b":
            return out
        out.append(doc)


SIMPLE = ["wshub_connections", "wshub_connections_total", "wshub_clients", "wshub_clients_total",
          "wshub_subscriptions", "wshub_channels", "wshub_messages_published_total",
          "wshub_messages_delivered_total", "wshub_bytes_received_total", "wshub_bytes_sent_total",
          "wshub_slow_consumer_closes_total", "wshub_http_requests_total", "wshub_http_errors_total",
          "wshub_presence_entries", "wshub_presence_refused_total"]


def test_metrics_is_prometheus_text_with_every_metric(hub):
    s = Scraper(hub.port)
    try:
        resp = s.raw()
        assert resp.header("content-type").startswith("text/plain; version=0.0.4"), resp
        text = resp.body.decode()
        for name in SIMPLE:
            assert "\n# TYPE %s " % name in "\n" + text, name
            assert "\n%s " % name in "\n" + text, name
        for code in ("1000", "1001", "1002", "1003", "1007", "1008", "1009", "1011", "4008", "other"):
            assert 'wshub_ws_closes_total{code="%s"} ' % code in text, code
        assert 'wshub_publish_write_latency_seconds_bucket{le="+Inf"} ' in text
        assert "wshub_publish_write_latency_seconds_count " in text
        assert text.endswith("\n")
        # A fresh hub has published and delivered nothing.
        vals = s()
        assert vals["wshub_messages_published_total"] == 0
        assert vals["wshub_messages_delivered_total"] == 0
        assert vals["wshub_subscriptions"] == 0 and vals["wshub_channels"] == 0
    finally:
        s.close()


@run_async()
async def test_clients_subscriptions_and_channels_gauges_follow_the_clients(hub):
    s = Scraper(hub.port)
    try:
        v0 = s()
        a = await open_ws(hub, "/ws?channels=g1,g2")
        b = await open_ws(hub, "/ws?channels=g1")
        for ws, n in ((a, 2), (b, 1)):
            for _ in range(n):
                assert (await recv_json(ws))["type"] == "subscribed"
        v1 = s()
        assert delta(v1, v0, "wshub_clients") == 2
        assert delta(v1, v0, "wshub_clients_total") == 2
        assert delta(v1, v0, "wshub_connections") == 2
        assert delta(v1, v0, "wshub_subscriptions") == 3
        assert delta(v1, v0, "wshub_channels") == 2
        # Re-subscribing changes nothing; unsubscribing drops one.
        await a.send('{"type":"subscribe","channel":"g1"}')
        assert (await recv_json(a))["type"] == "subscribed"
        await a.send('{"type":"unsubscribe","channel":"g2"}')
        assert (await recv_json(a))["type"] == "unsubscribed"
        v2 = s()
        assert delta(v2, v0, "wshub_subscriptions") == 2
        assert delta(v2, v0, "wshub_channels") == 1
        # Leaving brings every gauge back; the totals stay.
        await a.close()
        await b.close()
        v3 = s.wait_for(lambda v: v["wshub_clients"] == v0["wshub_clients"], "both clients gone")
        assert v3["wshub_subscriptions"] == v0["wshub_subscriptions"]
        assert v3["wshub_channels"] == v0["wshub_channels"]
        assert delta(v3, v0, "wshub_clients_total") == 2
        assert delta(v3, v0, "wshub_connections_total") == 2
    finally:
        s.close()


@run_async()
async def test_published_delivered_and_latency_count_move_per_message(hub):
    s = Scraper(hub.port)
    subs = [await open_ws(hub, "/ws?channels=count") for _ in range(3)]
    pub = await open_ws(hub)
    try:
        for ws in subs:
            assert (await recv_json(ws))["type"] == "subscribed"
        v0 = s()
        for i in range(4):  # over HTTP
            assert one_request(hub.port, "POST", "/api/channels/count/publish", JSON_HDR, b"%d" % i).status == 200
        for i in range(2):  # over WebSocket
            await pub.send('{"type":"publish","channel":"count","data":%d}' % i)
            assert (await recv_json(pub))["type"] == "published"
        # To nobody: published, not delivered.
        assert one_request(hub.port, "POST", "/api/channels/nobody/publish", JSON_HDR, b"1").status == 200
        # Refused publishes count as neither.
        assert one_request(hub.port, "POST", "/api/channels/count/publish", JSON_HDR, b"[1,]").status == 400
        await pub.send('{"type":"publish","channel":"count","data":01}')
        assert (await recv_json(pub))["type"] == "error"
        # Every subscriber has every message, so every frame has been written.
        for ws in subs:
            assert len(await barrier(ws)) == 6
        v1 = s()
        assert delta(v1, v0, "wshub_messages_published_total") == 7
        assert delta(v1, v0, "wshub_messages_delivered_total") == 18
        # One latency sample per socket write that completed message frames
        # (docs/operations.md): at least one, at most one per delivery.
        samples = delta(v1, v0, "wshub_publish_write_latency_seconds_count")
        assert 1 <= samples <= 18
        assert delta(v1, v0, 'wshub_publish_write_latency_seconds_bucket{le="+Inf"}') == samples
        assert delta(v1, v0, "wshub_publish_write_latency_seconds_sum") >= 0
        buckets = sorted((float(k.split('"')[1]), v) for k, v in v1.items()
                         if k.startswith("wshub_publish_write_latency_seconds_bucket") and "+Inf" not in k)
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), buckets  # cumulative
        assert delta(v1, v0, "wshub_bytes_received_total") > 0
        assert delta(v1, v0, "wshub_bytes_sent_total") > 18 * len('{"type":"message"')
    finally:
        for ws in subs + [pub]:
            await ws.close()
        s.close()


@run_async()
async def test_closes_are_counted_by_code(hub):
    s = Scraper(hub.port)
    try:
        v0 = s()
        ws = await open_ws(hub)
        await ws.close(1000)  # the hub echoes 1000
        ws = await open_ws(hub)
        await ws.send(b"\x00binary")  # 1003 on /ws
        try:
            await asyncio.wait_for(ws.recv(), scaled(5))
        except Exception:
            pass
        await ws.wait_closed()
        assert ws.close_code == 1003, ws.close_code
        v1 = s.wait_for(lambda v: delta(v, v0, 'wshub_ws_closes_total{code="1003"}') == 1, "the 1003 close")
        assert delta(v1, v0, 'wshub_ws_closes_total{code="1000"}') == 1
        assert delta(v1, v0, 'wshub_ws_closes_total{code="4008"}') == 0
    finally:
        s.close()


def test_http_requests_and_errors_are_counted(hub):
    s = Scraper(hub.port)
    try:
        v0 = s()
        with RawConn(hub.port) as c:
            for req, status in ((("GET", "/nowhere"), 404), (("GET", "/api/channels/x/publish"), 405),
                                (("POST", "/api/channels/x/publish", JSON_HDR, b"{"), 400),
                                (("POST", "/api/channels/x/publish", JSON_HDR, b"1"), 200),
                                (("GET", "/api/channels"), 200)):
                c.request(*req)
                assert c.read_response().status == status
        v1 = s()
        # The five above plus the first scrape (counted once answered).
        assert delta(v1, v0, "wshub_http_requests_total") == 6
        assert delta(v1, v0, "wshub_http_errors_total") == 3
    finally:
        s.close()


@run_async(deadline=60)
async def test_slow_consumer_close_is_counted(hubs):
    h = hubs("--max-queue", "65536")
    s = Scraper(h.port)
    slow = RawWS.open(h.port, "/ws?channels=flood", rcvbuf=4096)
    pub = await open_ws(h)
    try:
        v0 = s()
        data = '"%s"' % ("f" * 16000)
        deadline = time.monotonic() + scaled(30)
        while True:
            await pub.send('{"type":"publish","channel":"flood","data":%s}' % data)
            assert (await recv_json(pub))["type"] == "published"
            v = s()
            if delta(v, v0, "wshub_slow_consumer_closes_total"):
                break
            assert time.monotonic() < deadline, "no slow-consumer close"
        assert delta(v, v0, "wshub_slow_consumer_closes_total") == 1
        assert delta(v, v0, 'wshub_ws_closes_total{code="4008"}') == 1
        # The subscription goes with the connection.
        slow.close()
        s.wait_for(lambda x: x["wshub_subscriptions"] == v0["wshub_subscriptions"] - 1, "the subscription dropped")
    finally:
        slow.close()
        await pub.close()
        s.close()
