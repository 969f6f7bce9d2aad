"""Authentication: ticket, WAMP-CRA (plain and salted), WAMP-Cryptosign,
anonymous, Crossbar-style dynamic authenticators, bad handshake input and
the failure counter.

Every test starts the router with ``--config`` on a TOML file written into
tmp_path and joins with unmodified Autobahn|Python: the classic
``ApplicationSession.onConnect``/``join``/``onChallenge`` pattern
(auth_helpers.AuthSession) and, where noted, ``Component(authentication=...)``.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess

import pytest
from autobahn.wamp.exception import ApplicationError

from auth_helpers import (
    AUTHENTICATION_DENIED,
    NO_MATCHING_AUTH_METHOD,
    NO_SUCH_PRINCIPAL,
    NO_SUCH_ROLE,
    OPEN,
    PROTOCOL_VIOLATION,
    SECURE,
    Keypair,
    auth_connect,
    auth_refusal,
    component_join,
    cryptosign,
    details_of,
    fetch_metrics,
    metric_values,
    pbkdf2_phc,
    q,
    start_with_config,
    ticket,
    ticket_connect,
    wampcra,
)
from conftest import router_binary
from raw import ABORT, GOODBYE, HELLO, HELLO_DETAILS, WELCOME, expect_abort, raw_session
from wamp import close_session, open_session, within

CHALLENGE, AUTHENTICATE = 4, 5

CLOSED = "com.example.closed"  # accepts ticket only, no anonymous

CAROL = Keypair()  # carol's authorized key
STRANGER = Keypair()  # in nobody's authorized_keys

JOE_TICKET = "secret!!!"
HASHED_TICKET = "correct horse battery staple"
PETER_SECRET = "prq7+YkJ1/KlW1X0YczMHw=="
SALTED_PASSWORD = "s33kr1t"


def roles_toml() -> str:
    return """
[[realm.role]]
name = "frontend"
permissions = [
  { uri = "com.example.", match = "prefix", allow = ["call", "subscribe"] },
]

[[realm.role]]
name = "backend"
permissions = [
  { uri = "com.example.", match = "prefix", allow = ["call", "register", "publish", "subscribe"] },
  { uri = "com.example.secret", match = "exact", allow = [] },
]

[[realm.role]]
name = "public"
permissions = [
  { uri = "com.example.public.", match = "prefix", allow = ["call", "subscribe"] },
]
"""


def static_config() -> str:
    return f"""
[[realm]]
name = "{SECURE}"
authmethods = ["anonymous", "ticket", "wampcra", "cryptosign"]
anonymous_role = "public"

[[realm.principal]]
authid = "joe"
role = "frontend"
ticket = {q(JOE_TICKET)}

[[realm.principal]]
authid = "hashed"
role = "frontend"
ticket = {q(pbkdf2_phc(HASHED_TICKET, iterations=1000))}

[[realm.principal]]
authid = "peter"
role = "backend"
secret = {q(PETER_SECRET)}

[[realm.principal]]
authid = "salted"
role = "backend"
secret = {q(SALTED_PASSWORD)}
salt = "salt123"
iterations = 100
keylen = 32

[[realm.principal]]
authid = "carol"
role = "backend"
authorized_keys = [{q(CAROL.pubkey)}]
{roles_toml()}

[[realm]]
name = "{CLOSED}"
authmethods = ["ticket"]

[[realm.principal]]
authid = "joe"
role = "frontend"
ticket = {q(JOE_TICKET)}
{roles_toml()}
"""


@pytest.fixture
def secure_router(router_factory, tmp_path):
    return start_with_config(router_factory, tmp_path, static_config())


def assert_welcome(details, authid: str, authrole: str, authmethod: str, authprovider: str = "static") -> None:
    got = (details.realm, details.authid, details.authrole, details.authmethod, details.authprovider)
    assert got[1:] == (authid, authrole, authmethod, authprovider), f"WELCOME details: {details!r}"
    assert isinstance(details.session, int)


async def assert_ticket_login_works(url: str, serializer: str) -> None:
    async with ticket_connect(url, serializer, "joe", JOE_TICKET) as session:
        assert_welcome(details_of(session), "joe", "frontend", "ticket")


# ---------------------------------------------------------------------------
# Ticket
# ---------------------------------------------------------------------------


async def test_ticket_correct_ticket_is_welcomed_with_principal_authid_role_and_static_provider(
    secure_router, serializer
):
    async with ticket_connect(secure_router.url, serializer, "joe", JOE_TICKET) as session:
        details = details_of(session)
        assert details.realm == SECURE
        assert_welcome(details, "joe", "frontend", "ticket")
        assert [c.method for c in session.challenges] == ["ticket"]


async def test_ticket_wrong_ticket_is_refused_with_authentication_denied(secure_router, serializer):
    reason = await auth_refusal(secure_router.url, serializer, SECURE, ["ticket"], "joe", ticket("wrong!!!"))
    assert reason == AUTHENTICATION_DENIED
    await assert_ticket_login_works(secure_router.url, serializer)


async def test_ticket_unknown_authid_is_refused_with_no_such_principal(secure_router, serializer):
    reason = await auth_refusal(
        secure_router.url, serializer, SECURE, ["ticket"], "mallory", ticket(JOE_TICKET)
    )
    assert reason == NO_SUCH_PRINCIPAL


async def test_ticket_pbkdf2_phc_hash_in_config_accepts_the_ticket_and_refuses_others(secure_router, serializer):
    async with ticket_connect(secure_router.url, serializer, "hashed", HASHED_TICKET) as session:
        assert_welcome(details_of(session), "hashed", "frontend", "ticket")
    for wrong in ("correct horse battery stapl", HASHED_TICKET + " ", pbkdf2_phc(HASHED_TICKET)):
        reason = await auth_refusal(secure_router.url, serializer, SECURE, ["ticket"], "hashed", ticket(wrong))
        assert reason == AUTHENTICATION_DENIED, f"ticket {wrong!r}"


async def test_ticket_hashed_by_switchboard_hash_ticket_is_accepted(router_factory, tmp_path, serializer):
    run = subprocess.run(
        [str(router_binary()), "hash-ticket"],
        input=b"minted ticket\n",
        capture_output=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    phc = run.stdout.decode().strip()
    assert phc.startswith("$argon2id$") and "minted" not in phc, phc
    router = start_with_config(
        router_factory,
        tmp_path,
        f"""
[[realm]]
name = "{SECURE}"
authmethods = ["ticket"]

[[realm.principal]]
authid = "minted"
role = "frontend"
ticket = {q(phc)}
{roles_toml()}
""",
    )
    async with ticket_connect(router.url, serializer, "minted", "minted ticket") as session:
        assert_welcome(details_of(session), "minted", "frontend", "ticket")
    reason = await auth_refusal(router.url, serializer, SECURE, ["ticket"], "minted", ticket("minted ticket\n"))
    assert reason == AUTHENTICATION_DENIED


async def test_ticket_with_autobahn_component_authentication_config(secure_router, serializer):
    details, reason, _ = await component_join(
        secure_router.url, serializer, SECURE, {"ticket": {"authid": "joe", "ticket": JOE_TICKET}}
    )
    assert reason is None, f"refused: {reason}"
    assert_welcome(details, "joe", "frontend", "ticket")

    details, reason, _ = await component_join(
        secure_router.url, serializer, SECURE, {"ticket": {"authid": "joe", "ticket": "nope"}}
    )
    assert details is None and reason == AUTHENTICATION_DENIED


# ---------------------------------------------------------------------------
# WAMP-CRA
# ---------------------------------------------------------------------------

ISO_8601_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:?00)$")


async def test_wampcra_unsalted_secret_is_welcomed(secure_router, serializer):
    async with auth_connect(
        secure_router.url, serializer, SECURE, ["wampcra"], "peter", wampcra(PETER_SECRET)
    ) as session:
        assert_welcome(details_of(session), "peter", "backend", "wampcra")
        (challenge,) = session.challenges
        assert "salt" not in challenge.extra, f"unsalted principal got a salted CHALLENGE: {challenge.extra!r}"


async def test_wampcra_salted_challenge_carries_salt_iterations_keylen_and_derived_key_signs(
    secure_router, serializer
):
    async with auth_connect(
        secure_router.url, serializer, SECURE, ["wampcra"], "salted", wampcra(SALTED_PASSWORD)
    ) as session:
        assert_welcome(details_of(session), "salted", "backend", "wampcra")
        (challenge,) = session.challenges
        extra = challenge.extra
        assert (extra.get("salt"), extra.get("iterations"), extra.get("keylen")) == ("salt123", 100, 32), extra


@pytest.mark.parametrize(
    "authid, wrong_secret",
    [("peter", "prq7+YkJ1/KlW1X0YczMHw=!"), ("salted", "s33kr1T")],
    ids=["unsalted", "salted"],
)
async def test_wampcra_wrong_secret_is_refused_with_authentication_denied(
    secure_router, serializer, authid, wrong_secret
):
    reason = await auth_refusal(secure_router.url, serializer, SECURE, ["wampcra"], authid, wampcra(wrong_secret))
    assert reason == AUTHENTICATION_DENIED


async def test_wampcra_challenge_is_json_with_authid_authrole_method_provider_nonce_timestamp_session(
    secure_router, serializer
):
    nonces = []
    for _ in range(2):
        async with auth_connect(
            secure_router.url, serializer, SECURE, ["wampcra"], "peter", wampcra(PETER_SECRET)
        ) as session:
            (challenge,) = session.challenges
            assert challenge.method == "wampcra"
            text = challenge.extra.get("challenge")
            assert isinstance(text, str), f"CHALLENGE extra: {challenge.extra!r}"
            body = json.loads(text)
            assert isinstance(body, dict), text
            assert body.get("authid") == "peter", body
            assert body.get("authrole") == "backend", body
            assert body.get("authmethod") == "wampcra", body
            assert isinstance(body.get("authprovider"), str) and body["authprovider"], body
            assert isinstance(body.get("nonce"), str) and len(body["nonce"]) >= 16, body
            assert isinstance(body.get("timestamp"), str) and ISO_8601_UTC.match(body["timestamp"]), body
            assert isinstance(body.get("session"), int), body
            assert body["session"] == details_of(session).session, (
                f"challenge session {body['session']} is not the WELCOME session id {details_of(session).session}"
            )
            nonces.append(body["nonce"])
    assert nonces[0] != nonces[1], "two CHALLENGEs carried the same nonce"


async def test_wampcra_salted_with_autobahn_component_authentication_config(secure_router, serializer):
    details, reason, _ = await component_join(
        secure_router.url, serializer, SECURE, {"wampcra": {"authid": "salted", "secret": SALTED_PASSWORD}}
    )
    assert reason is None, f"refused: {reason}"
    assert_welcome(details, "salted", "backend", "wampcra")

    details, reason, _ = await component_join(
        secure_router.url, serializer, SECURE, {"wampcra": {"authid": "peter", "secret": "not-it"}}
    )
    assert details is None and reason == AUTHENTICATION_DENIED


# ---------------------------------------------------------------------------
# WAMP-Cryptosign
# ---------------------------------------------------------------------------


async def test_cryptosign_with_authid_and_authorized_key_is_welcomed(secure_router, serializer):
    on_challenge, authextra = cryptosign(CAROL.privkey)
    async with auth_connect(
        secure_router.url, serializer, SECURE, ["cryptosign"], "carol", on_challenge, authextra
    ) as session:
        assert_welcome(details_of(session), "carol", "backend", "cryptosign")
        (challenge,) = session.challenges
        value = challenge.extra.get("challenge")
        assert isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value), challenge.extra


@pytest.mark.parametrize("client", ["application-session", "component"])
async def test_cryptosign_without_authid_finds_principal_by_pubkey(secure_router, serializer, client):
    if client == "component":
        details, reason, _ = await component_join(
            secure_router.url, serializer, SECURE, {"cryptosign": {"privkey": CAROL.privkey}}
        )
        assert reason is None, f"refused: {reason}"
    else:
        on_challenge, authextra = cryptosign(CAROL.privkey)
        async with auth_connect(
            secure_router.url, serializer, SECURE, ["cryptosign"], None, on_challenge, authextra
        ) as session:
            details = details_of(session)
    assert_welcome(details, "carol", "backend", "cryptosign")


async def test_cryptosign_known_authid_with_unlisted_key_is_refused_with_authentication_denied(
    secure_router, serializer
):
    on_challenge, authextra = cryptosign(STRANGER.privkey)
    reason = await auth_refusal(
        secure_router.url, serializer, SECURE, ["cryptosign"], "carol", on_challenge, authextra
    )
    assert reason == AUTHENTICATION_DENIED


async def test_cryptosign_unknown_key_without_authid_is_refused(secure_router, serializer):
    details, reason, _ = await component_join(
        secure_router.url, serializer, SECURE, {"cryptosign": {"privkey": STRANGER.privkey}}
    )
    assert details is None
    assert reason in (AUTHENTICATION_DENIED, NO_SUCH_PRINCIPAL)


@pytest.mark.parametrize("authid", ["carol", None], ids=["with-authid", "without-authid"])
async def test_cryptosign_signature_by_another_key_than_the_announced_pubkey_is_refused(
    secure_router, serializer, authid
):
    # HELLO announces carol's (authorized) public key, but the stranger signs.
    on_challenge, _ = cryptosign(STRANGER.privkey)
    reason = await auth_refusal(
        secure_router.url, serializer, SECURE, ["cryptosign"], authid, on_challenge, {"pubkey": CAROL.pubkey}
    )
    assert reason == AUTHENTICATION_DENIED


# ---------------------------------------------------------------------------
# Anonymous and method negotiation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("authmethods", [None, ["anonymous"]], ids=["no-authmethods", "anonymous"])
async def test_anonymous_session_on_secure_realm_gets_the_anonymous_role(secure_router, serializer, authmethods):
    async with auth_connect(secure_router.url, serializer, SECURE, authmethods) as session:
        details = details_of(session)
        assert details.authrole == "public", f"WELCOME details: {details!r}"
        assert details.authmethod == "anonymous", f"WELCOME details: {details!r}"
        assert session.challenges == []


@pytest.mark.parametrize(
    "authmethods", [None, ["anonymous"], ["wampcra", "cryptosign"]], ids=["no-authmethods", "anonymous", "unaccepted-methods"]
)
async def test_realm_without_anonymous_refuses_hello_with_no_matching_auth_method(
    secure_router, serializer, authmethods
):
    reason = await auth_refusal(secure_router.url, serializer, CLOSED, authmethods, "joe", wampcra("x"))
    assert reason in NO_MATCHING_AUTH_METHOD
    async with ticket_connect(secure_router.url, serializer, "joe", JOE_TICKET, realm=CLOSED) as session:
        assert_welcome(details_of(session), "joe", "frontend", "ticket")


async def test_first_accepted_method_in_client_order_is_used(secure_router, serializer):
    # The client prefers ticket; the router must run ticket, not fall back to anonymous.
    async with auth_connect(
        secure_router.url, serializer, SECURE, ["ticket", "anonymous"], "joe", ticket(JOE_TICKET)
    ) as session:
        assert_welcome(details_of(session), "joe", "frontend", "ticket")


# ---------------------------------------------------------------------------
# Dynamic authenticator (Crossbar convention)
# ---------------------------------------------------------------------------

DAVE = Keypair()
DORA = Keypair()
DORA_OTHER = Keypair()
GHOST = Keypair()
NO_SUCH_USER = "com.example.no_such_user"
INVALID_TICKET = "com.example.invalid_ticket"


def dynamic_config() -> str:
    return f"""
[[realm]]
name = "{OPEN}"

[[realm]]
name = "{SECURE}"
authmethods = ["ticket", "wampcra", "cryptosign"]
authenticator = "com.example.authenticate"
authenticator_realm = "{OPEN}"

[[realm.principal]]
authid = "joe"
role = "frontend"
ticket = {q(JOE_TICKET)}
{roles_toml()}
"""


class Authenticator:
    """The backend's ``com.example.authenticate(realm, authid, details)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    @staticmethod
    def _check_ticket(details: dict, expected: str) -> None:
        if details.get("ticket") != expected:
            raise ApplicationError(INVALID_TICKET, "wrong ticket")

    def authenticate(self, realm, authid, details):
        self.calls.append((realm, authid, details))
        method = details.get("authmethod")
        if authid == "alice":
            self._check_ticket(details, "alice-ticket")
            return "frontend"
        if authid == "alias":
            self._check_ticket(details, "alias-ticket")
            return {"role": "backend", "authid": "alice-renamed", "extra": {"tier": "gold", "level": 3}}
        if authid == "cora":
            return {"secret": "cora-secret", "role": "backend"}
        if authid == "sally":
            return {"secret": "sally-pw", "salt": "pepper", "iterations": 100, "keylen": 32, "role": "frontend"}
        if authid == "dave":
            return {"pubkey": DAVE.pubkey, "role": "backend"}
        if authid == "dora":
            return {"pubkey": [DORA_OTHER.pubkey, DORA.pubkey], "role": "frontend"}
        if authid == "ghost":
            role = "no-such-role-here"
            if method == "ticket":
                return role
            if method == "wampcra":
                return {"secret": "ghost-secret", "role": role}
            return {"pubkey": GHOST.pubkey, "role": role}
        raise ApplicationError(NO_SUCH_USER, f"no user {authid!r}")


@pytest.fixture
async def dynamic_router(router_factory, tmp_path, serializer):
    """A router whose secure realm authenticates through a backend on the open realm."""
    router = start_with_config(router_factory, tmp_path, dynamic_config())
    authenticator = Authenticator()
    backend = await open_session(router.url, serializer, realm=OPEN)
    try:
        await within(backend.register(authenticator.authenticate, "com.example.authenticate"), 5, "REGISTERED")
        yield router, authenticator
    finally:
        await close_session(backend)


def credentials(method: str, authid: str, secret: str | None = None, key: Keypair | None = None):
    """(authmethods, on_challenge, authextra) for one method."""
    if method == "ticket":
        return ["ticket"], ticket(secret or "any-ticket"), None
    if method == "wampcra":
        return ["wampcra"], wampcra(secret or "any-secret"), None
    on_challenge, authextra = cryptosign((key or GHOST).privkey)
    return ["cryptosign"], on_challenge, authextra


async def test_dynamic_ticket_role_string_is_welcomed_with_dynamic_provider(dynamic_router, serializer):
    router, authenticator = dynamic_router
    async with ticket_connect(router.url, serializer, "alice", "alice-ticket") as session:
        assert_welcome(details_of(session), "alice", "frontend", "ticket", authprovider="dynamic")
    ((realm, authid, details),) = authenticator.calls
    assert (realm, authid) == (SECURE, "alice")
    assert details.get("ticket") == "alice-ticket", details
    assert details.get("authmethod") == "ticket", details


async def test_dynamic_ticket_result_authid_replaces_requested_and_extra_becomes_authextra(
    dynamic_router, serializer
):
    router, _ = dynamic_router
    async with ticket_connect(router.url, serializer, "alias", "alias-ticket") as session:
        details = details_of(session)
        assert_welcome(details, "alice-renamed", "backend", "ticket", authprovider="dynamic")
        authextra = details.authextra or {}
        assert authextra.get("tier") == "gold" and authextra.get("level") == 3, f"authextra: {authextra!r}"


async def test_dynamic_ticket_rejected_by_authenticator_aborts_with_its_error_uri(dynamic_router, serializer):
    router, _ = dynamic_router
    reason = await auth_refusal(router.url, serializer, SECURE, ["ticket"], "alice", ticket("guess"))
    assert reason == INVALID_TICKET


@pytest.mark.parametrize("secret_user", ["cora", "sally"], ids=["unsalted", "salted"])
async def test_dynamic_wampcra_secret_from_authenticator_is_challenged_and_checked(
    dynamic_router, serializer, secret_user
):
    router, authenticator = dynamic_router
    secret, role = {"cora": ("cora-secret", "backend"), "sally": ("sally-pw", "frontend")}[secret_user]
    async with auth_connect(router.url, serializer, SECURE, ["wampcra"], secret_user, wampcra(secret)) as session:
        assert_welcome(details_of(session), secret_user, role, "wampcra", authprovider="dynamic")
        (challenge,) = session.challenges
        if secret_user == "sally":
            extra = challenge.extra
            assert (extra.get("salt"), extra.get("iterations"), extra.get("keylen")) == ("pepper", 100, 32), extra
    assert authenticator.calls and authenticator.calls[0][:2] == (SECURE, secret_user)

    reason = await auth_refusal(router.url, serializer, SECURE, ["wampcra"], secret_user, wampcra(secret + "x"))
    assert reason == AUTHENTICATION_DENIED


@pytest.mark.parametrize("user", ["dave", "dora"], ids=["single-pubkey", "pubkey-list"])
async def test_dynamic_cryptosign_pubkey_from_authenticator_is_checked(dynamic_router, serializer, user):
    router, _ = dynamic_router
    key, role = {"dave": (DAVE, "backend"), "dora": (DORA, "frontend")}[user]
    on_challenge, authextra = cryptosign(key.privkey)
    async with auth_connect(router.url, serializer, SECURE, ["cryptosign"], user, on_challenge, authextra) as session:
        assert_welcome(details_of(session), user, role, "cryptosign", authprovider="dynamic")

    on_challenge, authextra = cryptosign(STRANGER.privkey)
    reason = await auth_refusal(router.url, serializer, SECURE, ["cryptosign"], user, on_challenge, authextra)
    assert reason == AUTHENTICATION_DENIED


@pytest.mark.parametrize("method", ["ticket", "wampcra", "cryptosign"])
async def test_dynamic_authenticator_application_error_uri_passes_through_to_abort(
    dynamic_router, serializer, method
):
    router, _ = dynamic_router
    authmethods, on_challenge, authextra = credentials(method, "nobody")
    reason = await auth_refusal(router.url, serializer, SECURE, authmethods, "nobody", on_challenge, authextra)
    assert reason == NO_SUCH_USER


@pytest.mark.parametrize("method", ["ticket", "wampcra", "cryptosign"])
async def test_dynamic_authenticator_returning_undefined_role_aborts_with_no_such_role(
    dynamic_router, serializer, method
):
    router, _ = dynamic_router
    authmethods, on_challenge, authextra = credentials(method, "ghost", secret="ghost-secret", key=GHOST)
    reason = await auth_refusal(router.url, serializer, SECURE, authmethods, "ghost", on_challenge, authextra)
    assert reason == NO_SUCH_ROLE


async def test_static_principal_is_checked_statically_on_a_realm_with_dynamic_authenticator(
    dynamic_router, serializer
):
    router, authenticator = dynamic_router
    async with ticket_connect(router.url, serializer, "joe", JOE_TICKET) as session:
        assert_welcome(details_of(session), "joe", "frontend", "ticket", authprovider="static")
    assert authenticator.calls == [], f"authenticator was called for a static principal: {authenticator.calls!r}"


# ---------------------------------------------------------------------------
# Bad input during the handshake (raw WebSocket)
# ---------------------------------------------------------------------------

TICKET_HELLO = {**HELLO_DETAILS, "authmethods": ["ticket"], "authid": "joe"}


async def expect_challenge(session, method: str = "ticket") -> list:
    message = await session.recv()
    assert len(message) == 3 and message[0] == CHALLENGE, f"expected CHALLENGE, got {message!r}"
    assert message[1] == method and isinstance(message[2], dict), f"CHALLENGE: {message!r}"
    return message


async def test_a_second_handshake_on_one_connection_gets_its_own_deadline(router_factory, tmp_path):
    # hello_timeout 1 s. The first handshake's deadline (~1.0 s) falls inside the
    # second one (~0.5 s to ~1.3 s), which must still be allowed its own second.
    router = start_with_config(router_factory, tmp_path, "[server]\nhello_timeout_ms = 1000\n" + static_config())
    async with raw_session(router.url, "json", realm=SECURE, join=False) as session:
        await session.send([HELLO, SECURE, TICKET_HELLO])
        await expect_challenge(session)
        await session.send([AUTHENTICATE, JOE_TICKET, {}])
        assert (await session.recv())[0] == WELCOME
        await session.send([GOODBYE, {}, "wamp.close.close_realm"])
        assert (await session.recv())[0] == GOODBYE
        await asyncio.sleep(0.5)
        await session.send([HELLO, SECURE, TICKET_HELLO])
        await expect_challenge(session)
        await asyncio.sleep(0.8)
        await session.send([AUTHENTICATE, JOE_TICKET, {}])
        welcome = await session.recv()
        assert welcome[0] == WELCOME, f"the first handshake's deadline ended the second: {welcome!r}"


async def test_ticket_handshake_frames_hello_challenge_authenticate_welcome(secure_router, serializer):
    async with raw_session(secure_router.url, serializer, realm=SECURE, join=False) as session:
        await session.send([HELLO, SECURE, TICKET_HELLO])
        await expect_challenge(session)
        await session.send([AUTHENTICATE, JOE_TICKET, {}])
        welcome = await session.recv()
        assert len(welcome) == 3 and welcome[0] == WELCOME, f"expected WELCOME, got {welcome!r}"
        details = welcome[2]
        assert details.get("authid") == "joe", details
        assert details.get("authrole") == "frontend", details
        assert details.get("authmethod") == "ticket", details
        assert details.get("authprovider") == "static", details


async def test_authenticate_before_any_challenge_is_a_protocol_violation(secure_router, serializer):
    async with raw_session(secure_router.url, serializer, realm=SECURE, join=False) as session:
        await session.send([AUTHENTICATE, JOE_TICKET, {}])
        await expect_abort(session, PROTOCOL_VIOLATION)
    await assert_ticket_login_works(secure_router.url, serializer)


async def test_second_hello_after_challenge_is_a_protocol_violation(secure_router, serializer):
    async with raw_session(secure_router.url, serializer, realm=SECURE, join=False) as session:
        await session.send([HELLO, SECURE, TICKET_HELLO])
        await expect_challenge(session)
        await session.send([HELLO, SECURE, TICKET_HELLO])
        await expect_abort(session, PROTOCOL_VIOLATION)
    await assert_ticket_login_works(secure_router.url, serializer)


@pytest.mark.parametrize(
    "message",
    [[AUTHENTICATE, 123, {}], [AUTHENTICATE], [AUTHENTICATE, JOE_TICKET, "not-a-dict"]],
    ids=["signature-not-a-string", "no-fields", "extra-not-a-dict"],
)
async def test_malformed_authenticate_is_a_protocol_violation(secure_router, serializer, message):
    async with raw_session(secure_router.url, serializer, realm=SECURE, join=False) as session:
        await session.send([HELLO, SECURE, TICKET_HELLO])
        await expect_challenge(session)
        await session.send(message)
        await expect_abort(session, PROTOCOL_VIOLATION)
    await assert_ticket_login_works(secure_router.url, serializer)


async def test_authenticate_with_oversized_signature_is_aborted(secure_router, serializer):
    async with raw_session(secure_router.url, serializer, realm=SECURE, join=False) as session:
        await session.send([HELLO, SECURE, TICKET_HELLO])
        await expect_challenge(session)
        await session.send([AUTHENTICATE, "x" * 100_000, {}])
        reply = await session.recv()
        assert len(reply) == 3 and reply[0] == ABORT, f"expected ABORT, got {reply!r}"
        assert isinstance(reply[2], str) and reply[2].startswith("wamp.error."), f"ABORT reason: {reply!r}"
        await session.recv_close()
    await assert_ticket_login_works(secure_router.url, serializer)


# ---------------------------------------------------------------------------
# Failure metric
# ---------------------------------------------------------------------------

AUTH_FAILURES = "switchboard_auth_failures_total{"


async def test_failed_ticket_login_is_counted_in_auth_failures_metric(secure_router, serializer):
    reason = await auth_refusal(secure_router.url, serializer, SECURE, ["ticket"], "joe", ticket("wrong!!!"))
    assert reason == AUTHENTICATION_DENIED

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while True:
        text = await fetch_metrics(secure_router.url)
        samples = metric_values(text, AUTH_FAILURES)
        if any(value >= 1 for _, value in samples):
            break
        if loop.time() > deadline:
            raise AssertionError(
                f"no {AUTH_FAILURES}...}} sample >= 1 after a failed login; samples: {samples!r}\n{text}"
            )
        await asyncio.sleep(0.2)
