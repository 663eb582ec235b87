"""Autobahn|Testsuite group 6 (UTF-8): valid text in any fragmentation is
echoed, and invalid text fails the connection with 1007 as soon as the first
octet that no valid UTF-8 can contain arrives, even in the middle of a frame
and before the message is complete. Besides Autobahn's cases (6.x.y, each
vector sent whole), every stress-test vector is also sent one octet per frame
(-octets), one code point per frame (-codepoints) and, when invalid, as one
frame written in two pieces split just after the first bad octet (-chopped).
Not for close reasons (group 7).
"""
import pytest

from cases import QUIET, T_FAST, CaseList, T
from utf8_vectors import KOSME, first_invalid, split_codepoints, vectors
from wsclient import OP_CONT, OP_TEXT, encode_frame

CASES = CaseList()
VALID = "§5.6: text payload is UTF-8; fragments may split code points (§5.4), only the whole message must be valid"
INVALID = ("§8.1: when an endpoint is to interpret a byte stream as UTF-8 but finds that it is not valid, "
           "it MUST _Fail the WebSocket Connection_; §7.4.1 code 1007")
FAILFAST = INVALID + "; fail fast: stop at the first octet that cannot start or continue valid UTF-8"


def _text_frames(parts):
    return [encode_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)
            for i, p in enumerate(parts)]


def _echo_parts(parts):
    def run(ws):
        ws.send_frames(_text_frames(parts))
        ws.expect_message(OP_TEXT, b"".join(parts), timeout=T)
        ws.close_handshake(1000)
    return run


# ---- 6.1, 6.2: valid text, empty and split fragments ---------------------

CASES.add("6.1.1", "text frame, empty payload", "empty text message echoed; close 1000", VALID,
          _echo_parts([b""]))
CASES.add("6.1.2", "text message in 3 fragments, all empty", "empty text message echoed; close 1000",
          VALID + "; §5.4 fragments may be empty", _echo_parts([b"", b"", b""]))
CASES.add("6.1.3", "text message in 3 fragments: empty, 'middle frame payload', empty",
          "'middle frame payload' echoed; close 1000", VALID, _echo_parts([b"", b"middle frame payload", b""]))

HELLO_UTF8 = "Hello-µ@ßöäüàá-UTF-8!!".encode("utf-8")
CASES.add("6.2.1", "text 'Hello-µ@ßöäüàá-UTF-8!!' in one frame", "echoed; close 1000", VALID,
          _echo_parts([HELLO_UTF8]))
CASES.add("6.2.2", "text 'Hello-µ@ßöä' + 'üàá-UTF-8!!', 2 fragments split on a code point boundary",
          "whole message echoed; close 1000", VALID,
          _echo_parts(["Hello-µ@ßöä".encode("utf-8"), "üàá-UTF-8!!".encode("utf-8")]))
CASES.add("6.2.3", "text 'Hello-µ@ßöäüàá-UTF-8!!' one octet per frame (frames end inside code points)",
          "whole message echoed; close 1000", VALID, _echo_parts([bytes([b]) for b in HELLO_UTF8]))
CASES.add("6.2.4", "text ce ba e1 bd b9 cf 83 ce bc ce b5 ('κόσμε') one octet per frame",
          "whole message echoed; close 1000", VALID, _echo_parts([bytes([b]) for b in KOSME]))

# ---- 6.3: invalid text, whole and per octet -------------------------------

BAD_6_3 = KOSME + b"\xed\xa0\x80" + b"edited"  # U+D800, a surrogate: invalid at octet 12 (a0)


def _fail_whole(payload):
    def run(ws):
        ws.send_frame(OP_TEXT, payload, tolerate_close=True)
        ws.expect_fail(1007, timeout=T)
    return run


def _fail_parts_all(parts):
    def run(ws):
        ws.send_frames(_text_frames(parts), tolerate_close=True)
        ws.expect_fail(1007, timeout=T)
    return run


CASES.add("6.3.1", "text κόσμε + ed a0 80 (U+D800) + 'edited' in one frame", "close 1007; TCP closed",
          INVALID, _fail_whole(BAD_6_3))
CASES.add("6.3.2", "the 6.3.1 payload one octet per frame, all in one write", "close 1007; TCP closed",
          INVALID, _fail_parts_all([bytes([b]) for b in BAD_6_3]))

# ---- 6.4: fail fast, with the invalid octets arriving on their own -------

BAD_6_4 = KOSME + b"\xf4\x90\x80\x80" + b"edited"  # 0x110000 in the UTF-8 scheme: invalid at octet 12 (90)


def _fail_fast_frames(cuts):
    """Three frames of one message; the close must come after the second."""
    def run(ws):
        a, b = cuts
        frames = _text_frames([BAD_6_4[:a], BAD_6_4[a:b], BAD_6_4[b:]])
        ws.send_raw(frames[0])
        ws.expect_quiet(QUIET)
        ws.send_raw(frames[1])
        ws.expect_close(1007, timeout=T)
        ws.send_raw(frames[2], tolerate_close=True)
        ws.expect_tcp_close(timeout=T)
    return run


def _fail_fast_chops(cuts):
    """One frame written in three pieces; the close must come after the second."""
    def run(ws):
        frame = encode_frame(OP_TEXT, BAD_6_4)
        hl = len(frame) - len(BAD_6_4)
        a, b = hl + cuts[0], hl + cuts[1]
        ws.send_raw(frame[:a])
        ws.expect_quiet(QUIET)
        ws.send_raw(frame[a:b])
        ws.expect_close(1007, timeout=T)
        ws.send_raw(frame[b:], tolerate_close=True)
        ws.expect_tcp_close(timeout=T)
    return run


FF_EXPECT = ("nothing after part 1 (still open); close 1007 after part 2, before part 3 is sent; "
             "TCP closed")
CASES.add("6.4.1", "text κόσμε (FIN clear); wait; continuation f4 90 80 80; wait; continuation 'edited' (FIN)",
          FF_EXPECT, FAILFAST, _fail_fast_frames((11, 15)))
CASES.add("6.4.2", "as 6.4.1, split κόσμε+f4 | 90 | 80 80 'edited': the second frame is the one octet 90",
          FF_EXPECT, FAILFAST, _fail_fast_frames((12, 13)))
CASES.add("6.4.3", "one text frame for κόσμε f4 90 80 80 'edited' written in 3 pieces: header+κόσμε; wait; "
          "f4 90 80 80; wait; 'edited'", FF_EXPECT, FAILFAST + ", even in the middle of a frame",
          _fail_fast_chops((11, 15)))
CASES.add("6.4.4", "as 6.4.3, pieces header+κόσμε+f4 | 90 | 80 80 'edited'", FF_EXPECT,
          FAILFAST + ", even in the middle of a frame", _fail_fast_chops((12, 13)))

# ---- 6.5 - 6.23: the stress-test vectors ---------------------------------


def _fail_fast_parts(parts):
    """Sends the fragments up to the one holding the first bad octet, expects
    the close before sending the rest (or, if the text is only cut short at
    the end, sends everything and expects the close then)."""
    def run(ws):
        frames = _text_frames(parts)
        bad = first_invalid(b"".join(parts))
        if bad is None:
            k = len(parts)
        else:
            k, seen = 0, 0
            while seen + len(parts[k]) <= bad:
                seen += len(parts[k])
                k += 1
            k += 1
        ws.send_frames(frames[:k])
        ws.expect_close(1007, timeout=T_FAST)
        if k < len(frames):
            ws.send_frames(frames[k:], tolerate_close=True)
        ws.expect_tcp_close(timeout=T)
    return run


def _fail_fast_chopped(payload):
    def run(ws):
        frame = encode_frame(OP_TEXT, payload)
        cut = len(frame) - len(payload) + first_invalid(payload) + 1
        ws.send_raw(frame[:cut])
        ws.expect_close(1007, timeout=T_FAST)
        ws.send_raw(frame[cut:], tolerate_close=True)
        ws.expect_tcp_close(timeout=T)
    return run


def _add_variants(cid, what, payload, valid):
    octets = [bytes([b]) for b in payload]
    cps = split_codepoints(payload)
    if valid:
        CASES.add(cid + "-octets", what + ", one octet per frame", "whole message echoed; close 1000",
                  VALID, _echo_parts(octets))
        CASES.add(cid + "-codepoints", what + ", one code point per frame", "whole message echoed; close 1000",
                  VALID, _echo_parts(cps))
        return
    bad = first_invalid(payload)
    at = "after the frame holding octet %d" % bad if bad is not None else "after the last frame (cut short)"
    CASES.add(cid + "-octets", what + ", one octet per frame, written up to the first bad octet",
              "close 1007 %s, before the rest is sent; TCP closed" % at, FAILFAST, _fail_fast_parts(octets))
    CASES.add(cid + "-codepoints", what + ", one lead octet (with its continuations) per frame, "
              "written up to the first bad octet", "close 1007 %s, before the rest is sent; TCP closed" % at,
              FAILFAST, _fail_fast_parts(cps))
    if bad is not None and bad + 1 < len(payload):
        CASES.add(cid + "-chopped", what + ", one frame written up to octet %d, then the rest" % bad,
                  "close 1007 before the rest is sent; TCP closed", FAILFAST + ", even in the middle of a frame",
                  _fail_fast_chopped(payload))


_add_variants("6.3.1", "the 6.3.1 payload", BAD_6_3, False)

for cid, title, valid, payload in vectors():
    what = "text %s (%s)" % (payload.hex(" ") if len(payload) <= 16 else
                             "%s ... (%d octets)" % (payload[:8].hex(" "), len(payload)), title)
    if valid:
        CASES.add(cid, what + ", one frame", "echoed; close 1000", VALID, _echo_parts([payload]))
    else:
        CASES.add(cid, what + ", one frame", "close 1007; TCP closed", INVALID, _fail_whole(payload))
    _add_variants(cid, what, payload, valid)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))
