"""Authorization: static role permissions on call, register, publish and
subscribe; exact > prefix > wildcard; silent drop of refused unacknowledged
publishes; meta API access; caller disclosure; the legacy open realm.

Sessions join the secure realm with WAMP-Ticket (or anonymously) through
unmodified Autobahn|Python; refusals are ERROR ``wamp.error.not_authorized``,
seen as ``ApplicationError.error`` in the client.
"""

from __future__ import annotations

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, RegisterOptions

from auth_helpers import (
    NOT_AUTHORIZED,
    OPEN,
    SECURE,
    auth_connect,
    details_of,
    q,
    start_with_config,
    ticket,
    ticket_connect,
)
from wamp import Inbox, connect, within

TICKETS = {"joe": "joe-ticket", "bob": "bob-ticket", "admin": "admin-ticket", "ops": "ops-ticket"}


def authorization_config() -> str:
    principals = "".join(
        f"""
[[realm.principal]]
authid = "{authid}"
role = "{role}"
ticket = {q(TICKETS[authid])}
"""
        for authid, role in (("joe", "frontend"), ("bob", "backend"), ("admin", "admin"), ("ops", "ops"))
    )
    return f"""
[[realm]]
name = "{SECURE}"
authmethods = ["anonymous", "ticket"]
anonymous_role = "public"
{principals}
[[realm.role]]
name = "frontend"
permissions = [
  {{ uri = "com.example.", match = "prefix", allow = ["call", "subscribe"] }},
]

[[realm.role]]
name = "backend"
permissions = [
  {{ uri = "com.example.", match = "prefix", allow = ["call", "register", "publish", "subscribe"] }},
  {{ uri = "com.example.secret", match = "exact", allow = [] }},
]

[[realm.role]]
name = "public"
permissions = [
  {{ uri = "com.example.public.", match = "prefix", allow = ["call", "subscribe"] }},
]

[[realm.role]]
name = "admin"
permissions = [
  {{ uri = "wamp.session.", match = "prefix", allow = ["call"] }},
]

[[realm.role]]
name = "ops"
permissions = [
  {{ uri = "com.example..status", match = "wildcard", allow = ["call"] }},
  {{ uri = "com.example.locked.", match = "prefix", allow = [] }},
]

[[realm]]
name = "{OPEN}"
"""


# Procedures a backend session registers before the checks, so that an
# allowed CALL has a callee and a refused one cannot be "no_such_procedure".
PROVIDED = [
    "com.example.echo",
    "com.example.public.echo",
    "com.example.secretive",
    "com.example.pump.status",
    "com.example.pump.other",
    "com.example.locked.status",
    "com.example.a.b.status",
]


@pytest.fixture
def secure_router(router_factory, tmp_path):
    return start_with_config(router_factory, tmp_path, authorization_config())


async def provide(session) -> None:
    for uri in PROVIDED:
        await within(session.register(lambda *args, _uri=uri: [_uri, *args], uri), 5, f"REGISTERED {uri}")


async def attempt(session, action: str, uri: str) -> str | None:
    """Perform `action` on `uri`; None if it succeeded, else the ERROR URI."""
    try:
        if action == "call":
            await within(session.call(uri, "ping"), 5, f"answer to CALL {uri}")
        elif action == "register":
            await within(session.register(lambda *a: None, uri), 5, f"answer to REGISTER {uri}")
        elif action == "publish":
            await within(
                session.publish(uri, "news", options=PublishOptions(acknowledge=True)),
                5,
                f"answer to PUBLISH {uri}",
            )
        elif action == "subscribe":
            await within(session.subscribe(lambda *a: None, uri), 5, f"answer to SUBSCRIBE {uri}")
        else:
            raise ValueError(action)
    except ApplicationError as exc:
        return exc.error
    return None


async def check_actions(session, cases: list[tuple[str, str, bool]]) -> None:
    """Run every (action, uri, allowed) case and report all mismatches at once."""
    mismatches = []
    for action, uri, allowed in cases:
        error = await attempt(session, action, uri)
        if allowed and error is not None:
            mismatches.append(f"{action} {uri}: expected success, got ERROR {error}")
        elif not allowed and error != NOT_AUTHORIZED:
            mismatches.append(f"{action} {uri}: expected ERROR {NOT_AUTHORIZED}, got {error or 'success'}")
    assert not mismatches, "\n".join(mismatches)


def who(authid: str | None):
    """Arguments for auth_connect: a ticket principal, or anonymous when None."""
    if authid is None:
        return dict(authmethods=None)
    return dict(authmethods=["ticket"], authid=authid, on_challenge=ticket(TICKETS[authid]))


ROLE_CASES = {
    "frontend": (
        "joe",
        [
            ("call", "com.example.echo", True),
            ("subscribe", "com.example.news", True),
            ("register", "com.example.joe.proc", False),
            ("publish", "com.example.news", False),
            ("call", "org.other.echo", False),
            ("subscribe", "org.other.news", False),
        ],
    ),
    "backend": (
        "bob",
        [
            ("call", "com.example.echo", True),
            ("register", "com.example.bob.proc", True),
            ("publish", "com.example.news", True),
            ("subscribe", "com.example.news", True),
            ("call", "org.other.echo", False),
            ("register", "org.other.proc", False),
            ("publish", "org.other.news", False),
            ("subscribe", "org.other.news", False),
        ],
    ),
    "anonymous-public": (
        None,
        [
            ("call", "com.example.public.echo", True),
            ("subscribe", "com.example.public.news", True),
            ("call", "com.example.echo", False),
            ("subscribe", "com.example.news", False),
            ("register", "com.example.public.proc", False),
            ("publish", "com.example.public.news", False),
        ],
    ),
}


@pytest.mark.parametrize("role", list(ROLE_CASES))
async def test_each_action_is_allowed_only_when_a_role_permission_grants_it(secure_router, serializer, role):
    authid, cases = ROLE_CASES[role]
    async with ticket_connect(secure_router.url, serializer, "bob", TICKETS["bob"]) as provider:
        await provide(provider)
        async with auth_connect(secure_router.url, serializer, SECURE, **who(authid)) as session:
            expected_role = "public" if authid is None else role
            assert details_of(session).authrole == expected_role
            await check_actions(session, cases)


async def test_exact_permission_beats_prefix_permission(secure_router, serializer):
    async with ticket_connect(secure_router.url, serializer, "bob", TICKETS["bob"]) as bob:
        await check_actions(
            bob,
            [
                ("register", "com.example.secret", False),
                ("call", "com.example.secret", False),
                ("publish", "com.example.secret", False),
                ("subscribe", "com.example.secret", False),
                ("register", "com.example.secretive", True),
                ("register", "com.example.secret.sub", True),
            ],
        )
        async with ticket_connect(secure_router.url, serializer, "bob", TICKETS["bob"]) as caller:
            await check_actions(caller, [("call", "com.example.secretive", True), ("call", "com.example.secret", False)])


async def test_wildcard_permission_is_the_least_specific(secure_router, serializer):
    async with ticket_connect(secure_router.url, serializer, "bob", TICKETS["bob"]) as provider:
        await provide(provider)
        async with ticket_connect(secure_router.url, serializer, "ops", TICKETS["ops"]) as ops:
            await check_actions(
                ops,
                [
                    ("call", "com.example.pump.status", True),  # only the wildcard matches
                    ("call", "com.example.locked.status", False),  # prefix (allow nothing) beats wildcard
                    ("call", "com.example.pump.other", False),  # no permission matches
                    ("call", "com.example.a.b.status", False),  # empty component matches exactly one
                    ("register", "com.example.pump.speed.status", False),  # wildcard grants call only
                ],
            )
            assert await within(ops.call("com.example.pump.status", 1)) == ["com.example.pump.status", 1]


async def test_refused_publish_without_acknowledge_is_silently_dropped(secure_router, serializer):
    inbox = Inbox()
    async with ticket_connect(secure_router.url, serializer, "bob", TICKETS["bob"]) as subscriber, ticket_connect(
        secure_router.url, serializer, "bob", TICKETS["bob"]
    ) as publisher, ticket_connect(secure_router.url, serializer, "joe", TICKETS["joe"]) as joe:
        await within(subscriber.subscribe(inbox.handler("news"), "com.example.news"), 5, "SUBSCRIBED")
        await provide(subscriber)

        joe.publish("com.example.news", "from joe")  # frontend may not publish
        # A round trip on the same session: the router has handled the PUBLISH by now.
        assert await within(joe.call("com.example.echo", "sync")) == ["com.example.echo", "sync"]

        await within(
            publisher.publish("com.example.news", "from bob", options=PublishOptions(acknowledge=True)),
            5,
            "PUBLISHED",
        )
        tag, args, _ = await inbox.next(what="the allowed event")
        assert args == ["from bob"], f"first event was {args!r}; the refused publish was delivered"
        await inbox.expect_none(0.3)
        assert joe.is_attached(), "the refused unacknowledged publish closed the publisher's session"
        assert not joe.left.done()


async def test_meta_api_is_refused_unless_a_permission_grants_it(secure_router, serializer):
    async with ticket_connect(secure_router.url, serializer, "bob", TICKETS["bob"]) as bob, ticket_connect(
        secure_router.url, serializer, "admin", TICKETS["admin"]
    ) as admin, auth_connect(secure_router.url, serializer, SECURE, None) as anonymous:
        for session in (bob, anonymous):
            await check_actions(
                session,
                [
                    ("call", "wamp.session.count", False),
                    ("call", "wamp.registration.list", False),
                    ("subscribe", "wamp.session.on_join", False),
                ],
            )
        count = await within(admin.call("wamp.session.count"), 5, "wamp.session.count result")
        assert isinstance(count, int) and count >= 1, f"wamp.session.count returned {count!r}"
        await check_actions(
            admin,
            [
                ("call", "wamp.registration.list", False),  # only wamp.session. is granted
                ("subscribe", "wamp.session.on_join", False),  # call only, not subscribe
            ],
        )


async def test_callee_sees_caller_authid_and_authrole_on_secure_realm(secure_router, serializer):
    seen = []

    def whoami(details=None):
        seen.append(details)
        return [details.caller_authid, details.caller_authrole]

    async with ticket_connect(secure_router.url, serializer, "bob", TICKETS["bob"]) as callee:
        await within(
            callee.register(whoami, "com.example.public.whoami", options=RegisterOptions(details_arg="details")),
            5,
            "REGISTERED",
        )
        async with ticket_connect(secure_router.url, serializer, "joe", TICKETS["joe"]) as joe:
            assert await within(joe.call("com.example.public.whoami")) == ["joe", "frontend"]
            assert seen[-1].caller == details_of(joe).session
        async with auth_connect(secure_router.url, serializer, SECURE, None) as anonymous:
            authid, authrole = await within(anonymous.call("com.example.public.whoami"))
            assert authrole == "public"
            assert authid == details_of(anonymous).authid


async def test_legacy_open_realm_in_config_grants_anonymous_every_right(secure_router, serializer):
    async with connect(secure_router.url, serializer, realm=OPEN) as callee, connect(
        secure_router.url, serializer, realm=OPEN
    ) as other:
        details = details_of(callee)
        assert (details.authrole, details.authmethod) == ("anonymous", "anonymous"), f"WELCOME details: {details!r}"
        await provide(callee)
        await check_actions(
            other,
            [
                ("register", "com.example.mine", True),
                ("call", "com.example.echo", True),
                ("publish", "com.example.news", True),
                ("subscribe", "com.example.news", True),
                ("call", "wamp.session.count", True),
                ("subscribe", "wamp.session.on_join", True),
            ],
        )
