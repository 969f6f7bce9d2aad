import asyncio
import os

from autobahn.asyncio.component import Component

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


interrupted = asyncio.Event()


async def slow():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:  # Switchboard sent INTERRUPT
        interrupted.set()
        raise


async def main():
    callee, caller = await join(), await join()
    await callee.register(slow, "com.example.slow")
    call = caller.call("com.example.slow")
    await asyncio.sleep(0.2)
    call.cancel()  # sends CANCEL with no mode: Switchboard uses killnowait
    try:
        await call
        raise AssertionError("the call should have been canceled")
    except asyncio.CancelledError:
        print("the call was canceled")
    await asyncio.wait_for(interrupted.wait(), 5)
    print("the callee was interrupted")


asyncio.run(main())
