# Start the router with: switchboard --config authenticator.toml

import asyncio
import os
import secrets

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


USERS = {"alice": {"ticket": "alice-ticket", "role": "user", "tier": "gold"}}


def authenticate(realm, authid, details):
    """The router calls this for every ticket login to com.example.secure."""
    user = USERS.get(authid)
    if user is None:
        raise ApplicationError("com.example.no_such_user", f"no user {authid!r}")
    if not secrets.compare_digest(details["ticket"], user["ticket"]):
        raise ApplicationError("wamp.error.authentication_denied", "wrong ticket")
    return {"role": user["role"], "extra": {"tier": user["tier"]}}


async def main():
    backend, _ = await join("com.example.internal", ticket("authenticator", "backend-ticket"))
    await backend.register(authenticate, "com.example.authenticate")

    _, details = await join("com.example.secure", ticket("alice", "alice-ticket"))
    print(f"{details.authid} joined as {details.authrole}, provider {details.authprovider}")
    assert (details.authid, details.authrole, details.authprovider) == ("alice", "user", "dynamic")
    assert details.authextra == {"tier": "gold"}

    error = await failure(join("com.example.secure", ticket("bob", "bob-ticket")))
    print(f"an unknown user: {error.error}")
    assert error.error == "com.example.no_such_user"


asyncio.run(main())
