"""Payload Passthru Mode (`ppt_*` options, `payload_passthru_mode` feature).

Autobahn|Python (26.x) implements the older "payload transparency" draft
instead: it announces `payload_transparency`, puts `enc_algo`/`enc_key`/
`enc_serializer` in the options and sends the payload in place of the
Arguments list, so its payload codecs (`set_payload_codec`) cannot speak this
mode. The peers in the mode are therefore raw sessions (raw.py); unmodified
Autobahn sessions play the callee and subscriber that did not announce it.
Autobahn's own draft, which the router carries too, is checked in
test_payload_transparency.py.
"""

from __future__ import annotations

import base64

from raw import (
    CALL,
    ERROR,
    EVENT,
    INVOCATION,
    PUBLISH,
    PUBLISHED,
    RESULT,
    SUBSCRIBE,
    SUBSCRIBED,
    YIELD,
    expect_abort,
    hello_details,
    raw_session,
)
from wamp import Inbox, close_session, open_session, within

PPT = {"payload_passthru_mode": True}
PPT_ROLES = hello_details(caller=PPT, callee=PPT, publisher=PPT, subscriber=PPT)
PPT_OPTIONS = {
    "ppt_scheme": "x_switchboard_test",
    "ppt_serializer": "json",
    "ppt_cipher": "none",
    "ppt_keyid": "key-1",
}
PROCEDURE = "com.example.ppt.echo"
TOPIC = "com.example.ppt.news"


def sealed(serializer: str, text: bytes = b'{"secret": 42}'):
    """One opaque binary item, as each serializer carries binary (JSON: the
    WAMP convention of a NUL-prefixed base64 string)."""
    if serializer == "json":
        return "\x00" + base64.b64encode(text).decode()
    return text


def ppt_of(details: dict) -> dict:
    return {k: v for k, v in details.items() if k.startswith("ppt_")}


async def test_welcome_announces_payload_passthru_mode_for_dealer_and_broker(router_url, serializer):
    async with raw_session(router_url, serializer) as session:
        roles = session.welcome[2]["roles"]
        assert roles["dealer"]["features"].get("payload_passthru_mode") is True, roles
        assert roles["broker"]["features"].get("payload_passthru_mode") is True, roles


async def test_call_in_the_mode_reaches_the_callee_and_the_result_comes_back_with_its_options(
    router_url, serializer
):
    payload = sealed(serializer)
    async with raw_session(router_url, serializer, details=PPT_ROLES) as callee, raw_session(
        router_url, serializer, details=PPT_ROLES
    ) as caller:
        await callee.register(PROCEDURE)
        request = caller.request_id()
        await caller.send([CALL, request, PPT_OPTIONS, PROCEDURE, [payload]])

        invocation = await callee.expect(INVOCATION)
        assert ppt_of(invocation[3]) == PPT_OPTIONS, invocation
        assert invocation[4] == [payload], invocation
        assert len(invocation) == 5, f"no kwargs expected: {invocation!r}"

        reply = sealed(serializer, b'{"answer": 43}')
        yield_options = {"ppt_scheme": "x_switchboard_test", "ppt_keyid": "key-2"}
        await callee.send([YIELD, invocation[1], yield_options, [reply]])

        result = await caller.expect(RESULT)
        assert result[1] == request, result
        assert ppt_of(result[2]) == yield_options, result
        assert result[3] == [reply], result


async def test_callee_error_in_the_mode_reaches_the_caller_with_its_options(router_url, serializer):
    payload = sealed(serializer)
    async with raw_session(router_url, serializer, details=PPT_ROLES) as callee, raw_session(
        router_url, serializer, details=PPT_ROLES
    ) as caller:
        await callee.register(PROCEDURE)
        request = caller.request_id()
        await caller.send([CALL, request, PPT_OPTIONS, PROCEDURE, [payload]])
        invocation = await callee.expect(INVOCATION)
        await callee.send([ERROR, INVOCATION, invocation[1], PPT_OPTIONS, "com.example.sealed", [payload]])
        error = await caller.expect(ERROR)
        assert error[1:3] == [CALL, request], error
        assert ppt_of(error[3]) == PPT_OPTIONS, error
        assert error[4:] == ["com.example.sealed", [payload]], error


async def test_yield_in_the_mode_to_a_caller_that_did_not_announce_it_is_refused_to_both(
    router_url, serializer
):
    async with raw_session(router_url, serializer, details=PPT_ROLES) as callee, raw_session(
        router_url, serializer, details=hello_details()
    ) as caller:
        await callee.register(PROCEDURE)
        request = caller.request_id()
        await caller.send([CALL, request, {}, PROCEDURE, ["plain"]])
        invocation = await callee.expect(INVOCATION)
        assert ppt_of(invocation[3]) == {}, invocation
        await callee.send([YIELD, invocation[1], PPT_OPTIONS, [sealed(serializer)]])
        refusal = await callee.expect(ERROR)
        assert refusal[1:3] == [YIELD, invocation[1]], refusal
        assert refusal[4] == "wamp.error.feature_not_supported", refusal
        error = await caller.expect(ERROR)
        assert error[1:3] == [CALL, request] and error[4] == "wamp.error.feature_not_supported", error


async def test_call_in_the_mode_to_an_autobahn_callee_fails_with_feature_not_supported(router_url, serializer):
    # Autobahn announces payload_transparency, not payload_passthru_mode.
    callee = await open_session(router_url, serializer)
    invoked: list = []
    try:
        await within(callee.register(lambda *a, **kw: invoked.append(a), PROCEDURE), 5.0, "REGISTERED")
        async with raw_session(router_url, serializer, details=PPT_ROLES) as caller:
            request = caller.request_id()
            await caller.send([CALL, request, PPT_OPTIONS, PROCEDURE, [sealed(serializer)]])
            error = await caller.expect(ERROR)
            assert error[1:3] == [CALL, request] and error[4] == "wamp.error.feature_not_supported", error
        assert invoked == [], "the callee must not be invoked"
    finally:
        await close_session(callee)


async def test_call_in_the_mode_without_announcing_it_is_aborted(router_url, serializer):
    async with raw_session(router_url, serializer, details=PPT_ROLES) as callee, raw_session(
        router_url, serializer, details=hello_details()
    ) as caller:
        await callee.register(PROCEDURE)
        await caller.send([CALL, caller.request_id(), PPT_OPTIONS, PROCEDURE, [sealed(serializer)]])
        await expect_abort(caller, "wamp.error.protocol_violation")
        await callee.expect_silence()


async def test_publish_in_the_mode_without_announcing_it_is_aborted(router_url, serializer):
    async with raw_session(router_url, serializer, details=hello_details()) as publisher:
        await publisher.send([PUBLISH, publisher.request_id(), PPT_OPTIONS, TOPIC, [sealed(serializer)]])
        await expect_abort(publisher, "wamp.error.protocol_violation")


async def test_events_in_the_mode_reach_subscribers_that_announced_it_only(router_url, serializer):
    payload = sealed(serializer)
    unaware = await open_session(router_url, serializer)  # Autobahn: does not announce the mode
    inbox = Inbox()
    try:
        await within(unaware.subscribe(inbox.handler("unaware"), TOPIC), 5.0, "SUBSCRIBED")
        async with raw_session(router_url, serializer, details=PPT_ROLES) as subscriber, raw_session(
            router_url, serializer, details=PPT_ROLES
        ) as publisher:
            await subscriber.send([SUBSCRIBE, subscriber.request_id(), {}, TOPIC])
            await subscriber.expect(SUBSCRIBED)

            request = publisher.request_id()
            options = dict(PPT_OPTIONS, acknowledge=True)
            await publisher.send([PUBLISH, request, options, TOPIC, [payload]])
            published = await publisher.expect(PUBLISHED)
            assert published[1] == request, published

            event = await subscriber.expect(EVENT)
            assert ppt_of(event[3]) == PPT_OPTIONS, event
            assert event[4] == [payload], event

            # A plain publication after it reaches both, so the Autobahn
            # subscriber's first event proves it was skipped, not slow.
            await publisher.send([PUBLISH, publisher.request_id(), {}, TOPIC, ["plain"]])
            tag, args, _ = await inbox.next()
            assert args == ["plain"], inbox.seen
            event = await subscriber.expect(EVENT)
            assert ppt_of(event[3]) == {}, event
    finally:
        await close_session(unaware)
