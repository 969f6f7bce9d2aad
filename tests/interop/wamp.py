"""Autobahn|Python sessions that live inside the pytest-asyncio event loop.

    async with connect(url, "json") as session:
        await session.register(handler, "com.example.proc")
        result = await session.call("com.example.proc", 1, 2)

``url`` is a WebSocket URL (``ws://``, ``wss://``) or a RawSocket one:
``rs://host:port`` over TCP, ``rs+unix:///path/to/socket`` over a Unix socket.
``session`` is a joined :class:`autobahn.asyncio.wamp.ApplicationSession`.
On exit the session says GOODBYE (if still joined) and the connection is
closed; the exit never waits more than a few seconds.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator
from urllib.parse import urlparse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.rawsocket import WampRawSocketClientFactory  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer  # noqa: E402
from autobahn.wamp.types import CloseDetails, ComponentConfig, SessionDetails  # noqa: E402

REALM = "com.example.realm"
# Every serializer the router speaks.
SERIALIZERS = ("json", "msgpack", "cbor")

JOIN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0


class JoinFailed(Exception):
    """The router answered HELLO with ABORT, or the connection was lost first."""

    def __init__(self, reason: str, message: str | None = None):
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message


def make_serializer(name: str):
    if name == "json":
        return JsonSerializer()
    if name == "msgpack":
        return MsgPackSerializer()
    if name == "cbor":
        return CBORSerializer()
    raise ValueError(f"unknown serializer {name!r}")


class ClientSession(ApplicationSession):
    """An ApplicationSession that exposes its lifecycle as futures."""

    def __init__(self, config: ComponentConfig):
        super().__init__(config)
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future[SessionDetails] = loop.create_future()
        self.left: asyncio.Future[CloseDetails] = loop.create_future()
        self.disconnected: asyncio.Future[None] = loop.create_future()

    def onJoin(self, details: SessionDetails):
        if not self.joined.done():
            self.joined.set_result(details)

    def onLeave(self, details: CloseDetails):
        if not self.joined.done():
            self.joined.set_exception(JoinFailed(details.reason, details.message))
        if not self.left.done():
            self.left.set_result(details)
        return super().onLeave(details)

    def onDisconnect(self):
        if not self.joined.done():
            self.joined.set_exception(
                JoinFailed("transport_lost", "connection closed before WELCOME")
            )
        if not self.disconnected.done():
            self.disconnected.set_result(None)
        return super().onDisconnect()

    # -- helpers for tests ------------------------------------------------

    def drop_connection(self) -> None:
        """Abort the TCP connection: no GOODBYE, no WebSocket close frame."""
        protocol = self._transport
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()


async def open_session(
    url: str,
    serializer: str = "json",
    realm: str = REALM,
    timeout: float = JOIN_TIMEOUT,
) -> ClientSession:
    """Connect to `url`, join `realm` and return the joined session."""
    loop = asyncio.get_running_loop()
    session = ClientSession(ComponentConfig(realm=realm))
    parsed = urlparse(url)
    if parsed.scheme in ("rs", "rs+unix"):
        factory = WampRawSocketClientFactory(
            lambda: session, serializer=make_serializer(serializer)
        )
    else:
        factory = WampWebSocketClientFactory(
            lambda: session, url=url, serializers=[make_serializer(serializer)]
        )
    if parsed.scheme == "rs+unix":
        connecting = loop.create_unix_connection(factory, parsed.path)
    else:
        connecting = loop.create_connection(factory, parsed.hostname, parsed.port)
    await asyncio.wait_for(connecting, timeout)
    try:
        await asyncio.wait_for(asyncio.shield(session.joined), timeout)
    except BaseException:
        session.drop_connection()
        raise
    return session


async def close_session(session: ClientSession, timeout: float = CLOSE_TIMEOUT) -> None:
    """Leave (GOODBYE) if joined, then wait for the connection to close.

    Falls back to aborting the connection after `timeout` seconds.
    """
    try:
        if session.is_attached():
            session.leave()
        elif session._transport is not None:
            session.disconnect()
        if not session.disconnected.done():
            await asyncio.wait_for(asyncio.shield(session.disconnected), timeout)
    except (asyncio.TimeoutError, Exception):
        session.drop_connection()


@asynccontextmanager
async def connect(
    url: str,
    serializer: str = "json",
    realm: str = REALM,
    timeout: float = JOIN_TIMEOUT,
) -> AsyncIterator[ClientSession]:
    session = await open_session(url, serializer, realm, timeout)
    try:
        yield session
    finally:
        await close_session(session)


async def assert_router_serves(url: str, serializer: str = "json") -> None:
    """A fresh pair of autobahn sessions can still register and call on `url`."""
    async with connect(url, serializer) as callee, connect(url, serializer) as caller:
        await callee.register(lambda a, b: a + b, "com.example.health.add")
        result = await asyncio.wait_for(
            caller.call("com.example.health.add", 20, 22), 5
        )
        assert result == 42


async def within(awaitable, timeout: float = 5.0, what: str = "an answer"):
    """Await `awaitable` for at most `timeout` s; a timeout fails the test with `what`."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"no {what} within {timeout} s") from None


class Inbox:
    """Collects events (or any callbacks) in arrival order, for bounded waits.

        inbox = Inbox()
        await session.subscribe(inbox.handler("news"), "com.example.news")
        tag, args, kwargs = await inbox.next()
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, list, dict]] = []
        self._queue: asyncio.Queue[tuple[str, list, dict]] = asyncio.Queue()

    def handler(self, tag: str):
        def on_event(*args, **kwargs):
            item = (tag, list(args), kwargs)
            self.seen.append(item)
            self._queue.put_nowait(item)

        return on_event

    async def next(self, timeout: float = 5.0, what: str = "event") -> tuple[str, list, dict]:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no {what} within {timeout} s; received so far: {self.seen!r}"
            ) from None

    async def take(self, count: int, timeout: float = 5.0, what: str = "events") -> list:
        """The next `count` items, waiting at most `timeout` s in total."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        items = []
        for index in range(count):
            remaining = max(deadline - loop.time(), 0.01)
            items.append(await self.next(remaining, f"{what} #{index + 1} of {count}"))
        return items

    async def expect_none(self, duration: float = 0.3) -> None:
        """Assert that nothing further arrives within `duration` s."""
        try:
            item = await asyncio.wait_for(self._queue.get(), duration)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected {item!r}; received so far: {self.seen!r}")
