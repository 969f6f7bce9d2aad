import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.exception import ApplicationError
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


def worker(name, busy):
    def render(job):
        if busy[name]:
            raise ApplicationError("wamp.error.unavailable", f"{name} is busy")
        return f"{job} rendered by {name}"

    return render


async def main():
    busy = {"alpha": True, "beta": False}
    options = RegisterOptions(invoke="roundrobin")
    for name in busy:
        callee = await join()
        await callee.register(worker(name, busy), "com.example.render", options=options)

    caller = await join()
    result = await caller.call("com.example.render", "job-1")
    print(result)
    assert result == "job-1 rendered by beta"

    busy["beta"] = True
    try:
        await caller.call("com.example.render", "job-2")
        raise AssertionError("every callee is busy: the call should fail")
    except ApplicationError as error:
        print(f"{error.error}: {error.args[0]}")
        assert error.error == "wamp.error.no_available_callee"


asyncio.run(main())
