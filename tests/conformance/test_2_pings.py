"""Autobahn|Testsuite group 2 (pings and pongs): every ping is answered by a
pong with the same payload, over-long pings fail the connection, unsolicited
pongs are ignored. Not for control frames between fragments (group 5).
"""
import pytest

from cases import CaseList, T
from wsclient import OP_PING, OP_PONG, encode_frame

CASES = CaseList()
PONG = "§5.5.2: a Ping is answered by a Pong with identical application data"


def _ping_case(payload, chop=None):
    def run(ws):
        ws.send_frame(OP_PING, payload, chop=chop)
        ws.expect_pong(payload, timeout=T)
        ws.close_handshake(1000)
    return run


CASES.add("2.1", "ping, empty payload", "pong, empty payload; close 1000", PONG, _ping_case(b""))
CASES.add("2.2", "ping, payload 'Hello, world!'", "pong with the same payload; close 1000", PONG,
          _ping_case(b"Hello, world!"))
CASES.add("2.3", "ping, binary payload 00 ff fe fd fc fb 00 ff", "pong with the same payload; close 1000",
          PONG, _ping_case(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"))
CASES.add("2.4", "ping, payload 125 x fe (the maximum)", "pong with the same payload; close 1000",
          PONG + "; §5.5: control payload up to 125 octets", _ping_case(b"\xfe" * 125))


@CASES.case("2.5", "ping, payload 126 x fe (16-bit length)", "close 1002; TCP closed; no pong",
            "§5.5: all control frames MUST have a payload length of 125 bytes or less; §7.1.7 fail")
def c_2_5(ws):
    ws.send_frame(OP_PING, b"\xfe" * 126, tolerate_close=True)
    ws.expect_fail(1002, timeout=T)


CASES.add("2.6", "ping, payload 125 x fe, written one octet at a time",
          "pong with the same payload; close 1000", PONG + "; TCP may split anywhere",
          _ping_case(b"\xfe" * 125, chop=1))


def _unsolicited(payload):
    def run(ws):
        ws.send_frame(OP_PONG, payload)
        # The close echo must be the very next frame: nothing answers a pong.
        ws.close_handshake(1000)
    return run


CASES.add("2.7", "unsolicited pong, empty payload", "nothing in reply; close 1000 is the next frame",
          "§5.5.3: a Pong MAY be sent unsolicited; a response to it is not expected", _unsolicited(b""))
CASES.add("2.8", "unsolicited pong, payload 'unsolicited pong payload'",
          "nothing in reply; close 1000 is the next frame",
          "§5.5.3: a response to an unsolicited Pong is not expected",
          _unsolicited(b"unsolicited pong payload"))


@CASES.case("2.9", "unsolicited pong 'unsolicited pong payload', then ping 'ping payload'",
            "exactly one pong, with 'ping payload'; close 1000", "§5.5.2, §5.5.3")
def c_2_9(ws):
    ws.send_raw(encode_frame(OP_PONG, b"unsolicited pong payload") + encode_frame(OP_PING, b"ping payload"))
    ws.expect_pong(b"ping payload", timeout=T)
    ws.close_handshake(1000)


def _ten_pings(chop):
    def run(ws):
        payloads = [b"payload-%d" % i for i in range(10)]
        for p in payloads:
            ws.send_frame(OP_PING, p, chop=chop)
        for p in payloads:
            ws.expect_pong(p, timeout=T)
        ws.close_handshake(1000)
    return run


TEN = ("§5.5.2; stricter than §5.5.3, which lets an endpoint answer only the most recent "
       "of several pending pings (Autobahn checks all ten too)")
CASES.add("2.10", "10 pings, payloads 'payload-0' .. 'payload-9'",
          "10 pongs with those payloads, in order; close 1000", TEN, _ten_pings(None))
CASES.add("2.11", "10 pings 'payload-0' .. 'payload-9', written one octet at a time",
          "10 pongs with those payloads, in order; close 1000", TEN, _ten_pings(1))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))
