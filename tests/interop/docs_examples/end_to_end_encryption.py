import asyncio
import os

from autobahn.asyncio.component import Component
from autobahn.wamp.cryptobox import Key, KeyRing

URL = os.environ.get("SWITCHBOARD_URL", "ws://localhost:18080/ws")
SERIALIZER = os.environ.get("SWITCHBOARD_SERIALIZER", "json")

# Each side holds one private key; both sides know both (a real deployment
# gives each side only its own private key and the other's public key).
ORIGINATOR, _ = KeyRing().generate_key()
RESPONDER, _ = KeyRing().generate_key()


async def join():
    """Start a Component; return its session once it has joined the realm,
    with every payload under com.example.vault. sealed end to end."""
    transport = {"url": URL, "serializers": [SERIALIZER]}
    component = Component(transports=[transport], realm="com.example.realm")
    joined = asyncio.get_running_loop().create_future()
    component.on_join(lambda session, details: joined.set_result(session))
    component.start()
    session = await joined
    keyring = KeyRing()
    keyring.set_key("com.example.vault.", Key(originator_priv=ORIGINATOR, responder_priv=RESPONDER))
    session.set_payload_codec(keyring)
    return session


async def main():
    callee = await join()
    await callee.register(lambda pin: f"opened with {pin}", "com.example.vault.open")

    subscriber = await join()
    news = asyncio.get_running_loop().create_future()
    await subscriber.subscribe(lambda text: news.set_result(text), "com.example.vault.news")

    caller = await join()
    result = await caller.call("com.example.vault.open", "1234")
    print(result)
    assert result == "opened with 1234"

    caller.publish("com.example.vault.news", "the vault is open")
    print(await asyncio.wait_for(news, 5))


asyncio.run(main())
