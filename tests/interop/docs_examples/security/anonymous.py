# Start the router with: switchboard --config secure_realm.toml

import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.exception import ApplicationError

URL = os.environ.get("SWITCHBOARD_URL", "ws://localhost:18080/ws")
SERIALIZER = os.environ.get("SWITCHBOARD_SERIALIZER", "json")


async def join(realm, authentication=None):
    """Start a Component; return its session and WELCOME details once it has joined.

    If the router refuses the session, raise ApplicationError with the ABORT reason.
    """
    transport = {"url": URL, "serializers": [SERIALIZER], "max_retries": 0}
    component = Component(transports=[transport], realm=realm, authentication=authentication)
    joined = asyncio.get_running_loop().create_future()

    def on_leave(session, details):
        if not joined.done():
            joined.set_exception(ApplicationError(details.reason))

    component.on_join(lambda session, details: joined.set_result((session, details)))
    component.on_leave(on_leave)
    component.start()
    return await joined


async def failure(request):
    """The ApplicationError that `request` fails with."""
    try:
        await request
    except ApplicationError as error:
        return error
    raise AssertionError("expected an error")


async def main():
    guest, details = await join("com.example.secure")  # no credentials
    print(f"com.example.secure: {details.authid} has the role {details.authrole}")
    assert (details.authmethod, details.authrole) == ("anonymous", "guest")

    error = await failure(guest.register(lambda: "hi", "com.example.public.hello"))
    assert error.error == "wamp.error.not_authorized"  # guests may only call and subscribe

    _, details = await join("com.example.realm")
    print(f"com.example.realm: {details.authid} has the role {details.authrole}")
    assert (details.authmethod, details.authrole) == ("anonymous", "anonymous")


asyncio.run(main())
