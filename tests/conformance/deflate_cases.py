"""Shared pieces of the permessage-deflate groups (Autobahn|Testsuite 12 and
13): the payload sources, the size and fragment-size table each group runs
through, and the echo check. Not a test module itself."""
import functools
import json
import random

from cases import T
from wsclient import OP_BINARY, OP_TEXT, encode_deflate_fragments, encode_fragments

# (message size, auto-fragment size; 0 = one frame), in Autobahn's pattern:
# sizes from 16 octets to 128 KiB whole, then large ones in small frames.
SIZES = [(16, 0), (64, 0), (256, 0), (1024, 0), (4096, 0), (8192, 0), (16384, 0), (32768, 0), (65536, 0),
         (131072, 0), (8192, 256), (16384, 256), (32768, 256), (65536, 256), (131072, 256), (131072, 1024),
         (131072, 4096), (131072, 32768)]
# Autobahn sends 1000 messages per case; fewer keep the suite quick while
# still sending several messages on one connection.
COUNT_SMALL, COUNT_LARGE = 10, 3
DEFLATE_RULE = ("RFC 7692 §6/§7.2: compressed messages carry RSV1 on the first frame; the receiver "
                "appends 00 00 ff ff and inflates; either side may send any message uncompressed")


def _text_to(n, unit):
    """Text of about n octets from a repeating unit, cut on a character
    boundary (a cut inside a UTF-8 sequence would be invalid text)."""
    raw = (unit * (n // max(len(unit.encode()), 1) + 2)).encode()[:n]
    return raw.decode("utf-8", "ignore").encode()


@functools.lru_cache(maxsize=None)
def payload(kind, n):
    rng = random.Random(n * 31 + len(kind))
    if kind == "json":
        rows = [{"id": i, "name": "item-%d" % rng.randrange(1000), "ok": i % 3 == 0, "score": rng.random()}
                for i in range(n // 40 + 1)]
        return _text_to(n, json.dumps(rows))
    if kind == "lorem":
        words = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut "
                 "labore et dolore magna aliqua").split()
        return _text_to(n, " ".join(rng.choice(words) for _ in range(n // 4 + 8)))
    if kind == "goethe":
        unit = ("Habe nun, ach! Philosophie, Juristerei und Medizin, und leider auch Theologie durchaus "
                "studiert, mit heißem Bemühn. Da steh ich nun, ich armer Tor! Und bin so klug als wie zuvor; "
                "Heiße Magister, heiße Doktor gar. ")
        return _text_to(n, unit)
    if kind == "html":
        unit = "".join('<tr><td class="c%d">%d</td><td><a href="/p/%d">page</a></td></tr>\n'
                       % (i % 7, i, rng.randrange(10000)) for i in range(50))
        return _text_to(n, "<html><body><table>\n" + unit)
    if kind == "binary":
        return rng.randbytes(n)
    raise ValueError(kind)


def echo_run(offer, kind, size, frag, check=None):
    """A case body: connect offering `offer`, send COUNT messages of `kind`
    compressed in frames of `frag` octets (0 = one frame), expect each echoed
    byte for byte (text of 256 octets or more compressed, random binary not,
    as docs/compression.md says the hub does), then close 1000."""
    def run(connect):
        ws = connect("/echo", extensions=offer)
        assert ws.deflate is not None, "permessage-deflate offer %r was declined" % offer
        if check:
            check(ws.deflate)
        opcode = OP_BINARY if kind == "binary" else OP_TEXT
        data = payload(kind, size)
        count = COUNT_SMALL if size <= 16384 else COUNT_LARGE
        frames = b"".join(encode_deflate_fragments(opcode, data, frag or None))
        ws.send_raw(frames * count)
        for _ in range(count):
            ws.expect_message(opcode, data, timeout=T * 4)
        # The hub's own rule (docs/compression.md): text of 128 octets or
        # more is sent compressed; random binary does not shrink and is not.
        if kind != "binary" and size >= 256:
            assert ws.compressed_received == count, "the hub did not compress its echoes"
        elif kind == "binary":
            assert ws.compressed_received == 0, "the hub sent incompressible data compressed"
        # One uncompressed message too: RSV1 clear is always allowed (§6).
        ws.send_raw(b"".join(encode_fragments(opcode, data, frag or None)))
        ws.expect_message(opcode, data, timeout=T * 4)
        ws.close_handshake(1000)
    return run
