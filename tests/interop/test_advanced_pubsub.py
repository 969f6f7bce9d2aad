"""Broker (publish/subscribe with the advanced options), the session meta API,
and the features the router announces in WELCOME."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.request import Publication
from autobahn.wamp.types import PublishOptions, SubscribeOptions

from raw import ERROR, PUBLISH, PUBLISHED, WELCOME, raw_session
from wamp import ClientSession, Inbox, close_session, connect, open_session, within

NO_SUCH_SESSION = "wamp.error.no_such_session"
UNKNOWN_ID = 2**53 - 1  # a valid id that no session in a fresh router has

DEALER_FEATURES = (
    "call_timeout",
    "call_canceling",
    "call_reroute",
    "caller_identification",
    "progressive_call_results",
    "progressive_call_invocations",
    "payload_passthru_mode",
    "payload_transparency",
    "pattern_based_registration",
    "shared_registration",
    "registration_meta_api",
    "session_meta_api",
    "testament_meta_api",
)
# The broker features the router announces, exactly.
BROKER_FEATURES = (
    "event_history",
    "event_retention",
    "pattern_based_subscription",
    "payload_passthru_mode",
    "payload_transparency",
    "publisher_exclusion",
    "publisher_identification",
    "session_meta_api",
    "subscriber_blackwhite_listing",
    "subscription_meta_api",
    "testament_meta_api",
)


async def call(session, procedure: str, *args, **kwargs):
    return await within(session.call(procedure, *args, **kwargs), 5.0, f"answer to CALL {procedure}")


async def call_error(session, procedure: str, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        await call(session, procedure, *args, **kwargs)
    return excinfo.value


async def publish_acked(session, topic: str, *args, options: PublishOptions | None = None, **kwargs) -> Publication:
    options = options or PublishOptions(acknowledge=True)
    return await within(session.publish(topic, *args, options=options, **kwargs), 5.0, f"PUBLISHED for {topic}")


def joined(session: ClientSession):
    return session.joined.result()


# ---------------------------------------------------------------------------
# Broker
# ---------------------------------------------------------------------------


async def test_event_carries_publish_args_and_kwargs(router_url, serializer):
    async with connect(router_url, serializer) as subscriber, connect(router_url, serializer) as publisher:
        inbox = Inbox()
        await subscriber.subscribe(inbox.handler("news"), "com.example.news")
        publication = await publish_acked(
            publisher, "com.example.news", 1, "two", [3.5, None], headline="hi", meta={"n": 1}
        )
        tag, args, kwargs = await inbox.next(what="EVENT")
        assert args == [1, "two", [3.5, None]]
        assert kwargs == {"headline": "hi", "meta": {"n": 1}}
        assert isinstance(publication, Publication)


async def test_acknowledged_publish_returns_publication_id_seen_in_event_details(router_url, serializer):
    async with connect(router_url, serializer) as subscriber, connect(router_url, serializer) as publisher:
        inbox = Inbox()
        await subscriber.subscribe(inbox.handler("e"), "com.example.acked", SubscribeOptions(details=True))
        publication = await publish_acked(publisher, "com.example.acked", "x")
        assert isinstance(publication, Publication)
        assert isinstance(publication.id, int) and 1 <= publication.id <= 2**53
        _, args, kwargs = await inbox.next(what="EVENT")
        assert args == ["x"]
        assert kwargs["details"].publication == publication.id


async def test_unacknowledged_publish_returns_nothing_and_still_delivers(router_url, serializer):
    async with connect(router_url, serializer) as subscriber, connect(router_url, serializer) as publisher:
        inbox = Inbox()
        await subscriber.subscribe(inbox.handler("e"), "com.example.fire")
        assert publisher.publish("com.example.fire", "and forget") is None
        _, args, _ = await inbox.next(what="EVENT")
        assert args == ["and forget"]


async def test_publisher_is_excluded_by_default_and_included_with_exclude_me_false(router_url, serializer):
    async with connect(router_url, serializer) as publisher, connect(router_url, serializer) as other:
        own, others = Inbox(), Inbox()
        await publisher.subscribe(own.handler("own"), "com.example.echo")
        await other.subscribe(others.handler("other"), "com.example.echo")

        await publish_acked(publisher, "com.example.echo", "default")
        await publish_acked(publisher, "com.example.echo", "included", options=PublishOptions(acknowledge=True, exclude_me=False))
        await publish_acked(publisher, "com.example.echo", "excluded", options=PublishOptions(acknowledge=True, exclude_me=True))
        await publish_acked(publisher, "com.example.echo", "last", options=PublishOptions(acknowledge=True, exclude_me=False))

        assert [args for _, args, _ in await others.take(4)] == [["default"], ["included"], ["excluded"], ["last"]]
        # Events to one subscriber keep the publication order: once "last" is in,
        # "default" and "excluded" would have arrived before it.
        assert [args for _, args, _ in await own.take(2)] == [["included"], ["last"]]
        await own.expect_none(0.2)


async def test_disclose_me_reveals_publisher_session_in_event_details(router_url, serializer):
    # Autobahn's PublishOptions has no disclose_me: the publisher is raw.
    async with connect(router_url, serializer) as subscriber, raw_session(router_url, serializer) as publisher:
        inbox = Inbox()
        await subscriber.subscribe(inbox.handler("e"), "com.example.disclosed", SubscribeOptions(details=True))
        request = publisher.request_id()
        await publisher.send(
            [PUBLISH, request, {"acknowledge": True, "disclose_me": True}, "com.example.disclosed", ["who?"]]
        )
        published = await publisher.recv()
        assert published[:2] == [PUBLISHED, request], f"expected PUBLISHED, got {published!r}"

        _, args, kwargs = await inbox.next(what="EVENT")
        assert args == ["who?"]
        details = kwargs["details"]
        assert details.publisher == publisher.session_id
        assert details.publication == published[2]


async def test_prefix_subscription_receives_matching_topics_with_topic_in_details(router_url, serializer):
    async with connect(router_url, serializer) as subscriber, connect(router_url, serializer) as publisher:
        inbox = Inbox()
        await subscriber.subscribe(
            inbox.handler("prefix"), "com.example.feed", SubscribeOptions(match="prefix", details=True)
        )
        await publish_acked(publisher, "com.example.other", "not for us")
        for topic in ("com.example.feed.sport", "com.example.feed.a.b", "com.example.feed"):
            await publish_acked(publisher, topic, topic)
        events = await inbox.take(3)
        assert [(args, kwargs["details"].topic) for _, args, kwargs in events] == [
            (["com.example.feed.sport"], "com.example.feed.sport"),
            (["com.example.feed.a.b"], "com.example.feed.a.b"),
            (["com.example.feed"], "com.example.feed"),
        ]


async def test_wildcard_subscription_receives_matching_topics_with_topic_in_details(router_url, serializer):
    async with connect(router_url, serializer) as subscriber, connect(router_url, serializer) as publisher:
        inbox = Inbox()
        await subscriber.subscribe(
            inbox.handler("wildcard"), "com.example..update", SubscribeOptions(match="wildcard", details=True)
        )
        for topic in ("com.example.a.b.update", "com.example.users.delete", "com.example.update"):
            await publish_acked(publisher, topic, "no match")
        await publish_acked(publisher, "com.example.users.update", "match")
        _, args, kwargs = await inbox.next(what="EVENT")
        assert args == ["match"], f"a non-matching topic was delivered: {inbox.seen!r}"
        assert kwargs["details"].topic == "com.example.users.update"
        await inbox.expect_none(0.1)


# ---------------------------------------------------------------------------
# Session meta API
# ---------------------------------------------------------------------------


async def subscribe_session_meta(observer: ClientSession) -> Inbox:
    inbox = Inbox()
    for topic in ("wamp.session.on_join", "wamp.session.on_leave"):
        await within(observer.subscribe(inbox.handler(topic.rsplit(".", 1)[1]), topic), 5.0, f"SUBSCRIBED {topic}")
    return inbox


async def test_session_join_and_leave_meta_events_describe_the_session(router_url, serializer):
    async with connect(router_url, serializer) as observer:
        inbox = await subscribe_session_meta(observer)
        async with connect(router_url, serializer) as visitor:
            me = joined(visitor)
            tag, args, _ = await inbox.next(what="on_join")
            assert tag == "on_join" and len(args) == 1, inbox.seen
            details = args[0]
            assert details.get("session") == me.session, details
            assert details.get("authid") == me.authid, details
            assert details.get("authrole") == "anonymous", details
            assert isinstance(details.get("authmethod"), str), details
            assert isinstance(details.get("authprovider"), str), details
        tag, args, _ = await inbox.next(what="on_leave")
        assert (tag, args) == ("on_leave", [me.session, me.authid, "anonymous"]), inbox.seen


@pytest.mark.parametrize("client", ["autobahn", "raw"])
async def test_session_leave_meta_event_fires_when_connection_drops_without_goodbye(router_url, serializer, client):
    async with connect(router_url, serializer) as observer:
        inbox = await subscribe_session_meta(observer)
        if client == "autobahn":
            visitor = await open_session(router_url, serializer)
            try:
                visitor_id, authid = joined(visitor).session, joined(visitor).authid
                await inbox.next(what="on_join")
                visitor.drop_connection()
            finally:
                await close_session(visitor)
        else:
            async with raw_session(router_url, serializer) as visitor:
                visitor_id, authid = visitor.session_id, visitor.welcome[2].get("authid")
                await inbox.next(what="on_join")
                visitor.abort()
        tag, args, _ = await inbox.next(what="on_leave after the drop")
        assert (tag, args) == ("on_leave", [visitor_id, authid, "anonymous"]), inbox.seen
        assert visitor_id not in await call(observer, "wamp.session.list")


async def test_session_count_list_and_get_report_the_joined_sessions(router_url, serializer):
    async with connect(router_url, serializer) as observer, connect(router_url, serializer) as a, \
            connect(router_url, serializer) as b:
        ids = {joined(s).session for s in (observer, a, b)}
        assert await call(observer, "wamp.session.count") == 3
        assert set(await call(observer, "wamp.session.list")) == ids
        assert await call(observer, "wamp.session.count", ["anonymous"]) == 3
        assert await call(observer, "wamp.session.count", ["com.example.nobody"]) == 0
        assert await call(observer, "wamp.session.list", ["com.example.nobody"]) == []

        details = await call(observer, "wamp.session.get", joined(a).session)
        assert isinstance(details, dict), details
        assert details.get("session") == joined(a).session
        assert details.get("authid") == joined(a).authid
        assert details.get("authrole") == "anonymous"
        assert isinstance(details.get("authmethod"), str) and isinstance(details.get("authprovider"), str), details

        await close_session(b)
        assert set(await call(observer, "wamp.session.list")) == ids - {joined(b).session}
        assert await call(observer, "wamp.session.count") == 2


@pytest.mark.parametrize("procedure", ["wamp.session.get", "wamp.session.kill"])
async def test_session_get_and_kill_of_unknown_session_fail_with_no_such_session(router_url, serializer, procedure):
    async with connect(router_url, serializer) as observer:
        error = await call_error(observer, procedure, UNKNOWN_ID)
        assert error.error == NO_SUCH_SESSION, str(error)
        assert observer.is_attached()


async def test_killed_session_leaves_with_wamp_close_killed(router_url, serializer):
    async with connect(router_url, serializer) as killer:
        inbox = await subscribe_session_meta(killer)
        victim = await open_session(router_url, serializer)
        try:
            victim_id = joined(victim).session
            await inbox.next(what="on_join of the victim")
            assert await call(killer, "wamp.session.kill", victim_id) is None
            left = await within(asyncio.shield(victim.left), 5.0, "leave of the killed session")
            assert left.reason == "wamp.close.killed", f"reason={left.reason!r} message={left.message!r}"
            await within(asyncio.shield(victim.disconnected), 5.0, "disconnect of the killed session")
        finally:
            await close_session(victim)

        tag, args, _ = await inbox.next(what="on_leave of the killed session")
        assert tag == "on_leave" and args[0] == victim_id, inbox.seen
        assert killer.is_attached()
        assert victim_id not in await call(killer, "wamp.session.list")
        error = await call_error(killer, "wamp.session.get", victim_id)
        assert error.error == NO_SUCH_SESSION


async def test_kill_with_reason_and_message_passes_them_to_the_killed_session(router_url, serializer):
    async with connect(router_url, serializer) as killer:
        victim = await open_session(router_url, serializer)
        try:
            await call(killer, "wamp.session.kill", joined(victim).session, reason="com.example.kicked", message="bye now")
            left = await within(asyncio.shield(victim.left), 5.0, "leave of the killed session")
            assert left.reason == "com.example.kicked"
            assert left.message == "bye now"
        finally:
            await close_session(victim)


# ---------------------------------------------------------------------------
# WELCOME
# ---------------------------------------------------------------------------


async def test_welcome_announces_all_dealer_features_and_the_broker_role(router_url, serializer):
    async with raw_session(router_url, serializer, join=False) as session:
        welcome = await session.hello()
        assert welcome[0] == WELCOME, f"expected WELCOME, got {welcome!r}"
        roles = welcome[2].get("roles", {})
        dealer = roles.get("dealer", {}).get("features", {})
        missing = [f for f in DEALER_FEATURES if dealer.get(f) is not True]
        assert not missing, f"dealer features not announced: {missing}; WELCOME roles: {roles!r}"
        # Exactly these: clients switch behaviour on what they see announced.
        extra = sorted(set(dealer) - set(DEALER_FEATURES))
        assert not extra, f"dealer features announced but not tested here: {extra}"

        assert isinstance(roles.get("broker"), dict), f"no broker role in WELCOME: {roles!r}"
        broker = roles["broker"].get("features", {})
        assert isinstance(broker, dict), roles
        missing = [f for f in BROKER_FEATURES if broker.get(f) is not True]
        assert not missing, f"broker features not announced: {missing}; WELCOME roles: {roles!r}"
        extra = sorted(set(broker) - set(BROKER_FEATURES))
        assert not extra, f"broker features announced but not tested here: {extra}"



# ---------------------------------------------------------------------------
# Subscriber black- and whitelisting
# ---------------------------------------------------------------------------


async def test_black_and_whitelists_by_session_authid_and_authrole_pick_the_receivers(router_url, serializer):
    topic = "com.example.listed"
    async with contextlib.AsyncExitStack() as stack:
        publisher = await stack.enter_async_context(connect(router_url, serializer))
        subscribers, inboxes = [], []
        for name in ("a", "b", "c"):
            session = await stack.enter_async_context(connect(router_url, serializer))
            inbox = Inbox()
            await session.subscribe(inbox.handler(name), topic)
            subscribers.append(joined(session))
            inboxes.append(inbox)
        a, b, c = subscribers
        cases = [
            ("exclude b", PublishOptions(acknowledge=True, exclude=[b.session]), {"a", "c"}),
            ("eligible a, c", PublishOptions(acknowledge=True, eligible=[a.session, c.session]), {"a", "c"}),
            (
                "eligible a, b but not b",
                PublishOptions(acknowledge=True, eligible=[a.session, b.session], exclude=[b.session]),
                {"a"},
            ),
            ("exclude authid of c", PublishOptions(acknowledge=True, exclude_authid=[c.authid]), {"a", "b"}),
            ("eligible authid of b", PublishOptions(acknowledge=True, eligible_authid=[b.authid]), {"b"}),
            ("eligible authrole anonymous", PublishOptions(acknowledge=True, eligible_authrole=["anonymous"]), {"a", "b", "c"}),
            ("exclude authrole anonymous", PublishOptions(acknowledge=True, exclude_authrole=["anonymous"]), set()),
        ]
        for label, options, expected in cases:
            await publish_acked(publisher, topic, label, options=options)
        # A last event to everyone marks the end: whatever a subscriber got before it, it got.
        await publish_acked(publisher, topic, "end")
        for name, inbox in zip("abc", inboxes):
            got = []
            while True:
                _, args, _ = await inbox.next(what=f"the events for {name}")
                if args == ["end"]:
                    break
                got.append(args[0])
            wanted = [label for label, _, expected in cases if name in expected]
            assert got == wanted, f"{name} got {got}, expected {wanted}"


async def test_a_malformed_list_gets_invalid_argument(router_url, serializer):
    # Autobahn checks its own PublishOptions, so the malformed PUBLISH is raw.
    async with raw_session(router_url, serializer) as publisher:
        options = {"acknowledge": True, "exclude_authrole": "staff"}
        await publisher.send([PUBLISH, 4, options, "com.example.listed", ["x"]])
        reply = await publisher.expect(ERROR)
    assert reply[1:3] == [PUBLISH, 4] and reply[4] == "wamp.error.invalid_argument", reply


# ---------------------------------------------------------------------------
# Subscription meta API
# ---------------------------------------------------------------------------


async def test_subscription_meta_events_and_procedures(router_url, serializer):
    topic = f"com.example.meta.{serializer}"
    async with connect(router_url, serializer) as observer, connect(router_url, serializer) as subscriber:
        inbox = Inbox()
        for event in ("on_create", "on_subscribe", "on_unsubscribe", "on_delete"):
            await observer.subscribe(inbox.handler(event), f"wamp.subscription.{event}")
        subscription = await within(subscriber.subscribe(lambda *a: None, topic), 5.0, "SUBSCRIBED")
        me = joined(subscriber).session

        created, subscribed = await inbox.take(2)
        assert created[0] == "on_create" and created[1][0] == me
        details = created[1][1]
        assert details["id"] == subscription.id and details["uri"] == topic and details["match"] == "exact"
        assert isinstance(details["created"], str) and details["created"].endswith("Z")
        assert subscribed == ("on_subscribe", [me, subscription.id], {})

        assert await call(observer, "wamp.subscription.lookup", topic) == subscription.id
        assert await call(observer, "wamp.subscription.match", topic) == [subscription.id]
        assert await call(observer, "wamp.subscription.get", subscription.id) == details
        assert await call(observer, "wamp.subscription.list_subscribers", subscription.id) == [me]
        assert await call(observer, "wamp.subscription.count_subscribers", subscription.id) == 1
        lists = await call(observer, "wamp.subscription.list")
        assert subscription.id in lists["exact"] and set(lists) == {"exact", "prefix", "wildcard"}
        error = await call_error(observer, "wamp.subscription.get", UNKNOWN_ID)
        assert error.error == "wamp.error.no_such_subscription"

        await within(subscription.unsubscribe(), 5.0, "UNSUBSCRIBED")
        assert await inbox.take(2) == [
            ("on_unsubscribe", [me, subscription.id], {}),
            ("on_delete", [me, subscription.id], {}),
        ]
        assert await call(observer, "wamp.subscription.lookup", topic) is None


# ---------------------------------------------------------------------------
# Event retention
# ---------------------------------------------------------------------------


async def test_a_late_subscriber_asking_for_it_gets_the_retained_event_marked_retained(router_url, serializer):
    topic = f"com.example.retained.{serializer}"
    async with connect(router_url, serializer) as publisher:
        for value in (20, 21):
            await publish_acked(publisher, topic, value, options=PublishOptions(acknowledge=True, retain=True))
        await publish_acked(publisher, topic, 99)  # not retained
        async with connect(router_url, serializer) as late, connect(router_url, serializer) as plain:
            inbox, others = Inbox(), Inbox()
            await within(
                late.subscribe(inbox.handler("late"), topic, SubscribeOptions(get_retained=True, details=True)),
                5.0,
                "SUBSCRIBED",
            )
            await within(plain.subscribe(others.handler("plain"), topic), 5.0, "SUBSCRIBED")
            _, args, kwargs = await inbox.next(what="the retained event")
            assert args == [21]
            assert kwargs["details"].retained is True
            await inbox.expect_none(0.3)
            await others.expect_none(0.1)
