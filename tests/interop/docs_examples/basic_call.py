import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.types import CallResult

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


def add(x, y):
    return x + y


def greet(name, punctuation="!"):
    # Several results, or keyword results, travel as a CallResult.
    return CallResult(f"Hello, {name}{punctuation}", length=len(name))


async def main():
    callee, caller = await join(), await join()
    await callee.register(add, "com.example.add")
    await callee.register(greet, "com.example.greet")

    total = await caller.call("com.example.add", 2, 3)
    greeting = await caller.call("com.example.greet", "Ada", punctuation="?")
    print(total, greeting.results, greeting.kwresults)
    assert total == 5
    assert list(greeting.results) == ["Hello, Ada?"]
    assert greeting.kwresults == {"length": 3}


asyncio.run(main())
