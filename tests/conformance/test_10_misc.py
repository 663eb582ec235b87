"""Autobahn|Testsuite group 10 (miscellaneous): 10.1.1 sends a 64 KiB text
message auto-fragmented into 1300-octet frames, as a client with a small
frame size would, and expects it echoed whole. Also the edge of the hub's
--max-message (group 9 sends exactly the limit; one octet more is 1009, judged
on the declared lengths before the payload arrives), and a check that the
suite's case list and docs/conformance.md agree. Not for extensions (groups
12-13).
"""
import importlib
import os
import re

import pytest

from cases import CaseList, T, case_key, docs_path
from wsclient import OP_BINARY, OP_CONT, OP_TEXT, encode_fragments, encode_frame

CASES = CaseList()


@CASES.case("10.1.1", "text of 65536 x '*' as 51 frames: 50 of 1300 octets and a last one of 536",
            "the whole message echoed; close 1000",
            "§5.4: a sender may fragment a message into frames of any size; the receiver reassembles it")
def c_10_1_1(ws):
    payload = b"*" * 65536
    frames = encode_fragments(OP_TEXT, payload, 1300)
    assert len(frames) == 51
    ws.send_frames(frames)
    ws.expect_message(OP_TEXT, payload, timeout=T)
    ws.close_handshake(1000)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_autobahn(case, connect):
    case.fn(connect(case.path))


MAX_MESSAGE = 16 * 1024 * 1024  # conftest.HUB_ARGS


def test_limit_frame_over_max_message_fails_1009_on_its_header(connect):
    """A text frame declaring --max-message + 1 octets: close 1009 arrives
    after the header alone (RFC 6455 §10.4, §7.4.1 1009), without the server
    waiting for (or buffering) the payload."""
    ws = connect()
    # FIN+text, masked 64-bit length, a zero masking key; then 1 KiB of the payload.
    header = bytes([0x81, 0x80 | 127]) + (MAX_MESSAGE + 1).to_bytes(8, "big") + b"\x00\x00\x00\x00"
    ws.send_raw(header + b"*" * 1024)
    ws.expect_fail(1009, timeout=T)


def test_limit_fragments_over_max_message_fail_1009_on_the_last_header(connect):
    """A binary message of exactly --max-message octets in one fragment, then
    a continuation header declaring one more octet: close 1009 before that
    octet is sent."""
    ws = connect()
    ws.send_raw(encode_frame(OP_BINARY, b"\xfe" * MAX_MESSAGE, fin=False))
    cont = encode_frame(OP_CONT, b"x")
    ws.send_raw(cont[:-1])  # header and masking key, not the payload octet
    ws.expect_close(1009, timeout=T)
    ws.send_raw(cont[-1:], tolerate_close=True)
    ws.expect_tcp_close(timeout=T)


MODULES = ["test_1_framing", "test_2_pings", "test_3_reserved_bits", "test_4_opcodes",
           "test_5_fragmentation", "test_6_utf8", "test_7_close", "test_9_limits", "test_10_misc",
           "test_12_deflate", "test_13_deflate"]


def all_cases():
    out = []
    for name in MODULES:
        out.extend(importlib.import_module(name).CASES)
    return sorted(out, key=lambda c: case_key(c.cid))


def test_every_case_is_documented():
    """docs/conformance.md lists every Autobahn case id the suite runs."""
    assert os.path.exists(docs_path()), docs_path()
    with open(docs_path(), encoding="utf-8") as f:
        doc = f.read()
    documented = set(re.findall(r"^\| (\d+(?:\.\d+)+) \|", doc, re.M))
    base_ids = {c.cid for c in all_cases() if "-" not in c.cid}
    assert base_ids - documented == set(), "cases missing from docs/conformance.md"
    assert documented - base_ids == set(), "docs/conformance.md lists cases the suite does not run"
