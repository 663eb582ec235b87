"""Helpers for the client suites (test_client_lib.py, test_cli.py): the C
driver of libwshub as a scripted subprocess, a fake hub that misbehaves on
purpose (closes with a chosen code, goes silent, answers errors), a hub that
restarts on its own port, and the CLI runner. Not a general hub client:
every wait has a deadline and everything started is stopped by PID."""
import asyncio
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import urllib.request

import websockets

from hubproc import Hub, hub_binary, timeout_scale


def driver_binary():
    path = os.environ.get("WSHUB_CLIENT_DRIVER")
    if not path:
        path = os.path.join(os.path.dirname(hub_binary()), "wshub_client_driver")
    return path


def scaled(seconds):
    return seconds * timeout_scale()


class Driver:
    """tests/client/client_driver.c as a subprocess: send() writes a command
    line, expect() waits for an event (a JSON line) that matches."""

    def __init__(self, url, *args, wrap=None):
        cmd = list(wrap or []) + [driver_binary(), url] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.events = []          # every event seen, in order
        self._unread = []         # events not yet returned by expect()
        self._q = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self._q.put(json.loads(line))
            except ValueError:
                self._q.put({"ev": "bad_line", "line": line.decode("utf-8", "replace")})
        self._q.put(None)

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, pred, timeout=10.0, what="event"):
        """Returns the first unread event for which pred(ev) is true; events
        before it stay available to later expect() calls."""
        for i, ev in enumerate(self._unread):
            if pred(ev):
                del self._unread[i]
                return ev
        end = time.monotonic() + scaled(timeout)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.1fs; events: %s" % (what, timeout, self.events[-30:]))
            try:
                ev = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                raise AssertionError("driver exited (%s) waiting for %s; events: %s; stderr: %s"
                                     % (self.proc.wait(), what, self.events[-30:], self.proc.stderr.read()))
            self.events.append(ev)
            if pred(ev):
                return ev
            self._unread.append(ev)

    def state(self, name, timeout=10.0):
        return self.expect(lambda e: e["ev"] == "state" and e["state"] == name, timeout, "state " + name)

    def messages(self, channel, count, timeout=20.0):
        return [self.expect(lambda e: e["ev"] == "message" and e["channel"] == channel, timeout,
                            "message %d of %d on %s" % (i + 1, count, channel)) for i in range(count)]

    def drain(self):
        """Moves every event already printed into the unread list."""
        while True:
            try:
                ev = self._q.get_nowait()
            except queue.Empty:
                return
            if ev is None:
                self._q.put(None)
                return
            self.events.append(ev)
            self._unread.append(ev)

    def finish(self, timeout=10.0):
        """Closes stdin (the driver then closes the client) and returns its exit code."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=scaled(timeout))
        finally:
            self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class RestartableHub:
    """A hub that can be killed (-9) and started again on the same port and
    with the same arguments, so clients find it where they left it."""

    def __init__(self, *args):
        self.args = args
        self.hub = Hub(*args).start()
        self.port = self.hub.port
        self.old = []

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    def kill9(self):
        self.hub.kill()
        self.old.append(self.hub)

    def restart(self, *args):
        self.hub = Hub(*(args or self.args), port=self.port).start()

    def close(self):
        for h in self.old + [self.hub]:
            h.close()


def http_publish(port, channel, data, key=None, timeout=5.0):
    req = urllib.request.Request("http://127.0.0.1:%d/api/channels/%s/publish" % (port, channel),
                                 data=json.dumps(data).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def http_history(port, channel, since=0, limit=1000):
    url = "http://127.0.0.1:%d/api/channels/%s/history?since=%d&limit=%d" % (port, channel, since, limit)
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def wait_subscribers(port, channel, n=1, timeout=10.0):
    """Polls GET /api/channels until channel has n subscribers: the event
    that says a client's (re)subscription is in place."""
    end = time.monotonic() + scaled(timeout)
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/channels" % port, timeout=5) as r:
                for ch in json.loads(r.read())["channels"]:
                    if ch["name"] == channel and ch["subscribers"] >= n:
                        return
        except OSError:
            pass
        time.sleep(0.02)  # polling the hub's own report of the subscription
    raise AssertionError("%s never had %d subscribers" % (channel, n))


class FakeHub:
    """A tiny websockets server on 127.0.0.1 that speaks just enough of the
    hub's protocol to misbehave on purpose. behaviour(ws, n) runs per
    connection (n counts from 1); `connections` counts them. Runs its own
    event loop in a thread; stop() ends it."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.connections = 0
        self.port = None
        self._ready = threading.Event()
        self._loop = None
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(scaled(10)):
            raise RuntimeError("fake hub did not start")

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    def _run(self):
        asyncio.run(self._main())

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        async def handler(ws, *_):
            self.connections += 1
            try:
                await self.behaviour(ws, self.connections)
            except websockets.ConnectionClosed:
                pass

        # ping_interval=None: a fake that goes silent must really be silent.
        async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def stop(self):
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(scaled(10))


def welcome(heartbeat=25, client="fake"):
    return json.dumps({"type": "welcome", "client": client, "version": "0.1.0", "heartbeat": heartbeat})


def run_cli(*args, url=None, env=None, stdin=None, timeout=20.0):
    """Runs `wshub ARGS...` to completion; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("WSHUB_URL", None)
    e.pop("WSHUB_TOKEN", None)
    e.update(env or {})
    cmd = [hub_binary()] + list(args) + (["--url", url] if url else [])
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=e, timeout=scaled(timeout))


class CliProc:
    """`wshub ARGS...` running in the background; a thread reads its stdout
    lines so line() can wait with a deadline. Stopped by PID (kill())."""

    def __init__(self, *args, url=None):
        cmd = [hub_binary()] + list(args) + (["--url", url] if url else [])
        e = dict(os.environ)
        e.pop("WSHUB_URL", None)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=e)
        self._q = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            self._q.put(line)
        self._q.put(None)

    def line(self, timeout=10.0):
        """The next stdout line parsed as JSON; None at EOF; raises on timeout."""
        try:
            l = self._q.get(timeout=scaled(timeout))
        except queue.Empty:
            raise AssertionError("no output line within %.1fs" % timeout)
        return None if l is None else json.loads(l)

    def try_line(self, timeout):
        try:
            l = self._q.get(timeout=timeout)
        except queue.Empty:
            return False
        return None if l is None else json.loads(l)

    def wait(self, timeout=10.0):
        """Waits for exit; returns (exit code, remaining stdout lines as JSON, stderr)."""
        rc = self.proc.wait(timeout=scaled(timeout))
        self._t.join(scaled(5))
        rest = []
        while True:
            l = self._q.get_nowait() if not self._q.empty() else None
            if l is None:
                break
            rest.append(json.loads(l))
        return rc, rest, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_cli(*args, url=None):
    return CliProc(*args, url=url)


def tmpdir_cleanup(path):
    shutil.rmtree(path, ignore_errors=True)
