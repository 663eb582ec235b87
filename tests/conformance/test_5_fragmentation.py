"""Autobahn|Testsuite group 5 (fragmentation): fragmented messages are
reassembled and echoed whole, control frames between fragments are answered
at once, and fragmented control frames, continuations with nothing to
continue and new messages inside a fragmented one fail with 1002. Not for
UTF-8 across fragments (group 6).
"""
import pytest

from cases import CaseList, T
from wsclient import OP_CONT, OP_PING, OP_PONG, OP_TEXT, encode_frame

CASES = CaseList()
FRAG = "§5.4: a fragmented message is one frame with FIN clear, continuations (opcode 0), the last with FIN set"
CTRL_FRAG = "§5.4/§5.5: control frames MUST NOT be fragmented; §7.1.7 fail"
INJECT = "§5.4: control frames MAY be injected in the middle of a fragmented message; §5.5.2 pong at once"
NOCONT = ("§5.4: continuation frames only continue a started message, and a new data frame cannot "
          "start inside one; otherwise _Fail the WebSocket Connection_ (§7.1.7)")

MODES = {None: "one write", "frame": "one write per frame", "octet": "one octet per write"}


def _send(ws, frames, mode, tolerate=False):
    return ws.send_frames(frames, chop=1 if mode == "octet" else None,
                          framewise=mode == "frame", tolerate_close=tolerate)


def _ctrl_fragmented(opcode):
    def run(ws):
        _send(ws, [encode_frame(opcode, b"fragment1", fin=False), encode_frame(OP_CONT, b"fragment2")],
              None, tolerate=True)
        ws.expect_fail(1002, timeout=T)
    return run


CASES.add("5.1", "ping 'fragment1' with FIN clear, continuation 'fragment2' with FIN",
          "close 1002; TCP closed; no pong", CTRL_FRAG, _ctrl_fragmented(OP_PING))
CASES.add("5.2", "pong 'fragment1' with FIN clear, continuation 'fragment2' with FIN",
          "close 1002; TCP closed", CTRL_FRAG, _ctrl_fragmented(OP_PONG))


def _two_fragments(mode):
    def run(ws):
        _send(ws, [encode_frame(OP_TEXT, b"fragment1", fin=False), encode_frame(OP_CONT, b"fragment2")], mode)
        ws.expect_message(OP_TEXT, b"fragment1fragment2", timeout=T)
        ws.close_handshake(1000)
    return run


for cid, mode in [("5.3", None), ("5.4", "frame"), ("5.5", "octet")]:
    CASES.add(cid, "text 'fragment1' (FIN clear), continuation 'fragment2' (FIN); " + MODES[mode],
              "one text message 'fragment1fragment2'; close 1000", FRAG, _two_fragments(mode))


def _ping_between(mode):
    def run(ws):
        _send(ws, [encode_frame(OP_TEXT, b"fragment1", fin=False), encode_frame(OP_PING, b"ping payload"),
                   encode_frame(OP_CONT, b"fragment2")], mode)
        ws.expect_pong(b"ping payload", timeout=T)
        ws.expect_message(OP_TEXT, b"fragment1fragment2", timeout=T)
        ws.close_handshake(1000)
    return run


for cid, mode in [("5.6", None), ("5.7", "frame"), ("5.8", "octet")]:
    CASES.add(cid, "text 'fragment1' (FIN clear), ping 'ping payload', continuation 'fragment2'; "
              + MODES[mode], "pong 'ping payload', then text 'fragment1fragment2'; close 1000",
              INJECT, _ping_between(mode))


def _orphan_continuation(fin, mode):
    def run(ws):
        _send(ws, [encode_frame(OP_CONT, b"non-continuation payload", fin=fin),
                   encode_frame(OP_TEXT, b"Hello, world!")], mode, tolerate=True)
        ws.expect_fail(1002, timeout=T)
    return run


for base, fin in [(9, True), (12, False)]:
    for k, mode in enumerate([None, "frame", "octet"]):
        CASES.add("5.%d" % (base + k),
                  "continuation 'non-continuation payload' (FIN %s) with nothing to continue, then text "
                  "'Hello, world!'; %s" % ("set" if fin else "clear", MODES[mode]),
                  "close 1002; TCP closed; no echo", NOCONT, _orphan_continuation(fin, mode))


@CASES.case("5.15", "text 'fragment1' (FIN clear), continuation 'fragment2' (FIN), continuation 'fragment3' "
            "(FIN clear, nothing to continue), text 'fragment4'; one write",
            "echo 'fragment1fragment2'; close 1002; TCP closed", NOCONT)
def c_5_15(ws):
    _send(ws, [encode_frame(OP_TEXT, b"fragment1", fin=False), encode_frame(OP_CONT, b"fragment2"),
               encode_frame(OP_CONT, b"fragment3", fin=False), encode_frame(OP_TEXT, b"fragment4")],
          None, tolerate=True)
    # Strict: the complete message before the violation is echoed (Autobahn
    # also accepts a connection failed without it).
    ws.expect_message(OP_TEXT, b"fragment1fragment2", timeout=T)
    ws.expect_fail(1002, timeout=T)


def _repeated(first_fin):
    def run(ws):
        frames = [encode_frame(OP_CONT, b"fragment1", fin=first_fin), encode_frame(OP_TEXT, b"fragment2", fin=False),
                  encode_frame(OP_CONT, b"fragment3")] * 2
        _send(ws, frames, None, tolerate=True)
        ws.expect_fail(1002, timeout=T)
    return run


CASES.add("5.16", "2 x [continuation 'fragment1' (FIN clear, nothing to continue), text 'fragment2' "
          "(FIN clear), continuation 'fragment3' (FIN)]", "close 1002 at the first frame; no echo",
          NOCONT, _repeated(False))
CASES.add("5.17", "2 x [continuation 'fragment1' (FIN set, nothing to continue), text 'fragment2' "
          "(FIN clear), continuation 'fragment3' (FIN)]", "close 1002 at the first frame; no echo",
          NOCONT, _repeated(True))


@CASES.case("5.18", "text 'fragment1' (FIN clear), text 'fragment2' (FIN): both frames with the text opcode",
            "close 1002; TCP closed; no echo", NOCONT)
def c_5_18(ws):
    _send(ws, [encode_frame(OP_TEXT, b"fragment1", fin=False), encode_frame(OP_TEXT, b"fragment2")],
          None, tolerate=True)
    ws.expect_fail(1002, timeout=T)


def _five_fragments(mode):
    def run(ws):
        frags = [b"fragment%d" % i for i in range(1, 6)]
        _send(ws, [encode_frame(OP_TEXT, frags[0], fin=False), encode_frame(OP_CONT, frags[1], fin=False),
                   encode_frame(OP_PING, b"pongme 1!")], mode)
        # Autobahn waits 1 s here; we wait for the event instead: the first
        # pong must arrive while the message is still incomplete.
        ws.expect_pong(b"pongme 1!", timeout=T)
        _send(ws, [encode_frame(OP_CONT, frags[2], fin=False), encode_frame(OP_CONT, frags[3], fin=False),
                   encode_frame(OP_PING, b"pongme 2!"), encode_frame(OP_CONT, frags[4])], mode)
        ws.expect_pong(b"pongme 2!", timeout=T)
        ws.expect_message(OP_TEXT, b"".join(frags), timeout=T)
        ws.close_handshake(1000)
    return run


for cid, mode in [("5.19", None), ("5.20", "frame")]:
    CASES.add(cid, "text 'fragment1' (FIN clear), continuation 'fragment2', ping 'pongme 1!'; after its pong: "
              "continuations 'fragment3', 'fragment4', ping 'pongme 2!', continuation 'fragment5' (FIN); "
              + MODES[mode],
              "pong 'pongme 1!' before the message is complete, pong 'pongme 2!', then text "
              "'fragment1..fragment5'; close 1000", INJECT, _five_fragments(mode))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))
