"""Session establishment and teardown, checked frame by frame."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from raw import ABORT, GOODBYE, WELCOME, raw_connection, raw_session
from wamp import connect

SERIALIZERS = ["json", "msgpack", "cbor"]


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_hello_for_unknown_realm_is_aborted_with_no_such_realm(router_url, serializer):
    async with raw_session(router_url, serializer, join=False) as session:
        reply = await session.hello("com.example.no.such.realm")
        assert len(reply) == 3 and reply[0] == ABORT, f"expected ABORT, got {reply!r}"
        assert isinstance(reply[1], dict)
        assert reply[2] == "wamp.error.no_such_realm"


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_welcome_announces_dealer_role_with_features(router_url, serializer):
    async with raw_session(router_url, serializer, join=False) as session:
        welcome = await session.hello()
        assert len(welcome) == 3 and welcome[0] == WELCOME, f"expected WELCOME, got {welcome!r}"
        session_id, details = welcome[1], welcome[2]
        assert isinstance(session_id, int) and 1 <= session_id <= 2**53
        assert isinstance(details, dict)
        assert isinstance(details.get("roles"), dict), f"WELCOME details: {details!r}"
        assert "dealer" in details["roles"], f"roles: {details['roles']!r}"
        assert isinstance(details["roles"]["dealer"].get("features"), dict), (
            f"dealer role: {details['roles']['dealer']!r}"
        )


async def test_autobahn_session_joins_default_realm_anonymously(router_url, serializer):
    async with connect(router_url, serializer) as session:
        details = session.joined.result()
        assert details.realm == "com.example.realm"
        assert isinstance(details.session, int)


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_goodbye_is_answered_with_goodbye_and_out(router_url, serializer):
    async with raw_session(router_url, serializer) as session:
        await session.send([GOODBYE, {}, "wamp.close.close_realm"])
        reply = await session.recv()
        assert len(reply) == 3 and reply[0] == GOODBYE, f"expected GOODBYE, got {reply!r}"
        assert isinstance(reply[1], dict)
        assert reply[2] == "wamp.close.goodbye_and_out"


@pytest.mark.parametrize(
    "subprotocols",
    [["wamp.2.foo"], None],
    ids=["only-wamp.2.foo", "no-subprotocol"],
)
async def test_websocket_handshake_without_supported_subprotocol_is_refused(router_url, subprotocols):
    try:
        async with raw_connection(router_url, subprotocols) as ws:
            selected = ws.subprotocol
    except (InvalidHandshake, OSError):
        return  # refused: HTTP error status, or connection closed during the handshake
    pytest.fail(
        f"router accepted a WebSocket offering subprotocols {subprotocols!r} "
        f"(selected {selected!r}); the handshake should be refused"
    )


@pytest.mark.timeout(30)
async def test_sigterm_sends_system_shutdown_goodbye_and_exits_zero(router_factory):
    router = router_factory()
    async with raw_session(router.url, "json") as json_session, raw_session(router.url, "msgpack") as msgpack_session:
        router.process.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()

        for session in (json_session, msgpack_session):
            message = await session.recv(timeout=10)
            assert len(message) == 3 and message[0] == GOODBYE, f"expected GOODBYE, got {message!r}"
            assert isinstance(message[1], dict)
            assert message[2] == "wamp.close.system_shutdown"
            try:  # complete the closing handshake as a well-behaved peer would
                await session.send([GOODBYE, {}, "wamp.close.goodbye_and_out"])
            except ConnectionClosed:
                pass

        deadline = signalled_at + 10
        while router.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert router.process.poll() is not None, "router still running 10 s after SIGTERM"
        assert router.process.returncode == 0
