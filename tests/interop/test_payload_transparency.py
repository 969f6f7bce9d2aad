"""Payload transparency, as unmodified Autobahn|Python speaks it.

Autobahn's payload codecs (`session.set_payload_codec`, here its own
end-to-end encryption, `autobahn.wamp.cryptobox.KeyRing`) send the draft that
preceded Payload Passthru Mode: `enc_algo`, `enc_serializer` (and `enc_key`)
in the options, and the sealed payload as one binary element *in place of*
the Arguments list. Every Autobahn session announces `payload_transparency`
for all four roles. The router carries such a payload unread: CALL to
INVOCATION, YIELD to RESULT, ERROR to ERROR, PUBLISH to EVENT.
"""

from __future__ import annotations

import base64

import pytest
import txaio

# Before any autobahn.wamp module binds txaio's helpers (cryptobox pulls in
# the serializers): select the framework the rest of the suite uses.
txaio.use_asyncio()

from autobahn.wamp.cryptobox import Key, KeyRing  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import PublishOptions  # noqa: E402

from raw import (
    CALL,
    INVOCATION,
    PUBLISH,
    YIELD,
    expect_abort,
    hello_details,
    raw_session,
)
from wamp import Inbox, close_session, open_session, within

PROCEDURE = "com.example.sealed.add"
TOPIC = "com.example.sealed.news"
TRANSPARENT = {"payload_transparency": True}
TRANSPARENT_ROLES = hello_details(
    caller=TRANSPARENT, callee=TRANSPARENT, publisher=TRANSPARENT, subscriber=TRANSPARENT
)


def fresh_keys() -> tuple[str, str]:
    """One Curve25519 private key per side, the same on every session of a test:
    the originator (caller, publisher) and responder (callee, subscriber) boxes
    share a key, so each side can open what the other sealed."""
    ring = KeyRing()
    originator_priv, _ = ring.generate_key()
    responder_priv, _ = ring.generate_key()
    return originator_priv, responder_priv


async def sealed_session(router_url, serializer, keys, prefix: str = "com.example.sealed."):
    """An Autobahn session whose payloads under `prefix` are sealed with `keys`."""
    originator_priv, responder_priv = keys
    ring = KeyRing()
    ring.set_key(prefix, Key(originator_priv=originator_priv, responder_priv=responder_priv))
    session = await open_session(router_url, serializer)
    session.set_payload_codec(ring)
    return session


def as_bytes(serializer: str, element) -> bytes:
    """A binary wire element as raw.py decodes it (JSON: NUL-prefixed base64)."""
    if serializer == "json":
        assert isinstance(element, str) and element.startswith("\x00"), element
        return base64.b64decode(element[1:])
    assert isinstance(element, bytes), element
    return element


async def test_welcome_announces_payload_transparency_for_dealer_and_broker(router_url, serializer):
    async with raw_session(router_url, serializer) as session:
        roles = session.welcome[2]["roles"]
        assert roles["dealer"]["features"].get("payload_transparency") is True, roles
        assert roles["broker"]["features"].get("payload_transparency") is True, roles


async def test_an_encrypted_call_and_its_result_pass_between_autobahn_peers(router_url, serializer):
    keys = fresh_keys()
    callee = await sealed_session(router_url, serializer, keys)
    caller = await sealed_session(router_url, serializer, keys)
    try:
        await within(callee.register(lambda a, b, scale=1: (a + b) * scale, PROCEDURE), 5.0, "REGISTERED")
        result = await within(caller.call(PROCEDURE, 2, 3, scale=10), 5.0, "RESULT")
        assert result == 50
    finally:
        await close_session(caller)
        await close_session(callee)


async def test_the_callee_sees_only_the_sealed_payload_and_its_options_unchanged(router_url, serializer):
    keys = fresh_keys()
    caller = await sealed_session(router_url, serializer, keys)
    try:
        async with raw_session(router_url, serializer, details=TRANSPARENT_ROLES) as callee:
            await callee.register(PROCEDURE)
            answer = caller.call(PROCEDURE, "the secret", 42)
            invocation = await callee.expect(INVOCATION)
            details = invocation[3]
            assert details["enc_algo"] == "cryptobox", invocation
            assert details["enc_serializer"] == "json", invocation
            assert len(invocation) == 5, f"one payload element, no kwargs: {invocation!r}"
            payload = as_bytes(serializer, invocation[4])
            assert b"secret" not in payload, "the router must pass ciphertext, not plaintext"
            # Sent back as it came: the caller's key opens it, so the bytes
            # crossed the router in both directions unchanged.
            reply_options = {"enc_algo": "cryptobox", "enc_serializer": "json"}
            await callee.send([YIELD, invocation[1], reply_options, invocation[4]])
            result = await within(answer, 5.0, "RESULT")
            assert list(result.results) == ["the secret", 42], result
    finally:
        await close_session(caller)


async def test_an_encrypted_error_reaches_the_autobahn_caller(router_url, serializer):
    keys = fresh_keys()
    callee = await sealed_session(router_url, serializer, keys)
    caller = await sealed_session(router_url, serializer, keys)

    def refuse(*args):
        raise ApplicationError("com.example.sealed.refused", "no", code=7)

    try:
        await within(callee.register(refuse, PROCEDURE), 5.0, "REGISTERED")
        with pytest.raises(ApplicationError) as excinfo:
            await within(caller.call(PROCEDURE, 1), 5.0, "ERROR")
        assert excinfo.value.error == "com.example.sealed.refused"
        assert excinfo.value.args == ("no",) and excinfo.value.kwargs == {"code": 7}, excinfo.value
    finally:
        await close_session(caller)
        await close_session(callee)


async def test_an_encrypted_event_reaches_autobahn_subscribers_on_any_serializer(router_url, serializer):
    keys = fresh_keys()
    publisher = await sealed_session(router_url, serializer, keys)
    subscribers = [await sealed_session(router_url, other, keys) for other in ("json", "msgpack", "cbor")]
    inbox = Inbox()
    try:
        for subscriber, other in zip(subscribers, ("json", "msgpack", "cbor")):
            await within(subscriber.subscribe(inbox.handler(other), TOPIC), 5.0, "SUBSCRIBED")
        options = PublishOptions(acknowledge=True)
        await within(publisher.publish(TOPIC, "news", n=1, options=options), 5.0, "PUBLISHED")
        got = sorted(await inbox.take(3))
        assert got == [(other, ["news"], {"n": 1}) for other in ("cbor", "json", "msgpack")], got
    finally:
        for session in [publisher, *subscribers]:
            await close_session(session)


async def test_an_encrypted_call_to_a_callee_that_did_not_announce_it_fails_with_feature_not_supported(
    router_url, serializer
):
    keys = fresh_keys()
    caller = await sealed_session(router_url, serializer, keys)
    try:
        async with raw_session(router_url, serializer, details=hello_details()) as callee:
            await callee.register(PROCEDURE)
            with pytest.raises(ApplicationError) as excinfo:
                await within(caller.call(PROCEDURE, 1), 5.0, "ERROR")
            assert excinfo.value.error == "wamp.error.feature_not_supported", excinfo.value
            await callee.expect_silence()
    finally:
        await close_session(caller)


async def test_a_sealed_payload_from_a_peer_that_did_not_announce_it_is_aborted(router_url, serializer):
    options = {"enc_algo": "cryptobox", "enc_serializer": "json"}
    payload = "\x00AAE=" if serializer == "json" else b"\x00\x01"
    async with raw_session(router_url, serializer, details=hello_details()) as publisher:
        await publisher.send([PUBLISH, publisher.request_id(), options, TOPIC, payload])
        await expect_abort(publisher, "wamp.error.protocol_violation")
    async with raw_session(router_url, serializer, details=hello_details()) as caller:
        await caller.send([CALL, caller.request_id(), options, PROCEDURE, payload])
        await expect_abort(caller, "wamp.error.protocol_violation")


async def test_a_binary_in_place_of_arguments_without_enc_algo_is_a_protocol_error(router_url, serializer):
    payload = "\x00AAE=" if serializer == "json" else b"\x00\x01"
    async with raw_session(router_url, serializer, details=TRANSPARENT_ROLES) as caller:
        await caller.send([CALL, caller.request_id(), {}, PROCEDURE, payload])
        await expect_abort(caller, "wamp.error.protocol_violation")


async def test_a_session_with_a_codec_calls_procedures_without_a_key_in_the_clear(router_url, serializer):
    # A caller with a codec for com.example.sealed. calls other procedures in
    # the clear (the KeyRing has no key for them).
    keys = fresh_keys()
    caller = await sealed_session(router_url, serializer, keys)
    callee = await open_session(router_url, serializer)
    try:
        await within(callee.register(lambda x: x * 2, "com.example.clear.double"), 5.0, "REGISTERED")
        assert await within(caller.call("com.example.clear.double", 21), 5.0, "RESULT") == 42
    finally:
        await close_session(caller)
        await close_session(callee)
