import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.exception import ApplicationError
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
    caller = await join()
    options = RegisterOptions(invoke="roundrobin")
    for number in range(3):
        callee = await join()
        await callee.register(lambda n=number: n, "com.example.work", options=options)
    served = [await caller.call("com.example.work") for _ in range(6)]
    print(f"served by callees {served}")
    assert served == [0, 1, 2, 0, 1, 2]

    try:
        other = RegisterOptions(invoke="random")
        await caller.register(lambda: -1, "com.example.work", options=other)
        raise AssertionError("a different invoke policy should be refused")
    except ApplicationError as error:
        print(f"{error.error}: {error.args[0]}")
        assert error.error == "wamp.error.procedure_already_exists"


asyncio.run(main())
