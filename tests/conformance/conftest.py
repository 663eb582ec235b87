"""Pytest fixtures for the RFC 6455 conformance suite: one echo hub for the
whole session (restarted, and the test failed, if it dies), and a factory of
raw WebSocket connections to it that are closed after each test. Not a place
for test logic: the cases live in test_<group>_*.py.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
sys.path.insert(0, HERE)

import pytest  # noqa: E402

from hubproc import Hub, hub_binary, timeout_scale  # noqa: E402
from wsclient import WsClient  # noqa: E402

# The echo endpoint with limits that let group 9's 16 MiB messages through,
# and permessage-deflate for groups 12-13 (connections that do not offer it,
# groups 1-10, are unaffected: the hub only uses it where it was agreed).
HUB_ARGS = ("--echo", "--max-message", "16777216", "--max-queue", "67108864", "--permessage-deflate")


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


class HubKeeper:
    """Owns the hub process; starts a new one if a test killed the last."""

    def __init__(self):
        self.hub = None

    def get(self):
        if self.hub is None:
            self.hub = Hub(*HUB_ARGS)
            try:
                self.hub.start()
            except Exception:
                self.hub.close()
                self.hub = None
                raise
        return self.hub

    def died(self):
        return self.hub is not None and self.hub.proc.poll() is not None

    def discard(self):
        log = self.hub.log()
        code = self.hub.proc.returncode
        self.hub.close()
        self.hub = None
        return code, log

    def shutdown(self):
        if self.hub is None:
            return
        try:
            code = self.hub.stop()
            log = self.hub.log()
        finally:
            self.hub.close()
            self.hub = None
        # A clean exit on SIGTERM is part of the bar: under sanitizers a leak
        # or an error report turns into a non-zero exit here.
        assert code == 0, "wshub exited with %s on SIGTERM; log tail:\n%s" % (code, _tail(log))


@pytest.fixture(scope="session")
def hub_keeper():
    if not os.access(hub_binary(), os.X_OK):
        pytest.fail("no wshub binary at %s (build it, or set WSHUB_BIN)" % hub_binary())
    keeper = HubKeeper()
    yield keeper
    keeper.shutdown()


@pytest.fixture
def hub(hub_keeper):
    h = hub_keeper.get()
    yield h
    if hub_keeper.died():
        code, log = hub_keeper.discard()
        pytest.fail("wshub died during this test (exit %s); log tail:\n%s" % (code, _tail(log)))


@pytest.fixture
def connect(hub):
    """connect(path="/echo", extensions=None) -> an open WsClient after a
    checked handshake (extensions: a Sec-WebSocket-Extensions offer)."""
    clients = []

    def _connect(path="/echo", extensions=None):
        c = WsClient(hub.port, path=path, scale=timeout_scale())
        clients.append(c)
        return c.connect(extensions=extensions)

    yield _connect
    for c in clients:
        c.close_socket()
