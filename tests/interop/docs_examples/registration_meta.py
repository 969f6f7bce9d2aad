import asyncio
import os

from autobahn.asyncio.component import Component

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


TOPICS = [
    "wamp.registration.on_create",
    "wamp.registration.on_register",
    "wamp.registration.on_unregister",
    "wamp.registration.on_delete",
]


async def main():
    watcher, callee = await join(), await join()
    events = asyncio.Queue()
    for topic in TOPICS:
        await watcher.subscribe(lambda *args, t=topic: events.put_nowait(t), topic)
    registration = await callee.register(lambda: "pong", "com.example.ping")

    found = await watcher.call("wamp.registration.lookup", "com.example.ping")
    details = await watcher.call("wamp.registration.get", found)
    callees = await watcher.call("wamp.registration.list_callees", found)
    listed = await watcher.call("wamp.registration.list")
    print(details, callees, listed)
    assert found == registration.id and details["invoke"] == "single"
    assert callees == [callee.session_id] and found in listed["exact"]

    await registration.unregister()
    seen = [await asyncio.wait_for(events.get(), 5) for _ in TOPICS]
    assert seen == TOPICS, seen


asyncio.run(main())
