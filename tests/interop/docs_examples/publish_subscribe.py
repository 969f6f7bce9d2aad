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
    subscriber, publisher = await join(), await join()
    received = asyncio.Queue()

    def on_news(headline, details):
        received.put_nowait((headline, details.topic))

    options = SubscribeOptions(match="prefix", details_arg="details")
    await subscriber.subscribe(on_news, "com.example.news.", options=options)

    acknowledge = PublishOptions(acknowledge=True)
    sport = "com.example.news.sport"
    publication = await publisher.publish(sport, "Goal!", options=acknowledge)
    print(f"publication {publication.id}")
    assert await asyncio.wait_for(received.get(), 5) == ("Goal!", sport)

    to_me_too = PublishOptions(acknowledge=True, exclude_me=False)
    local = "com.example.news.local"
    await subscriber.publish(local, "Rain", options=to_me_too)
    assert await asyncio.wait_for(received.get(), 5) == ("Rain", local)


asyncio.run(main())
