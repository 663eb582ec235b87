"""Autobahn|Testsuite group 9 (limits and performance): large text and binary
messages (64 KiB to 16 MiB, the hub's --max-message), 4 MiB messages in
fragments of 64 B to 4 MiB, 1 MiB frames written in small chops, and 1000
sequential round trips of small messages must all come back byte for byte.
Autobahn times these cases; we assert only correctness (the deadlines are
generous) and keep the client cheap: payloads and frames are built once.
Not a benchmark: bench/ measures speed.
"""
import functools
import time

import pytest

from cases import CaseList, T
from wsclient import OP_BINARY, OP_TEXT, encode_fragments, encode_frame

CASES = CaseList()
KiB, MiB = 1 << 10, 1 << 20
BIG_T = 120.0  # per large message; scaled under sanitizers
TEXT_FILL, BIN_FILL = b"BAsd7&jh23", b"\x00\xfe\x23\xfa\xf0"
LIMITS = ("§5.2/§5.4: any length up to 2^63 may be framed and any number of fragments used; "
          "§10.4 an endpoint may limit sizes (the hub's --max-message is 16 MiB, so all of these fit)")


@functools.lru_cache(maxsize=None)
def repeated(fill, n):
    return (fill * (n // len(fill) + 1))[:n]


@functools.lru_cache(maxsize=4)
def fragmented_stream(opcode, fill, n, frag):
    return b"".join(encode_fragments(opcode, repeated(fill, n), frag))


def _big(opcode, fill, n, chop=None):
    def run(ws):
        payload = repeated(fill, n)
        ws.send_raw(encode_frame(opcode, payload), chop=chop)
        ws.expect_message(opcode, payload, timeout=BIG_T)
        ws.close_handshake(1000)
    return run


def _fragmented(opcode, fill, n, frag):
    def run(ws):
        ws.send_raw(fragmented_stream(opcode, fill, n, frag))
        ws.expect_message(opcode, repeated(fill, n), timeout=BIG_T)
        ws.close_handshake(1000)
    return run


def _round_trips(opcode, fill, n, count):
    def run(ws):
        payload = repeated(fill, n)
        frame = encode_frame(opcode, payload)  # one masking key for all: the octets do not matter here
        start = time.monotonic()
        for _ in range(count):
            ws.send_raw(frame)
            ws.expect_message(opcode, payload, timeout=T)
        ws.close_handshake(1000)
        return time.monotonic() - start
    return run


def show(fill):
    return "'%s'" % fill.decode() if fill.isascii() else fill.hex(" ")


def _size(n):
    return "%d MiB" % (n // MiB) if n >= MiB else "%d KiB" % (n // KiB) if n >= KiB else "%d B" % n


SIZES = [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB]
for sub, (op, fill, kind) in enumerate([(OP_TEXT, TEXT_FILL, "text"), (OP_BINARY, BIN_FILL, "binary")], 1):
    for i, n in enumerate(SIZES, 1):
        CASES.add("9.%d.%d" % (sub, i), "one %s frame of %s (%s repeated)" % (kind, _size(n), show(fill)),
                  "the same %s message echoed; close 1000" % kind, LIMITS, _big(op, fill, n))

FRAGS = [64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB]
for sub, (op, fill, kind) in enumerate([(OP_TEXT, b"*", "text"), (OP_BINARY, b"\xfe", "binary")], 3):
    for i, frag in enumerate(FRAGS, 1):
        CASES.add("9.%d.%d" % (sub, i), "%s message of 4 MiB (%s repeated) in fragments of %s"
                  % (kind, show(fill), _size(frag)), "the same %s message echoed; close 1000" % kind,
                  LIMITS, _fragmented(op, fill, 4 * MiB, frag))

CHOPS = [64, 128, 256, 512, 1024, 2048]
for sub, (op, fill, kind) in enumerate([(OP_TEXT, TEXT_FILL, "text"), (OP_BINARY, BIN_FILL, "binary")], 5):
    for i, chop in enumerate(CHOPS, 1):
        CASES.add("9.%d.%d" % (sub, i), "one %s frame of 1 MiB (%s repeated) written in chops of %d octets"
                  % (kind, show(fill), chop), "the same %s message echoed; close 1000" % kind,
                  LIMITS + "; TCP may split the stream anywhere", _big(op, fill, 1 * MiB, chop=chop))

RTT = [0, 16, 64, 256, 1024, 4096]
for sub, (op, fill, kind) in enumerate([(OP_TEXT, b"*", "text"), (OP_BINARY, b"\xfe", "binary")], 7):
    for i, n in enumerate(RTT, 1):
        CASES.add("9.%d.%d" % (sub, i), "1000 %s messages of %d octets, each sent after the previous echo"
                  % (kind, n), "1000 echoes, byte for byte; close 1000", "§5.6 data frames",
                  _round_trips(op, fill, n, 1000))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))
