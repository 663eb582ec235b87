"""Client helpers for the Python integration suite: raw-socket HTTP/1.1 and
WebSocket clients for the edge cases that polite libraries refuse to produce
(malformed requests, slowloris, invalid UTF-8, clients that never answer a ping
or a close), and thin wrappers over the websockets library. Not a general
client: every read has a deadline and every helper raises on anything unexpected.
"""
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from hubproc import timeout_scale

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def scaled(seconds):
    """A deadline in seconds, stretched for sanitizer builds."""
    return seconds * timeout_scale()


def accept_for(key):
    """RFC 6455 §4.2.2: Sec-WebSocket-Accept = base64(SHA-1(key + GUID))."""
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in wire order
        self.body = body

    def header(self, name):
        """The first value of header `name` (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d %s, %r, %r)" % (self.status, self.reason, self.headers, self.body[:200])


class Closed(Exception):
    """The peer closed (EOF) or reset the TCP connection; .how is 'eof' or 'reset'."""

    def __init__(self, how):
        super().__init__(how)
        self.how = how


class RawConn:
    """One TCP connection to the hub with a read buffer and deadline-bound reads."""

    def __init__(self, port, timeout=5.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Set before connect so the advertised window stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(scaled(timeout))
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed waiting for data")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            raise Closed("reset")
        if not data:
            raise Closed("eof")
        self.buf += data

    def _deadline(self, timeout):
        return time.monotonic() + scaled(self.timeout if timeout is None else timeout)

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)

    def read_exact(self, n, timeout=None, deadline=None):
        deadline = deadline or self._deadline(timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, marker, timeout=None, deadline=None, limit=1 << 20):
        deadline = deadline or self._deadline(timeout)
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (marker, limit))
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_response(self, head=False, timeout=None):
        """Reads one HTTP/1.1 response. head=True: the request was HEAD, no body."""
        dl = self._deadline(timeout)
        raw = self.read_until(b"\r\n\r\n", deadline=dl).decode("latin-1")
        lines = raw[:-4].split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0] == "HTTP/1.1", "status line %r" % lines[0]
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = Response(status, reason, headers, b"")
        if head or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body = b""
            while True:
                size_line = self.read_until(b"\r\n", deadline=dl)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    self.read_until(b"\r\n", deadline=dl)
                    break
                body += self.read_exact(size, deadline=dl)
                self.read_exact(2, deadline=dl)
            resp.body = body
        elif resp.header("content-length") is not None:
            resp.body = self.read_exact(int(resp.header("content-length")), deadline=dl)
        else:
            # No framing: the body runs to EOF (RFC 9112 §6.3 item 8).
            try:
                while True:
                    self._fill(dl)
            except Closed:
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def read_to_close(self, timeout=None):
        """Waits for EOF or reset; returns (how, bytes that arrived first)."""
        deadline = self._deadline(timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed as e:
            data, self.buf = self.buf, b""
            return e.how, data

    def request(self, method, path, headers=(), body=None, host=True):
        lines = ["%s %s HTTP/1.1" % (method, path)]
        if host:
            lines.append("Host: 127.0.0.1")
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if body is not None:
            data += body if isinstance(body, bytes) else body.encode()
        self.send(data)


def one_request(port, method, path, headers=(), body=None):
    """One request on a fresh connection; returns the Response."""
    with RawConn(port) as c:
        c.request(method, path, headers, body)
        return c.read_response(head=(method == "HEAD"))


def assert_error_body(resp, status, code=None):
    """Every error is {"error":{"code","message"}} with content-type application/json."""
    assert resp.status == status, resp
    ctype = resp.header("content-type") or ""
    assert ctype.split(";")[0].strip().lower() == "application/json", resp
    doc = resp.json()
    assert isinstance(doc.get("error"), dict), doc
    assert isinstance(doc["error"].get("code"), str) and doc["error"]["code"], doc
    assert isinstance(doc["error"].get("message"), str) and doc["error"]["message"], doc
    if code is not None:
        assert doc["error"]["code"] == code, doc
    return doc


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    @property
    def close_code(self):
        assert self.opcode == OP_CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005

    def json(self):
        assert self.opcode == OP_TEXT, self
        return json.loads(self.payload.decode("utf-8"))

    def __repr__(self):
        return "Frame(fin=%d op=%d len=%d %r)" % (self.fin, self.opcode, len(self.payload), self.payload[:80])


class RawWS(RawConn):
    """A WebSocket client on a raw socket: frames exactly as the test writes them,
    and never answers pings or closes unless the test does."""

    def handshake(self, path="/ws", headers=(), key=None):
        key = key or new_key()
        hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
        self.request("GET", path, hdrs + list(headers))
        resp = self.read_response(head=True)
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == accept_for(key), resp
        return resp

    @classmethod
    def open(cls, port, path="/ws", headers=(), rcvbuf=None, timeout=5.0):
        ws = cls(port, timeout=timeout, rcvbuf=rcvbuf)
        try:
            ws.handshake(path, headers)
        except BaseException:
            ws.close()
            raise
        return ws

    @staticmethod
    def encode(opcode, payload=b"", fin=True, rsv=0, mask=True):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if not mask:
            return head + payload
        key = os.urandom(4)
        return head + key + mask_bytes(key, payload)

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, mask=True):
        self.send(self.encode(opcode, payload, fin, rsv, mask))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def send_close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason)

    def recv_frame(self, timeout=None, deadline=None):
        """Reads one frame. Nothing is consumed until the whole frame is buffered,
        so a timeout leaves the stream intact for the next call."""
        dl = deadline or self._deadline(timeout)
        self._need(2, dl)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "RFC 6455 §5.1: a server MUST NOT mask frames"
        n, hlen = b1 & 0x7F, 2
        if n == 126:
            self._need(4, dl)
            n, hlen = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, dl)
            n, hlen = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(hlen + n, dl)
        payload = self.buf[hlen:hlen + n]
        self.buf = self.buf[hlen + n:]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload)

    def recv_json(self, timeout=None):
        return self.recv_frame(timeout).json()

    def expect_close(self, timeout=None, skip_data=True):
        """Reads until a close frame; returns its code. Data frames in between
        are skipped when skip_data, pings are ignored."""
        deadline = self._deadline(timeout)
        while True:
            f = self.recv_frame(deadline=deadline)
            if f.opcode == OP_CLOSE:
                return f.close_code
            if f.opcode in (OP_PING, OP_PONG):
                continue
            assert skip_data, "expected close, got %r" % f


def mask_bytes(key, payload):
    if not payload:
        return b""
    # XOR with the repeated key, done on integers for speed on 1 MiB payloads.
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


# --- websockets (asyncio) helpers ----------------------------------------------

def connect(hub, path="/ws", **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", None)
    kw.setdefault("compression", None)
    kw.setdefault("open_timeout", scaled(5))
    kw.setdefault("close_timeout", scaled(5))
    return websockets.connect(hub.url + path, **kw)


async def recv_json(ws, timeout=5):
    msg = await asyncio.wait_for(ws.recv(), scaled(timeout))
    assert isinstance(msg, str), "expected a text frame, got %r" % msg[:80]
    return json.loads(msg)


async def welcome(ws):
    doc = await recv_json(ws)
    assert doc["type"] == "welcome", doc
    return doc


async def expect_close_code(ws, timeout=10):
    """Reads until the server closes; returns the close code it sent."""
    with pytest.raises(ConnectionClosed) as ei:
        while True:
            await asyncio.wait_for(ws.recv(), scaled(timeout))
    assert ei.value.rcvd is not None, "hub closed TCP without a close frame (%s)" % ei.value
    return ei.value.rcvd.code
