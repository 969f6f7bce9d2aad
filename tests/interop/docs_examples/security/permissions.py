# Start the router with: switchboard --config permissions.toml

import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions

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


def report(details):
    return f"{details.procedure} is fine, {details.caller_authid} ({details.caller_authrole})"


async def main():
    backend, _ = await join("com.example.secure", ticket("backend", "backend-ticket"))
    ops, _ = await join("com.example.secure", ticket("ops", "ops-ticket"))
    options = RegisterOptions(match="prefix", details_arg="details")
    await backend.register(report, "com.example.", options=options)

    # exact beats prefix, prefix beats wildcard; no matching rule means no.
    for procedure, allowed in [
        ("com.example.pump.status", True),  # only the wildcard matches
        ("com.example.vault.status", False),  # the prefix beats the wildcard
        ("com.example.vault.health", True),  # the exact rule beats the prefix
        ("com.example.pump.speed", False),  # no rule matches
        ("wamp.session.count", False),  # nor here: the meta API too needs a rule
    ]:
        try:
            print(await ops.call(procedure))
            assert allowed, f"{procedure} should have been refused"
        except ApplicationError as error:
            print(f"{procedure}: {error.error}")
            assert not allowed and error.error == "wamp.error.not_authorized"

    error = await failure(ops.register(report, "com.example.pump.status"))
    assert error.error == "wamp.error.not_authorized"  # ops may call, not register


asyncio.run(main())
