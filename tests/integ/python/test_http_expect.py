"""Expect: 100-continue (RFC 9110 §10.1.1): a client that waits for the
interim answer before sending its body gets "100 Continue" at once, then
the final answer; an oversized declared body gets 413 instead, and no 100."""
import socket

from integ_clients import scaled


def read_until(sock, marker, limit=65536):
    data = b""
    sock.settimeout(scaled(5))
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_expect_continue_gets_100_before_the_body_is_sent(hub):
    body = b'{"k":"' + b"v" * 2000 + b'"}'
    with socket.create_connection(("127.0.0.1", hub.port)) as s:
        s.sendall(b"POST /api/channels/expect/publish HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        interim = read_until(s, b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        s.sendall(body)
        final = read_until(s, b'"offset":1}')
        assert final.startswith(b"HTTP/1.1 200 "), final
        assert final.endswith(b'{"channel":"expect","offset":1}'), final


def test_expect_continue_with_a_body_over_the_limit_gets_413_and_no_100(hubs):
    h = hubs("--max-body", "1KiB")
    with socket.create_connection(("127.0.0.1", h.port)) as s:
        s.sendall(b"POST /api/channels/expect/publish HTTP/1.1\r\nHost: x\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 4096\r\n\r\n")
        answer = read_until(s, b"}}")
        assert answer.startswith(b"HTTP/1.1 413 "), answer
        assert b"100 Continue" not in answer
