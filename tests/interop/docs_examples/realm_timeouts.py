# Start the router with: switchboard --config realm_timeouts.toml

import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions

URL = os.environ.get("SWITCHBOARD_URL", "ws://localhost:18080/ws")
SERIALIZER = os.environ.get("SWITCHBOARD_SERIALIZER", "json")


async def join():
    """Start a Component; return its session once it has joined the realm."""
    transport = {"url": URL, "serializers": [SERIALIZER]}
    component = Component(transports=[transport], realm="com.example.realm")
    joined = asyncio.get_running_loop().create_future()
    component.on_join(lambda session, details: joined.set_result(session))
    component.start()
    return await joined


async def slow():
    await asyncio.sleep(10)


async def seconds_until_timeout(caller, options=None):
    started = asyncio.get_running_loop().time()
    try:
        await caller.call("com.example.slow", options=options)
        raise AssertionError("the call should have timed out")
    except ApplicationError as error:
        assert error.error == "wamp.error.timeout"
    return asyncio.get_running_loop().time() - started


async def main():
    callee, caller = await join(), await join()
    await callee.register(slow, "com.example.slow")
    default = await seconds_until_timeout(caller)
    capped = await seconds_until_timeout(caller, CallOptions(timeout=60_000))
    print(f"no timeout asked: {default:.1f} s; 60 s asked: {capped:.1f} s")
    assert 0.45 <= default < 1.4 and 1.45 <= capped < 3


asyncio.run(main())
