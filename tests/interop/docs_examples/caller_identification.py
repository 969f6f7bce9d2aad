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


def whoami(details):
    return [details.caller, details.caller_authid, details.caller_authrole]


async def main():
    callee, caller = await join(), await join()
    options = RegisterOptions(details_arg="details")
    await callee.register(whoami, "com.example.whoami", options=options)
    session, authid, authrole = await caller.call("com.example.whoami")
    print(f"called by session {session} ({authid}, {authrole})")
    assert session == caller.session_id and authrole == "anonymous"


asyncio.run(main())
