"""Routed RPC between Autobahn|Python callers and callees."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult

from wamp import connect

CALL_TIMEOUT = 5.0


async def call(session, procedure: str, *args, **kwargs):
    try:
        return await asyncio.wait_for(session.call(procedure, *args, **kwargs), CALL_TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"no answer to CALL {procedure} within {CALL_TIMEOUT} s") from None


async def call_error(session, procedure: str, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        await call(session, procedure, *args, **kwargs)
    return excinfo.value


def assert_identical(actual: Any, expected: Any, path: str = "value") -> None:
    """Equal *and* of the same types all the way down (2 != 2.0, str != bytes)."""
    assert type(actual) is type(expected), (
        f"{path}: expected {type(expected).__name__} {expected!r}, "
        f"got {type(actual).__name__} {actual!r}"
    )
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), f"{path}: keys {actual.keys()} != {expected.keys()}"
        for key in expected:
            assert_identical(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


async def test_call_with_args_returns_callee_result(router_url, serializer):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(lambda x, y: x + y, "com.example.add")
        assert await call(caller, "com.example.add", 2, 3) == 5


async def test_args_and_kwargs_round_trip_through_call_result(router_url, serializer):
    def echo(*args, **kwargs):
        return CallResult(*args, echoed=True, **kwargs)

    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(echo, "com.example.echo")
        result = await call(caller, "com.example.echo", 1, "two", color="blue", size=3)
        assert isinstance(result, CallResult)
        assert list(result.results) == [1, "two"]
        assert result.kwresults == {"color": "blue", "size": 3, "echoed": True}


async def test_application_error_is_relayed_with_uri_args_and_kwargs(router_url, serializer):
    def fail():
        raise ApplicationError("com.example.error.bad", "it went wrong", 7, reason="bad input", code=400)

    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(fail, "com.example.fail")
        error = await call_error(caller, "com.example.fail")
        assert error.error == "com.example.error.bad"
        assert list(error.args) == ["it went wrong", 7]
        assert error.kwargs == {"reason": "bad input", "code": 400}


async def test_call_to_unregistered_procedure_fails_with_no_such_procedure(router_url, serializer):
    async with connect(router_url, serializer) as caller:
        error = await call_error(caller, "com.example.nobody.home")
        assert error.error == "wamp.error.no_such_procedure"


async def test_second_register_of_same_uri_fails_with_procedure_already_exists(router_url, serializer):
    async with connect(router_url, serializer) as first, connect(router_url, serializer) as second:
        await first.register(lambda: "first", "com.example.unique")
        with pytest.raises(ApplicationError) as excinfo:
            await asyncio.wait_for(second.register(lambda: "second", "com.example.unique"), CALL_TIMEOUT)
        assert excinfo.value.error == "wamp.error.procedure_already_exists"

        # The original registration is untouched.
        assert await call(second, "com.example.unique") == "first"


async def test_call_after_unregister_fails_with_no_such_procedure(router_url, serializer):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        registration = await callee.register(lambda: "here", "com.example.transient")
        assert await call(caller, "com.example.transient") == "here"

        await asyncio.wait_for(registration.unregister(), CALL_TIMEOUT)
        error = await call_error(caller, "com.example.transient")
        assert error.error == "wamp.error.no_such_procedure"


@pytest.mark.parametrize("drop", ["tcp_abort", "websocket_close"])
async def test_pending_call_is_canceled_when_callee_connection_drops(router_url, serializer, drop):
    invoked = asyncio.Event()
    release = asyncio.Event()

    async def hang():
        invoked.set()
        await release.wait()
        return "too late"

    try:
        async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
            await callee.register(hang, "com.example.hang")
            pending = asyncio.ensure_future(caller.call("com.example.hang"))
            await asyncio.wait_for(invoked.wait(), CALL_TIMEOUT)

            # Drop the callee's transport without a WAMP GOODBYE.
            if drop == "tcp_abort":
                callee.drop_connection()
            else:
                callee._transport.close()
            dropped_at = time.monotonic()

            try:
                with pytest.raises(ApplicationError) as excinfo:
                    await asyncio.wait_for(pending, 5.0)
            except asyncio.TimeoutError:
                pytest.fail("caller got no answer within 5 s after the callee's connection dropped")
            elapsed = time.monotonic() - dropped_at
            assert excinfo.value.error == "wamp.error.canceled", str(excinfo.value)
            assert elapsed < 5.0

            error = await call_error(caller, "com.example.hang")
            assert error.error == "wamp.error.no_such_procedure"
    finally:
        release.set()


CROSS_ARGS = [
    "héllo wörld ✓",
    "",
    42,
    -7,
    2**40,
    3.25,
    2.0,
    -0.5,
    [1, "two", [3.5, None]],
    {"key": "value", "nested": {"list": [True, False], "none": None}},
    True,
    False,
    None,
    b"\x00\x01binary\xfe\xff",
    b"",
]
CROSS_KWARGS = {
    "s": "text",
    "i": 12345,
    "f": 0.125,
    "l": ["a", 1, 1.5],
    "d": {"x": {"y": "z"}},
    "t": True,
    "n": None,
    "b": bytes(range(256)),
}


@pytest.mark.parametrize(
    "caller_serializer, callee_serializer",
    [("json", "msgpack"), ("msgpack", "json"), ("cbor", "json"), ("json", "cbor"), ("cbor", "msgpack"), ("msgpack", "cbor")],
)
async def test_values_round_trip_exactly_between_serializers(router_url, caller_serializer, callee_serializer):
    received: list[tuple[list, dict]] = []

    def echo(*args, **kwargs):
        received.append((list(args), kwargs))
        return CallResult(*args, **kwargs)

    async with connect(router_url, callee_serializer) as callee, connect(router_url, caller_serializer) as caller:
        await callee.register(echo, "com.example.echo")
        result = await call(caller, "com.example.echo", *CROSS_ARGS, **CROSS_KWARGS)

    assert len(received) == 1
    callee_args, callee_kwargs = received[0]
    assert_identical(callee_args, CROSS_ARGS, "callee args")
    assert_identical(callee_kwargs, CROSS_KWARGS, "callee kwargs")

    assert isinstance(result, CallResult)
    assert_identical(list(result.results), CROSS_ARGS, "result args")
    assert_identical(result.kwresults, CROSS_KWARGS, "result kwargs")


async def test_binary_payload_round_trips(router_url, serializer):
    payload = bytes(range(256)) * 64  # 16 KiB covering every byte value

    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(lambda data: data, "com.example.echo_bytes")
        result = await call(caller, "com.example.echo_bytes", payload)
        assert type(result) is bytes
        assert result == payload
