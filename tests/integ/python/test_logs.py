"""The hub's stderr log: one well-formed line per event, and no message
payloads, query-string tokens or bearer tokens in it at any level. Not for
what events are logged in detail (that may change freely)."""
import asyncio
import re

import pytest
import websockets

from auth_tokens import SECRET as SIGNING_KEY, claims, hs256
from conftest import run_async
from integ_clients import OP_BINARY, OP_TEXT, RawConn, RawWS, connect, recv_json, scaled, welcome

# Real tokens the hub accepts (it runs with --token-secret): one sent as
# ?token=, one as Authorization: Bearer. Neither, nor the signing key, may
# reach the log, even on the paths that refuse them.
SECRET = hs256(claims(user="log-user", subs=["*"], pubs=["*"]))
BEARER = hs256(claims(user="log-user", subs=["*"], pubs=["*"], jti="bearer"))
MARKER = "PAYLOADMARKER789"
LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) \S")


async def exercise(h):
    """Sends the secret and the marker through every path a careless log could copy them from."""
    async with connect(h, "/ws?token=%s&channels=a" % SECRET,
                       extra_headers={"Authorization": "Bearer " + BEARER}) as ws:
        await welcome(ws)
        assert (await recv_json(ws))["type"] == "subscribed"  # channels=a
        await ws.send('{"type":"ping","id":1,"data":"%s"}' % MARKER)
        assert (await recv_json(ws))["type"] == "pong"
        await ws.send('{"type":"publish","channel":"a","data":"%s"}' % MARKER)
        assert (await recv_json(ws))["type"] == "message"  # subscribed to a: our own message first
        assert (await recv_json(ws))["type"] == "published"
        await ws.send('{"type":"%s","id":2}' % MARKER)
        assert (await recv_json(ws))["code"] == "unknown_type"
        await ws.send("not json %s" % MARKER)
        assert (await recv_json(ws))["code"] == "bad_request"
    async with connect(h, "/echo?token=%s" % SECRET) as ws:
        await ws.send("echo %s" % MARKER)
        assert MARKER in await asyncio.wait_for(ws.recv(), scaled(5))
        await ws.send(("bin " + MARKER).encode())
        assert MARKER.encode() in await asyncio.wait_for(ws.recv(), scaled(5))
    # Close paths carry the payload too: binary on /ws (1003) and a too-big message.
    async with connect(h, "/ws?token=%s" % SECRET) as ws:
        await welcome(ws)
        await ws.send(("binary " + MARKER).encode())
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), scaled(5))
    with RawWS.open(h.port, "/ws?token=%s" % SECRET) as ws:
        ws.recv_json()
        ws.send_frame(OP_TEXT, ("bad utf8 %s \xff" % MARKER).encode("latin-1"))
        ws.expect_close()
    with RawWS.open(h.port, "/echo") as ws:
        ws.send_frame(OP_BINARY, (MARKER * 200).encode())  # over --max-message 1KiB
        ws.expect_close()
    for path in ("/health?token=%s" % SECRET, "/nope?token=%s&x=%s" % (SECRET, MARKER)):
        with RawConn(h.port) as c:
            c.request("GET", path, [("Authorization", "Bearer " + BEARER)])
            c.read_response()
    with RawConn(h.port) as c:
        c.request("POST", "/health?token=%s" % SECRET, body=MARKER)
        c.read_response()
    with RawConn(h.port) as c:  # a malformed request carrying the token
        c.send("GET /ws?token=%s HTTP/1.1\r\nBad Header %s\r\n\r\n" % (SECRET, MARKER))
        c.read_to_close()


def check_log(text):
    lines = text.splitlines()
    assert len(lines) > 2, "expected the hub to log connection events:\n%s" % text
    for ln in lines:
        assert LINE_RE.match(ln), "malformed log line (one event per line): %r" % ln
    # A token's signature is its secret part: not even that may appear.
    for needle in (SECRET, BEARER, SECRET.rsplit(".", 1)[1], BEARER.rsplit(".", 1)[1], SIGNING_KEY, MARKER):
        bad = [ln for ln in lines if needle in ln]
        assert not bad, "%s leaked into the log:\n%s" % (needle, "\n".join(bad))


@pytest.mark.parametrize("level", ["debug", "info"])
@run_async(deadline=60)
async def test_payloads_and_tokens_never_appear_in_logs(hubs, level):
    h = hubs("--echo", "--log-level", level, "--max-message", "1KiB", "--token-secret", SIGNING_KEY)
    h.expect_running = False
    await exercise(h)
    rc = await asyncio.get_running_loop().run_in_executor(None, h.stop)
    assert rc == 0, h.log()
    check_log(h.log())
