"""TLS listeners end to end: wss:// pub/sub with python3-websockets over
`ssl`, https:// publish and /health with http.client, both verified against a
self-signed certificate made here with the openssl CLI; TLS 1.1 refused;
plaintext HTTP on the TLS port answered 400 in plaintext and garbage closed;
a handshake that never finishes closed by the request timeout, a request head
that never finishes answered 408 over TLS; a slow wss subscriber closed 4008
while a fast one gets everything; SIGTERM draining wss clients; certificate
reload on SIGHUP (new connections get the new certificate, open ones keep
working, a bad new file keeps the old one); and the start-up errors for bad
TLS settings. Not for the TLS internals (tests/unit/test_net_tls.c)."""
import asyncio
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest
import websockets

from conftest import run_async
from hubproc import hub_binary, timeout_scale
from integ_clients import recv_json, scaled

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


# --- certificates ---------------------------------------------------------------

def make_cert(directory, name, cn="127.0.0.1"):
    """A self-signed P-256 certificate valid for IP 127.0.0.1; returns
    (cert_path, key_path)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


def fingerprint_file(cert):
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
def certs(tmp_path):
    return make_cert(str(tmp_path), "a")


def client_ctx(cafile):
    """Verifies the hub's certificate and its IP SAN, as a real client would."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    return ctx


def tls_hub(hubs, cert, key, *extra):
    return hubs("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, *extra, tls=True)


def served_fingerprint(port):
    """SHA-256 of the certificate the hub serves now (not verified: the
    test compares it to the files)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as raw:
        with ctx.wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def https(port, cafile, method, path, body=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=scaled(5), context=client_ctx(cafile))
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read(), conn.sock.version()
    finally:
        conn.close()


def wait_log(hub, needle, timeout=10.0):
    """Waits for `needle` to appear in the hub's log (an event, not a sleep)."""
    end = time.monotonic() + timeout * timeout_scale()
    while time.monotonic() < end:
        if needle in hub.log():
            return
        time.sleep(0.01)  # polling the log file for the event
    raise AssertionError("log never said %r:\n%s" % (needle, hub.log()[-4000:]))


def wss(hub, cafile, path="/ws"):
    return websockets.connect(hub.wss_url + path, ssl=client_ctx(cafile), ping_interval=None,
                              open_timeout=scaled(5), close_timeout=scaled(5), compression=None)


async def open_welcomed(hub, cafile, path="/ws"):
    ws = await wss(hub, cafile, path)
    doc = await recv_json(ws)
    assert doc["type"] == "welcome", doc
    return ws


# --- wss:// and https:// ----------------------------------------------------------

@run_async()
async def test_wss_pubsub_between_tls_and_plain_clients(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    assert hub.tls_port != hub.port
    sub = await open_welcomed(hub, cert)
    assert sub.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    await sub.send(json.dumps({"type": "subscribe", "channel": "news"}))
    assert (await recv_json(sub))["type"] == "subscribed"
    # A publisher over wss and one over the plain listener reach the same channel.
    pub = await open_welcomed(hub, cert)
    big = "x" * 100000  # several TLS records in one message
    await pub.send(json.dumps({"type": "publish", "channel": "news", "data": {"n": 1, "big": big}}))
    plain = await websockets.connect(hub.url + "/ws", ping_interval=None, compression=None)
    assert (await recv_json(plain))["type"] == "welcome"
    await plain.send(json.dumps({"type": "publish", "channel": "news", "data": {"n": 2}}))
    got = []
    while len(got) < 2:
        doc = await recv_json(sub)
        if doc["type"] == "message":
            got.append(doc["data"])
    # Two publishers on two connections: no order between them is promised.
    got.sort(key=lambda d: d["n"])
    assert got[0] == {"n": 1, "big": big}
    assert got[1] == {"n": 2}
    for ws in (sub, pub, plain):
        await ws.close()
    # A clean close: the hub sent its close frame over TLS.
    assert sub.close_code == 1000


def test_https_health_and_publish(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    status, body, version = https(hub.tls_port, cert, "GET", "/health")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"
    assert version in ("TLSv1.2", "TLSv1.3")
    status, body, _ = https(hub.tls_port, cert, "POST", "/api/channels/tls-api/publish", b'{"hello":"tls"}')
    assert status == 200, body
    assert json.loads(body)["offset"] == 1
    # The message is there: read it back over https through history.
    status, body, _ = https(hub.tls_port, cert, "GET", "/api/channels/tls-api/history")
    assert status == 200, body
    assert b'"hello":"tls"' in body


def test_keep_alive_requests_over_one_tls_connection(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    conn = http.client.HTTPSConnection("127.0.0.1", hub.tls_port, timeout=scaled(5), context=client_ctx(cert))
    try:
        for _ in range(3):
            conn.request("GET", "/health")
            r = conn.getresponse()
            assert r.status == 200
            r.read()
        # Still the first TCP connection.
        assert conn.sock is not None
    finally:
        conn.close()


def test_tls_1_2_accepted_and_tls_1_1_refused(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    ok = client_ctx(cert)
    ok.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", hub.tls_port), timeout=scaled(5)) as raw:
        with ok.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.version() == "TLSv1.2"
            # ECDHE with an AEAD cipher, as configured.
            name = s.cipher()[0]
            assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    # Let this client offer TLS 1.0/1.1 at all (Debian's default level forbids it).
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is the point
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", hub.tls_port), timeout=scaled(5)) as raw:
        with pytest.raises(ssl.SSLError) as ei:
            old.wrap_socket(raw, server_hostname="127.0.0.1")
    # The server said no (protocol_version alert), not this client.
    assert "PROTOCOL_VERSION" in str(ei.value).upper() or "UNSUPPORTED_PROTOCOL" in str(ei.value).upper(), ei.value
    wait_log(hub, "tls: handshake failed")
    # And the hub serves the next client.
    assert https(hub.tls_port, cert, "GET", "/health")[0] == 200


def test_alpn_http11_chosen_and_foreign_protocols_refused(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    ctx = client_ctx(cert)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", hub.tls_port), timeout=scaled(5)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.selected_alpn_protocol() == "http/1.1"
    h2 = client_ctx(cert)
    h2.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", hub.tls_port), timeout=scaled(5)) as raw:
        with pytest.raises(ssl.SSLError) as ei:
            h2.wrap_socket(raw, server_hostname="127.0.0.1")
    assert "NO APPLICATION PROTOCOL" in str(ei.value).upper().replace("_", " "), ei.value


def test_plaintext_http_on_tls_port_gets_400_in_plaintext(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    conn = http.client.HTTPConnection("127.0.0.1", hub.tls_port, timeout=scaled(5))
    conn.request("GET", "/health")
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    assert r.status == 400
    assert body["error"]["code"] == "tls_required", body
    wait_log(hub, "plaintext HTTP request on a TLS port")


@run_async()
async def test_ws_scheme_on_tls_port_is_refused(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
        await websockets.connect("ws://127.0.0.1:%d/ws" % hub.tls_port, open_timeout=scaled(5))
    assert ei.value.status_code == 400
    # wss on the plain port fails the other way round: no TLS there.
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError, websockets.exceptions.InvalidMessage)):
        await websockets.connect("wss://127.0.0.1:%d/ws" % hub.port, ssl=client_ctx(cert),
                                 open_timeout=scaled(5))
    ws = await open_welcomed(hub, cert)
    await ws.close()


def test_garbage_on_tls_port_is_closed(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    with socket.create_connection(("127.0.0.1", hub.tls_port), timeout=scaled(5)) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello-this-is-not-a-client-hello" * 4)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    # Whatever came back is a TLS alert record (type 21), never plaintext.
    assert data == b"" or data[0] == 21, data[:40]
    assert https(hub.tls_port, cert, "GET", "/health")[0] == 200


@pytest.mark.parametrize("first_bytes", [b"", b"\x16\x03\x01"], ids=["silent", "partial-hello"])
def test_stalled_handshake_is_closed_by_request_timeout(hubs, certs, first_bytes):
    cert, key = certs
    hub = tls_hub(hubs, cert, key, "--request-timeout", "300ms")
    with socket.create_connection(("127.0.0.1", hub.tls_port), timeout=scaled(10)) as s:
        if first_bytes:
            s.sendall(first_bytes)
        # The hub closes; a hub without the deadline would leave recv waiting
        # until the socket timeout raised.
        assert s.recv(4096) == b""
    assert https(hub.tls_port, cert, "GET", "/health")[0] == 200


def test_partial_request_head_over_tls_gets_408(hubs, certs):
    """The deadline from accept covers the handshake and the first request
    head; once TLS is up the hub can say why it closes."""
    cert, key = certs
    hub = tls_hub(hubs, cert, key, "--request-timeout", "500ms")
    with socket.create_connection(("127.0.0.1", hub.tls_port), timeout=scaled(10)) as raw:
        with client_ctx(cert).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line
            data = b""
            while True:
                try:
                    chunk = s.recv(4096)
                except ssl.SSLZeroReturnError:
                    break
                if not chunk:
                    break
                data += chunk
    assert data.startswith(b"HTTP/1.1 408"), data[:80]


@run_async(deadline=60)
async def test_slow_wss_subscriber_is_closed_4008_and_others_get_everything(hubs, certs):
    """Records the socket cannot take are kept and counted as written, so the
    slow-consumer path (drop what has not started, then close 4008) stays
    byte-exact over TLS while a fast subscriber gets every message."""
    cert, key = certs
    hub = tls_hub(hubs, cert, key, "--max-queue", "262144", "--workers", "1")
    fast = await open_welcomed(hub, cert)
    # A small receive buffer and a client that stops reading after one
    # message: the hub's queue for it fills quickly.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", hub.tls_port))
    slow = await websockets.connect(hub.wss_url + "/ws", sock=raw, ssl=client_ctx(cert), server_hostname="127.0.0.1",
                                    ping_interval=None, compression=None, max_queue=1, read_limit=4096,
                                    open_timeout=scaled(5), close_timeout=scaled(5))
    assert (await recv_json(slow))["type"] == "welcome"
    for ws in (fast, slow):
        await ws.send(json.dumps({"type": "subscribe", "channel": "firehose"}))
        assert (await recv_json(ws))["type"] == "subscribed"
    payload = "z" * 30000
    n = 300
    pub = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=scaled(5))
    got = 0
    for i in range(n):
        pub.request("POST", "/api/channels/firehose/publish", body=json.dumps({"i": i, "p": payload}),
                    headers={"Content-Type": "application/json"})
        r = pub.getresponse()
        r.read()
        assert r.status == 200
        # Keep the fast one reading as we go.
        while True:
            try:
                doc = json.loads(await asyncio.wait_for(fast.recv(), 0.001 if got < i else scaled(5)))
            except asyncio.TimeoutError:
                break
            assert doc["data"]["i"] == got
            got += 1
            if got > i:
                break
    pub.close()
    while got < n:
        doc = await recv_json(fast, timeout=10)
        assert doc["data"]["i"] == got
        got += 1
    # The slow one: whatever it reads is whole, in order, then close 4008.
    seen = []
    with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
        while True:
            doc = json.loads(await asyncio.wait_for(slow.recv(), scaled(10)))
            seen.append(doc["data"]["i"])
    assert ei.value.rcvd is not None and ei.value.rcvd.code == 4008, ei.value
    assert seen == list(range(len(seen))) and len(seen) < n, seen[-5:]
    await fast.close()


@run_async()
async def test_sigterm_drains_wss_clients_with_1001(hubs, certs):
    cert, key = certs
    hub = tls_hub(hubs, cert, key)
    clients = [await open_welcomed(hub, cert) for _ in range(3)]
    hub.signal(signal.SIGTERM)
    for ws in clients:
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            while True:
                await asyncio.wait_for(ws.recv(), scaled(10))
        assert ei.value.rcvd is not None and ei.value.rcvd.code == 1001
    assert hub.wait() == 0
    hub.expect_running = False


# --- reload on SIGHUP --------------------------------------------------------------

@run_async(deadline=60)
async def test_sighup_reloads_the_certificate_for_new_connections(hubs, tmp_path):
    d = str(tmp_path)
    cert, key = make_cert(d, "live", cn="first")
    cert_b, key_b = make_cert(d, "next", cn="second")
    fp_a, fp_b = fingerprint_file(cert), fingerprint_file(cert_b)
    hub = tls_hub(hubs, cert, key, "--workers", "2")
    assert served_fingerprint(hub.tls_port) == fp_a
    old = await open_welcomed(hub, cert)  # trusts only the first certificate
    await old.send(json.dumps({"type": "subscribe", "channel": "r"}))
    assert (await recv_json(old))["type"] == "subscribed"
    # Replace both files atomically, then ask for a reload.
    os.replace(cert_b, cert)
    os.replace(key_b, key)
    hub.signal(signal.SIGHUP)
    wait_log(hub, "tls: certificate reloaded generation=2")
    # Every new connection, whichever worker takes it, gets the new one.
    for _ in range(6):
        assert served_fingerprint(hub.tls_port) == fp_b
    new = await open_welcomed(hub, cert)  # `cert` now holds the second certificate
    # The connection made before the reload is untouched and still delivers.
    await new.send(json.dumps({"type": "publish", "channel": "r", "data": "after-reload"}))
    while True:
        doc = await recv_json(old)
        if doc["type"] == "message":
            assert doc["data"] == "after-reload"
            break
    await old.close()
    await new.close()


def test_sighup_with_a_bad_new_certificate_keeps_the_old_one(hubs, tmp_path):
    d = str(tmp_path)
    cert, key = make_cert(d, "live")
    other_cert, other_key = make_cert(d, "other")
    fp = fingerprint_file(cert)
    hub = tls_hub(hubs, cert, key)
    # A file that is not a certificate.
    with open(cert, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    hub.signal(signal.SIGHUP)
    wait_log(hub, "tls: reload failed, keeping the current certificate")
    assert served_fingerprint(hub.tls_port) == fp
    # A valid certificate whose key does not match.
    shutil.copy(other_cert, cert)
    hub.signal(signal.SIGHUP)
    end = time.monotonic() + 10 * timeout_scale()
    while hub.log().count("reload failed") < 2 and time.monotonic() < end:
        time.sleep(0.01)  # polling the log for the second event
    assert "does not match" in hub.log()
    assert served_fingerprint(hub.tls_port) == fp
    # Fixing the key makes the next reload succeed.
    shutil.copy(other_key, key)
    hub.signal(signal.SIGHUP)
    wait_log(hub, "tls: certificate reloaded generation=2")
    assert served_fingerprint(hub.tls_port) == fingerprint_file(other_cert)


def test_sighup_without_tls_is_harmless(hub):
    hub.signal(signal.SIGHUP)
    wait_log(hub, "SIGHUP: nothing to reload")
    # Still alive; the fixture checks the clean exit.


# --- start-up errors ---------------------------------------------------------------

def run_bad(*args):
    """Runs `wshub serve` expecting it to refuse to start: returns stderr."""
    p = subprocess.run([hub_binary(), "serve", "--listen", "127.0.0.1:0"] + list(args),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30 * timeout_scale())
    assert p.returncode == 2, p.stderr
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "listening" not in p.stderr.decode()
    return lines[0]


def test_bad_tls_settings_stop_the_hub_with_one_line(tmp_path, certs):
    cert, key = certs
    d = str(tmp_path)
    _, other_key = make_cert(d, "other")
    garbage = os.path.join(d, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("hello\n")
    tls = ["--tls-listen", "127.0.0.1:0"]
    assert "No such file" in run_bad(*tls, "--tls-cert", os.path.join(d, "missing.crt"), "--tls-key", key)
    assert "cannot load certificate" in run_bad(*tls, "--tls-cert", garbage, "--tls-key", key)
    assert "cannot load private key" in run_bad(*tls, "--tls-cert", cert, "--tls-key", garbage)
    assert "does not match" in run_bad(*tls, "--tls-cert", cert, "--tls-key", other_key)
    assert "needs both --tls-cert" in run_bad(*tls, "--tls-cert", cert)
    assert "no --tls-listen" in run_bad("--tls-cert", cert, "--tls-key", key)


def test_encrypted_key_is_refused_without_prompting(tmp_path, certs):
    cert, key = certs
    enc = os.path.join(str(tmp_path), "enc.key")
    subprocess.run(["openssl", "pkey", "-in", key, "-out", enc, "-aes256", "-passout", "pass:secret"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # stdin is a closed pipe: a prompt would fail differently or hang.
    line = run_bad("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", enc)
    assert "cannot load private key" in line


def test_tls_only_hub_drops_the_default_plain_listener(tmp_path, certs):
    cert, key = certs
    cfg = os.path.join(str(tmp_path), "tls.conf")
    with open(cfg, "w") as f:
        f.write("tls-listen = 127.0.0.1:0\ntls-cert = %s\ntls-key = %s\n" % (cert, key))
    log = os.path.join(str(tmp_path), "hub.log")
    with open(log, "wb") as out:
        p = subprocess.Popen([hub_binary(), "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=out)
    try:
        end = time.monotonic() + 10 * timeout_scale()
        text = ""
        while time.monotonic() < end and "ready" not in text:
            with open(log) as f:
                text = f.read()
            time.sleep(0.01)  # polling the log for readiness
        listening = [l for l in text.splitlines() if "listening addr=" in l]
        assert len(listening) == 1 and listening[0].endswith(" tls"), text
        port = int(listening[0].rsplit(":", 1)[1].split()[0])
        assert https(port, cert, "GET", "/health")[0] == 200
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10 * timeout_scale()) == 0
