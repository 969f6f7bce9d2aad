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
    sensor = await join()
    for celsius in (21.5, 22.0):
        options = PublishOptions(acknowledge=True, retain=True)
        await sensor.publish("com.example.room.temperature", celsius, options=options)

    dashboard = await join()
    readings = asyncio.Queue()

    def on_reading(celsius, details):
        readings.put_nowait((celsius, details.retained))

    options = SubscribeOptions(get_retained=True, details_arg="details")
    await dashboard.subscribe(on_reading, "com.example.room.temperature", options=options)
    latest = await asyncio.wait_for(readings.get(), 5)
    print(f"on subscribing: {latest}")
    assert latest == (22.0, True)

    await sensor.publish("com.example.room.temperature", 22.5, options=PublishOptions(acknowledge=True))
    assert await asyncio.wait_for(readings.get(), 5) == (22.5, None)


asyncio.run(main())
