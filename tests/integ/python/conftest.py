"""pytest fixtures for the Python integration suite: start real wshub processes
and prove at teardown that each one is still alive and exits 0 on SIGTERM. Not
for helpers that speak the protocol (those live in integ_clients.py)."""
import asyncio
import functools
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "support"))
sys.path.insert(0, HERE)

from hubproc import Hub, hub_binary, timeout_scale  # noqa: E402


def pytest_configure(config):
    if not os.access(hub_binary(), os.X_OK):
        raise pytest.UsageError("wshub binary not found at %s: build it or set WSHUB_BIN" % hub_binary())


def run_async(deadline=30.0):
    """Runs an async test with asyncio.run under a scaled overall deadline, so a
    hung await fails the test instead of hanging the suite."""
    def wrap(fn):
        @functools.wraps(fn)
        def runner(*args, **kwargs):
            async def main():
                return await asyncio.wait_for(fn(*args, **kwargs), deadline * timeout_scale())
            return asyncio.run(main())
        return runner
    return wrap


class HubFactory:
    def __init__(self):
        self.hubs = []

    def __call__(self, *args, env=None, tls=False):
        h = Hub(*args, env=env, tls=tls)
        self.hubs.append(h)
        return h.start()

    def finish(self, check):
        errors = []
        for h in self.hubs:
            if not check and h.log_path:
                print("---- wshub %s log ----\n%s" % (h.args, h.log()[-8000:]))
            try:
                if check and h.proc is not None and getattr(h, "expect_running", True):
                    if h.proc.poll() is not None:
                        errors.append("wshub %s died during the test (exit %s):\n%s"
                                      % (h.args, h.proc.returncode, h.log()))
                    else:
                        rc = h.stop()
                        if rc != 0:
                            errors.append("wshub %s exited %s on SIGTERM:\n%s" % (h.args, rc, h.log()))
            finally:
                h.close()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def hubs(request):
    """hubs(*args) starts a hub; at teardown each hub that a test did not stop
    itself must still be running and must exit 0 on SIGTERM."""
    f = HubFactory()
    yield f
    failed = getattr(request.node, "rep_call", None)
    f.finish(check=not (failed and failed.failed))


@pytest.fixture
def hub(hubs):
    return hubs()


@pytest.fixture
def echo_hub(hubs):
    return hubs("--echo")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
