"""Starts the real wshub binary on 127.0.0.1 with an OS-assigned port and stops
it by PID. Shared by the conformance and Python integration suites.

The hub logs to stderr; this harness sends stderr to a file (so a chatty hub
can never block on a full pipe) and waits for the line
``... info listening addr=127.0.0.1:PORT``. Nothing here sleeps on a guess: it
polls the log for the event with a deadline that scales under sanitizers.
"""
import os
import re
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Plain listeners log "listening addr=IP:PORT", TLS ones add " tls".
LISTEN_RE = re.compile(r"listening addr=127\.0\.0\.1:(\d+)$", re.M)
TLS_LISTEN_RE = re.compile(r"listening addr=127\.0\.0\.1:(\d+) tls$", re.M)
# Logged once every worker listens, just before the worker threads start; a
# test that looks at workers (or their log lines) needs the hub this far.
READY_RE = re.compile(r" ready workers=\d+$", re.M)


def hub_binary():
    return os.environ.get("WSHUB_BIN") or os.path.join(ROOT, "build", "wshub")


def timeout_scale():
    """Sanitizer builds run several times slower; deadlines scale with them."""
    if os.environ.get("WSHUB_WRAP"):
        return 20.0
    return 5.0 if os.environ.get("WSHUB_SANITIZE", "").lower() in ("1", "on", "true") else 1.0


class Hub:
    """One running hub. Use as a context manager or call start()/stop()."""

    def __init__(self, *args, env=None, tls=False, port=0):
        """tls=True: the args include a `--tls-listen 127.0.0.1:0`; start()
        also waits for that listener and sets tls_port. port: listen on that
        port instead of an OS-assigned one (to restart a hub where its
        clients expect it)."""
        self.listen_port = port
        self.tls = tls
        self.tls_port = None
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.port = None
        self.log_path = None
        self._log = None

    def start(self, deadline=10.0):
        fd, self.log_path = tempfile.mkstemp(prefix="wshub-", suffix=".log")
        self._log = os.fdopen(fd, "w+b")
        # WSHUB_WRAP runs the hub under a tool, e.g. "valgrind --error-exitcode=99
        # --leak-check=full": stop() then returns the tool's verdict.
        wrap = os.environ.get("WSHUB_WRAP", "").split()
        cmd = wrap + [hub_binary(), "serve", "--listen", "127.0.0.1:%d" % self.listen_port] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=self.env)
        end = time.monotonic() + deadline * timeout_scale()
        while time.monotonic() < end:
            log = self.log()
            m = LISTEN_RE.search(log)
            t = TLS_LISTEN_RE.search(log) if self.tls else None
            if m and (t or not self.tls) and READY_RE.search(log):
                self.port = int(m.group(1))
                self.tls_port = int(t.group(1)) if t else None
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("wshub exited with %s:\n%s" % (self.proc.returncode, self.log()))
            time.sleep(0.01)  # polling the log file for the readiness event
        self.kill()
        raise RuntimeError("wshub did not report listening:\n" + self.log())

    @property
    def url(self):
        return "ws://127.0.0.1:%d" % self.port

    @property
    def http_url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def wss_url(self):
        return "wss://127.0.0.1:%d" % self.tls_port

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, signo):
        self.proc.send_signal(signo)

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout=timeout * timeout_scale())

    def stop(self, timeout=10.0):
        """SIGTERM, wait for exit; returns the exit code. Kills on timeout."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout * timeout_scale())
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        if self._log:
            self._log.close()
            self._log = None
        if self.log_path and os.path.exists(self.log_path):
            os.unlink(self.log_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.stop()
        finally:
            self.close()
