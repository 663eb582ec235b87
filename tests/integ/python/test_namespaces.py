"""Namespaces and permissions end to end (docs/security.md, "Namespaces and
permissions"): anonymous access per namespace, grants from the token's subs
and pubs patterns, namespaces that refuse client publishing while the HTTP
API still publishes, history retention set by a namespace, `?channels=`
through the same checks, and every denial answered with `error` `forbidden`
while the connection stays open. Tokens are minted with hmac/hashlib
(auth_tokens.py). Not the token checks themselves (test_auth.py)."""
import asyncio
import json

import pytest

from auth_tokens import SECRET, claims, hs256
from conftest import run_async
from integ_clients import connect, one_request, recv_json, scaled

NAMESPACES = [
    "--namespace", "public.:anon-sub",                  # anyone reads, nobody publishes from a client
    "--namespace", "lobby.:anon-sub,anon-pub,history=3",  # anyone reads and writes; 3 kept
    "--namespace", "feed.:publish",                      # grants only; clients with a pubs grant publish
    "--namespace", "alerts.:",                           # grants only; no client publishing at all
]


def ns_hub(hubs, *extra):
    return hubs("--token-secret", SECRET, *NAMESPACES, *extra)


async def open_ws(hub, token=None, query=""):
    headers = {"Authorization": "Bearer " + token} if token else None
    ws = await connect(hub, "/ws" + query, extra_headers=headers)
    doc = await recv_json(ws)
    assert doc["type"] == "welcome", doc
    return ws


async def req(ws, doc):
    await ws.send(json.dumps(doc))
    return await recv_json(ws)


async def expect(ws, cmd, channel, want, rid=None):
    """Sends cmd on channel; asserts the reply type (error code for denials)."""
    doc = {"type": cmd, "channel": channel}
    if cmd == "publish":
        doc["data"] = {"n": 1}
    if rid is not None:
        doc["id"] = rid
    got = await req(ws, doc)
    if want == "forbidden":
        assert got["type"] == "error" and got["code"] == "forbidden", (cmd, channel, got)
        assert got.get("id") == rid, got
        assert got["message"], got
    else:
        assert got["type"] == want, (cmd, channel, got)
    return got


async def still_open(ws):
    got = await req(ws, {"type": "ping", "id": "alive"})
    assert got["type"] == "pong" and got["id"] == "alive", got


def http_publish(hub, channel, data):
    r = one_request(hub.port, "POST", "/api/channels/%s/publish" % channel, [("Content-Type", "application/json")],
                    json.dumps(data))
    assert r.status == 200, r
    return r.json()


@run_async()
async def test_anonymous_connection_gets_only_anonymous_namespaces(hubs):
    hub = ns_hub(hubs, "--auth-timeout", "200ms")
    ws = await open_ws(hub)
    await expect(ws, "subscribe", "public.news", "subscribed")
    await expect(ws, "publish", "public.news", "forbidden", rid=1)
    await expect(ws, "subscribe", "lobby.x", "subscribed")
    # The publisher is subscribed: the message comes first, then published.
    await expect(ws, "publish", "lobby.x", "message")
    assert (await recv_json(ws))["type"] == "published"
    for ch in ("feed.a", "alerts.a", "elsewhere"):
        await expect(ws, "subscribe", ch, "forbidden", rid=ch)
        await expect(ws, "publish", ch, "forbidden", rid=ch)
        await expect(ws, "history", ch, "forbidden", rid=ch)
    # Anonymous namespaces exist, so there is no auth deadline: still open
    # well past --auth-timeout.
    await asyncio.sleep(0.5)
    await still_open(ws)
    await ws.close()


@run_async()
async def test_grants_decide_in_token_namespaces(hubs):
    hub = ns_hub(hubs)
    tok = hs256(claims(subs=["feed.a*", "alerts.*"], pubs=["feed.a1", "alerts.*", "public.x"]))
    ws = await open_ws(hub, tok)
    await expect(ws, "subscribe", "feed.a1", "subscribed")
    await expect(ws, "subscribe", "feed.ab", "subscribed")
    await expect(ws, "subscribe", "feed.b", "forbidden", rid=2)
    await expect(ws, "publish", "feed.a2", "forbidden", rid=3)
    got = await expect(ws, "publish", "feed.a1", "message")
    assert got["channel"] == "feed.a1"
    assert (await recv_json(ws))["type"] == "published"
    # alerts.: a pubs grant does not help where clients may not publish.
    await expect(ws, "subscribe", "alerts.fire", "subscribed")
    got = await expect(ws, "publish", "alerts.fire", "forbidden", rid=4)
    assert "namespace" in got["message"], got
    # ... while the HTTP API publishes there, and the subscriber receives it.
    http_publish(hub, "alerts.fire", {"level": "high"})
    got = await recv_json(ws)
    assert got["type"] == "message" and got["channel"] == "alerts.fire" and got["data"] == {"level": "high"}, got
    # public.: anon-sub only; no publish flag, so the grant is refused too.
    await expect(ws, "publish", "public.x", "forbidden", rid=5)
    # The default namespace: nothing anonymous, no grant for it here.
    await expect(ws, "subscribe", "other", "forbidden", rid=6)
    await still_open(ws)
    await ws.close()


@run_async()
async def test_star_grant_and_default_namespace(hubs):
    hub = ns_hub(hubs)
    ws = await open_ws(hub, hs256(claims(subs=["*"], pubs=["*"])))
    for ch in ("other", "feed.zzz", "public.a"):
        await expect(ws, "subscribe", ch, "subscribed")
    # The default namespace allows client publishing with a grant.
    await expect(ws, "publish", "other", "message")
    assert (await recv_json(ws))["type"] == "published"
    await expect(ws, "publish", "alerts.x", "forbidden", rid=1)
    await ws.close()


@run_async()
async def test_channels_query_goes_through_the_same_checks(hubs):
    hub = ns_hub(hubs)
    ws = await open_ws(hub, query="?channels=public.a,feed.a,lobby.b")
    got = [await recv_json(ws) for _ in range(3)]
    assert got[0]["type"] == "subscribed" and got[0]["channel"] == "public.a", got
    assert got[1]["type"] == "error" and got[1]["code"] == "forbidden" and "feed.a" in got[1]["message"], got
    assert got[2]["type"] == "subscribed" and got[2]["channel"] == "lobby.b", got
    await still_open(ws)
    await ws.close()


@run_async()
async def test_namespace_history_size(hubs):
    hub = ns_hub(hubs)
    for i in range(6):
        http_publish(hub, "lobby.h", {"i": i})
        http_publish(hub, "public.h", {"i": i})
    ws = await open_ws(hub)
    got = await req(ws, {"type": "history", "channel": "lobby.h", "since": 0})
    assert [m["data"]["i"] for m in got["messages"]] == [3, 4, 5], got
    # public. sets no history= and keeps the global default (1000).
    got = await req(ws, {"type": "history", "channel": "public.h", "since": 0})
    assert [m["data"]["i"] for m in got["messages"]] == list(range(6)), got
    await ws.close()


@run_async()
async def test_without_token_keys_namespaces_still_restrict(hubs):
    # No secret: the default namespace is open to all, but a namespace
    # written without anon flags has no one who may use it.
    hub = hubs("--namespace", "ops.:", "--namespace", "ro.:anon-sub")
    ws = await open_ws(hub)
    await expect(ws, "subscribe", "anything", "subscribed")
    await expect(ws, "subscribe", "ops.x", "forbidden", rid=1)
    await expect(ws, "subscribe", "ro.x", "subscribed")
    await expect(ws, "publish", "ro.x", "forbidden", rid=2)
    await still_open(ws)
    await ws.close()


@run_async()
async def test_strict_hub_denies_before_auth_then_allows(hubs):
    # Only token namespaces: the connection must authenticate; until then
    # subscribe is forbidden and the connection stays open.
    hub = hubs("--token-secret", SECRET)
    ws = await open_ws(hub)
    got = await expect(ws, "subscribe", "news", "forbidden", rid=1)
    assert "token" in got["message"], got
    got = await req(ws, {"type": "auth", "token": hs256(claims(subs=["news"]))})
    assert got["type"] == "authed", got
    await expect(ws, "subscribe", "news", "subscribed")
    await ws.close()


def test_namespace_config_file(hubs, tmp_path):
    conf = tmp_path / "wshub.conf"
    conf.write_text("token-secret = \"%s\"\nnamespace = room::anon-sub,presence\nnamespace = *:anon-sub\n" % SECRET)
    hub = hubs("--config", str(conf))

    async def run():
        ws = await open_ws(hub)
        await expect(ws, "subscribe", "room:1", "subscribed")
        await expect(ws, "subscribe", "x", "subscribed")
        await expect(ws, "publish", "x", "forbidden", rid=1)
        await ws.close()
    asyncio.run(asyncio.wait_for(run(), scaled(20)))
