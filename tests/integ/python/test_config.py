"""`wshub serve` configuration as a user meets it: --help, --version, invalid
values rejected at start with one line naming the value, environment variables
and their precedence under flags. Not for what each setting does once running
(the other test files)."""
import os
import re
import socket
import subprocess
import time

import pytest

from hubproc import hub_binary
from integ_clients import RawWS, scaled

LISTEN_ALL = re.compile(r"listening addr=127\.0\.0\.1:(\d+)")


def run_hub(args, env=None, timeout=5):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([hub_binary()] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          env=e, timeout=scaled(timeout))


def test_version_prints_0_1_0_and_exits_0():
    r = run_hub(["--version"])
    assert r.returncode == 0, r
    assert b"0.1.0" in r.stdout + r.stderr


def test_serve_help_lists_every_flag_and_exits_0():
    r = run_hub(["serve", "--help"])
    assert r.returncode == 0, r
    text = (r.stdout + r.stderr).decode()
    for flag in ("--listen", "--echo", "--max-message", "--max-queue", "--max-body", "--heartbeat",
                 "--request-timeout", "--drain-timeout", "--log-level", "--config"):
        assert flag in text, "%s missing from serve --help:\n%s" % (flag, text)


@pytest.mark.parametrize("args,needle", [
    (["--max-message", "abc"], "abc"),
    (["--max-message", "-5"], "-5"),
    (["--max-message", "10XB"], "10XB"),
    (["--max-queue", "lots"], "lots"),
    (["--max-body", "1.5.2"], "1.5.2"),
    (["--heartbeat", "soon"], "soon"),
    (["--heartbeat", "5parsecs"], "5parsecs"),
    (["--request-timeout", "x1"], "x1"),
    (["--drain-timeout", "-1s"], "-1s"),
    (["--log-level", "loud"], "loud"),
    (["--listen", "not-an-address"], "not-an-address"),
    (["--listen", "127.0.0.1:99999"], "99999"),
    (["--no-such-flag"], "--no-such-flag"),
])
def test_invalid_flag_value_exits_nonzero_with_one_line(args, needle):
    r = run_hub(["serve", "--listen", "127.0.0.1:0"] + args)
    assert r.returncode != 0, "hub accepted %r:\n%s" % (args, r.stderr.decode())
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.strip()]
    assert len(lines) == 1, "want exactly one stderr line for %r, got:\n%s" % (args, r.stderr.decode())
    assert needle in lines[0], "error line does not name %r: %s" % (needle, lines[0])
    if args[0].startswith("--") and args[0] != "--no-such-flag":
        assert args[0] in lines[0], "error line does not name the flag %s: %s" % (args[0], lines[0])


@pytest.mark.parametrize("var,value", [
    ("WSHUB_MAX_MESSAGE", "abc"),
    ("WSHUB_HEARTBEAT", "never"),
    ("WSHUB_LOG_LEVEL", "chatty"),
    ("WSHUB_MAX_QUEUE", "-1"),
])
def test_invalid_env_value_exits_nonzero_naming_it(var, value):
    r = run_hub(["serve", "--listen", "127.0.0.1:0"], env={var: value})
    assert r.returncode != 0, "hub accepted %s=%s" % (var, value)
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr.decode()
    assert value in lines[0], lines[0]


def test_missing_config_file_exits_nonzero(tmp_path):
    r = run_hub(["serve", "--listen", "127.0.0.1:0", "--config", str(tmp_path / "nope.conf")])
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.strip()]
    assert len(lines) == 1 and "nope.conf" in lines[0], r.stderr.decode()


def test_flag_overrides_environment(hubs):
    h = hubs("--heartbeat", "9", env={"WSHUB_HEARTBEAT": "4"})
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["heartbeat"] == 9


def test_environment_sets_value_without_flag(hubs):
    h = hubs(env={"WSHUB_HEARTBEAT": "4"})
    with RawWS.open(h.port) as ws:
        assert ws.recv_json()["heartbeat"] == 4


def test_environment_enables_echo(hubs):
    h = hubs(env={"WSHUB_ECHO": "1"})
    with RawWS.open(h.port, "/echo") as ws:
        ws.send_text("env-echo")
        assert ws.recv_frame().payload == b"env-echo"


def test_two_listen_addresses_both_serve(hubs):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port2 = s.getsockname()[1]
    s.close()  # a port that was free a moment ago; the hub binds it next
    h = hubs("--listen", "127.0.0.1:%d" % port2)
    # The harness returns at the first listening line; wait for the second.
    deadline = time.monotonic() + scaled(5)
    while True:
        ports = {int(p) for p in LISTEN_ALL.findall(h.log())}
        if len(ports) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.01)  # polling the log for the event
    assert port2 in ports and len(ports) == 2, "listening lines: %s" % h.log()
    for port in ports:
        with RawWS.open(port) as ws:
            assert ws.recv_json()["type"] == "welcome"


# --- config file (docs/configuration.md: `key = value` lines) -------------------

def write_conf(tmp_path, text):
    p = tmp_path / "wshub.conf"
    p.write_text(text)
    return str(p)


def welcome_heartbeat(port):
    with RawWS.open(port) as ws:
        return ws.recv_json()["heartbeat"]


def test_config_file_sets_values(hubs, tmp_path):
    conf = write_conf(tmp_path, "# test config\n\nheartbeat = 6   # seconds\necho = \"true\"\n")
    h = hubs("--config", conf)
    assert welcome_heartbeat(h.port) == 6
    with RawWS.open(h.port, "/echo") as ws:
        ws.send_text("from-file")
        assert ws.recv_frame().payload == b"from-file"


def test_config_file_named_by_environment(hubs, tmp_path):
    conf = write_conf(tmp_path, "heartbeat = 8\n")
    h = hubs(env={"WSHUB_CONFIG": conf})
    assert welcome_heartbeat(h.port) == 8


def test_environment_overrides_file_and_flag_overrides_both(hubs, tmp_path):
    conf = write_conf(tmp_path, "heartbeat = 6\n")
    h1 = hubs("--config", conf, env={"WSHUB_HEARTBEAT": "7"})
    assert welcome_heartbeat(h1.port) == 7
    h2 = hubs("--config", conf, "--heartbeat=9", env={"WSHUB_HEARTBEAT": "7"})
    assert welcome_heartbeat(h2.port) == 9


@pytest.mark.parametrize("text,needles", [
    ("heartbeat = soon\n", ["wshub.conf:1", "heartbeat", "soon"]),
    ("\n# ok\nmax-message = lots\n", ["wshub.conf:3", "max-message", "lots"]),
    ("no-such-key = 1\n", ["wshub.conf:1", "no-such-key"]),
    ("just words\n", ["wshub.conf:1"]),
])
def test_bad_config_file_line_exits_nonzero_naming_file_and_line(tmp_path, text, needles):
    conf = write_conf(tmp_path, text)
    r = run_hub(["serve", "--listen", "127.0.0.1:0", "--config", conf])
    assert r.returncode != 0, "hub accepted config %r" % text
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr.decode()
    for n in needles:
        assert n in lines[0], "%r not in %r" % (n, lines[0])
