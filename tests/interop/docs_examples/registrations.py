import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.types import RegisterOptions

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


async def main():
    first, second, caller = await join(), await join(), await join()
    shared = RegisterOptions(invoke="roundrobin")
    reg_1 = await first.register(lambda: "first", "com.example.echo", options=shared)
    reg_2 = await second.register(lambda: "second", "com.example.echo", options=shared)
    prefix = RegisterOptions(match="prefix")
    reg_3 = await first.register(lambda: "prefix", "com.example.echo", options=prefix)
    print(f"registrations: {reg_1.id} {reg_2.id} {reg_3.id}")
    assert reg_1.id == reg_2.id != reg_3.id
    assert await caller.call("wamp.registration.count_callees", reg_1.id) == 2

    await reg_1.unregister()  # first leaves; second still serves the registration
    assert await caller.call("com.example.echo") == "second"
    assert await caller.call("com.example.echo.more") == "prefix"


asyncio.run(main())
