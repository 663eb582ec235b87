"""Autobahn|Testsuite group 13 (permessage-deflate offers with parameters):
the client asks for server_no_context_takeover and server_max_window_bits
(8 or 15) with or without, offers client_max_window_bits, or makes several
offers, then echoes text of 16 octets to 128 KiB. The answer must accept the
first acceptable offer, echo a requested window size, and the hub's frames
must inflate with that window. Not for the default offer (group 12).
"""
import pytest

from cases import CaseList
from deflate_cases import DEFLATE_RULE, SIZES, echo_run

CASES = CaseList()
RULE = DEFLATE_RULE + "; §7.1.2.1: a server accepting server_max_window_bits answers with a value no larger"

# (sub-group, offer, what the answer's server_max_window_bits must be or None)
OFFERS = [
    ("1", "permessage-deflate; client_max_window_bits", None),
    ("2", "permessage-deflate; server_no_context_takeover; client_max_window_bits", None),
    ("3", "permessage-deflate; server_max_window_bits=8; client_max_window_bits", 8),
    ("4", "permessage-deflate; server_max_window_bits=15; client_max_window_bits", 15),
    ("5", "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits", 8),
    ("6", "permessage-deflate; server_no_context_takeover; server_max_window_bits=15; client_max_window_bits", 15),
    ("7", "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits, "
          "permessage-deflate; server_no_context_takeover; client_max_window_bits, "
          "permessage-deflate; client_max_window_bits", 8),
]


def _checker(bits):
    def check(agreed):
        assert agreed.get("server_no_context_takeover") is True, agreed
        got = agreed.get("server_max_window_bits")
        if bits is None:
            assert got is None, agreed
        else:
            assert got is not None and int(got) <= bits, agreed
    return check


for g, offer, bits in OFFERS:
    for i, (size, frag) in enumerate(SIZES, 1):
        how = "in one frame" if not frag else "in frames of %d octets" % frag
        CASES.add("13.%s.%d" % (g, i), "offer `%s`; Lorem Ipsum messages of %d octets, compressed %s"
                  % (offer, size, how),
                  "answer: server_no_context_takeover%s; each echoed byte for byte, compressed from 256 octets; close 1000"
                  % ("" if bits is None else ", server_max_window_bits=%d" % bits),
                  RULE, echo_run(offer, "lorem", size, frag, check=_checker(bits)))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect)
