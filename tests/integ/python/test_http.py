"""HTTP/1.1 behaviour of the real hub seen from raw sockets and http.client:
keep-alive, pipelining, the JSON error shape, header/body caps and timeouts.
Not for the WebSocket upgrade (test_handshake.py)."""
import http.client
import json
import socket
import time

from integ_clients import Closed, RawConn, assert_error_body, one_request, scaled


# --- routing and response shape ------------------------------------------------

def test_health_is_200_json_status_ok(hub):
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=scaled(5))
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200
        assert r.getheader("Content-Type").split(";")[0].strip() == "application/json"
        doc = json.loads(body)
        assert doc["status"] == "ok", doc
    finally:
        conn.close()


def test_health_ignores_query_string(hub):
    r = one_request(hub.port, "GET", "/health?verbose=1")
    assert r.status == 200, r
    assert r.json()["status"] == "ok"


def test_head_health_is_200_without_body_and_keeps_connection(hub):
    with RawConn(hub.port) as c:
        c.request("HEAD", "/health")
        r = c.read_response(head=True)
        assert r.status == 200, r
        # Had the server sent a body after a HEAD, it would be read here as the
        # next status line and fail the parse.
        c.request("GET", "/health")
        r2 = c.read_response()
        assert r2.status == 200, r2


def test_unknown_path_is_404_json_error(hub):
    assert_error_body(one_request(hub.port, "GET", "/no/such/path"), 404)


def test_post_health_is_405_with_allow_get_head(hub):
    r = one_request(hub.port, "POST", "/health", body="{}")
    assert_error_body(r, 405)
    allow = {m.strip().upper() for m in (r.header("allow") or "").split(",")}
    assert {"GET", "HEAD"} <= allow, r
    assert "POST" not in allow, r


def test_delete_health_is_405_with_allow(hub):
    r = one_request(hub.port, "DELETE", "/health")
    assert_error_body(r, 405)
    assert r.header("allow"), r


def test_http_client_library_sees_json_404(hub):
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=scaled(5))
    try:
        conn.request("GET", "/missing")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 404
        assert r.getheader("Content-Type").split(";")[0].strip() == "application/json"
        assert b'"error"' in body
    finally:
        conn.close()


# --- connection management -----------------------------------------------------

def test_keep_alive_serves_sequential_requests_on_one_connection(hub):
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=scaled(5))
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        sock = conn.sock
        for path, status in (("/nope", 404), ("/health", 200), ("/health", 200)):
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status == status
            assert conn.sock is sock, "http.client had to reconnect: keep-alive was not honoured"
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(hub):
    with RawConn(hub.port) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
               b"GET /nope-1 HTTP/1.1\r\nHost: a\r\n\r\n"
               b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
               b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n"
               b"GET /nope-2 HTTP/1.1\r\nHost: a\r\n\r\n"
               b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        statuses = [c.read_response(head=(i == 3)).status for i in range(6)]
        assert statuses == [200, 404, 405, 200, 404, 200]


def test_pipelined_requests_split_at_every_byte_still_answered(hub):
    """Two requests dribbled one byte per send: the parser must resume anywhere."""
    data = (b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
    with RawConn(hub.port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            c.send(data[i:i + 1])
        assert c.read_response().status == 200
        assert c.read_response().status == 404


def test_connection_close_request_gets_answer_then_close(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/health", [("Connection", "close")])
        assert c.read_response().status == 200
        how, rest = c.read_to_close()
        assert rest == b""


def test_http10_request_gets_answer_then_close(hub):
    with RawConn(hub.port) as c:
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        head = c.read_until(b"\r\n\r\n").decode("latin-1")
        assert head.split(" ")[1] == "200", head
        how, rest = c.read_to_close()
        assert b'"status"' in rest


# --- caps ----------------------------------------------------------------------

def test_request_head_over_16k_is_431_and_close(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/health", [("X-Big", "a" * (17 * 1024))])
        assert_error_body(c.read_response(), 431)
        c.read_to_close()


def test_request_head_of_15k_is_accepted(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/health", [("X-Big", "a" * (15 * 1024))])
        assert c.read_response().status == 200


def test_more_than_64_headers_is_431(hub):
    # Host plus 64 more: 65 header fields.
    with RawConn(hub.port) as c:
        c.request("GET", "/health", [("X-H%d" % i, "v") for i in range(64)])
        assert_error_body(c.read_response(), 431)
        c.read_to_close()


def test_64_headers_are_accepted(hub):
    with RawConn(hub.port) as c:
        c.request("GET", "/health", [("X-H%d" % i, "v") for i in range(63)])
        assert c.read_response().status == 200


def test_declared_body_over_max_body_is_413_before_body_is_sent(hubs):
    h = hubs("--max-body", "1024")
    with RawConn(h.port) as c:
        # Only the head: the hub must answer from Content-Length alone.
        c.send(b"POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n")
        assert_error_body(c.read_response(timeout=3), 413)
        c.read_to_close()


def test_declared_huge_body_is_413_without_reading_it(hubs):
    h = hubs()  # default --max-body 1 MiB
    with RawConn(h.port) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000000\r\n\r\n")
        r = c.read_response(timeout=3)
        assert r.status == 413, r
        assert_error_body(r, 413)


def test_body_of_exactly_max_body_is_accepted(hubs):
    h = hubs("--max-body", "1024")
    with RawConn(h.port) as c:
        c.request("POST", "/nope", body=b"x" * 1024)
        assert_error_body(c.read_response(), 404)
        c.request("GET", "/health")
        assert c.read_response().status == 200


def test_max_body_accepts_size_suffix(hubs):
    h = hubs("--max-body", "1KiB")
    with RawConn(h.port) as c:
        c.request("POST", "/nope", body=b"x" * 1024)
        assert c.read_response().status == 404
        c.request("POST", "/nope", body=b"x" * 1025)
        assert c.read_response().status == 413


def test_chunked_body_over_max_body_is_413_and_close(hubs):
    h = hubs("--max-body", "1024")
    with RawConn(h.port) as c:
        chunk = b"y" * 600
        c.send(b"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % len(chunk) + chunk + b"\r\n"
               + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
        assert_error_body(c.read_response(), 413)
        c.read_to_close()


def test_chunked_body_is_accepted_and_next_pipelined_request_answered(hub):
    with RawConn(hub.port) as c:
        c.send(b"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
               b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        assert_error_body(c.read_response(), 404)
        r = c.read_response()
        assert r.status == 200, r
        assert r.json()["status"] == "ok"


# --- malformed input -----------------------------------------------------------

def test_garbage_request_is_400_and_close(hub):
    with RawConn(hub.port) as c:
        c.send(b"GARBAGE\r\n\r\n")
        assert_error_body(c.read_response(), 400)
        c.read_to_close()


def test_invalid_content_length_is_400_and_close(hub):
    with RawConn(hub.port) as c:
        c.send(b"POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n")
        assert_error_body(c.read_response(), 400)
        c.read_to_close()


def test_bad_chunk_size_is_400_and_close(hub):
    with RawConn(hub.port) as c:
        c.send(b"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        assert_error_body(c.read_response(), 400)
        c.read_to_close()


def test_bad_request_after_good_one_answers_both_in_order(hub):
    with RawConn(hub.port) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n\x01\x02 nonsense\r\n\r\n")
        assert c.read_response().status == 200
        assert_error_body(c.read_response(), 400)
        c.read_to_close()


# --- timeouts ------------------------------------------------------------------

def test_slowloris_request_is_408_and_close(hubs):
    h = hubs("--request-timeout", "1s")
    with RawConn(h.port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b"GET /health HTTP/1.1\r\nHost: a\r\n")
        start = time.monotonic()
        end = start + scaled(5)
        trickle = b"X-Slow: " + b"a" * 4096
        i = 0
        got = b""
        # Pace one header byte per 0.2 s of silence from the server: the request
        # keeps making progress, so only a whole-request deadline can stop it.
        while time.monotonic() < end:
            c.sock.settimeout(0.2)
            try:
                data = c.sock.recv(65536)
            except socket.timeout:
                try:
                    c.send(trickle[i:i + 1])
                except OSError:
                    break
                i += 1
                continue
            except ConnectionResetError:
                break
            got += data
            if not data or b"\r\n\r\n" in got:
                break
        elapsed = time.monotonic() - start
        assert got, "no 408 within %.1fs (sent %d trickle bytes)" % (elapsed, i)
        c.buf = got
        c.sock.settimeout(scaled(5))
        assert_error_body(c.read_response(), 408)
        assert elapsed >= 0.8, "408 after only %.2fs with --request-timeout 1s" % elapsed
        c.read_to_close()


def test_idle_keepalive_connection_is_closed_silently(hubs):
    h = hubs("--request-timeout", "1s")
    with RawConn(h.port) as c:
        c.request("GET", "/health")
        assert c.read_response().status == 200
        start = time.monotonic()
        how, data = c.read_to_close(timeout=4)
        elapsed = time.monotonic() - start
        assert data == b"", "idle keep-alive close must be silent, got %r" % data[:200]
        assert elapsed >= 0.8, "closed after %.2fs with --request-timeout 1s" % elapsed


def test_connection_that_never_sends_is_closed(hubs):
    h = hubs("--request-timeout", "1s")
    with RawConn(h.port) as c:
        start = time.monotonic()
        how, data = c.read_to_close(timeout=4)
        elapsed = time.monotonic() - start
        assert elapsed >= 0.8, "closed after %.2fs with --request-timeout 1s" % elapsed
        if data:  # silence or a 408 are both acceptable for a connection with no request
            assert data.startswith(b"HTTP/1.1 408"), data[:200]


def test_idle_connection_does_not_block_others(hubs):
    h = hubs("--request-timeout", "2s")
    with RawConn(h.port) as idle:
        idle.send(b"GET /health HTTP/1.1\r\n")  # an incomplete head
        for _ in range(3):
            assert one_request(h.port, "GET", "/health").status == 200


def test_many_sequential_connections_are_served(hub):
    for _ in range(200):
        with RawConn(hub.port) as c:
            c.request("GET", "/health", [("Connection", "close")])
            assert c.read_response().status == 200
    try:
        # The hub is still healthy after many short connections.
        assert one_request(hub.port, "GET", "/health").status == 200
    except Closed as e:
        raise AssertionError("hub closed a fresh connection: %s" % e.how)


def test_slow_body_is_408_and_close(hubs):
    h = hubs("--request-timeout", "1s")
    with RawConn(h.port) as c:
        start = time.monotonic()
        c.send(b"POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        # The head is complete but the body never is: the request deadline still applies.
        r = c.read_response(timeout=5)
        elapsed = time.monotonic() - start
        assert_error_body(r, 408)
        assert elapsed >= 0.8, "408 after %.2fs with --request-timeout 1s" % elapsed
        c.read_to_close()


def test_pipelined_upgrade_after_plain_request(hub):
    """GET /health then an upgrade on the same connection: the hub answers the
    first, then switches protocols for the second."""
    from integ_clients import RawWS, accept_for, new_key
    key = new_key()
    with RawWS(hub.port) as ws:
        ws.send(("GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        assert ws.read_response().status == 200
        r = ws.read_response(head=True)
        assert r.status == 101, r
        assert r.header("sec-websocket-accept") == accept_for(key)
        assert ws.recv_json()["type"] == "welcome"
