"""Session testaments (``wamp.session.add_testament``/``flush_testaments``) and
the session meta API's kill variants (``kill_by_authid``, ``kill_by_authrole``,
``kill_all``), with unmodified Autobahn|Python clients against one router."""

from __future__ import annotations

import asyncio

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import SubscribeOptions

from wamp import Inbox, close_session, connect, open_session, within

ADD = "wamp.session.add_testament"
FLUSH = "wamp.session.flush_testaments"
INVALID_ARGUMENT = "wamp.error.invalid_argument"


async def call(session, procedure: str, *args, **kwargs):
    return await within(session.call(procedure, *args, **kwargs), 5.0, f"answer to CALL {procedure}")


async def listen(session, topic: str) -> Inbox:
    inbox = Inbox()
    await within(session.subscribe(inbox.handler(topic), topic), 5.0, f"SUBSCRIBED to {topic}")
    return inbox


@pytest.mark.parametrize("how", ["goodbye", "transport_lost", "killed"])
async def test_testament_is_published_however_the_session_goes(router_url, serializer, how):
    topic = f"com.example.testament.{serializer}.{how}"
    async with connect(router_url, serializer) as listener:
        inbox = await listen(listener, topic)
        leaver = await open_session(router_url, serializer)
        try:
            assert await call(leaver, ADD, topic, ["gone", 1], {"how": how}) is None
            assert inbox.seen == [], "nothing is published while the session lives"
            if how == "goodbye":
                await close_session(leaver)
            elif how == "transport_lost":
                leaver.drop_connection()
            else:
                await call(listener, "wamp.session.kill", leaver._session_id)
        finally:
            await close_session(leaver)
        tag, args, kwargs = await inbox.next(what=f"the testament after {how}")
        assert (args, kwargs) == (["gone", 1], {"how": how})
        await inbox.expect_none(0.5)  # a duplicate would arrive by now


async def test_detached_testaments_come_before_destroyed_ones_and_flush_removes_a_scope(router_url, serializer):
    topic = f"com.example.testament.{serializer}.order"
    async with connect(router_url, serializer) as listener:
        inbox = await listen(listener, topic)
        leaver = await open_session(router_url, serializer)
        try:
            await call(leaver, ADD, topic, ["destroyed 1"], {})
            await call(leaver, ADD, topic, ["detached 1"], {}, scope="detached")
            await call(leaver, ADD, topic, ["flushed"], {}, scope="detached")
            await call(leaver, ADD, topic, ["destroyed 2"], {}, scope="destroyed")
            assert await call(leaver, FLUSH, scope="detached") == 2
            await call(leaver, ADD, topic, ["detached 2"], {}, scope="detached")
            await close_session(leaver)
        finally:
            await close_session(leaver)
        got = [(await inbox.next(what="testament"))[1][0] for _ in range(3)]
        assert got == ["detached 2", "destroyed 1", "destroyed 2"], inbox.seen
        await inbox.expect_none(0.5)  # a duplicate would arrive by now


async def test_flush_of_the_default_scope_means_nothing_is_published(router_url, serializer):
    topic = f"com.example.testament.{serializer}.flushed"
    async with connect(router_url, serializer) as listener:
        inbox = await listen(listener, topic)
        async with connect(router_url, serializer) as leaver:
            await call(leaver, ADD, topic, ["x"], {})
            assert await call(leaver, FLUSH) == 1
        await inbox.expect_none(1.0)


async def test_a_testament_can_disclose_its_publisher_to_pattern_subscribers(router_url, serializer):
    prefix = f"com.example.testament.{serializer}.pattern."
    async with connect(router_url, serializer) as listener:
        seen: asyncio.Queue = asyncio.Queue()
        await within(
            listener.subscribe(
                lambda *a, details=None, **kw: seen.put_nowait((a, details)),
                prefix,
                options=SubscribeOptions(match="prefix", details_arg="details"),
            ),
            5.0,
            "SUBSCRIBED",
        )
        async with connect(router_url, serializer) as leaver:
            leaver_id = leaver._session_id
            await call(leaver, ADD, prefix + "x", ["hi"], {}, publish_options={"disclose_me": True})
        args, details = await within(seen.get(), 5.0, "the testament")
        assert args == ("hi",)
        assert details.topic == prefix + "x"
        assert details.publisher == leaver_id


async def test_bad_testament_arguments_are_refused(router_url, serializer):
    async with connect(router_url, serializer) as session:
        for args, kwargs in [((), {}), (("t", "not a list", {}), {}), (("t", [], {}), {"scope": "forever"})]:
            with pytest.raises(ApplicationError) as excinfo:
                await call(session, ADD, *args, **kwargs)
            assert excinfo.value.error == INVALID_ARGUMENT, (args, kwargs, str(excinfo.value))
        with pytest.raises(ApplicationError) as excinfo:
            await call(session, FLUSH, scope="sometime")
        assert excinfo.value.error == INVALID_ARGUMENT


# ---------------------------------------------------------------------------
# kill_by_authid, kill_by_authrole, kill_all
# ---------------------------------------------------------------------------


async def test_kill_by_authid_ends_that_session_with_reason_and_message(router_url, serializer):
    async with connect(router_url, serializer) as admin:
        victim = await open_session(router_url, serializer)
        bystander = await open_session(router_url, serializer)
        try:
            authid = victim._authid
            killed = await call(admin, "wamp.session.kill_by_authid", authid, reason="com.example.out", message="bye")
            assert killed == 1
            left = await within(asyncio.shield(victim.left), 5.0, "GOODBYE of the victim")
            assert (left.reason, left.message) == ("com.example.out", "bye")
            assert bystander.is_attached()
            assert await call(admin, "wamp.session.kill_by_authid", admin._authid) == 0, "never the caller"
        finally:
            await close_session(victim)
            await close_session(bystander)


async def test_kill_by_authrole_and_kill_all_spare_the_caller(router_url, serializer):
    async with connect(router_url, serializer) as admin:
        sessions = [await open_session(router_url, serializer) for _ in range(2)]
        try:
            assert await call(admin, "wamp.session.kill_by_authrole", "anonymous") == 2
            for s in sessions:
                left = await within(asyncio.shield(s.left), 5.0, "GOODBYE")
                assert left.reason == "wamp.close.killed"
            assert admin.is_attached()
        finally:
            for s in sessions:
                await close_session(s)
        more = [await open_session(router_url, serializer) for _ in range(2)]
        try:
            assert await call(admin, "wamp.session.kill_all") == 2
            for s in more:
                await within(asyncio.shield(s.left), 5.0, "GOODBYE")
            assert admin.is_attached()
            assert await call(admin, "wamp.session.count") == 1
        finally:
            for s in more:
                await close_session(s)


async def test_kill_by_authid_without_an_authid_is_refused(router_url, serializer):
    async with connect(router_url, serializer) as admin:
        with pytest.raises(ApplicationError) as excinfo:
            await call(admin, "wamp.session.kill_by_authid")
        assert excinfo.value.error == INVALID_ARGUMENT
