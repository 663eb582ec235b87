"""Autobahn|Testsuite group 12 (permessage-deflate, default offer): echo of
compressed messages of five kinds (JSON, Lorem Ipsum, German text, HTML,
random binary), 16 octets to 128 KiB, whole or auto-fragmented, several per
connection. The hub answers with no context takeover either way and may send
any echo uncompressed (under its 128-octet threshold, or when it would not
shrink). Not for offers with parameters (group 13) or faults
(tests/integ/python/test_deflate.py).
"""
import pytest

from cases import CaseList
from deflate_cases import DEFLATE_RULE, SIZES, echo_run

CASES = CaseList()
KINDS = [("1", "json", "JSON"), ("2", "lorem", "Lorem Ipsum text"), ("3", "goethe", "German text (UTF-8)"),
         ("4", "html", "HTML"), ("5", "binary", "random binary")]

for g, kind, title in KINDS:
    for i, (size, frag) in enumerate(SIZES, 1):
        how = "in one frame" if not frag else "in frames of %d octets" % frag
        CASES.add("12.%s.%d" % (g, i), "offer `permessage-deflate`; %s messages of %d octets, compressed %s"
                  % (title, size, how), "each echoed byte for byte, compressed from 256 octets unless random binary; close 1000",
                  DEFLATE_RULE, echo_run("permessage-deflate", kind, size, frag))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect)
