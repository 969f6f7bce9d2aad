import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.types import CallOptions, RegisterOptions

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


async def countdown(start, details):
    for n in range(start, 0, -1):
        if details.progress:  # None unless the caller asked for progress
            details.progress(n)
        await asyncio.sleep(0.05)
    return "liftoff"


async def main():
    callee, caller = await join(), await join()
    options = RegisterOptions(details_arg="details")
    await callee.register(countdown, "com.example.countdown", options=options)

    ticks = []
    on_progress = CallOptions(on_progress=ticks.append)
    result = await caller.call("com.example.countdown", 3, options=on_progress)
    print(ticks, result)
    assert ticks == [3, 2, 1] and result == "liftoff"
    assert await caller.call("com.example.countdown", 2) == "liftoff"


asyncio.run(main())
