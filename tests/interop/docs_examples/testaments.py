import asyncio
import os

from autobahn.asyncio.component import Component

URL = os.environ.get("SWITCHBOARD_URL", "ws://localhost:18080/ws")
SERIALIZER = os.environ.get("SWITCHBOARD_SERIALIZER", "json")


async def join():
    """Start a Component; return it and its session once it has joined."""
    transport = {"url": URL, "serializers": [SERIALIZER]}
    component = Component(transports=[transport], realm="com.example.realm")
    joined = asyncio.get_running_loop().create_future()
    component.on_join(lambda session, details: joined.set_result(session))
    component.start()
    return component, await joined


async def main():
    _, monitor = await join()
    gone = asyncio.Queue()
    await monitor.subscribe(
        lambda *args, **kwargs: gone.put_nowait((args, kwargs)), "com.example.worker.gone"
    )

    worker_component, worker = await join()
    # A testament that is no longer wanted can be flushed: this one never fires.
    await worker.call("wamp.session.add_testament", "com.example.worker.gone", ["stale"], {})
    assert await worker.call("wamp.session.flush_testaments") == 1  # scope "destroyed"
    await worker.call(
        "wamp.session.add_testament",
        "com.example.worker.gone",
        ["worker-7"],
        {"jobs": 3},
    )

    await worker_component.stop()  # GOODBYE; a lost connection publishes it too
    args, kwargs = await asyncio.wait_for(gone.get(), 5)
    print("testament:", args, kwargs)
    assert args == ("worker-7",) and kwargs == {"jobs": 3}
    assert gone.empty()

    # kill_all ends every session of the realm but the caller's, on every node.
    await join()
    assert await monitor.call("wamp.session.kill_all") >= 1


asyncio.run(main())
