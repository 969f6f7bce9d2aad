# Start the router with: switchboard --config history.toml

import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.types import PublishOptions, SubscribeOptions

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
    service = await join()
    for line in ("started", "listening", "ready"):
        options = PublishOptions(acknowledge=True)
        await service.publish("com.example.log.web", line, options=options)

    reader = await join()
    options = SubscribeOptions(match="prefix")
    subscription = await reader.subscribe(lambda *args: None, "com.example.log.", options=options)
    events = await reader.call("wamp.subscription.get_events", subscription.id)
    print([(e["details"]["topic"], e["args"]) for e in events])
    assert [e["args"] for e in events] == [["started"], ["listening"], ["ready"]]

    newest = await reader.call("wamp.subscription.get_events", subscription.id, reverse=True, limit=1)
    assert newest[0]["args"] == ["ready"] and newest[0]["timestamp"].endswith("Z")


asyncio.run(main())
