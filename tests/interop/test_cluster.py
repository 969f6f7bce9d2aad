"""Autobahn|Python clients against a three-node Switchboard cluster.

Three router processes on loopback form a cluster (``--node-id``,
``--members``, ``--peer-listen``, ``--data-dir``, ``--failure-timeout-ms``).
Sessions on different nodes call, register and publish to each other; nodes
are SIGKILLed mid-call and restarted on their data. Each scenario prints its
figures (run with ``-s`` or ``-rP`` to see them).

Most tests share one cluster per module (``cluster``); the tests that kill
nodes start their own (``own_cluster``). Every URI a test uses names its
serializer, so the json and msgpack runs of a test never meet in the shared
cluster's registry.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, CallResult, PublishOptions, RegisterOptions, SubscribeOptions

from conftest import Router, router_binary
from raw import CALL, EVENT, INVOCATION, PUBLISH, RESULT, SUBSCRIBE, SUBSCRIBED, YIELD, raw_session
from test_payload_passthru import PPT_OPTIONS, PPT_ROLES, ppt_of, sealed
from test_payload_transparency import fresh_keys, sealed_session
from wamp import ClientSession, Inbox, close_session, connect, open_session, within

SIZE = 3
FAILURE_TIMEOUT_MS = 600
NODE_LOG = "warn,openraft=off"
READY_TIMEOUT = 30.0  # seconds for all three nodes to print their listening line

CANCELED = "wamp.error.canceled"
TIMEOUT = "wamp.error.timeout"
ALREADY_EXISTS = "wamp.error.procedure_already_exists"
NO_SUCH_PROCEDURE = "wamp.error.no_such_procedure"

SEED_DIR = Path(__file__).parent / "seed"


# ---------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on loopback (released before use; fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """Three router processes; node ``n`` is ``nodes[n - 1]`` (None while killed)."""

    def __init__(self, directory: Path, size: int = SIZE):
        self.binary = router_binary()
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.peer_addrs = [f"127.0.0.1:{free_port()}" for _ in range(size)]
        self.members = ",".join(f"{i + 1}={addr}" for i, addr in enumerate(self.peer_addrs))
        self.env = dict(os.environ, RUST_LOG=NODE_LOG)
        # The example realm, keeping history of com.example.history.* (for the history test).
        self.config = self.dir / "realm.toml"
        self.config.write_text(
            '[[realm]]\nname = "com.example.realm"\n'
            '[[realm.history]]\nuri = "com.example.history."\nmatch = "prefix"\nlimit = 100\n'
        )
        self.nodes: list[Router | None] = [None] * size
        self.routers: list[Router] = []  # every process ever started, for failure reports

    def _spawn(self, node: int) -> Router:
        args = [
            str(self.binary),
            "--host", "127.0.0.1",
            "--port", "0",
            "--node-id", str(node),
            "--members", self.members,
            "--peer-listen", self.peer_addrs[node - 1],
            "--data-dir", str(self.dir / f"node-{node}"),
            "--failure-timeout-ms", str(FAILURE_TIMEOUT_MS),
            "--config", str(self.config),
        ]
        log_path = self.dir / f"node-{node}.{len(self.routers)}.stderr.log"
        router = Router(args, log_path, env=self.env)
        self.routers.append(router)
        self.nodes[node - 1] = router
        return router

    def start(self) -> "Cluster":
        # All nodes must run before any is ready: a node prints its
        # listening line only once the cluster has a leader and it has joined.
        spawned = [self._spawn(node) for node in range(1, len(self.nodes) + 1)]
        for router in spawned:
            router.wait_ready(READY_TIMEOUT)
        return self

    def url(self, node: int) -> str:
        router = self.nodes[node - 1]
        assert router is not None and router.url is not None, f"node {node} is not running"
        return router.url

    def kill(self, node: int) -> None:
        """SIGKILL node ``node``: it dies at once, telling no one."""
        router = self.nodes[node - 1]
        if router is not None:
            router.process.kill()
            router.process.wait(timeout=5)
            router.stop()  # closes its log, joins its reader
            self.nodes[node - 1] = None

    def restart(self, node: int) -> float:
        """Starts node ``node`` again on its data dir; returns seconds until it is ready."""
        assert self.nodes[node - 1] is None, f"node {node} is still running"
        started = time.monotonic()
        self._spawn(node).wait_ready(READY_TIMEOUT)
        return time.monotonic() - started

    def status(self, node: int) -> dict:
        http = self.url(node).replace("ws://", "http://", 1).rsplit("/ws", 1)[0]
        with urllib.request.urlopen(f"{http}/cluster/status", timeout=5) as response:
            return json.loads(response.read())

    def dead_nodes(self) -> list[int]:
        return [
            index + 1
            for index, router in enumerate(self.nodes)
            if router is None or router.process.poll() is not None
        ]

    def stop(self) -> None:
        for router in self.nodes:
            if router is not None:
                router.stop()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(request, shared_cluster) -> Cluster:
    """The module's three-node cluster (its nodes' stderr goes into a failure's report)."""
    request.node._switchboard_routers = shared_cluster.routers
    dead = shared_cluster.dead_nodes()
    assert not dead, f"node(s) {dead} of the shared cluster died"
    return shared_cluster


@pytest.fixture
def own_cluster(request, tmp_path):
    """A three-node cluster of the test's own, for tests that kill nodes."""
    cluster = Cluster(tmp_path / "cluster")
    request.node._switchboard_routers = cluster.routers
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


async def call(session: ClientSession, procedure: str, *args, **kwargs):
    return await within(session.call(procedure, *args, **kwargs), 5.0, f"answer to CALL {procedure}")


async def call_error(session: ClientSession, procedure: str, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        await call(session, procedure, *args, **kwargs)
    return excinfo.value


async def register(session: ClientSession, endpoint, procedure: str, options: RegisterOptions | None = None):
    return await within(session.register(endpoint, procedure, options), 5.0, f"REGISTERED for {procedure}")


async def call_until_answered(session: ClientSession, procedure: str, attempts: int = 50):
    """Calls until a result comes back (retrying errors every 100 ms); returns (result, errors)."""
    errors: list[str] = []
    for _ in range(attempts):
        try:
            return await call(session, procedure), errors
        except ApplicationError as error:
            errors.append(error.error)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no answer to {procedure} after {attempts} attempts; errors: {errors}")


def named(name: str):
    return lambda *args, **kwargs: name


# ---------------------------------------------------------------------------
# 1. Bondy's guide across nodes
# ---------------------------------------------------------------------------


def seed_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["BONDY_URL"] = url
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("REALM", "AUTHMETHOD"):
        env.pop(name, None)
    return env


async def run_seed_caller(url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SEED_DIR / "caller.py"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=seed_env(url),
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 10.0)
    except asyncio.TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        pytest.fail(f"caller.py did not finish within 10 s\nstdout:\n{stdout!r}\nstderr:\n{stderr!r}")
    return process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")


@pytest.mark.timeout(45)
async def test_guide_caller_on_node_1_gets_sum_from_guide_callee_on_node_3(cluster, tmp_path):
    callee_log = tmp_path / "callee.log"
    with open(callee_log, "wb") as log:
        callee = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SEED_DIR / "callee.py"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=seed_env(cluster.url(3)),
        )
    try:
        # Wait (bounded) until com.example.add is callable from node 1.
        started = time.monotonic()
        async with connect(cluster.url(1)) as probe:
            while True:
                try:
                    await call(probe, "com.example.add", 0, 0)
                    break
                except ApplicationError as error:
                    assert error.error == NO_SUCH_PROCEDURE, str(error)
                assert callee.returncode is None, callee_log.read_text("utf-8", "replace")
                assert time.monotonic() - started < 15, (
                    "callee.py on node 3 did not register com.example.add within 15 s:\n"
                    + callee_log.read_text("utf-8", "replace")
                )
                await asyncio.sleep(0.2)
        visible = time.monotonic() - started

        started = time.monotonic()
        code, stdout, stderr = await run_seed_caller(cluster.url(1))
        ran = time.monotonic() - started
        report = (
            f"exit={code}\nstdout:\n{stdout}\nstderr:\n{stderr}\n"
            f"--- callee output:\n{callee_log.read_text('utf-8', 'replace')}"
        )
        print(f"guide callee on node 3 callable from node 1 after {visible:.3f} s; caller.py on node 1 ran {ran:.3f} s")
        assert "2 + 3 = 5.0" in stdout.splitlines(), report
        assert code == 0, report
    finally:
        if callee.returncode is None:
            callee.kill()
        await asyncio.wait_for(callee.wait(), 5)


# ---------------------------------------------------------------------------
# 2. Cross-node call with args, kwargs and an application error
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_call_from_node_1_to_callee_on_node_3_relays_args_kwargs_and_application_error(cluster, serializer):
    echo_uri = f"com.example.cluster.{serializer}.echo"
    fail_uri = f"com.example.cluster.{serializer}.fail"

    def echo(*args, **kwargs):
        return CallResult(*args, echoed=True, **kwargs)

    def fail(*args, **kwargs):
        raise ApplicationError("com.example.error.refused", "no thanks", *args, **kwargs)

    async with connect(cluster.url(3), serializer) as callee, connect(cluster.url(1), serializer) as caller:
        await register(callee, echo, echo_uri)
        await register(callee, fail, fail_uri)

        started = time.monotonic()
        result = await call(caller, echo_uri, 1, "two", [3.5, None], color="blue", n={"k": [1, 2]})
        elapsed = time.monotonic() - started
        assert isinstance(result, CallResult), repr(result)
        assert list(result.results) == [1, "two", [3.5, None]]
        assert result.kwresults == {"color": "blue", "n": {"k": [1, 2]}, "echoed": True}

        error = await call_error(caller, fail_uri, 7, reason="test")
        assert error.error == "com.example.error.refused", str(error)
        assert list(error.args) == ["no thanks", 7], repr(error.args)
        assert error.kwargs == {"reason": "test"}, repr(error.kwargs)

        latencies = []
        for index in range(10):
            started = time.monotonic()
            assert list((await call(caller, echo_uri, index)).results) == [index]
            latencies.append((time.monotonic() - started) * 1000)
        print(
            f"[{serializer}] cross-node call node 1 -> node 3: first {elapsed * 1000:.1f} ms, "
            f"next 10 median {sorted(latencies)[5]:.1f} ms (min {min(latencies):.1f}, max {max(latencies):.1f}); "
            f"error relayed: {error.error} {list(error.args)} {error.kwargs}"
        )


# ---------------------------------------------------------------------------
# 3. Shared roundrobin registration over the three nodes
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_roundrobin_over_callees_on_three_nodes_rotates_under_one_registration_id(cluster, serializer):
    uri = f"com.example.cluster.{serializer}.rr"
    rr = RegisterOptions(invoke="roundrobin")
    async with connect(cluster.url(1), serializer) as one, connect(cluster.url(2), serializer) as two, connect(
        cluster.url(3), serializer
    ) as three, connect(cluster.url(2), serializer) as caller:
        registrations = []
        for session, name in ((one, "one"), (two, "two"), (three, "three")):
            registrations.append(await register(session, named(name), uri, rr))
        ids = {registration.id for registration in registrations}
        assert len(ids) == 1, f"the three callees got different registration ids: {ids}"

        looked_up = {}
        for node in (1, 2, 3):
            async with connect(cluster.url(node), serializer) as meta:
                looked_up[node] = await call(meta, "wamp.registration.lookup", uri)
        print(f"[{serializer}] wamp.registration.lookup per node: {looked_up}; REGISTERED ids: {ids}")
        assert set(looked_up.values()) == ids, f"lookup per node {looked_up}, registration id {ids}"

        served = [await call(caller, uri) for _ in range(6)]
        print(f"[{serializer}] roundrobin calls from node 2 served by: {served}")
        assert sorted(served[:3]) == ["one", "three", "two"], served
        assert served[3:] == served[:3], served


async def test_a_call_declined_on_node_1_is_rerouted_to_a_callee_on_node_3(cluster, serializer):
    uri = f"com.example.cluster.{serializer}.reroute"
    first = RegisterOptions(invoke="first")

    def busy(*args, **kwargs):
        raise ApplicationError("wamp.error.unavailable", "node 1's callee is busy")

    async with connect(cluster.url(1), serializer) as one, connect(cluster.url(3), serializer) as three, connect(
        cluster.url(2), serializer
    ) as caller:
        registration = await register(one, busy, uri, first)
        await register(three, named("three"), uri, first)
        assert await call(caller, uri) == "three"
        await within(three.leave(), 5.0, "node 3's callee leaving")
        for _ in range(50):  # until node 2 has applied the departure
            if await call(caller, "wamp.registration.count_callees", registration.id) == 1:
                break
            await asyncio.sleep(0.05)
        error = await call_error(caller, uri)
        print(f"[{serializer}] with only the busy callee left: {error.error}")
        assert error.error == "wamp.error.no_available_callee", error


# ---------------------------------------------------------------------------
# 4. REGISTER race across nodes
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_concurrent_registers_of_one_uri_on_three_nodes_have_exactly_one_winner(cluster, serializer):
    uri = f"com.example.cluster.{serializer}.race"
    async with connect(cluster.url(1), serializer) as a, connect(cluster.url(2), serializer) as b, connect(
        cluster.url(3), serializer
    ) as c:
        outcomes = await within(
            asyncio.gather(*(s.register(named(n), uri) for s, n in ((a, "1"), (b, "2"), (c, "3"))), return_exceptions=True),
            10.0,
            "answers to the three REGISTERs",
        )
        winners = [node for node, o in enumerate(outcomes, 1) if not isinstance(o, BaseException)]
        losers = {node: o for node, o in enumerate(outcomes, 1) if isinstance(o, BaseException)}
        print(
            f"[{serializer}] REGISTER race across 3 nodes: winner node(s) {winners}, "
            f"losers {({n: getattr(e, 'error', repr(e)) for n, e in losers.items()})}"
        )
        assert len(winners) == 1, outcomes
        for node, error in losers.items():
            assert isinstance(error, ApplicationError), f"node {node}: {error!r}"
            assert error.error == ALREADY_EXISTS, f"node {node}: {error}"

        # The winner serves calls from every node.
        for node in (1, 2, 3):
            async with connect(cluster.url(node), serializer) as caller:
                assert await call(caller, uri) == str(winners[0])


# ---------------------------------------------------------------------------
# 5. Pattern-based registrations across nodes
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_prefix_and_wildcard_registrations_on_node_1_serve_calls_from_node_3(cluster, serializer):
    prefix = f"com.example.cluster.{serializer}.math."
    wildcard = f"com.{serializer}..op"

    def labelled(label: str):
        def endpoint(details):
            return [label, details.procedure]

        return endpoint

    async with connect(cluster.url(1), serializer) as callee, connect(cluster.url(3), serializer) as caller:
        await register(callee, labelled("prefix"), prefix, RegisterOptions(match="prefix", details=True))
        await register(callee, labelled("wildcard"), wildcard, RegisterOptions(match="wildcard", details=True))

        prefixed = f"{prefix}add"
        assert await call(caller, prefixed) == ["prefix", prefixed]
        deeper = f"{prefix}trig.sin"
        assert await call(caller, deeper) == ["prefix", deeper]
        matched = f"com.{serializer}.other.op"
        assert await call(caller, matched) == ["wildcard", matched]
        error = await call_error(caller, f"com.{serializer}.other.nop")
        assert error.error == NO_SUCH_PROCEDURE, str(error)
        print(f"[{serializer}] node 3 reached node 1's prefix ({prefixed}, {deeper}) and wildcard ({matched}) registrations")


# ---------------------------------------------------------------------------
# 6. Progressive results and call timeouts across nodes
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_progressive_results_and_call_timeout_work_across_nodes(cluster, serializer):
    stream_uri = f"com.example.cluster.{serializer}.stream"
    stuck_uri = f"com.example.cluster.{serializer}.stuck"
    release = asyncio.Event()
    interrupted = asyncio.Event()

    async def stream(details):
        assert details.progress is not None, "the caller asked for progressive results"
        for index in range(3):
            details.progress(index, step=index)
            await asyncio.sleep(0.02)
        return "end"

    async def stuck():
        try:
            await asyncio.wait_for(release.wait(), 30)
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return "too late"

    try:
        async with connect(cluster.url(2), serializer) as callee, connect(cluster.url(1), serializer) as caller:
            await register(callee, stream, stream_uri, RegisterOptions(details=True))
            await register(callee, stuck, stuck_uri)

            progress: list = []
            options = CallOptions(on_progress=lambda *args, **kwargs: progress.append((args, kwargs)))
            assert await call(caller, stream_uri, options=options) == "end"
            assert progress == [((0,), {"step": 0}), ((1,), {"step": 1}), ((2,), {"step": 2})], progress

            started = time.monotonic()
            error = await call_error(caller, stuck_uri, options=CallOptions(timeout=300))
            elapsed = time.monotonic() - started
            print(
                f"[{serializer}] progressive results node 2 -> node 1: {progress}; "
                f"cross-node timeout of 300 ms fired after {elapsed * 1000:.0f} ms"
            )
            assert error.error == TIMEOUT, str(error)
            assert 0.25 <= elapsed < 3.0, f"timeout of 300 ms fired after {elapsed:.3f} s"
            await within(interrupted.wait(), 3.0, "INTERRUPT at the callee on node 2 after the timeout")
            assert caller.is_attached() and callee.is_attached()
    finally:
        release.set()


# ---------------------------------------------------------------------------
# 7. SIGKILL of the callee's node mid-call
# ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_sigkill_of_callees_node_mid_call_cancels_the_call_and_next_call_goes_to_survivor(own_cluster, serializer):
    uri = "com.example.cluster.work"
    first = RegisterOptions(invoke="first")
    invoked = asyncio.Event()
    release = asyncio.Event()

    async def sleeper():
        invoked.set()
        await asyncio.wait_for(release.wait(), 30)
        return "doomed"

    # Its node is killed under it: it is closed by aborting the connection.
    doomed = await open_session(own_cluster.url(3), serializer)
    try:
        async with connect(own_cluster.url(2), serializer) as survivor, connect(own_cluster.url(1), serializer) as caller:
            await register(doomed, sleeper, uri, first)
            await register(survivor, named("survivor"), uri, first)

            pending = asyncio.ensure_future(caller.call(uri))
            await within(invoked.wait(), 5.0, "INVOCATION at the callee on node 3")
            killed = time.monotonic()
            own_cluster.kill(3)
            try:
                outcome = await asyncio.wait_for(pending, 10.0)
            except asyncio.TimeoutError:
                raise AssertionError("the call to the killed node's callee got no answer within 10 s") from None
            except ApplicationError as error:
                outcome = error
            to_error = time.monotonic() - killed
            print(
                f"[{serializer}] SIGKILL of node 3 mid-call: caller on node 1 got "
                f"{getattr(outcome, 'error', repr(outcome))} after {to_error * 1000:.0f} ms "
                f"(failure timeout {FAILURE_TIMEOUT_MS} ms)"
            )
            assert isinstance(outcome, ApplicationError), f"expected an error, got result {outcome!r}"
            assert outcome.error == CANCELED, str(outcome)
            assert to_error < 3.0, f"error came {to_error:.3f} s after the kill"

            retried = time.monotonic()
            answer, errors = await call_until_answered(caller, uri)
            print(
                f"[{serializer}] next call answered by {answer!r} {(time.monotonic() - retried) * 1000:.0f} ms later "
                f"after {len(errors)} failed attempt(s): {errors}"
            )
            assert answer == "survivor"
    finally:
        release.set()
        doomed.drop_connection()


# ---------------------------------------------------------------------------
# 8. Pub/sub across nodes
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_event_published_on_node_2_reaches_subscribers_on_every_node_exactly_once(cluster, serializer):
    topic = f"com.example.cluster.{serializer}.news"
    inbox = Inbox()
    async with connect(cluster.url(1), serializer) as s1, connect(cluster.url(2), serializer) as s2, connect(
        cluster.url(3), serializer
    ) as s3, connect(cluster.url(2), serializer) as publisher:
        for node, session in ((1, s1), (2, s2), (3, s3)):
            await within(session.subscribe(inbox.handler(f"node {node}"), topic), 5.0, f"SUBSCRIBED on node {node}")
        # The publisher subscribes too: exclude_me (default true) keeps the event from it.
        await within(publisher.subscribe(inbox.handler("publisher"), topic), 5.0, "SUBSCRIBED of the publisher")

        started = time.monotonic()
        await within(
            publisher.publish(topic, "hi", n=1, options=PublishOptions(acknowledge=True)), 5.0, "PUBLISHED"
        )
        events = await inbox.take(3, 5.0, "events")
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.5)  # any duplicate would arrive by now
        print(f"[{serializer}] event from node 2 delivered to {sorted(tag for tag, _, _ in inbox.seen)} in {elapsed * 1000:.1f} ms")
        assert sorted(inbox.seen) == [
            ("node 1", ["hi"], {"n": 1}),
            ("node 2", ["hi"], {"n": 1}),
            ("node 3", ["hi"], {"n": 1}),
        ], inbox.seen
        assert len(events) == 3


@pytest.mark.timeout(30)
async def test_black_and_whitelists_hold_for_subscribers_on_other_nodes(cluster, serializer):
    topic = f"com.example.cluster.{serializer}.listed"
    inbox = Inbox()
    async with connect(cluster.url(1), serializer) as s1, connect(cluster.url(3), serializer) as s3, connect(
        cluster.url(2), serializer
    ) as publisher:
        for node, session in ((1, s1), (3, s3)):
            subscription = await within(
                session.subscribe(inbox.handler(f"node {node}"), topic), 5.0, f"SUBSCRIBED on node {node}"
            )
        for _ in range(50):  # until the publisher's node has applied both subscriptions
            if await call(publisher, "wamp.subscription.count_subscribers", subscription.id) == 2:
                break
            await asyncio.sleep(0.05)
        three = s3.joined.result()
        for label, options in (
            ("not node 3's session", PublishOptions(acknowledge=True, exclude=[three.session])),
            ("only node 3's authid", PublishOptions(acknowledge=True, eligible_authid=[three.authid])),
            ("end", PublishOptions(acknowledge=True)),
        ):
            await within(publisher.publish(topic, label, options=options), 5.0, "PUBLISHED")
        await inbox.take(4, 5.0, "events")
        await asyncio.sleep(0.3)  # any event that should not come would be here by now
        assert sorted(inbox.seen) == [
            ("node 1", ["end"], {}),
            ("node 1", ["not node 3's session"], {}),
            ("node 3", ["end"], {}),
            ("node 3", ["only node 3's authid"], {}),
        ], inbox.seen


@pytest.mark.timeout(30)
async def test_subscription_meta_api_on_node_1_sees_a_subscription_made_on_node_3(cluster, serializer):
    topic = f"com.example.cluster.{serializer}.watched"
    inbox = Inbox()
    async with connect(cluster.url(1), serializer) as observer, connect(cluster.url(3), serializer) as subscriber:
        await within(observer.subscribe(inbox.handler("created"), "wamp.subscription.on_create"), 5.0, "SUBSCRIBED")
        subscription = await within(subscriber.subscribe(lambda *a: None, topic), 5.0, "SUBSCRIBED on node 3")
        while True:
            _, args, _ = await inbox.next(what="on_create")
            if args[1]["uri"] == topic:
                break
        assert args[0] == subscriber.joined.result().session
        assert args[1]["id"] == subscription.id
        for node in (1, 2, 3):
            async with connect(cluster.url(node), serializer) as asker:
                assert await call(asker, "wamp.subscription.lookup", topic) == subscription.id, f"node {node}"
                subscribers = await call(asker, "wamp.subscription.list_subscribers", subscription.id)
                assert subscribers == [subscriber.joined.result().session], f"node {node}"


@pytest.mark.timeout(30)
async def test_an_event_retained_through_node_1_is_served_to_a_subscriber_on_node_3(cluster, serializer):
    topic = f"com.example.cluster.{serializer}.retained"
    async with connect(cluster.url(1), serializer) as publisher:
        options = PublishOptions(acknowledge=True, retain=True)
        await within(publisher.publish(topic, "last known", options=options), 5.0, "PUBLISHED")
    inbox = Inbox()
    async with connect(cluster.url(3), serializer) as subscriber:
        options = SubscribeOptions(get_retained=True, details=True)
        for _ in range(50):  # the Retain entry commits a moment after PUBLISHED
            subscription = await within(subscriber.subscribe(inbox.handler("node 3"), topic, options), 5.0, "SUBSCRIBED")
            try:
                _, args, kwargs = await inbox.next(0.2, "the retained event")
                break
            except AssertionError:
                await within(subscription.unsubscribe(), 5.0, "UNSUBSCRIBED")
        assert args == ["last known"] and kwargs["details"].retained is True


@pytest.mark.timeout(30)
async def test_history_of_events_published_on_every_node_reads_the_same_on_each(cluster, serializer):
    topic = f"com.example.history.{serializer}"
    for node in (1, 2, 3):
        async with connect(cluster.url(node), serializer) as publisher:
            options = PublishOptions(acknowledge=True)
            await within(publisher.publish(topic, f"from node {node}", options=options), 5.0, "PUBLISHED")
    async with connect(cluster.url(1), serializer) as subscriber:
        subscription = await within(subscriber.subscribe(lambda *a: None, topic), 5.0, "SUBSCRIBED")
        seen = {}
        for node in (1, 2, 3):
            async with connect(cluster.url(node), serializer) as reader:
                for _ in range(50):  # each Record commits a moment after PUBLISHED
                    events = await call(reader, "wamp.subscription.get_events", subscription.id)
                    if len(events) == 3:
                        break
                    await asyncio.sleep(0.05)
                seen[node] = [e["args"][0] for e in events]
    print(f"[{serializer}] history per node: {seen}")
    assert sorted(seen[1]) == ["from node 1", "from node 2", "from node 3"], seen
    assert seen[1] == seen[2] == seen[3], f"every node keeps the same order: {seen}"


# ---------------------------------------------------------------------------
# 8b. Session meta API across nodes: testaments and kills
# ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_testament_of_a_session_on_sigkilled_node_3_is_published_once_on_node_1(own_cluster, serializer):
    topic = f"com.example.cluster.{serializer}.testament"
    inbox = Inbox()
    doomed = await open_session(own_cluster.url(3), serializer)
    try:
        async with connect(own_cluster.url(1), serializer) as s1, connect(own_cluster.url(2), serializer) as s2:
            await within(s1.subscribe(inbox.handler("node 1"), topic), 5.0, "SUBSCRIBED on node 1")
            await within(s2.subscribe(inbox.handler("node 2"), topic), 5.0, "SUBSCRIBED on node 2")
            added = await call(doomed, "wamp.session.add_testament", topic, ["node 3 is gone"], {"n": 3})
            assert added is None
            killed = time.monotonic()
            own_cluster.kill(3)
            await inbox.take(2, 10.0, "testaments after the SIGKILL of node 3")
            elapsed = time.monotonic() - killed
            await asyncio.sleep(1.0)  # any duplicate would arrive by now
            print(f"[{serializer}] testament of a session on SIGKILLed node 3 published {elapsed * 1000:.0f} ms later")
            assert sorted(inbox.seen) == [
                ("node 1", ["node 3 is gone"], {"n": 3}),
                ("node 2", ["node 3 is gone"], {"n": 3}),
            ], inbox.seen
    finally:
        doomed.drop_connection()


@pytest.mark.timeout(30)
async def test_kill_by_authrole_on_node_1_ends_a_session_on_node_2(cluster, serializer):
    async with connect(cluster.url(1), serializer) as admin:
        victim = await open_session(cluster.url(2), serializer)
        try:
            # Node 1 knows of the session once its joining has committed.
            victim_id = victim._session_id
            for _ in range(50):
                if victim_id in await call(admin, "wamp.session.list"):
                    break
                await asyncio.sleep(0.1)
            # Every session here is anonymous: all but the caller go.
            killed = await call(admin, "wamp.session.kill_by_authrole", "anonymous", message="cluster-wide")
            assert killed >= 1
            left = await within(asyncio.shield(victim.left), 5.0, "GOODBYE on node 2")
            assert (left.reason, left.message) == ("wamp.close.killed", "cluster-wide")
            assert admin.is_attached()
        finally:
            victim.drop_connection()


# ---------------------------------------------------------------------------
# 9. Restart of a node on its data
# ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_restarted_node_catches_up_and_calls_procedure_registered_while_it_was_away(own_cluster, serializer):
    uri = "com.example.cluster.while_away"
    own_cluster.kill(3)
    async with connect(own_cluster.url(1), serializer) as callee:
        await register(callee, named("from node 1"), uri)

        ready_after = own_cluster.restart(3)
        status = own_cluster.status(3)
        leader_status = own_cluster.status(1)
        print(
            f"[{serializer}] node 3 restarted and ready in {ready_after:.3f} s; its status: {status}; "
            f"node 1's status then: {leader_status}"
        )
        assert status["node"] == 3 and sorted(status["members"]) == [1, 2, 3], status

        async with connect(own_cluster.url(3), serializer) as caller:
            started = time.monotonic()
            answer, errors = await call_until_answered(caller, uri)
            print(
                f"[{serializer}] caller on restarted node 3 answered {answer!r} after "
                f"{(time.monotonic() - started) * 1000:.0f} ms, {len(errors)} failed attempt(s): {errors}"
            )
            assert answer == "from node 1"


async def test_payload_passthru_call_and_event_cross_nodes_with_their_ppt_options(cluster, serializer):
    # Raw sessions: Autobahn|Python cannot send ppt_* options (see test_payload_passthru.py).
    procedure = f"com.example.cluster.{serializer}.sealed"
    topic = f"com.example.cluster.{serializer}.sealed_news"
    payload = sealed(serializer)
    async with raw_session(cluster.url(3), serializer, details=PPT_ROLES) as callee, raw_session(
        cluster.url(1), serializer, details=PPT_ROLES
    ) as caller:
        await callee.register(procedure)
        await callee.send([SUBSCRIBE, callee.request_id(), {}, topic])
        await callee.expect(SUBSCRIBED)
        for _ in range(50):  # until node 1 has applied the registration
            request = caller.request_id()
            await caller.send([CALL, request, PPT_OPTIONS, procedure, [payload]])
            try:
                invocation = await callee.expect(INVOCATION, timeout=1.0)
                break
            except AssertionError:
                answer = await caller.recv()
                assert answer[4] == "wamp.error.no_such_procedure", answer
        else:
            raise AssertionError("the call never reached the callee on node 3")
        assert ppt_of(invocation[3]) == PPT_OPTIONS and invocation[4] == [payload], invocation
        await callee.send([YIELD, invocation[1], {"ppt_scheme": "x_switchboard_test"}, [payload]])
        result = await caller.expect(RESULT)
        assert result[1] == request and ppt_of(result[2]) == {"ppt_scheme": "x_switchboard_test"}, result
        assert result[3] == [payload], result

        await caller.send([PUBLISH, caller.request_id(), PPT_OPTIONS, topic, [payload]])
        event = await callee.expect(EVENT)
        assert ppt_of(event[3]) == PPT_OPTIONS and event[4] == [payload], event


async def test_autobahn_encrypted_call_error_and_event_cross_nodes_unread(cluster, serializer):
    # Autobahn's own end-to-end encryption (payload transparency, enc_* options).
    prefix = f"com.example.cluster.{serializer}.e2e."
    keys = fresh_keys()
    callee = await sealed_session(cluster.url(3), serializer, keys, prefix)
    caller = await sealed_session(cluster.url(1), serializer, keys, prefix)
    subscriber = await sealed_session(cluster.url(2), serializer, keys, prefix)
    inbox = Inbox()

    def refuse(*args):
        raise ApplicationError(prefix + "refused", "sealed reason", code=7)

    try:
        await register(callee, lambda a, b: a * b, prefix + "mul")
        await register(callee, refuse, prefix + "refuse")
        for _ in range(50):  # until node 1 has applied the registrations
            try:
                assert await call(caller, prefix + "mul", 6, 7) == 42
                break
            except ApplicationError as error:
                assert error.error == NO_SUCH_PROCEDURE, error
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the sealed call never reached the callee on node 3")
        error = await call_error(caller, prefix + "refuse")
        assert (error.error, list(error.args), error.kwargs) == (prefix + "refused", ["sealed reason"], {"code": 7})

        await within(subscriber.subscribe(inbox.handler("node 2"), prefix + "news"), 5.0, "SUBSCRIBED")
        # A subscription made through node 1 commits after the one above, so
        # once it is acknowledged node 1 knows the subscriber on node 2.
        await within(caller.subscribe(lambda *a: None, prefix + "barrier"), 5.0, "SUBSCRIBED on node 1")
        await within(
            caller.publish(prefix + "news", "sealed news", options=PublishOptions(acknowledge=True)), 5.0, "PUBLISHED"
        )
        assert await inbox.next() == ("node 2", ["sealed news"], {})
    finally:
        for session in (caller, callee, subscriber):
            await close_session(session)
