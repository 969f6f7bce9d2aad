"""Malformed or out-of-order input: the router answers as specified and keeps serving.

Every case checks the router's reply on a raw WebSocket and then that fresh
autobahn clients can still register and call on the same router.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from raw import (
    ABORT,
    CALL,
    ERROR,
    HELLO_DETAILS,
    REGISTER,
    REGISTERED,
    RawSession,
    encode,
    expect_abort,
    raw_session,
)
from wamp import REALM, assert_router_serves, connect

SERIALIZERS = ["json", "msgpack", "cbor"]
PROTOCOL_VIOLATION = "wamp.error.protocol_violation"
INVALID_URI = "wamp.error.invalid_uri"


async def send_then_expect_protocol_violation(
    url: str, serializer: str, frame: str | bytes, join: bool
) -> None:
    async with raw_session(url, serializer, join=join) as session:
        await session.send_frame(frame)
        await expect_abort(session, PROTOCOL_VIOLATION)
    await assert_router_serves(url, serializer)


async def test_garbage_text_frame_on_json_session_is_a_protocol_violation(router_url):
    await send_then_expect_protocol_violation(router_url, "json", "not json", join=False)


async def test_garbage_bytes_on_msgpack_session_are_a_protocol_violation(router_url):
    # 0xc1 is the one byte msgpack never uses.
    await send_then_expect_protocol_violation(router_url, "msgpack", b"\xc1\xc1\xc1", join=False)


async def test_garbage_bytes_on_cbor_session_are_a_protocol_violation(router_url):
    # 0x1c: an unsigned integer with a reserved length code.
    await send_then_expect_protocol_violation(router_url, "cbor", b"\x1c\x1c\x1c", join=False)


async def test_cbor_tag_in_arguments_is_a_protocol_violation(router_url):
    # [48, 1, {}, "com.example.p", [tag 1 (epoch time) 0]]: WAMP values have no tags.
    frame = bytes([0x85, 0x18, 0x30, 0x01, 0xA0, 0x6D]) + b"com.example.p" + bytes([0x81, 0xC1, 0x00])
    await send_then_expect_protocol_violation(router_url, "cbor", frame, join=True)


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_message_that_is_not_an_array_is_a_protocol_violation(router_url, serializer):
    frame = encode(serializer, {"a": 1})
    await send_then_expect_protocol_violation(router_url, serializer, frame, join=False)


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_unknown_message_code_is_a_protocol_violation(router_url, serializer):
    await send_then_expect_protocol_violation(
        router_url, serializer, encode(serializer, [999, 1]), join=False
    )


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_call_before_hello_is_a_protocol_violation(router_url, serializer):
    await send_then_expect_protocol_violation(
        router_url, serializer, encode(serializer, [CALL, 1, {}, "com.x"]), join=False
    )


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_hello_with_wrongly_typed_fields_is_a_protocol_violation(router_url, serializer):
    await send_then_expect_protocol_violation(
        router_url, serializer, encode(serializer, [1, 5, {}]), join=False
    )


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_second_hello_after_welcome_is_a_protocol_violation(router_url, serializer):
    await send_then_expect_protocol_violation(
        router_url, serializer, encode(serializer, [1, REALM, HELLO_DETAILS]), join=True
    )


async def expect_error(session: RawSession, request_type: int, request_id: int, uri: str) -> list:
    reply = await session.recv()
    assert len(reply) >= 5 and reply[0] == ERROR, f"expected ERROR, got {reply!r}"
    assert reply[1] == request_type, f"ERROR for the wrong request type: {reply!r}"
    assert reply[2] == request_id, f"ERROR for the wrong request id: {reply!r}"
    assert isinstance(reply[3], dict), f"ERROR details must be a dict: {reply!r}"
    assert reply[4] == uri, f"expected ERROR {uri}, got {reply!r}"
    return reply


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("uri", ["com..bad", "com.with space"])
async def test_register_with_invalid_uri_fails_with_invalid_uri_and_session_stays_usable(
    router_url, serializer, uri
):
    async with raw_session(router_url, serializer) as session:
        request_id = session.request_id()
        await session.send([REGISTER, request_id, {}, uri])
        await expect_error(session, REGISTER, request_id, INVALID_URI)

        request_id = session.request_id()
        await session.send([REGISTER, request_id, {}, "com.example.valid"])
        reply = await session.recv()
        assert reply[:2] == [REGISTERED, request_id], f"expected REGISTERED, got {reply!r}"
        assert isinstance(reply[2], int)
    await assert_router_serves(router_url, serializer)


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("uri", ["com..bad", "com.with space"])
async def test_call_with_invalid_uri_fails_with_invalid_uri_and_session_stays_usable(
    router_url, serializer, uri
):
    async with raw_session(router_url, serializer) as session:
        request_id = session.request_id()
        await session.send([CALL, request_id, {}, uri, [1]])
        await expect_error(session, CALL, request_id, INVALID_URI)

        request_id = session.request_id()
        await session.send([CALL, request_id, {}, "com.example.nobody.home", []])
        await expect_error(session, CALL, request_id, "wamp.error.no_such_procedure")
    await assert_router_serves(router_url, serializer)


MAX_MESSAGE_SIZE = 65536


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_message_over_max_message_size_closes_the_connection(router_factory, serializer):
    router = router_factory("--max-message-size", str(MAX_MESSAGE_SIZE))
    async with raw_session(router.url, serializer) as session:
        big_call = [CALL, session.request_id(), {}, "com.example.big", ["x" * 200_000]]
        try:
            await session.send(big_call)
        except ConnectionClosed:
            pass  # the router may close while we are still sending
        close_code, messages = await session.recv_close()

    aborted = any(
        len(m) == 3 and m[0] == ABORT and m[2] == "wamp.error.payload_size_exceeded"
        for m in messages
    )
    assert aborted or close_code == 1009, (
        f"expected ABORT wamp.error.payload_size_exceeded and/or close code 1009; "
        f"got close code {close_code} and messages {messages!r}"
    )
    await assert_router_serves(router.url, serializer)


@pytest.mark.parametrize("serializer", SERIALIZERS)
async def test_message_under_max_message_size_is_routed(router_factory, serializer):
    router = router_factory("--max-message-size", str(MAX_MESSAGE_SIZE))
    text = "y" * 30_000
    async with connect(router.url, serializer) as callee, connect(router.url, serializer) as caller:
        await callee.register(lambda s: len(s), "com.example.length")
        result = await asyncio.wait_for(caller.call("com.example.length", text), 5)
        assert result == len(text)
