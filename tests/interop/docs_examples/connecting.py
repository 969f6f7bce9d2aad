"""Join com.example.realm anonymously with an Autobahn Component, then leave."""

import os

from autobahn.asyncio.component import Component, run

URL = os.environ.get("SWITCHBOARD_URL", "ws://localhost:18080/ws")
SERIALIZER = os.environ.get("SWITCHBOARD_SERIALIZER", "json")  # or "msgpack"

component = Component(
    transports=[{"type": "websocket", "url": URL, "serializers": [SERIALIZER]}],
    realm="com.example.realm",
    authentication=None,  # anonymous
)
joined = {}


@component.on_join
async def on_join(session, details):
    print(f"joined {details.realm} as session {details.session}")
    joined.update(realm=details.realm, authmethod=details.authmethod)
    await session.leave()


@component.on_leave
def on_leave(session, details):
    print(f"left: {details.reason}")


run([component])  # returns once the session has left
assert joined == {"realm": "com.example.realm", "authmethod": "anonymous"}, joined
