"""Autobahn|Testsuite group 4 (reserved opcodes): a frame with a reserved
non-control (3-7) or control (0xB-0xF) opcode fails the connection with 1002,
after the messages before it were echoed. Not for valid opcodes.
"""
import pytest

from cases import CaseList, T
from wsclient import OP_PING, OP_TEXT, encode_frame

CASES = CaseList()
OPC = ("§5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved; if an unknown opcode is received, "
       "the receiving endpoint MUST _Fail the WebSocket Connection_ (§7.1.7)")
HELLO = b"Hello, world!"


def _single(opcode, payload):
    def run(ws):
        ws.send_frame(opcode, payload, tolerate_close=True)
        ws.expect_fail(1002, timeout=T)
    return run


def _after_echo(opcode, payload, chop=None):
    def run(ws):
        frames = [encode_frame(OP_TEXT, HELLO), encode_frame(opcode, payload), encode_frame(OP_PING)]
        ws.send_frames(frames, chop=chop, tolerate_close=True)
        ws.expect_message(OP_TEXT, HELLO, timeout=T)
        ws.expect_fail(1002, timeout=T)
    return run


for sub, (kind, ops) in enumerate([("non-control", [3, 4, 5, 6, 7]), ("control", [11, 12, 13, 14, 15])], 1):
    a, b, c, d, e = ops
    CASES.add("4.%d.1" % sub, "frame with reserved %s opcode %d, empty payload" % (kind, a),
              "close 1002; TCP closed", OPC, _single(a, b""))
    CASES.add("4.%d.2" % sub, "frame with reserved %s opcode %d, payload 'reserved opcode payload'" % (kind, b),
              "close 1002; TCP closed", OPC, _single(b, b"reserved opcode payload"))
    CASES.add("4.%d.3" % sub, "text 'Hello, world!'; opcode %d, empty; empty ping (one write)" % c,
              "echo; close 1002; TCP closed; no pong", OPC, _after_echo(c, b""))
    CASES.add("4.%d.4" % sub, "text 'Hello, world!'; opcode %d with 'Hello, world!'; empty ping (one write)" % d,
              "echo; close 1002; TCP closed; no pong", OPC, _after_echo(d, HELLO))
    CASES.add("4.%d.5" % sub, "text 'Hello, world!'; opcode %d with 'Hello, world!'; empty ping "
              "(one octet per write)" % e,
              "echo; close 1002; TCP closed; no pong", OPC, _after_echo(e, HELLO, chop=1))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))
