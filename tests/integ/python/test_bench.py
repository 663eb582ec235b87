"""`wshub bench`, the load generator, run briefly against a real `wshub serve`:
its JSON summary (counts, latency quantiles, errors, server RSS and CPU), the
exact delivery count of a --count run over WebSocket and over pipelined HTTP,
--rate, --idle, connect errors, and refusals of bad flags and non-loopback
hosts. Not a performance test: the runs are tiny and only check that the
numbers are consistent (docs/bench-tool.md has the measured ones)."""
import json
import os
import shlex
import socket
import subprocess

import pytest

from hubproc import hub_binary, timeout_scale

LATENCY_KEYS = ["p50", "p90", "p99", "p999", "max"]


def bench_cmd():
    """The bench is a subcommand of the hub binary; WSHUB_BENCH_CMD overrides
    it (e.g. a development build of the bench alone)."""
    override = os.environ.get("WSHUB_BENCH_CMD")
    return shlex.split(override) if override else [hub_binary(), "bench"]


def run_bench(*args, timeout=60):
    proc = subprocess.run(bench_cmd() + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout * timeout_scale())
    return proc


def run_json(*args, expect_rc=0, timeout=60):
    proc = run_bench(*args, "--quiet", timeout=timeout)
    assert proc.returncode == expect_rc, "exit %s\nstdout: %s\nstderr: %s" % (proc.returncode, proc.stdout,
                                                                              proc.stderr)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # one JSON document, nothing else on stdout
    return json.loads(lines[0])


def assert_no_errors(doc):
    assert doc["errors"] == {"connect": 0, "handshake": 0, "protocol": 0, "closed": 0}, doc


def assert_latency_ordered(doc):
    lat = doc["latency_us"]
    assert lat["samples"] > 0, doc
    values = [lat[k] for k in LATENCY_KEYS]
    assert all(isinstance(v, (int, float)) for v in values), lat
    assert 0 <= values[0], lat
    assert values == sorted(values), lat  # p50 <= p90 <= p99 <= p999 <= max


def url_of(hub):
    return "ws://127.0.0.1:%d/ws" % hub.port


def test_count_run_delivers_every_publish_to_every_subscriber_of_its_channel(hub):
    doc = run_json("--url", url_of(hub), "--subscribers", "20", "--channels", "2", "--publishers", "1",
                   "--count", "200", "--server-pid", str(hub.proc.pid))
    assert doc["tool"] == "wshub bench"
    assert (doc["protocol"], doc["publish_via"], doc["url"]) == ("wshub", "ws", url_of(hub))
    assert (doc["subscribers"], doc["channels"], doc["publishers"], doc["payload"]) == (20, 2, 1, 64)
    assert doc["subscribers_ready"] == 20
    assert doc["published"] == 200
    # Publishers cycle through the channels; each has 10 subscribers.
    assert doc["delivered"] == doc["published"] * 10 == 2000
    assert doc["delivered_expected"] == 2000
    assert doc["delivered_per_s"] > 0 and doc["publish_per_s"] > 0
    assert_no_errors(doc)
    assert_latency_ordered(doc)
    assert doc["latency_us"]["samples"] == doc["delivered"]
    server = doc["server"]
    assert server["pid"] == hub.proc.pid
    for key in ("rss_before", "rss_idle", "rss_end"):
        assert isinstance(server[key], int) and server[key] > 0, server
    assert server["cpu_s"] >= 0 and server["cpu_s_per_million_deliveries"] >= 0, server
    assert doc["self"]["cpu_s"] >= 0


def test_http_publishing_pipelines_keepalive_posts(hub):
    doc = run_json("--url", url_of(hub), "--subscribers", "12", "--channels", "3", "--publishers", "2",
                   "--publish-via", "http", "--inflight", "8", "--count", "150", "--payload", "300")
    assert doc["publish_via"] == "http"
    assert doc["published"] == 150
    assert doc["delivered"] == 150 * 4
    assert_no_errors(doc)
    assert_latency_ordered(doc)
    # Without --server-pid every server field is null.
    assert set(doc["server"].values()) == {None}, doc["server"]


def test_timed_run_with_rate_publishes_at_most_that_rate(hub):
    doc = run_json("--url", url_of(hub), "--subscribers", "10", "--duration", "1", "--warmup", "0.2",
                   "--rate", "200")
    assert 0 < doc["published"] and doc["duration_s"] >= 0.9
    assert doc["publish_per_s"] <= 200 * 1.1, doc
    assert doc["delivered"] == doc["delivered_expected"] == doc["published"] * 10
    assert_no_errors(doc)
    assert_latency_ordered(doc)


def test_idle_run_reports_rss_per_connection_without_publishing(hub):
    doc = run_json("--url", url_of(hub), "--subscribers", "50", "--channels", "5", "--idle", "--duration",
                   "0.3", "--server-pid", str(hub.proc.pid))
    assert doc["idle"] is True
    assert doc["subscribers_ready"] == 50
    assert doc["published"] == 0 and doc["delivered"] == 0
    assert doc["latency_us"]["samples"] == 0 and doc["latency_us"]["p50"] is None
    assert doc["server"]["rss_idle"] >= doc["server"]["rss_before"] > 0
    assert doc["server"]["rss_per_conn"] is not None
    assert_no_errors(doc)


def test_closed_port_counts_connect_errors_and_exits_1():
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc = run_json("--url", "ws://127.0.0.1:%d/ws" % port, "--subscribers", "5", "--count", "1",
                   expect_rc=1)
    assert doc["errors"]["connect"] == 6  # 5 subscribers and the publisher
    assert doc["delivered"] == 0


@pytest.mark.parametrize("url", ["ws://10.0.0.1:8080/ws", "ws://192.168.1.1/ws", "ws://example.com:80/ws",
                                 "ws://0.0.0.0:80/ws", "http://127.0.0.1:80/ws"])
def test_non_loopback_or_malformed_url_is_refused_before_any_connection(url):
    proc = run_bench("--url", url, "--count", "1", timeout=10)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--url" in lines[0], proc.stderr


@pytest.mark.parametrize("args,named", [
    (["--subscribers", "many"], "many"),
    (["--channels", "0"], "0"),
    (["--publish-via", "carrier-pigeon"], "carrier-pigeon"),
    (["--protocol", "mqtt"], "mqtt"),
    (["--protocol", "nchan", "--publish-via", "ws"], "ws"),
    (["--payload", "8"], "8"),
    (["--rate", "-5"], "-5"),
    (["--duration", "soon"], "soon"),
    (["--server-pid", "1073741824"], "1073741824"),
    (["--frobnicate", "1"], "--frobnicate"),
])
def test_bad_flag_exits_2_with_one_line_naming_the_value(args, named):
    proc = run_bench(*args, timeout=10)
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], proc.stderr


def test_help_lists_every_flag():
    proc = run_bench("--help", timeout=10)
    assert proc.returncode == 0
    for flag in ("--url", "--protocol", "--subscribers", "--channels", "--publishers", "--publish-via",
                 "--rate", "--inflight", "--duration", "--count", "--payload", "--warmup", "--source-addrs",
                 "--server-pid", "--idle", "--connect-rate", "--quiet"):
        assert flag in proc.stdout, flag
