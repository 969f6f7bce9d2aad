"""Sessions that stop reading their socket, seen from unmodified Autobahn clients.

A raw session on a socket with a tiny receive buffer registers or subscribes,
then never reads again. Its outbound queue is bounded by the realm's budget
(here 64 KiB soft, 1 MiB hard, 1.5 s stall): an Autobahn caller's calls to it
fail at once with `wamp.error.no_available_callee` (the router declines for the
stalled callee, and re-routing finds nobody else), and the stalled session is closed,
which an Autobahn session sees through the session meta API. A connection that
never sends HELLO gets ABORT `wamp.error.timeout`.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager
from urllib.parse import urlparse

import pytest
import websockets
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, PublishOptions

from raw import HELLO_DETAILS, REGISTER, SUBSCRIBE, RawSession, expect_abort, raw_session
from wamp import REALM, connect, within

BUDGET = """
[server]
hello_timeout_ms = 300

[[realm]]
name = "com.example.realm"
outbound_soft_limit = 65536
outbound_hard_limit = 1048576
write_stall_timeout_ms = 1500
"""


@pytest.fixture
def budget_url(router_factory, tmp_path) -> str:
    config = tmp_path / "budget.toml"
    config.write_text(BUDGET)
    return router_factory("--config", str(config)).url


@asynccontextmanager
async def stalling_session(url: str, request: list):
    """A raw JSON session that sends HELLO and `request`, reads their replies,
    then is never read again (its socket's receive buffer is 4 KiB)."""
    parsed = urlparse(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parsed.hostname, parsed.port))
    async with websockets.connect(
        url,
        sock=sock,
        subprotocols=["wamp.2.json"],
        max_size=None,
        max_queue=1,
        close_timeout=1,
        ping_interval=None,
    ) as ws:
        session = RawSession(ws, "json")
        await session.send([1, REALM, HELLO_DETAILS])
        await session.expect(2)
        await session.send(request)
        await session.recv()
        yield session


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_calls_to_a_callee_that_stops_reading_fail_at_once_with_no_available_callee(
    budget_url, serializer
):
    async with stalling_session(budget_url, [REGISTER, 1, {}, "com.example.stuck"]):
        async with connect(budget_url, serializer) as caller:
            # 128 calls: 8 MiB, more than socket buffers hide. The few that reach
            # the callee before its queue fills wait for it like any call, so
            # they carry a timeout.
            payload = "x" * 65536
            options = CallOptions(timeout=3000)
            calls = [
                caller.call("com.example.stuck", payload, options=options) for _ in range(128)
            ]
            outcomes = await within(
                asyncio.gather(*calls, return_exceptions=True), 10, "an answer to every call"
            )
    unavailable = [
        o for o in outcomes if isinstance(o, ApplicationError) and o.error == "wamp.error.no_available_callee"
    ]
    assert unavailable, f"no call failed with wamp.error.no_available_callee: {outcomes[:3]!r}"


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_a_subscriber_that_stops_reading_is_closed_and_others_keep_receiving(
    budget_url, serializer
):
    async with stalling_session(budget_url, [SUBSCRIBE, 1, {}, "com.example.flood"]):
        async with connect(budget_url, serializer) as watcher, connect(
            budget_url, serializer
        ) as publisher:
            received = []
            arrived = asyncio.Event()

            def on_event(*args):
                received.append(1)
                arrived.set()

            await watcher.subscribe(on_event, "com.example.flood")
            left = asyncio.get_running_loop().create_future()
            await watcher.subscribe(
                lambda *args: left.done() or left.set_result(args), "wamp.session.on_leave"
            )
            for sent in range(1000):  # 16 MiB of events, acknowledged one by one
                # The watcher keeps up: at most 2 events (32 KiB, half its soft
                # limit) are on their way to it, however slowly a loaded machine
                # runs its reader; the stalled subscriber gets them all and reads none.
                while len(received) < sent - 2:
                    arrived.clear()
                    await within(arrived.wait(), 10, "the watcher keeping up")
                await publisher.publish(
                    "com.example.flood", "x" * 16384, options=PublishOptions(acknowledge=True)
                )
            await within(left, 5, "the stalled subscriber's on_leave")
            count = await within(watcher.call("wamp.session.count"), 5)
            assert count == 2, f"expected the two healthy sessions, got {count}"
            await within(_until(lambda: len(received) == 1000), 10, "every event for the watcher")


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.05)


async def test_a_connection_that_never_says_hello_gets_abort_timeout(budget_url):
    async with raw_session(budget_url, "json", join=False) as session:
        await expect_abort(session, "wamp.error.timeout")
