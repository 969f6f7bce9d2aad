"""TLS on the client port, with certificates from ``switchboard certs``.

Each test makes a development CA and certificates with ``switchboard certs
--out <tmp_path>/certs`` and starts the router with ``--tls-cert``/``--tls-key``
(or, for the documented node config, with ``[server.tls]`` and
``[cluster.tls]``). Then:

* an unmodified Autobahn|Python ``Component`` whose ``ssl.SSLContext`` trusts
  ``ca.pem`` joins over wss://, registers a procedure and calls it, on json and
  msgpack;
* a plain ws:// connection to the same port gets no WELCOME, and the HTTP
  endpoints answer over https:// only;
* a client that does not trust the CA (the system roots, or another
  ``switchboard certs`` CA) fails its TLS handshake;
* the server certificate is valid for localhost, 127.0.0.1, ::1 and each
  ``--host``, and for no other name.
"""

from __future__ import annotations

import asyncio
import http.client
import shutil
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import txaio

txaio.use_asyncio()

import websockets  # noqa: E402
from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402

from conftest import router_binary  # noqa: E402
from raw import HELLO, HELLO_DETAILS, encode  # noqa: E402
from wamp import REALM, ClientSession, close_session, make_serializer, within  # noqa: E402

CERTS_TIMEOUT = 30.0  # seconds for `switchboard certs`
JOIN_TIMEOUT = 10.0
DOCS_EXAMPLES = Path(__file__).parent / "docs_examples" / "security"


def make_certs(directory: Path, *extra: str) -> Path:
    """``switchboard certs --out directory [extra...]``; returns the directory."""
    args = [str(router_binary()), "certs", "--out", str(directory), *extra]
    try:
        run = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=CERTS_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args[1:])} did not finish within {CERTS_TIMEOUT:.0f} s")
    assert run.returncode == 0, (
        f"{' '.join(args[1:])} exited {run.returncode}\n"
        f"stdout:\n{run.stdout.decode(errors='replace')}\nstderr:\n{run.stderr.decode(errors='replace')}"
    )
    return directory


def tls_args(certs: Path) -> list[str]:
    return ["--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem")]


def trusting(ca: Path) -> ssl.SSLContext:
    """A client context that trusts only `ca` and checks host names."""
    return ssl.create_default_context(cafile=str(ca))


@pytest.fixture
def certs(tmp_path) -> Path:
    return make_certs(tmp_path / "certs")


@pytest.fixture
def tls_router(router_factory, certs):
    return router_factory(*tls_args(certs))


async def component_join(url: str, serializer: str, tls: ssl.SSLContext, realm: str = REALM):
    """Join `realm` over `url` with an Autobahn Component using `tls`.

    Returns ``(session, details)``; raises what the connection failed with.
    """
    loop = asyncio.get_running_loop()
    parsed = urlparse(url)
    endpoint = {"type": "tcp", "host": parsed.hostname, "port": parsed.port, "tls": tls}
    transport = {"url": url, "endpoint": endpoint, "serializers": [serializer], "max_retries": 0}
    component = Component(transports=[transport], realm=realm)
    joined: asyncio.Future = loop.create_future()
    component.on_join(lambda session, details: joined.done() or joined.set_result((session, details)))

    def ended(done) -> None:
        if not joined.done():
            failure = done.exception() if not done.cancelled() else None
            joined.set_exception(failure or ConnectionError(f"{url}: the connection ended before WELCOME"))

    component.start(loop).add_done_callback(ended)
    try:
        return await asyncio.wait_for(asyncio.shield(joined), JOIN_TIMEOUT)
    except asyncio.TimeoutError:
        component.stop()
        raise AssertionError(f"no WELCOME over {url} within {JOIN_TIMEOUT} s") from None


async def leave(session) -> None:
    """GOODBYE, waiting at most a few seconds for the router's answer."""
    if session.is_attached():
        try:
            await asyncio.wait_for(asyncio.ensure_future(session.leave()), 5)
        except Exception:
            pass


async def tls_handshake_error(url: str, serializer: str, tls: ssl.SSLContext, server_hostname: str | None = None):
    """Open a WAMP connection over TLS with `tls`; return the exception it failed with, or None."""
    loop = asyncio.get_running_loop()
    parsed = urlparse(url)
    session = ClientSession(ComponentConfig(realm=REALM))
    factory = WampWebSocketClientFactory(lambda: session, url=url, serializers=[make_serializer(serializer)])
    try:
        transport, _ = await asyncio.wait_for(
            loop.create_connection(
                factory,
                parsed.hostname,
                parsed.port,
                ssl=tls,
                server_hostname=server_hostname or parsed.hostname,
            ),
            JOIN_TIMEOUT,
        )
    except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
        return exc
    try:
        await within(asyncio.shield(session.joined), JOIN_TIMEOUT, "WELCOME")
    finally:
        await close_session(session)
        transport.abort()
    return None


async def assert_calls_over_tls(url: str, serializer: str, ca: Path) -> None:
    callee, details = await component_join(url, serializer, trusting(ca))
    caller, _ = await component_join(url, serializer, trusting(ca))
    try:
        assert details.transport is not None and details.transport.is_secure, f"transport: {details.transport!r}"
        await within(callee.register(lambda a, b: a + b, "com.example.tls.add"), 5, "REGISTERED")
        assert await within(caller.call("com.example.tls.add", 20, 22), 5, "RESULT") == 42
        assert await within(caller.call("com.example.tls.add", "wss", "!"), 5, "RESULT") == "wss!"
    finally:
        await leave(caller)
        await leave(callee)


# ---------------------------------------------------------------------------
# switchboard certs
# ---------------------------------------------------------------------------


def test_certs_writes_the_ca_the_server_and_each_node_certificate(tmp_path):
    out = make_certs(tmp_path / "certs", "--nodes", "1,2,3")
    expected = ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"]
    expected += [f"node-{i}{suffix}" for i in (1, 2, 3) for suffix in (".pem", "-key.pem")]
    missing = [name for name in expected if not (out / name).is_file()]
    assert not missing, f"switchboard certs did not write {missing}; it wrote {sorted(p.name for p in out.iterdir())}"
    for name in expected:
        text = (out / name).read_text("ascii", "replace")
        kind = "PRIVATE KEY-----" if name.endswith("-key.pem") else "-----BEGIN CERTIFICATE-----"
        assert kind in text, f"{name} is not PEM ({kind.strip('-')})"
    ssl.create_default_context(cafile=str(out / "ca.pem"))  # a CA Python can load


# ---------------------------------------------------------------------------
# The client port over TLS
# ---------------------------------------------------------------------------


def test_listening_line_names_a_wss_url(tls_router):
    assert tls_router.url.startswith("wss://127.0.0.1:"), tls_router.stdout_lines


async def test_autobahn_component_trusting_the_ca_registers_and_calls_over_wss(tls_router, certs, serializer):
    await assert_calls_over_tls(tls_router.url, serializer, certs / "ca.pem")


async def test_plain_ws_connection_to_the_tls_port_gets_no_welcome(tls_router, certs, serializer):
    plain = tls_router.url.replace("wss://", "ws://", 1)
    reply = None
    try:
        async with asyncio.timeout(10):
            async with websockets.connect(
                plain, subprotocols=[f"wamp.2.{serializer}"], open_timeout=5, close_timeout=1
            ) as ws:
                await ws.send(encode(serializer, [HELLO, REALM, HELLO_DETAILS]))
                reply = await ws.recv()
    except (OSError, EOFError, TimeoutError, websockets.exceptions.WebSocketException):
        pass  # refused: what we want
    assert reply is None, f"a plain ws:// connection to the TLS port got {reply!r}"
    await assert_calls_over_tls(tls_router.url, serializer, certs / "ca.pem")


async def test_http_endpoints_are_served_over_https_on_the_tls_port(tls_router, certs):
    parsed = urlparse(tls_router.url)
    base = f"{parsed.hostname}:{parsed.port}"

    def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return response.status, response.read().decode("utf-8", "replace")

    status, body = await asyncio.wait_for(
        asyncio.to_thread(get, f"https://{base}/health/live", trusting(certs / "ca.pem")), 10
    )
    assert status == 200, body
    status, body = await asyncio.wait_for(
        asyncio.to_thread(get, f"https://{base}/metrics", trusting(certs / "ca.pem")), 10
    )
    assert status == 200 and "switchboard_" in body, body[:500]
    with pytest.raises((OSError, http.client.HTTPException)):
        await asyncio.wait_for(asyncio.to_thread(get, f"http://{base}/health/live"), 10)


@pytest.mark.parametrize("trust", ["system-roots", "another-dev-ca"])
async def test_client_that_does_not_trust_the_ca_fails_the_handshake(tls_router, certs, tmp_path, serializer, trust):
    if trust == "system-roots":
        context = ssl.create_default_context()
    else:
        context = trusting(make_certs(tmp_path / "other") / "ca.pem")
    error = await tls_handshake_error(tls_router.url, serializer, context)
    assert isinstance(error, ssl.SSLCertVerificationError), f"expected a certificate verification error, got {error!r}"
    await assert_calls_over_tls(tls_router.url, serializer, certs / "ca.pem")


@pytest.mark.parametrize(
    "name, valid",
    [("localhost", True), ("127.0.0.1", True), ("::1", True), ("switchboard.example.com", True), ("example.org", False)],
)
async def test_server_certificate_names_localhost_loopback_and_each_host(
    router_factory, tmp_path, name, valid
):
    certs = make_certs(tmp_path / "certs", "--host", "switchboard.example.com")
    router = router_factory(*tls_args(certs))
    error = await tls_handshake_error(router.url, "json", trusting(certs / "ca.pem"), server_hostname=name)
    if valid:
        assert error is None, f"the certificate is not valid for {name!r}: {error!r}"
    else:
        assert isinstance(error, ssl.SSLCertVerificationError), f"the certificate is valid for {name!r}"


# ---------------------------------------------------------------------------
# The documented node config: [server.tls] and [cluster.tls]
# ---------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on loopback (released before use; fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_documented_node_config_serves_wss_as_a_single_node_cluster(router_factory, tmp_path, serializer):
    """docs/security.md's node_tls.toml, next to its files, on one loopback node."""
    node = tmp_path / "node"
    make_certs(node, "--nodes", "1")
    shutil.copy(DOCS_EXAMPLES / "node_tls.toml", node / "node_tls.toml")
    peer = f"127.0.0.1:{free_port()}"
    router = router_factory(
        "--config", str(node / "node_tls.toml"),
        "--members", f"1={peer}",
        "--peer-listen", peer,
        "--data-dir", str(node / "data"),
        cwd=node,
    )
    assert router.url.startswith("wss://"), router.stdout_lines
    await assert_calls_over_tls(router.url, serializer, node / "ca.pem")
