# Start the router with: switchboard --config cryptosign.toml

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


# A test key of the WAMP specification: never use it for anything real.
PRIVKEY = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"
OTHER_KEY = "00" * 32  # a key nobody authorized


async def main():
    _, details = await join("com.example.secure", {"cryptosign": {"authid": "carol", "privkey": PRIVKEY}})
    print(f"{details.authid} joined with {details.authmethod} as {details.authrole}")
    assert (details.authid, details.authrole, details.authmethod) == ("carol", "device", "cryptosign")

    # Without an authid, the router finds the principal by the public key.
    _, details = await join("com.example.secure", {"cryptosign": {"privkey": PRIVKEY}})
    assert details.authid == "carol"

    error = await failure(join("com.example.secure", {"cryptosign": {"authid": "carol", "privkey": OTHER_KEY}}))
    print(f"a key carol does not have: {error.error}")
    assert error.error == "wamp.error.authentication_denied"


asyncio.run(main())
