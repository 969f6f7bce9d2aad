import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.types import PublishOptions

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
    publisher = await join()
    inboxes = {}
    sessions = {}
    for name in ("alice", "bob", "carol"):
        session = await join()
        inboxes[name] = asyncio.Queue()
        await session.subscribe(inboxes[name].put_nowait, "com.example.prices")
        sessions[name] = session

    async def publish(price, **lists):
        options = PublishOptions(acknowledge=True, **lists)
        await publisher.publish("com.example.prices", price, options=options)

    await publish(10, exclude=[sessions["bob"].session_id])
    await publish(11, eligible=[sessions["bob"].session_id, sessions["carol"].session_id])
    await publish(12, eligible_authid=[sessions["carol"].authid])
    await publish(13, exclude_authrole=["anonymous"])  # nobody
    await publish(14)  # everyone

    for name, inbox in inboxes.items():
        got = []
        while not got or got[-1] != 14:
            got.append(await asyncio.wait_for(inbox.get(), 5))
        print(f"{name} got {got}")
        expected = {"alice": [10, 14], "bob": [11, 14], "carol": [10, 11, 12, 14]}
        assert got == expected[name], (name, got)


asyncio.run(main())
