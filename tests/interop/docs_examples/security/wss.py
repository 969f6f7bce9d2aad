# Make a development CA and certificates with: switchboard certs --out certs
# Start the router with: switchboard --tls-cert certs/server.pem --tls-key certs/server-key.pem

import asyncio
import os
import ssl
from urllib.parse import urlparse

from autobahn.asyncio.component import Component

URL = os.environ.get("SWITCHBOARD_URL", "wss://localhost:18080/ws")
SERIALIZER = os.environ.get("SWITCHBOARD_SERIALIZER", "json")
CA = os.environ.get("SWITCHBOARD_CA", "certs/ca.pem")


async def join():
    """Start a Component over TLS; return its session and WELCOME details once it has joined."""
    url = urlparse(URL)
    tls = ssl.create_default_context(cafile=CA)  # checks the certificate and the host name
    endpoint = {"type": "tcp", "host": url.hostname, "port": url.port, "tls": tls}
    transport = {"url": URL, "endpoint": endpoint, "serializers": [SERIALIZER], "max_retries": 0}
    component = Component(transports=[transport], realm="com.example.realm")
    joined = asyncio.get_running_loop().create_future()
    component.on_join(lambda session, details: joined.set_result((session, details)))
    done = component.start()  # fails if the connection or the TLS handshake does
    done.add_done_callback(lambda _: joined.done() or joined.set_exception(ConnectionError(URL)))
    return await joined


async def main():
    (callee, details), (caller, _) = await join(), await join()
    assert details.transport.is_secure
    await callee.register(lambda a, b: a + b, "com.example.add")
    result = await caller.call("com.example.add", 2, 3)
    print(f"over {URL}: 2 + 3 = {result}")
    assert result == 5


asyncio.run(main())
