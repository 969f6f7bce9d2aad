"""Pattern-based registrations, shared registrations and the registration meta API."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions

from raw import raw_session
from wamp import ClientSession, Inbox, close_session, connect, open_session, within

NO_SUCH_PROCEDURE = "wamp.error.no_such_procedure"
ALREADY_EXISTS = "wamp.error.procedure_already_exists"
NO_SUCH_REGISTRATION = "wamp.error.no_such_registration"
UNKNOWN_ID = 2**53 - 1  # a valid id that no registration in a fresh router has

META_TOPICS = (
    "wamp.registration.on_create",
    "wamp.registration.on_register",
    "wamp.registration.on_unregister",
    "wamp.registration.on_delete",
)


async def call(session, procedure: str, *args, **kwargs):
    return await within(session.call(procedure, *args, **kwargs), 5.0, f"answer to CALL {procedure}")


async def call_error(session, procedure: str, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        await call(session, procedure, *args, **kwargs)
    return excinfo.value


async def register_error(session, endpoint, procedure: str, options: RegisterOptions) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        await within(session.register(endpoint, procedure, options), 5.0, f"answer to REGISTER {procedure}")
    return excinfo.value


def session_id(session: ClientSession) -> int:
    return session.joined.result().session


def labelled(label: str):
    """An endpoint that answers with its label and the URI it was called under."""

    def endpoint(details):
        return [label, details.procedure]

    return endpoint


async def subscribe_registration_meta(observer: ClientSession) -> Inbox:
    inbox = Inbox()
    for topic in META_TOPICS:
        await within(observer.subscribe(inbox.handler(topic.rsplit(".", 1)[1]), topic), 5.0, f"SUBSCRIBED {topic}")
    return inbox


async def wait_for_callee_count(session, registration_id: int, count: int, timeout: float = 5.0) -> None:
    """Poll wamp.registration.count_callees until it reports `count`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    current = None
    while loop.time() < deadline:
        current = await call(session, "wamp.registration.count_callees", registration_id)
        if current == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"count_callees stayed at {current}, expected {count} within {timeout} s")


def assert_registration_details(details, *, id: int, uri: str, match: str, invoke: str) -> None:
    assert isinstance(details, dict), f"RegistrationDetails must be a dict: {details!r}"
    assert details.get("id") == id, details
    assert details.get("uri") == uri, details
    assert details.get("match") == match, details
    assert details.get("invoke") == invoke, details
    created = details.get("created")
    assert isinstance(created, str), f"created must be an ISO-8601 string: {details!r}"
    datetime.fromisoformat(created.replace("Z", "+00:00"))  # raises if not ISO-8601


# ---------------------------------------------------------------------------
# Pattern-based registrations
# ---------------------------------------------------------------------------


async def test_prefix_registration_matches_string_prefix_and_reports_called_uri(router_url, serializer):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(labelled("prefix"), "com.example.pfx", RegisterOptions(match="prefix", details=True))
        for uri in ("com.example.pfx.a", "com.example.pfx.a.b.c", "com.example.pfx-sub", "com.example.pfx"):
            assert await call(caller, uri) == ["prefix", uri]
        for uri in ("com.example.pf", "com.example.other.pfx"):
            assert (await call_error(caller, uri)).error == NO_SUCH_PROCEDURE, uri


async def test_wildcard_registration_matches_one_whole_component(router_url, serializer):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(labelled("wildcard"), "com.example..get", RegisterOptions(match="wildcard", details=True))
        for uri in ("com.example.users.get", "com.example.orders.get"):
            assert await call(caller, uri) == ["wildcard", uri]
        for uri in ("com.example.a.b.get", "com.example.get", "com.example.users.put", "com.example.users.get.all"):
            assert (await call_error(caller, uri)).error == NO_SUCH_PROCEDURE, uri


async def test_exact_beats_longest_prefix_beats_wildcard(router_url, serializer):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        exact = await callee.register(labelled("exact"), "com.prec.a1.b2.c3.d4", RegisterOptions(details=True))
        await callee.register(labelled("prefix-long"), "com.prec.a1.b2.c3", RegisterOptions(match="prefix", details=True))
        await callee.register(labelled("prefix-short"), "com.prec.a1.b2", RegisterOptions(match="prefix", details=True))
        await callee.register(labelled("wildcard-b2"), "com.prec.a1.b2..d4", RegisterOptions(match="wildcard", details=True))
        await callee.register(labelled("wildcard-a1"), "com.prec.a1...d4", RegisterOptions(match="wildcard", details=True))

        expected = {
            "com.prec.a1.b2.c3.d4": "exact",
            "com.prec.a1.b2.c3.x9": "prefix-long",
            "com.prec.a1.b2.c3": "prefix-long",
            "com.prec.a1.b2.zz.d4": "prefix-short",  # a prefix beats a wildcard
            "com.prec.a1.x8.y9.d4": "wildcard-a1",
        }
        for uri, label in expected.items():
            assert await call(caller, uri) == [label, uri], uri

        await within(exact.unregister(), 5.0, "UNREGISTERED")
        assert await call(caller, "com.prec.a1.b2.c3.d4") == ["prefix-long", "com.prec.a1.b2.c3.d4"]


async def test_wildcard_with_longer_literal_run_wins(router_url, serializer):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        patterns = {
            "com.wc.a1.b2..d4": "b2",
            "com.wc.a1...d4": "a1",
            "com.wc.a1.b2.c33..e5": "c33",
            "com.wc.a1.b2..d4.e5": "b2-d4",
            "com.wc.a1.b2..d4.e5..g7": "b2-d4-e5",
            "com.wc.a1.b2..d4..f6.g7": "b2-d4-f6",
        }
        for pattern, label in patterns.items():
            await callee.register(labelled(label), pattern, RegisterOptions(match="wildcard", details=True))

        expected = {
            "com.wc.a1.b2.c3.d4": "b2",
            "com.wc.a1.x.c3.d4": "a1",
            "com.wc.a1.b2.c33.d4.e5": "c33",  # spec example
            "com.wc.a1.b2.c9.d4.e5": "b2-d4",
            "com.wc.a1.b2.c88.d4.e5.f6.g7": "b2-d4-e5",  # spec example
            "com.wc.a1.b2.c88.d4.x.f6.g7": "b2-d4-f6",
        }
        for uri, label in expected.items():
            assert await call(caller, uri) == [label, uri], uri


async def test_same_uri_with_different_match_policies_are_separate_registrations(router_url, serializer):
    async with connect(router_url, serializer) as exact_callee, connect(router_url, serializer) as prefix_callee, \
            connect(router_url, serializer) as caller:
        exact = await exact_callee.register(labelled("exact"), "com.example.dual", RegisterOptions(details=True))
        prefix = await prefix_callee.register(
            labelled("prefix"), "com.example.dual", RegisterOptions(match="prefix", details=True)
        )
        assert exact.id != prefix.id
        assert await call(caller, "com.example.dual") == ["exact", "com.example.dual"]
        assert await call(caller, "com.example.dual.x") == ["prefix", "com.example.dual.x"]


@pytest.mark.parametrize("match", [None, "exact"])
async def test_exact_registration_of_uri_with_empty_component_fails_with_invalid_uri(router_url, serializer, match):
    async with connect(router_url, serializer) as callee:
        error = await register_error(callee, lambda: None, "com.example..get", RegisterOptions(match=match))
        assert error.error == "wamp.error.invalid_uri", str(error)
        assert callee.is_attached()


async def test_pending_call_completes_after_its_pattern_registration_is_removed(router_url, serializer):
    invoked = asyncio.Event()
    release = asyncio.Event()

    async def job(details):
        invoked.set()
        await asyncio.wait_for(release.wait(), 10)
        return f"{details.procedure} done"

    try:
        async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
            registration = await callee.register(job, "com.example.job", RegisterOptions(match="prefix", details=True))
            pending = asyncio.ensure_future(caller.call("com.example.job.42"))
            await within(invoked.wait(), 5.0, "invocation at the callee")

            await within(registration.unregister(), 5.0, "UNREGISTERED")
            assert (await call_error(caller, "com.example.job.43")).error == NO_SUCH_PROCEDURE

            release.set()
            assert await within(pending, 5.0, "result of the pending call") == "com.example.job.42 done"
    finally:
        release.set()


# ---------------------------------------------------------------------------
# Shared registrations
# ---------------------------------------------------------------------------


async def open_callees(router_url: str, serializer: str, names: list[str], procedure: str, invoke: str):
    """One session per name, each registering `procedure` with `invoke`, in order."""
    sessions, registrations = [], []
    for name in names:
        session = await open_session(router_url, serializer)
        sessions.append(session)
        registrations.append(
            await within(
                session.register(lambda name=name: name, procedure, RegisterOptions(invoke=invoke)),
                5.0,
                f"REGISTERED for callee {name}",
            )
        )
    return sessions, registrations


async def close_all(sessions) -> None:
    await asyncio.gather(*(close_session(s) for s in sessions), return_exceptions=True)


async def test_roundrobin_invokes_callees_in_turn_under_one_registration(router_url, serializer):
    sessions, registrations = await open_callees(router_url, serializer, ["A", "B", "C"], "com.example.rr", "roundrobin")
    try:
        assert len({r.id for r in registrations}) == 1, [r.id for r in registrations]
        async with connect(router_url, serializer) as caller:
            results = [await call(caller, "com.example.rr") for _ in range(6)]
        assert results == ["A", "B", "C", "A", "B", "C"]
    finally:
        await close_all(sessions)


@pytest.mark.parametrize("leave", ["unregister", "goodbye", "tcp_abort"])
async def test_roundrobin_skips_a_callee_that_left(router_url, serializer, leave):
    sessions, registrations = await open_callees(router_url, serializer, ["A", "B", "C"], "com.example.rr", "roundrobin")
    try:
        async with connect(router_url, serializer) as caller:
            assert await call(caller, "com.example.rr") == "A"
            leaving = sessions[1]
            if leave == "unregister":
                await within(registrations[1].unregister(), 5.0, "UNREGISTERED")
            elif leave == "goodbye":
                await close_session(leaving)
            else:
                leaving.drop_connection()
            await wait_for_callee_count(caller, registrations[0].id, 2)

            results = [await call(caller, "com.example.rr") for _ in range(6)]
            assert set(results) == {"A", "C"}, results
            assert Counter(results) == {"A": 3, "C": 3}, results
            assert all(a != b for a, b in zip(results, results[1:])), f"not alternating: {results}"
    finally:
        await close_all(sessions)


@pytest.mark.parametrize("invoke, expected, standby", [("first", "A", "B"), ("last", "C", "B")])
async def test_first_and_last_always_pick_the_same_end_until_it_leaves(router_url, serializer, invoke, expected, standby):
    sessions, registrations = await open_callees(router_url, serializer, ["A", "B", "C"], "com.example.hot", invoke)
    try:
        assert len({r.id for r in registrations}) == 1
        async with connect(router_url, serializer) as caller:
            assert [await call(caller, "com.example.hot") for _ in range(4)] == [expected] * 4
            index = "ABC".index(expected)
            await within(registrations[index].unregister(), 5.0, "UNREGISTERED")
            assert [await call(caller, "com.example.hot") for _ in range(4)] == [standby] * 4
    finally:
        await close_all(sessions)


async def test_random_spreads_calls_over_all_callees(router_url, serializer):
    sessions, registrations = await open_callees(router_url, serializer, ["A", "B", "C"], "com.example.rnd", "random")
    try:
        assert len({r.id for r in registrations}) == 1
        async with connect(router_url, serializer) as caller:
            results = await within(
                asyncio.gather(*(caller.call("com.example.rnd") for _ in range(45))), 10.0, "45 results"
            )
        # P(some callee never picked) = 3 * (2/3)**45 < 1e-7
        assert set(results) == {"A", "B", "C"}, Counter(results)
    finally:
        await close_all(sessions)


@pytest.mark.parametrize(
    "first_policy, second_policy",
    [
        ("roundrobin", "random"),
        ("roundrobin", "single"),
        ("first", "last"),
        ("single", "roundrobin"),
        (None, "roundrobin"),
        ("random", None),
    ],
)
async def test_conflicting_invoke_policy_is_refused_with_procedure_already_exists(
    router_url, serializer, first_policy, second_policy
):
    async with connect(router_url, serializer) as first, connect(router_url, serializer) as second, \
            connect(router_url, serializer) as caller:
        await first.register(lambda: "first", "com.example.policy", RegisterOptions(invoke=first_policy))
        error = await register_error(
            second, lambda: "second", "com.example.policy", RegisterOptions(invoke=second_policy)
        )
        assert error.error == ALREADY_EXISTS, str(error)
        assert await call(caller, "com.example.policy") == "first"


# ---------------------------------------------------------------------------
# Registration meta API
# ---------------------------------------------------------------------------


async def test_meta_events_follow_a_registration_from_create_to_delete(router_url, serializer):
    async with connect(router_url, serializer) as observer, connect(router_url, serializer) as callee:
        inbox = await subscribe_registration_meta(observer)
        callee_id = session_id(callee)

        registration = await callee.register(lambda: None, "com.example.meta.proc")
        (t1, a1, _), (t2, a2, _) = await inbox.take(2, what="on_create and on_register")
        assert (t1, t2) == ("on_create", "on_register"), inbox.seen
        assert a1[0] == callee_id and len(a1) == 2, a1
        assert_registration_details(a1[1], id=registration.id, uri="com.example.meta.proc", match="exact", invoke="single")
        assert a2 == [callee_id, registration.id]

        await within(registration.unregister(), 5.0, "UNREGISTERED")
        (t3, a3, _), (t4, a4, _) = await inbox.take(2, what="on_unregister and on_delete")
        assert (t3, t4) == ("on_unregister", "on_delete"), inbox.seen
        assert a3 == [callee_id, registration.id]
        assert a4 == [callee_id, registration.id]
        await inbox.expect_none(0.2)


async def test_meta_events_for_shared_registration_create_once_and_delete_after_last_callee(router_url, serializer):
    async with connect(router_url, serializer) as observer, connect(router_url, serializer) as a, \
            connect(router_url, serializer) as b:
        inbox = await subscribe_registration_meta(observer)
        options = RegisterOptions(match="prefix", invoke="roundrobin")
        reg_a = await a.register(lambda: "a", "com.example.meta.shared", options)
        await inbox.take(2, what="on_create and on_register for A")
        reg_b = await b.register(lambda: "b", "com.example.meta.shared", options)
        assert reg_a.id == reg_b.id
        tag, args, _ = await inbox.next(what="on_register for B")
        assert (tag, args) == ("on_register", [session_id(b), reg_a.id]), inbox.seen

        await within(reg_a.unregister(), 5.0, "UNREGISTERED")
        tag, args, _ = await inbox.next(what="on_unregister for A")
        assert (tag, args) == ("on_unregister", [session_id(a), reg_a.id]), inbox.seen
        await within(reg_b.unregister(), 5.0, "UNREGISTERED")
        events = await inbox.take(2, what="on_unregister and on_delete for B")
        assert [(t, args) for t, args, _ in events] == [
            ("on_unregister", [session_id(b), reg_a.id]),
            ("on_delete", [session_id(b), reg_a.id]),
        ], inbox.seen

        tags = [t for t, _, _ in inbox.seen]
        assert tags == ["on_create", "on_register", "on_register", "on_unregister", "on_unregister", "on_delete"]
        assert_registration_details(
            inbox.seen[0][1][1], id=reg_a.id, uri="com.example.meta.shared", match="prefix", invoke="roundrobin"
        )


@pytest.mark.parametrize("client", ["autobahn", "raw"])
async def test_meta_events_fire_for_callee_that_drops_without_goodbye(router_url, serializer, client):
    async with connect(router_url, serializer) as observer:
        inbox = await subscribe_registration_meta(observer)
        if client == "autobahn":
            callee = await open_session(router_url, serializer)
            try:
                registration_id = (await callee.register(lambda: None, "com.example.meta.gone")).id
                callee_id = session_id(callee)
                await inbox.take(2, what="on_create and on_register")
                callee.drop_connection()
            finally:
                await close_session(callee)
        else:
            async with raw_session(router_url, serializer) as callee:
                registration_id = await callee.register("com.example.meta.gone")
                callee_id = callee.session_id
                await inbox.take(2, what="on_create and on_register")
                callee.abort()

        events = await inbox.take(2, what="on_unregister and on_delete after the drop")
        assert [(t, args) for t, args, _ in events] == [
            ("on_unregister", [callee_id, registration_id]),
            ("on_delete", [callee_id, registration_id]),
        ], inbox.seen
        assert await call(observer, "wamp.registration.lookup", "com.example.meta.gone") is None
        assert (await call_error(observer, "com.example.meta.gone")).error == NO_SUCH_PROCEDURE


async def test_meta_procedures_describe_registrations(router_url, serializer):
    async with connect(router_url, serializer) as a, connect(router_url, serializer) as b, \
            connect(router_url, serializer) as observer:
        exact = await a.register(lambda: None, "com.example.mp.exact")
        prefix = await b.register(lambda: None, "com.example.mp", RegisterOptions(match="prefix"))
        wildcard = await b.register(lambda: None, "com.example..mp", RegisterOptions(match="wildcard"))
        shared_options = RegisterOptions(invoke="roundrobin")
        shared = await a.register(lambda: None, "com.example.mp.shared", shared_options)
        assert (await b.register(lambda: None, "com.example.mp.shared", shared_options)).id == shared.id

        listing = await call(observer, "wamp.registration.list")
        assert isinstance(listing, dict) and {"exact", "prefix", "wildcard"} <= listing.keys(), listing
        assert {exact.id, shared.id} <= set(listing["exact"]), listing
        assert prefix.id in listing["prefix"] and wildcard.id in listing["wildcard"], listing
        assert prefix.id not in listing["exact"] and exact.id not in listing["prefix"] + listing["wildcard"], listing

        lookup = "wamp.registration.lookup"
        assert await call(observer, lookup, "com.example.mp.exact") == exact.id
        assert await call(observer, lookup, "com.example.mp.exact", {"match": "exact"}) == exact.id
        assert await call(observer, lookup, "com.example.mp", {"match": "prefix"}) == prefix.id
        assert await call(observer, lookup, "com.example..mp", {"match": "wildcard"}) == wildcard.id
        assert await call(observer, lookup, "com.example.mp") is None  # no exact registration for it
        assert await call(observer, lookup, "com.example.mp.exact", {"match": "prefix"}) is None
        assert await call(observer, lookup, "com.example.nothing") is None

        match = "wamp.registration.match"
        assert await call(observer, match, "com.example.mp.exact") == exact.id
        assert await call(observer, match, "com.example.mp.other") == prefix.id
        assert await call(observer, match, "com.example.zz.mp") == wildcard.id
        assert await call(observer, match, "com.nothing.here") is None

        get = "wamp.registration.get"
        assert_registration_details(
            await call(observer, get, exact.id), id=exact.id, uri="com.example.mp.exact", match="exact", invoke="single"
        )
        assert_registration_details(
            await call(observer, get, prefix.id), id=prefix.id, uri="com.example.mp", match="prefix", invoke="single"
        )
        assert_registration_details(
            await call(observer, get, wildcard.id), id=wildcard.id, uri="com.example..mp", match="wildcard", invoke="single"
        )
        assert_registration_details(
            await call(observer, get, shared.id), id=shared.id, uri="com.example.mp.shared", match="exact", invoke="roundrobin"
        )

        assert sorted(await call(observer, "wamp.registration.list_callees", shared.id)) == sorted(
            [session_id(a), session_id(b)]
        )
        assert await call(observer, "wamp.registration.count_callees", shared.id) == 2
        assert await call(observer, "wamp.registration.list_callees", exact.id) == [session_id(a)]
        assert await call(observer, "wamp.registration.count_callees", exact.id) == 1


@pytest.mark.parametrize(
    "procedure", ["wamp.registration.get", "wamp.registration.list_callees", "wamp.registration.count_callees"]
)
async def test_meta_procedures_fail_for_unknown_registration_with_no_such_registration(router_url, serializer, procedure):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as observer:
        registration = await callee.register(lambda: None, "com.example.mp.gone")
        await within(registration.unregister(), 5.0, "UNREGISTERED")
        for unknown in (UNKNOWN_ID, registration.id):
            error = await call_error(observer, procedure, unknown)
            assert error.error == NO_SUCH_REGISTRATION, f"{procedure}({unknown}): {error}"
