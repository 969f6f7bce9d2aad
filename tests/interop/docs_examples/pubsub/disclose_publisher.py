# Start the router with: switchboard --config disclose_publisher.toml

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

    def on_chat(text, details):
        received.put_nowait((text, details.publisher, details.publisher_authrole))

    options = SubscribeOptions(details_arg="details")
    await subscriber.subscribe(on_chat, "com.example.chat", options=options)
    await publisher.publish("com.example.chat", "hello", options=PublishOptions(acknowledge=True))
    text, who, role = await asyncio.wait_for(received.get(), 5)
    print(f"{text!r} from session {who} ({role})")
    assert (text, who, role) == ("hello", publisher.session_id, "anonymous")


asyncio.run(main())
