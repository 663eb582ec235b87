"""Token authentication on /ws end to end (docs/security.md,
"Authentication"): the three transports (Authorization: Bearer, ?token=, the
first `auth` message), 401 for a bad token on the handshake, `error` and
close 4001 for a bad one in a message, the auth timeout, the pre-auth
message cap, expiry after the grace period, refresh (and what it drops),
key rotation, RS256/ES256, and the algorithm-confusion attacks. Tokens are
minted here with hmac/hashlib and the openssl CLI, and with `wshub token`,
so the hub is not only checked against itself. Not namespaces beyond what
auth needs (test_namespaces.py)."""
import asyncio
import json
import subprocess
import time

import pytest
import websockets

from auth_tokens import SECRET, SECRET2, KeyDir, b64url, b64url_decode, claims, hs256, wshub_token
from conftest import run_async
from hubproc import hub_binary
from integ_clients import assert_error_body, connect, expect_close_code, new_key, one_request, recv_json, scaled


@pytest.fixture(scope="module")
def keys():
    k = KeyDir()
    yield k
    k.cleanup()


def auth_hub(hubs, *extra):
    """A hub that requires tokens everywhere (no anonymous namespace)."""
    return hubs("--token-secret", SECRET, *extra)


async def open_ws(hub, path="/ws", token=None):
    headers = {"Authorization": "Bearer " + token} if token else None
    ws = await connect(hub, path, extra_headers=headers)
    doc = await recv_json(ws)
    assert doc["type"] == "welcome", doc
    return ws


async def req(ws, doc):
    await ws.send(json.dumps(doc))
    return await recv_json(ws)


async def assert_usable(ws, channel="news.a"):
    """The connection is authenticated with a grant for channel."""
    doc = await req(ws, {"type": "subscribe", "channel": channel, "id": 1})
    assert doc["type"] == "subscribed" and doc["channel"] == channel, doc


def upgrade(hub, path="/ws", headers=()):
    hs = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", new_key()),
          ("Sec-WebSocket-Version", "13")] + list(headers)
    return one_request(hub.port, "GET", path, hs)


def grant(**kw):
    kw.setdefault("subs", ["news.*"])
    kw.setdefault("pubs", ["news.a"])
    return claims(**kw)


# --- the three transports -------------------------------------------------------

@run_async()
async def test_bearer_header_authenticates(hubs):
    hub = auth_hub(hubs)
    ws = await open_ws(hub, token=hs256(grant()))
    await assert_usable(ws)
    doc = await req(ws, {"type": "publish", "channel": "news.a", "data": {"x": 1}, "id": 2})
    assert doc["type"] in ("message", "published"), doc
    await ws.close()


@run_async()
async def test_query_token_authenticates(hubs):
    hub = auth_hub(hubs)
    ws = await open_ws(hub, "/ws?token=" + hs256(grant()))
    await assert_usable(ws)
    await ws.close()


@run_async()
async def test_first_message_authenticates_and_answers_authed(hubs):
    hub = auth_hub(hubs)
    c = grant(user="bob")
    ws = await open_ws(hub)
    doc = await req(ws, {"type": "auth", "token": hs256(c), "id": "a1"})
    assert doc == {"type": "authed", "id": "a1", "user": "bob", "exp": c["exp"]}
    await assert_usable(ws)
    await ws.close()


@run_async()
async def test_channels_query_is_checked_after_handshake_auth(hubs):
    hub = auth_hub(hubs)
    ws = await open_ws(hub, "/ws?channels=news.x,chat.y&token=" + hs256(grant()))
    got = [await recv_json(ws), await recv_json(ws)]
    assert got[0]["type"] == "subscribed" and got[0]["channel"] == "news.x", got
    assert got[1]["type"] == "error" and got[1]["code"] == "forbidden" and "chat.y" in got[1]["message"], got
    await ws.close()


# --- bad tokens -------------------------------------------------------------------

def bad_tokens(keys):
    """(name, token) pairs the hub must refuse; the hub has SECRET and both public keys."""
    now = int(time.time())
    rs_pub = keys.public_pem("RS256")
    none_tok = b64url('{"alg":"none","typ":"JWT"}') + "." + b64url(json.dumps(grant())) + "."
    good = hs256(grant())
    h, p, s = good.split(".")
    flipped = s[:5] + ("A" if s[5] != "A" else "B") + s[6:]
    return [
        ("expired", hs256(grant(exp=now - 3600))),
        ("not yet valid", hs256(grant(nbf=now + 3600))),
        ("bad signature", h + "." + p + "." + flipped),
        ("other secret", hs256(grant(), secret="x" * 40)),
        ("claims swapped", h + "." + b64url(json.dumps(grant(subs=["*"]))) + "." + s),
        ("alg none", none_tok),
        ("alg none signed", hs256(grant(), header={"alg": "none"})),
        ("HS512", hs256(grant(), header={"alg": "HS512"})),
        # The classic confusion: HS256 keyed with the RS256 public key's PEM.
        ("HS256 with RSA public key", hs256(grant(), secret=rs_pub)),
        ("RS256 header on HMAC", hs256(grant(), header={"alg": "RS256"})),
        ("no sub", hs256({"exp": now + 60})),
        ("bad grant", hs256(grant(subs=["a*b"]))),
        ("garbage", "not-a-token"),
        ("too large", hs256(grant(pad="x" * 5000))),
    ]


def refused(keys):
    return bad_tokens(keys)


def test_handshake_with_bad_token_gets_401(hubs, keys):
    hub = auth_hub(hubs, "--token-key", keys.rsa[1], "--token-key", keys.ec[1])
    for name, tok in refused(keys):
        if len(tok) < 4000:
            r = upgrade(hub, headers=[("Authorization", "Bearer " + tok)])
            doc = assert_error_body(r, 401, "unauthorized")
            assert r.header("www-authenticate") is not None, name
            assert doc["error"]["message"], name
        r = upgrade(hub, "/ws?token=" + tok)
        assert r.status == 401, (name, r)
    # The hub still serves good tokens afterwards.
    r = upgrade(hub, headers=[("Authorization", "Bearer " + hs256(grant()))])
    assert r.status == 101, r


@run_async()
async def test_first_message_with_bad_token_errors_then_closes_4001(hubs, keys):
    hub = auth_hub(hubs, "--token-key", keys.rsa[1])
    for name, tok in refused(keys):
        if len(tok) > 4000:
            continue
        ws = await open_ws(hub)
        doc = await req(ws, {"type": "auth", "token": tok, "id": 9})
        assert doc["type"] == "error" and doc["code"] == "unauthorized" and doc["id"] == 9, (name, doc)
        assert await expect_close_code(ws) == 4001, name


@run_async()
async def test_auth_frame_without_token_field_closes_4001(hubs):
    hub = auth_hub(hubs)
    for bad in ({"type": "auth"}, {"type": "auth", "token": 5}, {"type": "auth", "token": "a\\/b"}):
        ws = await open_ws(hub)
        doc = await req(ws, bad)
        assert doc["type"] == "error" and doc["code"] == "unauthorized", doc
        assert await expect_close_code(ws) == 4001


@run_async()
async def test_wrong_audience_and_issuer(hubs):
    hub = auth_hub(hubs, "--token-audience", "hub", "--token-issuer", "https://auth.example")
    ok = hs256(grant(aud=["other", "hub"], iss="https://auth.example"))
    ws = await open_ws(hub, token=ok)
    await assert_usable(ws)
    await ws.close()
    for c in (grant(aud="other", iss="https://auth.example"), grant(iss="https://auth.example"),
              grant(aud="hub", iss="https://evil.example"), grant(aud="hub")):
        r = upgrade(hub, headers=[("Authorization", "Bearer " + hs256(c))])
        doc = assert_error_body(r, 401, "unauthorized")
        assert "audience" in doc["error"]["message"] or "issuer" in doc["error"]["message"], doc


# --- deadlines ------------------------------------------------------------------------

@run_async()
async def test_auth_timeout_closes_4001(hubs):
    hub = auth_hub(hubs, "--auth-timeout", "300ms")
    ws = await open_ws(hub)
    t0 = time.monotonic()
    assert await expect_close_code(ws) == 4001
    assert time.monotonic() - t0 >= 0.25
    # ping is accepted before auth, but does not extend the deadline.
    ws = await open_ws(hub)
    doc = await req(ws, {"type": "ping"})
    assert doc["type"] == "pong", doc
    assert await expect_close_code(ws) == 4001


@run_async()
async def test_preauth_message_cap(hubs):
    hub = auth_hub(hubs)
    ws = await open_ws(hub)
    await ws.send(json.dumps({"type": "ping", "pad": "x" * 5000}))
    assert await expect_close_code(ws) == 1009
    # A token near the 4 KiB token cap still fits in a pre-auth `auth`.
    pad = 2700
    big = hs256(grant(pad="p" * pad))
    while len(big) < 4000:
        pad += 10
        big = hs256(grant(pad="p" * pad))
    assert 4000 <= len(big) <= 4096
    ws = await open_ws(hub)
    doc = await req(ws, {"type": "auth", "token": big, "id": "big"})
    assert doc["type"] == "authed", doc
    await ws.close()
    # After auth the normal cap applies.
    ws = await open_ws(hub, token=hs256(grant()))
    doc = await req(ws, {"type": "ping", "pad": "x" * 50000})
    assert doc["type"] == "pong", doc
    await ws.close()


@run_async()
async def test_expiry_closes_4001_after_grace(hubs):
    hub = auth_hub(hubs, "--token-grace", "500ms")
    ws = await open_ws(hub, token=hs256(grant(ttl=1)))
    await assert_usable(ws)
    t0 = time.monotonic()
    assert await expect_close_code(ws, timeout=10) == 4001
    assert time.monotonic() - t0 >= 0.4


@run_async()
async def test_refresh_before_expiry_keeps_the_connection(hubs):
    hub = auth_hub(hubs, "--token-grace", "200ms")
    first = grant(ttl=1)
    ws = await open_ws(hub, token=hs256(first))
    await assert_usable(ws)
    fresh = grant(ttl=3600)
    doc = await req(ws, {"type": "auth", "token": hs256(fresh)})
    assert doc["type"] == "authed" and doc["exp"] == fresh["exp"], doc
    # Past the first token's exp + grace the connection still works.
    await asyncio.sleep(max(0.0, first["exp"] + 0.5 - time.time()))
    doc = await req(ws, {"type": "ping", "id": 7})
    assert doc["type"] == "pong" and doc["id"] == 7, doc
    await ws.close()


@run_async()
async def test_refresh_drops_subscriptions_no_longer_granted(hubs):
    hub = auth_hub(hubs)
    ws = await open_ws(hub, token=hs256(grant(subs=["news.*", "sport.x"])))
    for ch in ("news.a", "sport.x"):
        doc = await req(ws, {"type": "subscribe", "channel": ch})
        assert doc["type"] == "subscribed", doc
    doc = await req(ws, {"type": "auth", "token": hs256(grant(subs=["news.*"]))})
    assert doc["type"] == "authed", doc
    doc = await recv_json(ws)
    assert doc == {"type": "unsubscribed", "channel": "sport.x", "reason": "forbidden"}, doc
    # Messages to the dropped channel no longer arrive; the kept one does.
    for ch in ("sport.x", "news.a"):
        r = one_request(hub.port, "POST", "/api/channels/%s/publish" % ch, [("Content-Type", "application/json")],
                        json.dumps({"ch": ch}))
        assert r.status == 200, r
    doc = await recv_json(ws)
    assert doc["type"] == "message" and doc["channel"] == "news.a", doc
    await ws.close()


@run_async()
async def test_refresh_as_another_user_closes_4001(hubs):
    hub = auth_hub(hubs)
    ws = await open_ws(hub, token=hs256(grant(user="alice")))
    doc = await req(ws, {"type": "auth", "token": hs256(grant(user="mallory"))})
    assert doc["type"] == "error" and doc["code"] == "unauthorized", doc
    assert await expect_close_code(ws) == 4001


# --- keys -------------------------------------------------------------------------------

@run_async()
async def test_key_rotation_accepts_both_secrets(hubs):
    hub = hubs("--token-secret", SECRET, "--token-secret", "kid=k2:" + SECRET2)
    for tok in (hs256(grant()), hs256(grant(), secret=SECRET2),
                hs256(grant(), secret=SECRET2, header={"alg": "HS256", "kid": "k2"})):
        ws = await open_ws(hub, token=tok)
        await assert_usable(ws)
        await ws.close()
    # kid names the key: SECRET2's token claiming the other key's kid fails.
    hub2 = hubs("--token-secret", "kid=k1:" + SECRET, "--token-secret", "kid=k2:" + SECRET2)
    r = upgrade(hub2, headers=[("Authorization", "Bearer " + hs256(grant(), secret=SECRET2,
                                                                   header={"alg": "HS256", "kid": "k1"}))])
    assert_error_body(r, 401, "unauthorized")


@run_async()
async def test_rs256_and_es256_tokens_from_openssl(hubs, keys):
    hub = hubs("--token-key", keys.rsa[1], "--token-key", keys.ec[1])
    for alg in ("RS256", "ES256"):
        ws = await open_ws(hub, token=keys.sign(alg, grant(user=alg)))
        doc = await req(ws, {"type": "auth", "token": keys.sign(alg, grant(user=alg))})
        assert doc["type"] == "authed" and doc["user"] == alg, doc
        await assert_usable(ws)
        await ws.close()
    # The HS256 confusion against a hub that has only public keys.
    r = upgrade(hub, headers=[("Authorization", "Bearer " + hs256(grant(), secret=keys.public_pem("RS256")))])
    assert_error_body(r, 401, "unauthorized")


@run_async()
async def test_wshub_token_command(hubs, keys):
    tok = wshub_token("--secret", SECRET, "--user", "carol", "--sub", "news.*", "--sub", "x", "--pub", "news.a",
                      "--ttl", "10m", "--aud", "hub", "--iss", "me")
    header = json.loads(b64url_decode(tok.split(".")[0]))
    body = json.loads(b64url_decode(tok.split(".")[1]))
    assert header["alg"] == "HS256", header
    assert body["sub"] == "carol" and body["subs"] == ["news.*", "x"] and body["pubs"] == ["news.a"], body
    assert body["aud"] == "hub" and body["iss"] == "me", body
    assert abs(body["exp"] - time.time() - 600) < 30, body
    # Python's own HMAC agrees with the hub's signer.
    assert hs256(body, header=header) == tok
    hub = hubs("--token-secret", SECRET, "--token-audience", "hub", "--token-key", keys.ec[1])
    ws = await open_ws(hub, token=tok)
    await assert_usable(ws)
    await ws.close()
    es = wshub_token("--key", keys.ec[0], "--user", "dave", "--sub", "*", "--aud", "hub")
    assert json.loads(b64url_decode(es.split(".")[0]))["alg"] == "ES256"
    # The token's kid is the key file's name; this hub knows the key by it.
    ws = await open_ws(hub, token=es)
    await assert_usable(ws)
    await ws.close()
    # A secret under 32 bytes is refused, and not echoed.
    r = subprocess.run([hub_binary(), "token", "--secret", "short", "--user", "u"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "short" not in r.stderr.replace("too short", ""), r.stderr


@run_async()
async def test_no_keys_configured_refuses_tokens_but_allows_anonymous(hubs):
    hub = hubs()
    ws = await open_ws(hub)
    await assert_usable(ws, "anything")
    doc = await req(ws, {"type": "auth", "token": hs256(grant())})
    assert doc["type"] == "error" and doc["code"] == "unauthorized", doc
    assert await expect_close_code(ws) == 4001
    r = upgrade(hub, headers=[("Authorization", "Bearer " + hs256(grant()))])
    assert_error_body(r, 401, "unauthorized")


def test_bad_auth_config_exits_2_without_echoing_secrets(tmp_path):
    cases = [
        (["--token-secret", "too-short-secret"], "too short"),
        (["--token-key", str(tmp_path / "missing.pem")], "token-key"),
        (["--namespace", "chat."], "namespace"),
        (["--namespace", "chat.:fly"], "namespace"),
        (["--auth-timeout", "0"], "auth-timeout"),
    ]
    for args, what in cases:
        r = subprocess.run([hub_binary(), "serve", "--listen", "127.0.0.1:0"] + args, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert what in r.stderr, (args, r.stderr)
    r = subprocess.run([hub_binary(), "serve", "--token-secret", "sekrit-value"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "sekrit-value" not in r.stderr, r.stderr


@run_async()
async def test_secret_from_environment_and_token_without_exp(hubs):
    hub = hubs(env={"WSHUB_TOKEN_SECRET": SECRET})
    ws = await open_ws(hub)
    doc = await req(ws, {"type": "auth", "token": hs256(grant(ttl=None))})
    assert doc["type"] == "authed" and doc["exp"] is None, doc
    await assert_usable(ws)
    await ws.close()
