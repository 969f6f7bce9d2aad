"""Autobahn|Python's RawSocket client (unmodified) against the router, over
TCP and over a Unix socket, with every serializer: RPC and PubSub, and
sessions on either transport meeting in one realm."""

from __future__ import annotations

import asyncio
import os
import struct
from urllib.parse import urlparse

import pytest
from autobahn.wamp.types import PublishOptions

from wamp import SERIALIZERS, Inbox, connect, within

TRANSPORTS = ("tcp", "unix")


@pytest.fixture(params=TRANSPORTS)
def rawsocket_url(request, rawsocket_router) -> str:
    """The rs:// or rs+unix:// URL of a router serving RawSocket both ways."""
    return rawsocket_router.rawsocket_urls[request.param]


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_register_and_call(rawsocket_url, serializer):
    async with connect(rawsocket_url, serializer) as callee, connect(
        rawsocket_url, serializer
    ) as caller:
        await callee.register(lambda x, y: x + y, "com.example.add")
        await callee.register(lambda *a, **kw: [list(a), kw], "com.example.echo")
        assert await within(caller.call("com.example.add", 2, 3)) == 5
        echoed = await within(caller.call("com.example.echo", 1, "two", b"\x03", k=[4.5]))
        assert echoed == [[1, "two", b"\x03"], {"k": [4.5]}]


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_subscribe_and_publish(rawsocket_url, serializer):
    async with connect(rawsocket_url, serializer) as subscriber, connect(
        rawsocket_url, serializer
    ) as publisher:
        inbox = Inbox()
        await subscriber.subscribe(inbox.handler("news"), "com.example.news")
        await within(
            publisher.publish(
                "com.example.news", "hello", n=1, options=PublishOptions(acknowledge=True)
            )
        )
        tag, args, kwargs = await inbox.next()
        assert (tag, args, kwargs) == ("news", ["hello"], {"n": 1})


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_rawsocket_and_websocket_sessions_share_the_realm(rawsocket_router, serializer):
    urls = rawsocket_router.rawsocket_urls
    async with connect(urls["unix"], serializer) as callee, connect(
        urls["tcp"], serializer
    ) as rs_caller, connect(rawsocket_router.url, serializer) as ws_caller:
        await callee.register(lambda: "from a Unix socket", "com.example.where")
        for caller in (rs_caller, ws_caller):
            assert await within(caller.call("com.example.where")) == "from a Unix socket"


async def test_the_router_answers_autobahns_pings(rawsocket_router):
    """Autobahn's protocol can ping; the router must pong with the same payload."""
    async with connect(rawsocket_router.rawsocket_urls["tcp"]) as session:
        protocol = session._transport
        loop = asyncio.get_running_loop()
        ponged = loop.create_future()
        original = protocol.pong

        def pong(payload):
            if not ponged.done():
                ponged.set_result(payload)
            return original(payload)

        protocol.pong = pong
        # Autobahn has no call that sends a PING; the frame is written by hand.
        protocol.transport.write(struct.pack("!L", (1 << 24) | 4) + b"ping")
        assert await within(ponged, what="PONG") == b"ping"


async def test_a_rawsocket_session_is_told_goodbye_when_the_router_stops(rawsocket_router):
    url = rawsocket_router.rawsocket_urls["unix"]
    async with connect(url) as session:
        stopped = asyncio.get_running_loop().run_in_executor(None, rawsocket_router.stop)
        details = await within(asyncio.shield(session.left), what="GOODBYE")
        assert details.reason == "wamp.close.system_shutdown"
        assert await within(stopped, 10, "the router's exit") == 0
    assert not os.path.exists(urlparse(url).path), "the socket file is removed"


# Autobahn|Python's asyncio RawSocket protocol does not implement PING
# (PrefixProtocol.ping raises NotImplementedError, and asyncio then drops the
# connection), though the spec says every peer MUST answer one. The router
# therefore pings only peers that pinged it, and this pins that an idle
# Autobahn session survives many keepalive intervals.
async def test_an_idle_autobahn_session_outlives_the_routers_keepalive(router_factory):
    router = router_factory(
        "--rawsocket-port", "0", "--ping-interval-ms", "200", "--ping-timeout-ms", "1000"
    )
    url = router.rawsocket_urls["tcp"]
    async with connect(url) as callee, connect(url) as caller:
        await callee.register(lambda: 1, "com.example.one")
        await asyncio.sleep(1.5)
        assert await within(caller.call("com.example.one")) == 1
