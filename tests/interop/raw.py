"""Raw WAMP-over-WebSocket connections, for tests that must see exact frames.

    async with raw_session(url, "json") as s:        # HELLO/WELCOME done
        await s.send([64, 1, {}, "com.example.proc"])
        msg = await s.recv()                         # decoded list

    async with raw_session(url, "msgpack", join=False) as s:   # no HELLO sent
        await s.send_frame(b"\\xc1")                 # arbitrary bytes
        code = await s.recv_close()
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import cbor2
import msgpack
import websockets
from websockets.exceptions import ConnectionClosed

REALM = "com.example.realm"
RECV_TIMEOUT = 5.0

# Message codes (WAMP basic profile).
HELLO, WELCOME, ABORT, GOODBYE, ERROR = 1, 2, 3, 6, 8
CALL, RESULT = 48, 50
REGISTER, REGISTERED, UNREGISTER, UNREGISTERED = 64, 65, 66, 67
INVOCATION, YIELD = 68, 70
PUBLISH, PUBLISHED = 16, 17
SUBSCRIBE, SUBSCRIBED, UNSUBSCRIBE, UNSUBSCRIBED, EVENT = 32, 33, 34, 35, 36
# Message codes (WAMP advanced profile).
CANCEL, INTERRUPT = 49, 69

HELLO_DETAILS = {
    "roles": {
        "caller": {"features": {}},
        "callee": {"features": {}},
        "publisher": {"features": {}},
        "subscriber": {"features": {}},
    }
}


def hello_details(**features: dict[str, bool]) -> dict:
    """HELLO.Details announcing all four client roles, with `features` per role.

        hello_details(callee={"call_canceling": True})
    """
    roles = {role: {"features": {}} for role in ("caller", "callee", "publisher", "subscriber")}
    for role, announced in features.items():
        roles[role] = {"features": dict(announced)}
    return {"roles": roles}


def encode(serializer: str, message: Any) -> str | bytes:
    if serializer == "json":
        return json.dumps(message)
    if serializer == "msgpack":
        return msgpack.packb(message, use_bin_type=True)
    if serializer == "cbor":
        return cbor2.dumps(message)
    raise ValueError(f"unknown serializer {serializer!r}")


def decode(serializer: str, frame: str | bytes) -> Any:
    if serializer == "json":
        if isinstance(frame, bytes):
            raise AssertionError(f"binary frame on a wamp.2.json session: {frame!r}")
        return json.loads(frame)
    if isinstance(frame, str):
        raise AssertionError(f"text frame on a wamp.2.{serializer} session: {frame!r}")
    if serializer == "cbor":
        return cbor2.loads(frame)
    return msgpack.unpackb(frame, raw=False)


class ConnectionClosedUnexpectedly(AssertionError):
    pass


class RawSession:
    def __init__(self, ws: websockets.ClientConnection, serializer: str):
        self.ws = ws
        self.serializer = serializer
        self.welcome: list | None = None
        self._next_request_id = 1

    @property
    def session_id(self) -> int:
        """The session id from WELCOME (joined sessions only)."""
        assert self.welcome is not None, "session has not joined"
        return self.welcome[1]

    def request_id(self) -> int:
        """A fresh request id for this session."""
        rid = self._next_request_id
        self._next_request_id += 1
        return rid

    async def send(self, message: list) -> None:
        await self.send_frame(encode(self.serializer, message))

    async def send_frame(self, frame: str | bytes) -> None:
        """Send one WebSocket frame as is (text for str, binary for bytes)."""
        await self.ws.send(frame)

    async def recv(self, timeout: float = RECV_TIMEOUT) -> list:
        """Receive and decode the next WAMP message."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no message from router within {timeout} s") from None
        except ConnectionClosed as exc:
            raise ConnectionClosedUnexpectedly(
                f"connection closed instead of a message: code={self.close_code} "
                f"reason={self.close_reason!r} ({exc})"
            ) from None
        return decode(self.serializer, frame)

    async def expect(self, code: int, timeout: float = RECV_TIMEOUT) -> list:
        """Receive the next WAMP message and assert that its type is `code`."""
        message = await self.recv(timeout)
        assert message and message[0] == code, f"expected message type {code}, got {message!r}"
        return message

    async def register(self, procedure: str, options: dict | None = None) -> int:
        """REGISTER `procedure` and return the registration id from REGISTERED."""
        rid = self.request_id()
        await self.send([REGISTER, rid, options or {}, procedure])
        reply = await self.recv()
        assert reply[:2] == [REGISTERED, rid], f"expected REGISTERED for {procedure}, got {reply!r}"
        return reply[2]

    async def expect_silence(self, duration: float = 0.5) -> None:
        """Assert that no WAMP message arrives within `duration` seconds."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), duration)
        except asyncio.TimeoutError:
            return
        except ConnectionClosed as exc:
            raise ConnectionClosedUnexpectedly(
                f"connection closed while expecting silence: code={self.close_code} "
                f"reason={self.close_reason!r} ({exc})"
            ) from None
        raise AssertionError(
            f"expected no message for {duration} s, got {decode(self.serializer, frame)!r}"
        )

    def abort(self) -> None:
        """Drop the TCP connection: no GOODBYE, no WebSocket close frame."""
        self.ws.transport.abort()

    async def recv_close(self, timeout: float = RECV_TIMEOUT) -> tuple[int | None, list]:
        """Wait until the router closes the connection.

        Returns the close code (1006 when the TCP connection simply dropped)
        and the messages received meanwhile.
        """
        messages: list = []

        async def drain() -> None:
            while True:
                try:
                    frame = await self.ws.recv()
                except ConnectionClosed:
                    return
                messages.append(decode(self.serializer, frame))

        try:
            await asyncio.wait_for(drain(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"router did not close the connection within {timeout} s; "
                f"messages received meanwhile: {messages!r}"
            ) from None
        return self.close_code, messages

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self.ws.close_reason

    async def hello(self, realm: str = REALM, details: dict | None = None) -> list:
        await self.send([HELLO, realm, details if details is not None else HELLO_DETAILS])
        return await self.recv()


@asynccontextmanager
async def raw_connection(
    url: str, subprotocols: list[str] | None, open_timeout: float = 5.0
) -> AsyncIterator[websockets.ClientConnection]:
    """A bare WebSocket connection offering exactly `subprotocols`."""
    async with websockets.connect(
        url,
        subprotocols=subprotocols,
        open_timeout=open_timeout,
        close_timeout=2,
        max_size=None,
        ping_interval=None,
        compression=None,
    ) as ws:
        yield ws


@asynccontextmanager
async def raw_session(
    url: str,
    serializer: str = "json",
    realm: str = REALM,
    join: bool = True,
    details: dict | None = None,
) -> AsyncIterator[RawSession]:
    """A raw WAMP session; with join=True the HELLO/WELCOME handshake is done.

    `details` replaces the default HELLO.Details (see hello_details()).
    """
    subprotocol = f"wamp.2.{serializer}"
    async with raw_connection(url, [subprotocol]) as ws:
        assert ws.subprotocol == subprotocol, (
            f"router selected subprotocol {ws.subprotocol!r}, expected {subprotocol!r}"
        )
        session = RawSession(ws, serializer)
        if join:
            welcome = await session.hello(realm, details)
            assert welcome[0] == WELCOME, f"expected WELCOME, got {welcome!r}"
            session.welcome = welcome
        yield session


async def expect_abort(session: RawSession, reason: str) -> list:
    """The next message is ABORT with `reason`, and then the router closes."""
    message = await session.recv()
    assert message[0] == ABORT and len(message) == 3, f"expected ABORT, got {message!r}"
    assert isinstance(message[1], dict), f"ABORT details must be a dict: {message!r}"
    assert message[2] == reason, f"expected ABORT {reason}, got {message!r}"
    await session.recv_close()
    return message
