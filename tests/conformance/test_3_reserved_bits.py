"""Autobahn|Testsuite group 3 (reserved bits): with no extension negotiated,
any frame with RSV1-3 set fails the connection with 1002, after everything
before it was processed and before anything after it is. Not for RSV bits
under permessage-deflate (Autobahn groups 12-13).
"""
import pytest

from cases import CaseList, T
from wsclient import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, encode_frame

CASES = CaseList()
RSV = ("§5.2: RSV1-3 MUST be 0 unless an extension defining them was negotiated; "
       "if a nonzero value is received the endpoint MUST _Fail the WebSocket Connection_ (§7.1.7)")
HELLO = b"Hello, world!"


def _single(opcode, payload, rsv):
    def run(ws):
        ws.send_frame(opcode, payload, rsv=rsv, tolerate_close=True)
        ws.expect_fail(1002, timeout=T)
    return run


def _after_echo(rsv, chop=None, framewise=False):
    def run(ws):
        frames = [encode_frame(OP_TEXT, HELLO), encode_frame(OP_TEXT, HELLO, rsv=rsv), encode_frame(OP_PING)]
        ws.send_frames(frames, chop=chop, framewise=framewise, tolerate_close=True)
        # Strict: the valid message before the bad frame is echoed, and the
        # ping after it is never answered (Autobahn also accepts no echo).
        ws.expect_message(OP_TEXT, HELLO, timeout=T)
        ws.expect_fail(1002, timeout=T)
    return run


CASES.add("3.1", "text 'Hello, world!' with RSV=1", "close 1002; TCP closed", RSV, _single(OP_TEXT, HELLO, 1))
CASES.add("3.2", "text 'Hello, world!'; the same with RSV=2; empty ping (one write)",
          "echo of the first message; close 1002; TCP closed; no pong", RSV, _after_echo(2))
CASES.add("3.3", "text 'Hello, world!'; the same with RSV=3; empty ping (one write per frame)",
          "echo of the first message; close 1002; TCP closed; no pong", RSV, _after_echo(3, framewise=True))
CASES.add("3.4", "text 'Hello, world!'; the same with RSV=4; empty ping (one octet per write)",
          "echo of the first message; close 1002; TCP closed; no pong", RSV, _after_echo(4, chop=1))
CASES.add("3.5", "binary 00 ff fe fd fc fb 00 ff with RSV=5", "close 1002; TCP closed", RSV,
          _single(OP_BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 5))
CASES.add("3.6", "ping 'Hello, world!' with RSV=6", "close 1002; TCP closed; no pong", RSV,
          _single(OP_PING, HELLO, 6),
          note="Autobahn's description says Ping; its code sends a binary frame (which 3.5 covers). "
               "We send the Ping the case describes.")
CASES.add("3.7", "close frame (empty payload) with RSV=7", "close 1002; TCP closed", RSV,
          _single(OP_CLOSE, b"", 7))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))
