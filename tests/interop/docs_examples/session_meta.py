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


async def main():
    admin = await join()
    joined, left = asyncio.Queue(), asyncio.Queue()
    await admin.subscribe(joined.put_nowait, "wamp.session.on_join")
    await admin.subscribe(lambda *args: left.put_nowait(args), "wamp.session.on_leave")

    worker = (await join()).session_id
    details = await asyncio.wait_for(joined.get(), 5)
    assert details["session"] == worker
    print("sessions:", await admin.call("wamp.session.list"))
    assert await admin.call("wamp.session.count") >= 2
    info = await admin.call("wamp.session.get", worker)
    assert info["authrole"] == "anonymous"

    await admin.call("wamp.session.kill", worker, message="maintenance")
    session, authid, authrole = await asyncio.wait_for(left.get(), 5)
    print(f"{session} ({authid}) left")
    assert session == worker


asyncio.run(main())
