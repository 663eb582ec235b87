"""A raw-socket RFC 6455 client for the conformance suite: it builds frames
octet by octet (any opcode, RSV bits, FIN, masking), sends them whole or in
chops, and reads the server's frames with deadlines while checking every one
against the rules a server must follow. It is not a general-purpose WebSocket
client: it never repairs or hides what is on the wire.
"""
import base64
import hashlib
import os
import socket
import struct
import time
import zlib

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Close codes a server may put on the wire (RFC 6455 §7.4.1, §7.4.2 and the
# IANA registry): 1004-1006 and 1015 are never sent, 1016-2999 are reserved.
_SENDABLE_CODES = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))


class WsTimeout(AssertionError):
    """Nothing (or not enough) arrived before the deadline."""


class WsClosed(AssertionError):
    """The server closed the TCP connection while a frame was expected."""


def mask_bytes(data, key):
    """XORs data with the 4-byte key repeated (RFC 6455 §5.3), at C speed."""
    n = len(data)
    if n == 0:
        return b""
    reps = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(reps, "little")).to_bytes(n, "little")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None):
    """One frame as octets. Length uses the minimal encoding (RFC 6455 §5.2);
    a client frame is masked with a fresh random key unless key is given."""
    payload = bytes(payload)
    n = len(payload)
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if n <= 125:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    if key is None:
        key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def encode_fragments(opcode, payload, frag_size):
    """A data message split into frames of frag_size payload octets (the first
    carries the opcode, the rest are continuations, the last has FIN)."""
    payload = bytes(payload)
    if frag_size is None or len(payload) <= frag_size:
        return [encode_frame(opcode, payload)]
    out = []
    for off in range(0, len(payload), frag_size):
        chunk = payload[off:off + frag_size]
        out.append(encode_frame(opcode if off == 0 else OP_CONT, chunk,
                                fin=off + frag_size >= len(payload)))
    return out


def deflate_message(payload, wbits=15):
    """One message compressed as RFC 7692 §7.2.1 says: raw DEFLATE, ended by a
    sync flush whose 00 00 ff ff is removed; a fresh compressor each time
    (the hub answers client_no_context_takeover)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(bytes(payload)) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def encode_deflate_fragments(opcode, payload, frag_size):
    """A compressed message as frames: RSV1 on the first only (§6.1)."""
    data = deflate_message(payload)
    frames = encode_fragments(opcode, data, frag_size)
    first = bytearray(frames[0])
    first[0] |= 0x40
    frames[0] = bytes(first)
    return frames


def parse_extension(value):
    """The parameters of one extension in a Sec-WebSocket-Extensions answer,
    as {name: value or True}, plus its name under "" (a small parser: the hub
    answers with plain tokens)."""
    parts = [p.strip() for p in value.split(";")]
    out = {"": parts[0]}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        out[k.strip()] = v.strip().strip('"') if eq else True
    return out


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


class Event:
    """What the server sent: a whole message, a ping, a pong or a close."""

    def __init__(self, kind, opcode=None, payload=b"", code=None, reason=b""):
        self.kind = kind          # "message" | "ping" | "pong" | "close"
        self.opcode = opcode
        self.payload = payload
        self.code = code
        self.reason = reason

    def __repr__(self):
        p = self.payload
        shown = p[:40] + (b"..." if len(p) > 40 else b"")
        if self.kind == "close":
            return "close(code=%r, reason=%r)" % (self.code, self.reason)
        if self.kind == "message":
            return "message(%s, %d octets: %r)" % (
                "text" if self.opcode == OP_TEXT else "binary", len(p), shown)
        return "%s(%r)" % (self.kind, shown)


class WsClient:
    """One connection to the server under test.

    scale multiplies every deadline (sanitizer builds run slower). Frames are
    read through a buffer; every server frame is checked for the server-side
    rules of RFC 6455 §5 before it is returned.
    """

    def __init__(self, port, path="/echo", host="127.0.0.1", scale=1.0):
        self.host = host
        self.port = port
        self.path = path
        self.scale = scale
        self.sock = None
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self._frag_op = None
        self._frag_parts = []
        self._frag_rsv = 0
        self.frames_received = 0
        self.deflate = None  # the agreed permessage-deflate parameters, when one was
        self.compressed_received = 0  # messages that arrived with RSV1

    # ---- connection -----------------------------------------------------

    def connect(self, timeout=5.0, extensions=None):
        """Opens the connection; extensions: a Sec-WebSocket-Extensions value
        to offer (then self.deflate holds what the server agreed, or None)."""
        deadline = time.monotonic() + timeout * self.scale
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout * self.scale)
        # Chopped sends must leave the client as separate segments.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16))
        req = (b"GET " + self.path.encode() + b" HTTP/1.1\r\n"
               b"Host: " + ("%s:%d" % (self.host, self.port)).encode() + b"\r\n"
               b"Upgrade: websocket\r\n"
               b"Connection: Upgrade\r\n"
               b"Sec-WebSocket-Key: " + key + b"\r\n"
               b"Sec-WebSocket-Version: 13\r\n")
        if extensions:
            req += b"Sec-WebSocket-Extensions: " + extensions.encode() + b"\r\n"
        req += b"\r\n"
        self.sock.sendall(req)
        while b"\r\n\r\n" not in self.buf:
            self._recv_some(deadline, "the handshake response")
        end = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[:end]
        lines = head.split("\r\n")
        status = lines[0].split(" ", 2)
        assert len(status) >= 2 and status[1] == "101", "handshake refused: %r" % head
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        assert headers.get("upgrade", "").lower() == "websocket", head
        assert "upgrade" in [t.strip().lower() for t in headers.get("connection", "").split(",")], head
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        assert headers.get("sec-websocket-accept") == accept, head
        if not extensions:
            # No extension was offered, so none may be in force (RFC 6455 §9.1).
            assert "sec-websocket-extensions" not in headers, head
        elif "sec-websocket-extensions" in headers:
            agreed = parse_extension(headers["sec-websocket-extensions"])
            # RFC 7692 §7.1: only an offered extension, with known parameters.
            assert agreed[""] == "permessage-deflate", head
            known = {"", "server_no_context_takeover", "client_no_context_takeover",
                     "server_max_window_bits", "client_max_window_bits"}
            assert set(agreed) <= known, head
            self.deflate = agreed
        return self

    def close_socket(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    # ---- sending --------------------------------------------------------

    def send_raw(self, data, chop=None, tolerate_close=False):
        """Sends octets, all at once or in chops of `chop` octets. Returns
        False if the server had already closed (only with tolerate_close,
        used after a violation, when the server may close at any moment)."""
        view = memoryview(bytes(data))
        step = chop or max(len(view), 1)
        try:
            for off in range(0, len(view), step):
                self.sock.sendall(view[off:off + step])
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            if not tolerate_close:
                raise
            return False
        return True

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, chop=None, tolerate_close=False):
        return self.send_raw(encode_frame(opcode, payload, fin=fin, rsv=rsv),
                             chop=chop, tolerate_close=tolerate_close)

    def send_frames(self, frames, chop=None, framewise=False, tolerate_close=False):
        """Sends a list of encoded frames: in one write, in chops, or one
        write per frame ("frame-wise chops")."""
        if framewise:
            for f in frames:
                if not self.send_raw(f, chop=chop, tolerate_close=tolerate_close):
                    return False
            return True
        return self.send_raw(b"".join(frames), chop=chop, tolerate_close=tolerate_close)

    def send_message(self, opcode, payload, frag_size=None, chop=None):
        return self.send_frames(encode_fragments(opcode, payload, frag_size), chop=chop)

    def send_close(self, code=None, reason=b"", tolerate_close=False):
        return self.send_frame(OP_CLOSE, close_payload(code, reason), tolerate_close=tolerate_close)

    # ---- receiving ------------------------------------------------------

    def _recv_some(self, deadline, what, want=65536):
        if self.eof:
            raise WsClosed("TCP connection closed by the server while waiting for %s" % what)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WsTimeout("timed out waiting for %s" % what)
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(max(65536, min(want, 1 << 22)))
        except socket.timeout:
            raise WsTimeout("timed out waiting for %s" % what) from None
        except ConnectionResetError:
            self.eof = self.reset = True
            raise WsClosed("TCP connection reset by the server while waiting for %s" % what) from None
        if not chunk:
            self.eof = True
            raise WsClosed("TCP connection closed by the server while waiting for %s" % what)
        self.buf += chunk

    def _need(self, n, deadline, what):
        while len(self.buf) < n:
            self._recv_some(deadline, what, n - len(self.buf))

    def recv_frame(self, timeout=5.0):
        """The next frame as (fin, rsv, opcode, payload), checked against the
        rules for frames a server sends."""
        deadline = time.monotonic() + timeout * self.scale
        what = "a frame"
        self._need(2, deadline, what)
        b0, b1 = self.buf[0], self.buf[1]
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        hlen = 2
        if n == 126:
            self._need(4, deadline, what)
            n = struct.unpack_from("!H", self.buf, 2)[0]
            hlen = 4
            assert n > 125, "server used a 16-bit length for %d octets (RFC 6455 §5.2: minimal encoding)" % n
        elif n == 127:
            self._need(10, deadline, what)
            n = struct.unpack_from("!Q", self.buf, 2)[0]
            hlen = 10
            assert n >> 63 == 0, "server set the MSB of a 64-bit length (RFC 6455 §5.2)"
            assert n > 0xFFFF, "server used a 64-bit length for %d octets (RFC 6455 §5.2: minimal encoding)" % n
        assert not masked, "server masked a frame (RFC 6455 §5.1: a server MUST NOT mask)"
        if self.deflate is not None and rsv == 4:
            # RFC 7692 §6.1: RSV1 only on the first frame of a data message.
            assert opcode in (OP_TEXT, OP_BINARY), "server set RSV1 on opcode %#x (RFC 7692 §6.1)" % opcode
        else:
            assert rsv == 0, "server set RSV=%d without an extension (RFC 6455 §5.2)" % rsv
        assert opcode in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG), \
            "server sent reserved opcode %#x (RFC 6455 §5.2)" % opcode
        if opcode >= 8:
            assert fin, "server fragmented a control frame (RFC 6455 §5.5)"
            assert n <= 125, "server sent a control frame of %d octets (RFC 6455 §5.5)" % n
        self._need(hlen + n, deadline, "a %d-octet frame payload" % n)
        payload = bytes(self.buf[hlen:hlen + n])
        del self.buf[:hlen + n]
        self.frames_received += 1
        return fin, rsv, opcode, payload

    def next_event(self, timeout=5.0):
        """The next whole message, ping, pong or close; fragmented messages from
        the server are reassembled (and their fragmentation checked)."""
        deadline = time.monotonic() + timeout * self.scale
        while True:
            remaining = max(deadline - time.monotonic(), 0.001) / self.scale
            fin, rsv, opcode, payload = self.recv_frame(remaining)
            if opcode == OP_CLOSE:
                assert len(payload) != 1, "server sent a 1-octet close payload (RFC 6455 §5.5.1)"
                code, reason = None, b""
                if payload:
                    code = struct.unpack("!H", payload[:2])[0]
                    reason = payload[2:]
                    assert code in _SENDABLE_CODES, "server sent close code %d (RFC 6455 §7.4)" % code
                    try:
                        reason.decode("utf-8")
                    except UnicodeDecodeError:
                        raise AssertionError("server sent a close reason that is not UTF-8 (RFC 6455 §5.5.1)")
                return Event("close", OP_CLOSE, payload, code, reason)
            if opcode == OP_PING:
                return Event("ping", opcode, payload)
            if opcode == OP_PONG:
                return Event("pong", opcode, payload)
            if opcode == OP_CONT:
                assert self._frag_op is not None, "server sent a continuation with nothing to continue (RFC 6455 §5.4)"
                self._frag_parts.append(payload)
            else:
                assert self._frag_op is None, "server started a message inside a fragmented one (RFC 6455 §5.4)"
                self._frag_op = opcode
                self._frag_rsv = rsv
                self._frag_parts = [payload]
            if not fin:
                continue
            op, data = self._frag_op, b"".join(self._frag_parts)
            if self._frag_rsv & 4:
                self.compressed_received += 1
                # RFC 7692 §7.2.2: append the tail, inflate. The hub agreed
                # server_no_context_takeover, so each message stands alone.
                assert "server_no_context_takeover" in self.deflate, "context takeover not expected"
                bits = int(self.deflate.get("server_max_window_bits", 15))
                d = zlib.decompressobj(-max(bits, 9))
                try:
                    data = d.decompress(data + b"\x00\x00\xff\xff")
                except zlib.error as e:
                    raise AssertionError("server sent a compressed message that does not inflate: %s" % e)
            self._frag_op, self._frag_parts, self._frag_rsv = None, [], 0
            if op == OP_TEXT:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    raise AssertionError("server sent a text message that is not UTF-8 (RFC 6455 §5.6)")
            return Event("message", op, data)

    # ---- expectations ---------------------------------------------------

    def expect_message(self, opcode, payload, timeout=5.0):
        ev = self.next_event(timeout)
        assert ev.kind == "message", "expected an echoed message, got %r" % ev
        assert ev.opcode == opcode, "echo has opcode %d, sent %d" % (ev.opcode, opcode)
        if ev.payload != payload:
            first = next((i for i, (a, b) in enumerate(zip(ev.payload, payload)) if a != b),
                         min(len(ev.payload), len(payload)))
            raise AssertionError("echo differs: %d octets back for %d sent, first difference at octet %d"
                                 % (len(ev.payload), len(payload), first))
        return ev

    def expect_pong(self, payload, timeout=5.0):
        ev = self.next_event(timeout)
        assert ev.kind == "pong", "expected a pong, got %r" % ev
        assert ev.payload == payload, "pong payload %r differs from ping payload %r" % (ev.payload, payload)
        return ev

    def expect_close(self, codes, timeout=5.0):
        """The next event must be a close frame whose code is in codes (None
        stands for an empty close payload)."""
        if not isinstance(codes, (list, tuple, set)):
            codes = [codes]
        try:
            ev = self.next_event(timeout)
        except WsClosed as e:
            raise AssertionError("expected a close frame with code %s, but %s" % (
                "/".join(map(str, codes)), e)) from None
        assert ev.kind == "close", "expected a close frame with code %s, got %r" % (
            "/".join(map(str, codes)), ev)
        assert ev.code in codes, "close code %r, expected %s (reason %r)" % (
            ev.code, "/".join(map(str, codes)), ev.reason)
        return ev

    def expect_tcp_close(self, timeout=5.0):
        """The server must close the TCP connection promptly and send nothing
        more (RFC 6455 §7.1.1: after the closing handshake the server closes
        the TCP connection first)."""
        deadline = time.monotonic() + timeout * self.scale
        while not self.eof:
            if self.buf:
                extra = bytes(self.buf[:60])
                raise AssertionError("server sent %d octets after its close frame: %r" % (len(self.buf), extra))
            try:
                self._recv_some(deadline, "the server to close the TCP connection")
            except WsClosed:
                break
            except WsTimeout:
                raise AssertionError("server did not close the TCP connection within %.1fs"
                                     % (timeout * self.scale)) from None
        assert not self.buf, "server sent %d octets after its close frame" % len(self.buf)

    def expect_fail(self, code, timeout=5.0):
        """The server fails the connection (RFC 6455 §7.1.7): a close frame with
        exactly this code, then it closes TCP without waiting for our reply."""
        ev = self.expect_close(code, timeout)
        self.expect_tcp_close(timeout)
        return ev

    def expect_quiet(self, duration):
        """Nothing arrives and the connection stays open for `duration`
        seconds (scaled). Used only where Autobahn itself waits for silence."""
        deadline = time.monotonic() + duration * self.scale
        try:
            self._recv_some(deadline, "silence")
        except WsTimeout:
            return
        raise AssertionError("expected nothing from the server, got %r" % bytes(self.buf[:60]))

    def close_handshake(self, code=1000, reason=b"", expect=None, timeout=5.0):
        """Starts the closing handshake and checks the server's reply: a close
        frame (by default echoing our code, RFC 6455 §5.5.1) and TCP close."""
        self.send_close(code, reason)
        ev = self.expect_close([code] if expect is None else expect, timeout)
        self.expect_tcp_close(timeout)
        return ev
