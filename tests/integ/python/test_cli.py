"""The wshub CLI's client subcommands against the real hub: sub, pub (one
message, stdin lines, receipts), channels, history, presence, --url and WSHUB_URL,
resuming `sub` across a kill -9 and restart, and every exit code (0 ok,
1 hub error, 2 usage, 3 cannot connect, 4 timeout; docs/clients.md)."""
import json
import shutil
import socket
import tempfile

import pytest

from auth_tokens import SECRET, claims, hs256
from client_support import (Driver, FakeHub, RestartableHub, http_publish, run_cli, scaled, start_cli, wait_subscribers,
                            welcome)


def ws(hub):
    return "ws://127.0.0.1:%d/ws" % hub.port


def lines(out):
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_subscribed(hub, proc, channel):
    """Publishes markers until the running `sub` prints one, so later
    publishes cannot race its subscription. Returns the marker's line."""
    for _ in range(int(scaled(50))):
        http_publish(hub.port, channel, "marker")
        got = proc.try_line(0.2)
        if got is not False:
            return got
    raise AssertionError("sub printed nothing")


def test_pub_one_message_then_sub_since_prints_json_lines(hub):
    r = run_cli("pub", "news", '{"a":[1,2]}', url=ws(hub))
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == [{"type": "published", "channel": "news", "offset": 1}]
    r = run_cli("pub", "news", "plain words", url=ws(hub))  # not JSON: sent as a string
    assert r.returncode == 0, r.stderr
    r = run_cli("sub", "news", "--since", "0", "--count", "2", url=ws(hub))
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert [(m["channel"], m["offset"], m["data"]) for m in got] == [("news", 1, {"a": [1, 2]}),
                                                                      ("news", 2, "plain words")]
    assert all(len(m["epoch"]) == 16 and m["ts"] > 0 for m in got)


def test_pub_stdin_publishes_one_message_per_line(hub):
    r = run_cli("pub", "lines", "-", url=ws(hub), stdin='{"n":1}\n\n"two"\r\n3\nlast line')
    assert r.returncode == 0, r.stderr
    assert [m["offset"] for m in lines(r.stdout)] == [1, 2, 3, 4]
    r = run_cli("history", "lines", url=ws(hub))
    assert r.returncode == 0, r.stderr
    assert [m["data"] for m in lines(r.stdout)] == [{"n": 1}, "two", 3, "last line"]


def test_sub_prints_messages_of_several_channels_and_pretty(hub):
    p = start_cli("sub", "a", "b", "--since", "0", "--count", "3", url=ws(hub))
    try:
        http_publish(hub.port, "a", "marker")
        http_publish(hub.port, "b", {"x": 1})
        http_publish(hub.port, "a", "y")
        rc, out, err = p.wait()
    finally:
        p.kill()
    assert rc == 0, err
    got = sorted((m["channel"], m["offset"], m["data"]) for m in out)
    assert got == [("a", 1, "marker"), ("a", 2, "y"), ("b", 1, {"x": 1})]
    r = run_cli("sub", "a", "--history", "2", "--count", "2", "--pretty", url=ws(hub))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ['a #1  "marker"', 'a #2  "y"']


def test_sub_resumes_across_a_kill9_and_restart_without_gap_or_duplicate():
    d = tempfile.mkdtemp(prefix="wshub-cli-")
    rh = RestartableHub("--data-dir", d)
    p = start_cli("sub", "res", "--since", "0", "--count", "6", url=rh.url)
    try:
        # Publishes wait until the subscription is in place: a subscribe that
        # races a publish still being committed can miss it (a hub bug in
        # src/hub/replay.c with --data-dir, docs/clients.md), which is not
        # what this test is about.
        wait_subscribers(rh.port, "res")
        for n in range(3):
            http_publish(rh.port, "res", n)
        seen = [p.line() for _ in range(3)]
        rh.kill9()
        rh.restart()
        wait_subscribers(rh.port, "res")
        for n in range(3, 6):
            http_publish(rh.port, "res", n)
        rc, out, err = p.wait(timeout=20)
        assert rc == 0, err
        seen += out
        assert [m["offset"] for m in seen] == [1, 2, 3, 4, 5, 6]
        assert [m["data"] for m in seen] == [0, 1, 2, 3, 4, 5]
        assert "reconnected" in err
    finally:
        p.kill()
        rh.close()
        shutil.rmtree(d, ignore_errors=True)


def test_pub_receipts_all_arrive_exit_0_and_missing_ones_time_out_exit_4(hub):
    acker = start_cli("sub", "ov", "--ack", url=ws(hub))
    try:
        marker = wait_subscribed(hub, acker, "ov")
        r = run_cli("pub", "ov", '{"name":"A"}', "--receipts", "1", "--timeout", "5000", url=ws(hub))
        assert r.returncode == 0, r.stderr
        got = lines(r.stdout)
        assert {"type": "published", "channel": "ov", "offset": marker["offset"] + 1} in got
        receipts = [g for g in got if g["type"] == "receipt"]
        assert len(receipts) == 1 and receipts[0]["offset"] == marker["offset"] + 1 and receipts[0]["client"]
        # Two receipts asked, one subscriber: the second never comes.
        r = run_cli("pub", "ov", "1", "--receipts", "2", "--timeout", "300", url=ws(hub))
        assert r.returncode == 4
        assert "timed out" in r.stderr
    finally:
        acker.kill()


def test_channels_and_history(hub):
    for n in range(3):
        http_publish(hub.port, "h/x", n)
    r = run_cli("channels", url=ws(hub))
    assert r.returncode == 0, r.stderr
    chans = json.loads(r.stdout)["channels"]
    assert {"name": "h/x", "subscribers": 0, "offset": 3} in chans
    r = run_cli("channels", "--pretty", url=ws(hub))
    assert r.returncode == 0 and "h/x" in r.stdout and r.stdout.startswith("CHANNEL")
    r = run_cli("history", "h/x", "--since", "1", "--limit", "1", url=ws(hub))
    assert r.returncode == 0, r.stderr
    assert [(m["channel"], m["offset"], m["data"]) for m in lines(r.stdout)] == [("h/x", 2, 1)]


def test_wshub_url_environment_variable_is_the_default_url(hub):
    r = run_cli("pub", "envch", "1", env={"WSHUB_URL": ws(hub)})
    assert r.returncode == 0, r.stderr
    r = run_cli("history", "envch", env={"WSHUB_URL": ws(hub)})
    assert r.returncode == 0 and lines(r.stdout)[0]["data"] == 1


def test_hub_error_answers_exit_1(hub):
    r = run_cli("history", "never-used", url=ws(hub))
    assert r.returncode == 1
    assert "404" in r.stderr and "not_found" in r.stderr

    async def refuse_publish(wsock, n):
        await wsock.send(welcome())
        async for raw in wsock:
            req = json.loads(raw)
            await wsock.send(json.dumps({"type": "error", "code": "unavailable", "message": "disk full",
                                         "id": req.get("id")}))

    fake = FakeHub(refuse_publish)
    try:
        r = run_cli("pub", "c", "1", url=fake.url)
        assert r.returncode == 1
        assert "unavailable: disk full" in r.stderr
    finally:
        fake.stop()


@pytest.mark.parametrize("code", [4001, 1008])
def test_sub_refused_by_the_hub_exits_1_without_retrying(code):
    async def refuse(wsock, n):
        await wsock.send(welcome())
        await wsock.close(code)

    fake = FakeHub(refuse)
    try:
        r = run_cli("sub", "c", url=fake.url)
        assert r.returncode == 1
        assert "refused by the hub (close code %d)" % code in r.stderr
        assert fake.connections == 1
    finally:
        fake.stop()


@pytest.mark.parametrize("args", [
    ["sub"], ["pub"], ["pub", "c", "1", "2"], ["channels", "x"], ["history"],
    ["sub", "c", "--since"], ["sub", "c", "--since", "-1"], ["sub", "c", "--bogus"],
    ["pub", "bad name", "1"], ["sub", "c", "--url", "http://127.0.0.1:1/ws"],
    ["presence"], ["presence", "a", "b"], ["presence", "bad name"], ["presence", "x" * 256],
])
def test_usage_errors_exit_2(args):
    r = run_cli(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("wshub: ")


def test_help_exits_0():
    r = run_cli("sub", "--help")
    assert r.returncode == 0 and "exit codes" in r.stdout


@pytest.mark.parametrize("args", [["sub", "c"], ["pub", "c", "1"], ["channels"], ["history", "c"],
                                  ["presence", "c"]])
def test_unreachable_hub_exits_3_with_one_clear_line(args):
    url = "ws://127.0.0.1:%d/ws" % free_port()
    r = run_cli(*args, url=url)
    assert r.returncode == 3
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wshub: cannot reach the hub at ")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_wss_and_https_verify_the_hub_certificate(hubs, tmp_path):
    """libwshub's TLS (wss://) and the CLI's HTTP client (https://) verify the
    hub against --ca-file; an untrusted certificate is a connect error (3)
    unless --insecure."""
    from test_tls import make_cert
    cert, key = make_cert(str(tmp_path), "hub")
    h = hubs("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, tls=True)
    url = "wss://127.0.0.1:%d/ws" % h.tls_port
    r = run_cli("pub", "sec", '{"s":1}', "--ca-file", cert, url=url)
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == [{"type": "published", "channel": "sec", "offset": 1}]
    r = run_cli("sub", "sec", "--since", "0", "--count", "1", "--ca-file", cert, url=url)
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout)[0]["data"] == {"s": 1}
    r = run_cli("history", "sec", "--ca-file", cert, url=url)
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout)[0]["data"] == {"s": 1}
    for args in (["pub", "sec", "2"], ["channels"]):
        r = run_cli(*args, url=url)  # the system CAs do not know this certificate
        assert r.returncode == 3, r.stderr
        assert "TLS" in r.stderr
    r = run_cli("pub", "sec", "2", "--insecure", url=url)
    assert r.returncode == 0, r.stderr


def test_token_is_sent_as_a_bearer_header_from_flag_or_environment():
    seen = []

    async def record(wsock, n):
        seen.append(wsock.request_headers.get("Authorization"))
        await wsock.send(welcome())
        async for raw in wsock:
            req = json.loads(raw)
            await wsock.send(json.dumps({"type": "published", "channel": req["channel"], "offset": n,
                                         "id": req["id"]}))

    fake = FakeHub(record)
    try:
        r = run_cli("pub", "c", "1", "--token", "tok-flag", url=fake.url)
        assert r.returncode == 0, r.stderr
        r = run_cli("pub", "c", "2", url=fake.url, env={"WSHUB_TOKEN": "tok-env"})
        assert r.returncode == 0, r.stderr
        r = run_cli("pub", "c", "3", url=fake.url)
        assert r.returncode == 0, r.stderr
    finally:
        fake.stop()
    assert seen == ["Bearer tok-flag", "Bearer tok-env", None]


@pytest.fixture
def cleanup_drivers():
    """libwshub drivers a test started, killed at teardown whatever the outcome."""
    items = []
    yield items
    for d in items:
        d.kill()


PRESENCE_NS = ["--namespace", "room.:anon-sub,anon-pub,presence", "--namespace", "plain.:anon-sub,anon-pub"]


def test_presence_prints_the_list_as_json_or_a_table_and_exits_1_without_the_flag(hubs, cleanup_drivers):
    hub = hubs("--token-secret", SECRET, *PRESENCE_NS)
    r = run_cli("presence", "room.p", url=ws(hub))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"channel": "room.p", "count": 0, "truncated": False, "clients": []}
    # Two subscribers, one with a user that holds a terminal escape sequence.
    anon = Driver(ws(hub))
    user = Driver(ws(hub), "--token", hs256(claims(user="ann\x1b[31m", subs=["room.*"])))
    cleanup_drivers += [anon, user]
    ids = {}
    for name, d in (("anon", anon), ("user", user)):
        ids[name] = d.state("CONNECTED")["client"]
        d.send("sub room.p")
    wait_subscribers(hub.port, "room.p", 2)
    r = run_cli("presence", "room.p", url=ws(hub))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1  # one JSON document, like `channels`
    got = json.loads(r.stdout)
    assert (got["channel"], got["count"], got["truncated"]) == ("room.p", 2, False)
    assert sorted(got["clients"], key=lambda c: c["client"]) == sorted(
        [{"client": ids["anon"]}, {"client": ids["user"], "user": "ann\x1b[31m"}], key=lambda c: c["client"])
    r = run_cli("presence", "room.p", "--pretty", url=ws(hub))
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split() == ["CLIENT", "USER"]
    assert sorted(row.split() for row in rows[1:]) == sorted([[ids["anon"], "-"], [ids["user"], "ann?[31m"]])
    assert "\x1b" not in r.stdout  # nothing from the hub drives the terminal
    r = run_cli("presence", "plain.p", url=ws(hub))
    assert r.returncode == 1 and r.stdout == ""
    assert "404" in r.stderr and "presence_disabled" in r.stderr


def test_presence_pretty_says_when_the_hub_truncated_the_list(hubs):
    from integ_clients import RawWS
    # max-queue 4 KiB: the list may take at most 2 KiB of an answer.
    hub = hubs(*PRESENCE_NS, "--max-queue", "4096")
    socks = []
    try:
        for i in range(40):
            socks.append(RawWS.open(hub.port, path="/ws?channels=room.big",
                                    headers=[("X-Client-Id", "c%02d-" % i + "x" * 59)]))
        wait_subscribers(hub.port, "room.big", 40)
        r = run_cli("presence", "room.big", url=ws(hub))
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert got["count"] == 40 and got["truncated"] is True and 0 < len(got["clients"]) < 40
        r = run_cli("presence", "room.big", "--pretty", url=ws(hub))
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == "(%d of 40 listed: the hub truncated the list)" % len(got["clients"])
    finally:
        for s in socks:
            s.close()


def test_presence_uses_the_api_key_and_times_out_with_4(hubs):
    hub = hubs(*PRESENCE_NS, "--api-key", "cli-key-12345")
    r = run_cli("presence", "room.k", url=ws(hub))
    assert r.returncode == 1 and "401" in r.stderr
    r = run_cli("presence", "room.k", url=ws(hub), env={"WSHUB_TOKEN": "cli-key-12345"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["count"] == 0
    # A listener that never answers: the request times out.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        r = run_cli("presence", "room.k", "--timeout", "300", url="ws://127.0.0.1:%d/ws" % silent.getsockname()[1])
    finally:
        silent.close()
    assert r.returncode == 4
    assert r.stderr.startswith("wshub: no answer from ")
