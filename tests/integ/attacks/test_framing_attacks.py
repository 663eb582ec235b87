"""Catalogue B12-B32: framing, fragmentation, UTF-8, control frames and the
closing handshake on /ws. Each test asserts the exact close code and that the
hub still serves a fresh client afterwards."""
import json
import os
import struct

from attack_support import assert_serves, ws_open, RawConn, scaled
from integ_clients import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWS

LIMITS = ("--max-message", "64KiB", "--max-fragments", "128")


def close_code_after(hub, data, *, headers=()):
    ws = ws_open(hub, headers)
    try:
        ws.send(data)
        return ws.expect_close()
    finally:
        ws.close()


def test_b12_unmasked_frame_gets_1002(hubs):
    hub = hubs()
    assert close_code_after(hub, RawWS.encode(OP_TEXT, '{"type":"ping"}', mask=False)) == 1002
    assert_serves(hub)


def test_b13_rsv_bits_without_extension_get_1002(hubs):
    hub = hubs()
    for rsv in (1, 2, 4):
        assert close_code_after(hub, RawWS.encode(OP_TEXT, "{}", rsv=rsv)) == 1002, rsv
    assert_serves(hub)


def test_b14_reserved_opcodes_get_1002(hubs):
    hub = hubs()
    for op in (0x3, 0x7, 0xB, 0xF):
        assert close_code_after(hub, RawWS.encode(op, b"x")) == 1002, op
    assert_serves(hub)


def test_b15_length_with_msb_set_gets_1002_and_huge_length_1009(hubs):
    hub = hubs(*LIMITS)
    msb = struct.pack("!BBQ", 0x81, 0xFF, 1 << 63) + os.urandom(4)
    assert close_code_after(hub, msb) == 1002
    # 2^40 bytes declared: refused on the header, before any buffering.
    huge = struct.pack("!BBQ", 0x81, 0xFF, 1 << 40) + os.urandom(4)
    assert close_code_after(hub, huge) == 1009
    assert_serves(hub)


def test_b16_non_minimal_length_gets_1002(hubs):
    hub = hubs()
    payload = b"{}"
    frame = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload)) + b"\0\0\0\0" + payload
    assert close_code_after(hub, frame) == 1002
    frame = struct.pack("!BBQ", 0x81, 0x80 | 127, len(payload)) + b"\0\0\0\0" + payload
    assert close_code_after(hub, frame) == 1002
    assert_serves(hub)


def test_b17_frames_split_at_every_byte_parse_the_same(hubs):
    hub = hubs()
    ws = ws_open(hub)
    try:
        data = RawWS.encode(OP_TEXT, json.dumps({"type": "ping", "id": "split"}))
        for b in data:
            ws.send(bytes([b]))
        doc = ws.recv_json()
        assert doc["type"] == "pong" and doc["id"] == "split", doc
    finally:
        ws.close()
    assert_serves(hub)


def test_b18_oversized_frame_gets_1009(hubs):
    hub = hubs(*LIMITS)
    assert close_code_after(hub, RawWS.encode(OP_TEXT, b"x" * (64 * 1024 + 1))) == 1009
    assert_serves(hub)


def test_b19_endless_continuation_gets_1009_by_total_size(hubs):
    hub = hubs("--max-message", "64KiB")
    ws = ws_open(hub)
    try:
        ws.send(RawWS.encode(OP_TEXT, b"[" + b"1," * 4000, fin=False))
        code = None
        for _ in range(64):
            try:
                ws.send(RawWS.encode(OP_CONT, b"1," * 4000, fin=False))
            except OSError:
                break
        code = ws.expect_close()
        assert code == 1009, code
    finally:
        ws.close()
    assert_serves(hub)


def test_b20_many_tiny_fragments_get_1008(hubs):
    hub = hubs(*LIMITS)
    frames = RawWS.encode(OP_TEXT, b"", fin=False) + b"".join(RawWS.encode(OP_CONT, b"", fin=False)
                                                              for _ in range(200))
    assert close_code_after(hub, frames) == 1008
    assert_serves(hub)


def test_b21_continuation_without_start_and_nested_start_get_1002(hubs):
    hub = hubs()
    assert close_code_after(hub, RawWS.encode(OP_CONT, b"x")) == 1002
    nested = RawWS.encode(OP_TEXT, b"{", fin=False) + RawWS.encode(OP_TEXT, b"}")
    assert close_code_after(hub, nested) == 1002
    assert_serves(hub)


def test_b22_invalid_utf8_gets_1007(hubs):
    hub = hubs()
    for bad in (b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xff"'):
        assert close_code_after(hub, RawWS.encode(OP_TEXT, bad)) == 1007, bad
    assert_serves(hub)


def test_b23_code_point_split_across_fragments_is_accepted(hubs):
    hub = hubs()
    ws = ws_open(hub)
    try:
        text = json.dumps({"type": "ping", "id": "\u20ac\U0001F600"}, ensure_ascii=False).encode()
        cut = text.index(b"\xe2") + 1  # inside the euro sign
        cut2 = text.index(b"\xf0") + 2  # inside the emoji
        ws.send(RawWS.encode(OP_TEXT, text[:cut], fin=False) + RawWS.encode(OP_CONT, text[cut:cut2], fin=False) +
                RawWS.encode(OP_CONT, text[cut2:]))
        doc = ws.recv_json()
        assert doc["type"] == "pong" and doc["id"] == "\u20ac\U0001F600", doc
        # An incomplete sequence at the end of the message is still 1007.
        ws.send(RawWS.encode(OP_TEXT, b'"\xe2\x82', fin=False) + RawWS.encode(OP_CONT, b""))
        assert ws.expect_close() == 1007
    finally:
        ws.close()
    assert_serves(hub)


def test_b24_data_after_close_is_not_delivered(hubs):
    hub = hubs()
    sub = ws_open(hub)
    pub = ws_open(hub)
    try:
        sub.send_text(json.dumps({"type": "subscribe", "channel": "b24", "id": 1}))
        assert sub.recv_json()["type"] == "subscribed"
        late = json.dumps({"type": "publish", "channel": "b24", "data": "after-close"})
        pub.send(RawWS.encode(OP_CLOSE, struct.pack("!H", 1000)) + RawWS.encode(OP_TEXT, late))
        assert pub.expect_close() == 1000
        # A marker published afterwards arrives first: nothing came before it.
        marker = ws_open(hub)
        marker.send_text(json.dumps({"type": "publish", "channel": "b24", "data": "marker"}))
        doc = sub.recv_json()
        assert doc["type"] == "message" and doc["data"] == "marker", doc
        marker.close()
    finally:
        sub.close()
        pub.close()
    assert_serves(hub)


def test_b25_fragmented_control_frame_gets_1002(hubs):
    hub = hubs()
    assert close_code_after(hub, RawWS.encode(OP_PING, b"x", fin=False)) == 1002
    assert_serves(hub)


def test_b26_control_payload_over_125_gets_1002(hubs):
    hub = hubs()
    assert close_code_after(hub, RawWS.encode(OP_PING, b"p" * 126)) == 1002
    assert_serves(hub)


def test_b27_control_frames_inside_a_fragmented_message_are_answered(hubs):
    hub = hubs()
    ws = ws_open(hub)
    try:
        ws.send(RawWS.encode(OP_TEXT, b'{"type":', fin=False) + RawWS.encode(OP_PING, b"mid") +
                RawWS.encode(OP_CONT, b'"ping","id":27}'))
        f = ws.recv_frame()
        assert f.opcode == OP_PONG and f.payload == b"mid", f
        doc = ws.recv_json()
        assert doc["type"] == "pong" and doc["id"] == 27, doc
    finally:
        ws.close()
    assert_serves(hub)


def test_b28_one_byte_close_payload_gets_1002(hubs):
    hub = hubs()
    assert close_code_after(hub, RawWS.encode(OP_CLOSE, b"\x03")) == 1002
    assert_serves(hub)


def test_b29_invalid_close_codes_get_1002_and_valid_ones_are_echoed(hubs):
    hub = hubs()
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000):
        assert close_code_after(hub, RawWS.encode(OP_CLOSE, struct.pack("!H", code))) == 1002, code
    for code in (1000, 1003, 1011, 3000, 4999):
        assert close_code_after(hub, RawWS.encode(OP_CLOSE, struct.pack("!H", code))) == code, code
    assert_serves(hub)


def test_b30_close_reason_with_invalid_utf8_gets_1007(hubs):
    hub = hubs()
    assert close_code_after(hub, RawWS.encode(OP_CLOSE, struct.pack("!H", 1000) + b"\xff\xfe")) == 1007
    assert_serves(hub)


def test_b31_peer_that_never_answers_our_close_is_dropped(hubs):
    hub = hubs("--close-timeout", "1s")
    ws = ws_open(hub)
    try:
        ws.send(RawWS.encode(OP_TEXT, b"{}", mask=False))  # the hub closes 1002 ...
        assert ws.expect_close() == 1002
        how, _ = ws.read_to_close(timeout=10)  # ... and we never answer: TCP ends anyway
        assert how in ("eof", "reset")
    finally:
        ws.close()
    assert_serves(hub)


def test_b32_ping_flood_gets_1008_and_unsolicited_pongs_are_ignored(hubs):
    hub = hubs("--control-rate", "10", "--control-burst", "20")
    ws = ws_open(hub)
    try:
        ws.send(b"".join(RawWS.encode(OP_PONG, b"u") for _ in range(50)))
        ws.send_text('{"type":"ping","id":"after-pongs"}')
        assert ws.recv_json()["id"] == "after-pongs"
        ws.send(b"".join(RawWS.encode(OP_PING, b"%d" % i) for i in range(60)))
        pongs = 0
        while True:
            f = ws.recv_frame()
            if f.opcode == OP_PONG:
                pongs += 1
                continue
            assert f.opcode == OP_CLOSE, f
            assert f.close_code == 1008, f
            break
        assert pongs <= 21, pongs  # the burst, then nothing more
    finally:
        ws.close()
    assert_serves(hub)


def test_b32_pings_within_the_rate_are_all_answered(hubs):
    hub = hubs("--control-rate", "10", "--control-burst", "20")
    ws = ws_open(hub)
    try:
        ws.send(b"".join(RawWS.encode(OP_PING, b"%d" % i) for i in range(20)))
        for i in range(20):
            f = ws.recv_frame()
            assert f.opcode == OP_PONG and f.payload == b"%d" % i, f
    finally:
        ws.close()
    assert_serves(hub)
