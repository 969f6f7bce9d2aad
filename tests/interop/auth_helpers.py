"""Helpers for the authentication and authorization interop tests.

Two ways of joining with credentials, both unmodified Autobahn|Python:

* :class:`AuthSession`, the classic ``ApplicationSession`` pattern from
  Autobahn's auth examples: ``onConnect`` calls ``self.join(realm,
  authmethods=..., authid=..., authextra=...)`` and ``onChallenge`` answers
  with ``compute_wcs``/``derive_key`` (wampcra), the ticket, or
  ``CryptosignKey.sign_challenge`` (see :func:`ticket`, :func:`wampcra`,
  :func:`cryptosign`).
* :func:`component_join`, Autobahn's ``Component(authentication={...})``,
  which uses the library's built-in authenticators.

    async with auth_connect(url, "json", SECURE, ["ticket"], "joe", ticket("secret!!!")) as s:
        assert s.joined.result().authrole == "frontend"

    reason = await auth_refusal(url, "json", SECURE, ["ticket"], "joe", ticket("wrong"))
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlparse

import txaio

txaio.use_asyncio()

import nacl.signing  # noqa: E402  (PyNaCl; autobahn's cryptosign needs it)
from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.auth import compute_wcs, derive_key  # noqa: E402
from autobahn.wamp.cryptosign import CryptosignKey  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import Challenge, ComponentConfig, SessionDetails  # noqa: E402

from wamp import (  # noqa: E402
    JOIN_TIMEOUT,
    ClientSession,
    JoinFailed,
    close_session,
    make_serializer,
    within,
)

SECURE = "com.example.secure"
OPEN = "com.example.realm"

AUTHENTICATION_DENIED = "wamp.error.authentication_denied"
NO_SUCH_PRINCIPAL = "wamp.error.no_such_principal"
NO_SUCH_ROLE = "wamp.error.no_such_role"
NOT_AUTHORIZED = "wamp.error.not_authorized"
PROTOCOL_VIOLATION = "wamp.error.protocol_violation"
NO_MATCHING_AUTH_METHOD = ("wamp.error.no_matching_auth_method", "wamp.error.no_auth_method")

ChallengeHandler = Callable[[Challenge], Any]


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------


class Keypair:
    """An Ed25519 key pair made with PyNaCl, in the hex forms config and Autobahn use."""

    def __init__(self) -> None:
        signing_key = nacl.signing.SigningKey.generate()
        self.privkey: str = binascii.b2a_hex(bytes(signing_key)).decode("ascii")
        self.pubkey: str = binascii.b2a_hex(bytes(signing_key.verify_key)).decode("ascii")


def ticket(value: str) -> ChallengeHandler:
    """onChallenge for WAMP-Ticket: the signature is the ticket itself."""

    def on_challenge(challenge: Challenge) -> str:
        assert challenge.method == "ticket", f"unexpected challenge {challenge!r}"
        return value

    return on_challenge


def wampcra(secret: str) -> ChallengeHandler:
    """onChallenge for WAMP-CRA, as in Autobahn's auth examples (salted or not)."""

    def on_challenge(challenge: Challenge) -> str:
        assert challenge.method == "wampcra", f"unexpected challenge {challenge!r}"
        extra = challenge.extra
        if "salt" in extra:
            key = derive_key(secret, extra["salt"], extra["iterations"], extra["keylen"])
        else:
            key = secret.encode("utf8")
        return compute_wcs(key, extra["challenge"].encode("utf8")).decode("ascii")

    return on_challenge


def cryptosign(privkey_hex: str) -> tuple[ChallengeHandler, dict]:
    """onChallenge and HELLO authextra (with the hex pubkey) for WAMP-Cryptosign."""
    key = CryptosignKey.from_bytes(binascii.a2b_hex(privkey_hex))

    def on_challenge(challenge: Challenge):
        assert challenge.method == "cryptosign", f"unexpected challenge {challenge!r}"
        return key.sign_challenge(challenge)  # a future resolving to the hex signature

    return on_challenge, {"pubkey": key.public_key()}


def _b64_nopad(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def pbkdf2_phc(password: str, iterations: int = 1000, salt: bytes | None = None) -> str:
    """A PHC string ``$pbkdf2-sha256$i=N,l=32$<salt>$<hash>`` (B64 = base64 without '=')."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf8"), salt, iterations, 32)
    return f"$pbkdf2-sha256$i={iterations},l=32${_b64_nopad(salt)}${_b64_nopad(digest)}"


# ---------------------------------------------------------------------------
# Router configuration
# ---------------------------------------------------------------------------


def q(value: str) -> str:
    """A TOML basic string (JSON escaping is valid TOML for these values)."""
    return json.dumps(value)


def start_with_config(router_factory, tmp_path: Path, toml_text: str, name: str = "switchboard.toml"):
    """Write `toml_text` into tmp_path and start a router with ``--config`` on it."""
    path = tmp_path / name
    path.write_text(toml_text, "utf-8")
    return router_factory("--config", str(path))


# ---------------------------------------------------------------------------
# Classic ApplicationSession with onConnect/join + onChallenge
# ---------------------------------------------------------------------------


class AuthSession(ClientSession):
    """ClientSession that joins with credentials and answers CHALLENGEs."""

    def __init__(
        self,
        config: ComponentConfig,
        authmethods: list[str] | None,
        authid: str | None,
        authextra: dict | None,
        on_challenge: ChallengeHandler | None,
    ):
        super().__init__(config)
        self._hello_authmethods = authmethods
        self._hello_authid = authid
        self._hello_authextra = authextra
        self._on_challenge = on_challenge
        self.challenges: list[Challenge] = []

    def onConnect(self):
        self.join(
            self.config.realm,
            authmethods=self._hello_authmethods,
            authid=self._hello_authid,
            authextra=self._hello_authextra,
        )

    def onChallenge(self, challenge: Challenge):
        self.challenges.append(challenge)
        if self._on_challenge is None:
            raise RuntimeError(f"unexpected CHALLENGE {challenge!r}")
        return self._on_challenge(challenge)


async def open_auth_session(
    url: str,
    serializer: str,
    realm: str,
    authmethods: list[str] | None,
    authid: str | None = None,
    on_challenge: ChallengeHandler | None = None,
    authextra: dict | None = None,
    timeout: float = JOIN_TIMEOUT,
) -> AuthSession:
    """Connect, join `realm` with the given credentials and return the joined session.

    Raises :class:`wamp.JoinFailed` (with `.reason`) when the router refuses.
    """
    loop = asyncio.get_running_loop()
    session = AuthSession(ComponentConfig(realm=realm), authmethods, authid, authextra, on_challenge)
    factory = WampWebSocketClientFactory(
        lambda: session, url=url, serializers=[make_serializer(serializer)]
    )
    parsed = urlparse(url)
    await asyncio.wait_for(loop.create_connection(factory, parsed.hostname, parsed.port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(session.joined), timeout)
    except asyncio.TimeoutError:
        session.drop_connection()
        raise AssertionError(
            f"no WELCOME or ABORT within {timeout} s (authmethods={authmethods!r}, authid={authid!r})"
        ) from None
    except BaseException:
        await close_session(session)
        raise
    return session


@asynccontextmanager
async def auth_connect(
    url: str,
    serializer: str,
    realm: str,
    authmethods: list[str] | None,
    authid: str | None = None,
    on_challenge: ChallengeHandler | None = None,
    authextra: dict | None = None,
) -> AsyncIterator[AuthSession]:
    session = await open_auth_session(url, serializer, realm, authmethods, authid, on_challenge, authextra)
    try:
        yield session
    finally:
        await close_session(session)


def details_of(session: ClientSession) -> SessionDetails:
    return session.joined.result()


async def auth_refusal(
    url: str,
    serializer: str,
    realm: str,
    authmethods: list[str] | None,
    authid: str | None = None,
    on_challenge: ChallengeHandler | None = None,
    authextra: dict | None = None,
) -> str:
    """Join with these credentials, expecting a refusal; returns the ABORT reason."""
    try:
        session = await open_auth_session(url, serializer, realm, authmethods, authid, on_challenge, authextra)
    except JoinFailed as exc:
        return exc.reason
    details = details_of(session)
    await close_session(session)
    raise AssertionError(
        f"router accepted authmethods={authmethods!r} authid={authid!r}: WELCOME "
        f"authid={details.authid!r} authrole={details.authrole!r} authmethod={details.authmethod!r}"
    )


async def ticket_session(url: str, serializer: str, authid: str, secret: str, realm: str = SECURE) -> AuthSession:
    return await open_auth_session(url, serializer, realm, ["ticket"], authid, ticket(secret))


@asynccontextmanager
async def ticket_connect(
    url: str, serializer: str, authid: str, secret: str, realm: str = SECURE
) -> AsyncIterator[AuthSession]:
    async with auth_connect(url, serializer, realm, ["ticket"], authid, ticket(secret)) as session:
        yield session


# ---------------------------------------------------------------------------
# Autobahn Component with authentication={...}
# ---------------------------------------------------------------------------


async def component_join(
    url: str,
    serializer: str,
    realm: str,
    authentication: dict,
    while_joined: Callable | None = None,
    timeout: float = JOIN_TIMEOUT,
) -> tuple[SessionDetails | None, str | None, Any]:
    """Run an Autobahn ``Component`` once with ``authentication=...``.

    Returns ``(details, None, result)`` when it joined (``result`` is what the
    async ``while_joined(session, details)`` returned; the session then
    leaves), or ``(None, abort_reason, None)`` when the router refused it.
    """
    loop = asyncio.get_running_loop()
    joined: asyncio.Future = loop.create_future()
    left: asyncio.Future = loop.create_future()
    component = Component(
        transports=[{"type": "websocket", "url": url, "serializers": [serializer], "max_retries": 0}],
        realm=realm,
        authentication=authentication,
    )

    @component.on_join
    async def on_join(session, details):
        try:
            result = await while_joined(session, details) if while_joined else None
        except BaseException as exc:  # report it to the test instead of losing it
            if not joined.done():
                joined.set_exception(exc)
        else:
            if not joined.done():
                joined.set_result((details, result))
        session.leave()

    @component.on_leave
    def on_leave(session, details):
        if not left.done():
            left.set_result(details)

    done = component.start(loop)
    try:
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"component did not finish within {timeout} s") from None
        except Exception:
            pass  # a refused join rejects `done`; the reason is in `left`
    finally:
        if not done.done():
            component.stop()
    if joined.done():
        details, result = joined.result()
        return details, None, result
    if left.done():
        return None, left.result().reason, None
    raise AssertionError("component neither joined nor got an ABORT")


# ---------------------------------------------------------------------------
# Calls and metrics
# ---------------------------------------------------------------------------


async def error_uri(awaitable, timeout: float = 5.0) -> str:
    """Await a call/register/publish/subscribe that must fail; return its error URI."""
    try:
        value = await within(awaitable, timeout)
    except ApplicationError as exc:
        return exc.error
    raise AssertionError(f"expected an ERROR, got success: {value!r}")


async def fetch_metrics(ws_url: str, timeout: float = 5.0) -> str:
    parsed = urlparse(ws_url)
    metrics_url = f"http://{parsed.hostname}:{parsed.port}/metrics"

    def get() -> str:
        with urllib.request.urlopen(metrics_url, timeout=timeout) as response:
            return response.read().decode("utf-8", "replace")

    return await asyncio.wait_for(asyncio.to_thread(get), timeout + 1)


def metric_values(text: str, prefix: str) -> list[tuple[str, float]]:
    """(line, value) of each sample line that starts with `prefix`."""
    samples = []
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        rest = line[line.rindex("}") + 1 :] if "}" in line else line[len(prefix) :]
        samples.append((line, float(rest.split()[0])))
    return samples
