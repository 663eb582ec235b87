"""Autobahn|Testsuite group 1 (framing): text and binary messages of every
payload-length encoding boundary, whole and chopped, must come back intact.
Not for fragmentation (group 5) or large messages (group 9).
"""
import pytest

from cases import CaseList, T
from wsclient import OP_BINARY, OP_TEXT

CASES = CaseList()
LENGTHS = [0, 125, 126, 127, 128, 65535, 65536]
RFC = "§5.2 payload length: 7-bit up to 125, 16-bit after 126, 64-bit after 127; §5.6 data frames"


def _echo_case(opcode, fill, n, chop):
    def run(ws):
        payload = fill * n
        ws.send_frame(opcode, payload, chop=chop)
        ws.expect_message(opcode, payload, timeout=T)
        ws.close_handshake(1000)
    return run


for sub, (opcode, fill, kind, shown) in enumerate([(OP_TEXT, b"*", "text", "'*'"), (OP_BINARY, b"\xfe", "binary", "0xfe")], 1):
    for i, n in enumerate(LENGTHS, 1):
        CASES.add("1.%d.%d" % (sub, i),
                  "one %s frame, payload %d x %s" % (kind, n, shown),
                  "the same %s message echoed; close 1000 echoed; TCP closed" % kind,
                  RFC, _echo_case(opcode, fill, n, None))
    CASES.add("1.%d.8" % sub,
              "one %s frame, payload 65536 x %s, written in chops of 997 octets" % (kind, shown),
              "the same %s message echoed; close 1000 echoed; TCP closed" % kind,
              RFC + "; the octet stream may be split anywhere (TCP)",
              _echo_case(opcode, fill, 65536, 997))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))
