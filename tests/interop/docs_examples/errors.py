import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.exception import ApplicationError

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


def divide(x, y):
    if y == 0:
        raise ApplicationError("com.example.error.zero", "cannot divide by zero", x=x)
    return x / y


async def failure(request):
    """The ApplicationError that `request` fails with."""
    try:
        await request
    except ApplicationError as error:
        return error
    raise AssertionError("expected an error")


async def main():
    callee, caller = await join(), await join()
    await callee.register(divide, "com.example.divide")

    error = await failure(caller.call("com.example.divide", 1, 0))
    assert error.error == "com.example.error.zero" and error.kwargs == {"x": 1}
    assert list(error.args) == ["cannot divide by zero"]

    error = await failure(caller.call("com.example.multiply", 2, 3))
    assert error.error == "wamp.error.no_such_procedure"

    error = await failure(caller.register(divide, "com.example.divide"))
    assert error.error == "wamp.error.procedure_already_exists"


asyncio.run(main())
