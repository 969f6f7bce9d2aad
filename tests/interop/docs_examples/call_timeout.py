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


interrupted = asyncio.Event()


async def slow():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:  # Switchboard sent INTERRUPT
        interrupted.set()
        raise
    return "too late"


async def main():
    callee, caller = await join(), await join()
    await callee.register(slow, "com.example.slow")
    try:
        # Autobahn sends the number as it is; WAMP's unit is milliseconds.
        await caller.call("com.example.slow", options=CallOptions(timeout=250))
        raise AssertionError("the call should have timed out")
    except ApplicationError as error:
        print(f"{error.error}: {error.args[0]}")
        assert error.error == "wamp.error.timeout"
    await asyncio.wait_for(interrupted.wait(), 5)
    print("the callee was interrupted")


asyncio.run(main())
