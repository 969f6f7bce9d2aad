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


async def main():
    observer = await join()
    created = asyncio.Queue()

    def on_create(session, subscription):
        created.put_nowait((session, subscription))

    await observer.subscribe(on_create, "wamp.subscription.on_create")

    subscriber = await join()
    subscription = await subscriber.subscribe(lambda *args: None, "com.example.alerts")
    session, details = await asyncio.wait_for(created.get(), 5)
    print(f"session {session} created {details}")
    assert session == subscriber.session_id
    assert details["uri"] == "com.example.alerts" and details["match"] == "exact"

    found = await observer.call("wamp.subscription.lookup", "com.example.alerts")
    assert found == subscription.id
    subscribers = await observer.call("wamp.subscription.list_subscribers", found)
    count = await observer.call("wamp.subscription.count_subscribers", found)
    print(f"subscribers {subscribers}, count {count}")
    assert subscribers == [subscriber.session_id] and count == 1


asyncio.run(main())
