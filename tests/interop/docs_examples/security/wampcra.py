# Start the router with: switchboard --config wampcra.toml

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


def wampcra(authid, secret):
    return {"wampcra": {"authid": authid, "secret": secret}}


async def main():
    _, details = await join("com.example.secure", wampcra("peter", "prq7+YkJ1/KlW1X0YczMHw=="))
    print(f"{details.authid} joined with {details.authmethod} as {details.authrole}")
    assert (details.authid, details.authrole, details.authmethod) == ("peter", "user", "wampcra")

    # The CHALLENGE carries salt, iterations and keylen; Autobahn derives the key.
    _, details = await join("com.example.secure", wampcra("salted", "s33kr1t"))
    print(f"{details.authid} joined with {details.authmethod} as {details.authrole}")
    assert (details.authid, details.authmethod) == ("salted", "wampcra")

    error = await failure(join("com.example.secure", wampcra("salted", "secret")))
    print(f"a wrong password: {error.error}")
    assert error.error == "wamp.error.authentication_denied"

    error = await failure(join("com.example.secure"))  # anonymous is not accepted here
    assert error.error == "wamp.error.no_matching_auth_method"


asyncio.run(main())
