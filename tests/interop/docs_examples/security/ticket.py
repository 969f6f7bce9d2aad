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


def ticket(authid, ticket):
    return {"ticket": {"authid": authid, "ticket": ticket}}


async def main():
    # joe's ticket is in secure_realm.toml; ann's is hashed, in principals.toml.
    for authid in ("joe", "ann"):
        _, details = await join("com.example.secure", ticket(authid, f"{authid}-ticket"))
        print(f"{details.authid} joined with {details.authmethod} as {details.authrole}")
        assert (details.authid, details.authrole) == (authid, "user")
        assert (details.authmethod, details.authprovider) == ("ticket", "static")

    error = await failure(join("com.example.secure", ticket("joe", "guess")))
    print(f"a wrong ticket: {error.error}")
    assert error.error == "wamp.error.authentication_denied"

    error = await failure(join("com.example.secure", ticket("mallory", "joe-ticket")))
    assert error.error == "wamp.error.no_such_principal"


asyncio.run(main())
