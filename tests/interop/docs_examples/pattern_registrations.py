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


def serve(name):
    return lambda *args, details: [name, details.procedure]


async def main():
    callee, caller = await join(), await join()
    for pattern, match in [
        ("com.example.user.get", "exact"),
        ("com.example.user.", "prefix"),
        ("com.example..get", "wildcard"),
        ("com...get", "wildcard"),
    ]:
        options = RegisterOptions(match=match, details_arg="details")
        await callee.register(serve(pattern), pattern, options=options)

    for uri, winner in [
        ("com.example.user.get", "com.example.user.get"),
        ("com.example.user.delete", "com.example.user."),
        ("com.example.order.get", "com.example..get"),
        ("com.acme.order.get", "com...get"),
    ]:
        pattern, procedure = await caller.call(uri)
        print(f"{uri} -> {pattern}")
        assert (pattern, procedure) == (winner, uri)


asyncio.run(main())
