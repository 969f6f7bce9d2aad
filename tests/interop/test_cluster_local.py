"""The README's cluster commands, run as written, keep the survivors serving.

``README.md`` ("A cluster") tells a reader to run ``scripts/cluster-local``, then
``scripts/cluster-local kill 3`` and ``scripts/cluster-local restart 3`` from
another terminal. This test does the same: it starts the script (which runs
``cargo build --release -p switchboard`` first, so it may build), waits for the
three nodes' ``/health/ready``, and with Autobahn|Python registers a procedure
on node 1 and calls it from node 3; kills node 3 and checks that the script and
nodes 1 and 2 keep running and serving; restarts node 3 and calls through it
again; then stops the script with SIGTERM (as Ctrl-C would) and checks that every
node exits and the cluster's directory is removed.

It needs the fixed ports 18080-18082 and 19001-19003 and may build, so it is
marked ``readme`` and left out of the default run; ``scripts/test`` runs it with
``-m readme``. The pids and timings are printed (run with ``-s``).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from autobahn.wamp.exception import ApplicationError

from conftest import REPO_ROOT
from wamp import ClientSession, connect, within

SCRIPT = REPO_ROOT / "scripts" / "cluster-local"
NODES = (1, 2, 3)
WS_PORTS = {node: 18079 + node for node in NODES}
PEER_PORTS = {node: 19000 + node for node in NODES}
# A release build from nothing takes a few minutes on two cores.
START_LIMIT_S = 1200
READY_LIMIT_S = 60  # a restarted node's /health/ready
KILL_LIMIT_S = 5  # a SIGKILLed node's pid gone
REPORT_LIMIT_S = 5  # the script's watcher (1 s ticks) reports a change
STATUS_LIMIT_S = 20  # node 1's /cluster/status settles after node 3 dies
STOP_LIMIT_S = 30  # every node exits after SIGTERM to the script
SCRIPT_LIMIT_S = 30  # `kill`, `restart`, `status` subcommands

PROCEDURE = "com.example.cluster_local.where"
NODE_LINE_RE = re.compile(r"^node (\d): pid (\d+), ws://", re.MULTILINE)
STATUS_LINE_RE = re.compile(r"^node (\d): pid (\d+), running$", re.MULTILINE)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def port_taken(port: int) -> bool:
    """Something listens on 127.0.0.1:`port` (it answers, or it cannot be bound)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def http_get(node: int, path: str) -> tuple[int | None, bytes]:
    """(status, body) of GET http://127.0.0.1:1808N`path`; (None, b"") when nothing answers."""
    url = f"http://127.0.0.1:{WS_PORTS[node]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):
        return None, b""


async def ready(node: int) -> bool:
    status, _ = await asyncio.to_thread(http_get, node, "/health/ready")
    return status == 200


async def cluster_status(node: int) -> dict | None:
    status, body = await asyncio.to_thread(http_get, node, "/cluster/status")
    if status != 200:
        return None
    return json.loads(body)


def pid_running(pid: int) -> bool:
    """`os.kill(pid, 0)` succeeds: the process exists (possibly as a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def zombie(pid: int) -> bool:
    """The process has exited and waits for its parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def is_switchboard(pid: int) -> bool:
    try:
        return b"switchboard" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def ws_url(node: int) -> str:
    return f"ws://127.0.0.1:{WS_PORTS[node]}/ws"


async def call_until_answered(session: ClientSession, attempts: int = 50) -> tuple[object, list[str]]:
    """Calls PROCEDURE until a result comes back (retrying errors every 100 ms)."""
    errors: list[str] = []
    for _ in range(attempts):
        try:
            return await within(session.call(PROCEDURE), 5.0, f"answer to CALL {PROCEDURE}"), errors
        except ApplicationError as error:
            errors.append(error.error)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no answer to {PROCEDURE} after {attempts} attempts; errors: {errors}")


async def assert_node_1_answers(cluster: "ClusterLocal", node: int, when: str) -> None:
    """A session on `node` calls PROCEDURE (retrying errors) and node 1's callee answers."""
    async with connect(ws_url(node)) as caller:
        started = time.monotonic()
        answer, errors = await call_until_answered(caller)
        print(
            f"{cluster.elapsed()} call node {node} -> node 1 {when} answered {answer!r} in "
            f"{(time.monotonic() - started) * 1000:.1f} ms; failed attempts: {errors}"
        )
        assert answer == "node 1"


class ClusterLocal:
    """`scripts/cluster-local` started in its own process group, and its subcommands."""

    def __init__(self, tmp_path: Path):
        self.dir = tmp_path / "cl"
        self.log_path = tmp_path / "cluster-local.log"
        self.env = dict(os.environ, SWITCHBOARD_CLUSTER_DIR=str(self.dir))
        self.known_pids: set[int] = set()
        self.process: subprocess.Popen | None = None
        self.began = time.monotonic()

    def elapsed(self) -> str:
        return f"[{time.monotonic() - self.began:7.2f} s]"

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(SCRIPT)],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def started_pids(self) -> dict[int, int]:
        """The pids of the start process's `node N: pid P, ws://...` lines (the first of each node)."""
        pids: dict[int, int] = {}
        for node, pid in NODE_LINE_RE.findall(self.log()):
            pids.setdefault(int(node), int(pid))
        self.known_pids.update(pids.values())
        return pids

    async def run(self, *args: str) -> subprocess.CompletedProcess:
        result = await asyncio.to_thread(
            subprocess.run,
            [str(SCRIPT), *args],
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SCRIPT_LIMIT_S,
        )
        print(
            f"{self.elapsed()} scripts/cluster-local {' '.join(args)} -> exit {result.returncode}; "
            f"stdout {result.stdout.strip()!r}; stderr {result.stderr.strip()!r}"
        )
        for _, pid in NODE_LINE_RE.findall(result.stderr):
            self.known_pids.add(int(pid))
        return result

    async def status(self) -> dict[int, int | None]:
        """Node -> pid from `scripts/cluster-local status` (None: not running)."""
        result = await self.run("status")
        assert result.returncode == 0, f"`scripts/cluster-local status` failed: {result}"
        running = {int(node): int(pid) for node, pid in STATUS_LINE_RE.findall(result.stdout)}
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 3, f"`status` should print one line per node:\n{result.stdout}"
        return {node: running.get(node) for node in NODES}

    async def wait_for_log(self, text: str, limit: float) -> float:
        """Seconds until `text` appears in the start process's output (bounded)."""
        started = time.monotonic()
        while text not in self.log():
            assert time.monotonic() - started < limit, (
                f"scripts/cluster-local did not print {text!r} within {limit} s:\n{self.log()}"
            )
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    def diagnostics(self) -> str:
        parts = [f"--- scripts/cluster-local output ---\n{self.log()}"]
        for node in NODES:
            path = self.dir / f"node-{node}.log"
            try:
                text = path.read_text("utf-8", "replace")
            except OSError:
                continue
            parts.append(f"--- {path} (last 4000 chars) ---\n{text[-4000:]}")
        return "\n".join(parts)

    def pid_file_pids(self) -> set[int]:
        pids = set()
        for node in NODES:
            try:
                pids.add(int((self.dir / f"node-{node}.pid").read_text().strip()))
            except (OSError, ValueError):
                pass
        return pids

    def kill_everything(self) -> None:
        """SIGKILL the script's process group and every node it may have started."""
        pids = self.known_pids | self.pid_file_pids()
        if self.running():
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        left = [pid for pid in pids if pid_running(pid) and not zombie(pid) and is_switchboard(pid)]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(pid_running(pid) and not zombie(pid) for pid in left) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            print(f"cleanup: SIGKILLed node pids {left}")


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------


@pytest.mark.readme
@pytest.mark.timeout(START_LIMIT_S + 300)
async def test_cluster_local_keeps_the_survivors_serving_while_one_node_is_killed_and_restarted(tmp_path: Path):
    taken = [port for port in (*WS_PORTS.values(), *PEER_PORTS.values()) if port_taken(port)]
    assert not taken, (
        f"port(s) {taken} are already taken; scripts/cluster-local needs 18080-18082 and 19001-19003 free "
        "(is another cluster-local or switchboard running?)"
    )

    cluster = ClusterLocal(tmp_path)
    try:
        # 1. Start; wait until every node is ready (the script may build first).
        cluster.start()
        deadline = time.monotonic() + START_LIMIT_S
        waiting = set(NODES)
        while waiting:
            assert cluster.running(), (
                f"scripts/cluster-local exited ({cluster.process.returncode}) before the nodes were ready:\n"
                f"{cluster.diagnostics()}"
            )
            assert time.monotonic() < deadline, (
                f"nodes {sorted(waiting)} did not answer /health/ready with 200 within {START_LIMIT_S} s:\n"
                f"{cluster.diagnostics()}"
            )
            for node in sorted(waiting):
                if await ready(node):
                    waiting.discard(node)
            if waiting:
                await asyncio.sleep(0.5)
        pids = cluster.started_pids()
        print(f"{cluster.elapsed()} all three nodes ready; pids {pids}")
        assert sorted(pids) == list(NODES), f"expected a `node N: pid P` line per node:\n{cluster.log()}"
        assert len(set(pids.values())) == 3, pids
        for node, pid in pids.items():
            assert pid_running(pid) and is_switchboard(pid), f"node {node}'s pid {pid} is not a running switchboard"
        assert await cluster.status() == pids

        # 2. A procedure on node 1, called from node 3.
        async with connect(ws_url(1)) as callee:
            await within(callee.register(lambda: "node 1", PROCEDURE), 5.0, f"REGISTERED for {PROCEDURE}")
            async with connect(ws_url(3)) as caller:
                started = time.monotonic()
                assert await within(caller.call(PROCEDURE), 5.0, "answer from node 3") == "node 1"
                print(f"{cluster.elapsed()} call node 3 -> node 1 answered in {(time.monotonic() - started) * 1000:.1f} ms")

            # 3. Kill node 3: it dies, the script and the survivors keep running.
            killed = pids[3]
            result = await cluster.run("kill", "3")
            assert result.returncode == 0, result
            assert f"node 3 (pid {killed}) killed" in result.stderr, result.stderr
            started = time.monotonic()
            while pid_running(killed):
                assert time.monotonic() - started < KILL_LIMIT_S, (
                    f"node 3's pid {killed} still exists {KILL_LIMIT_S} s after `kill 3`"
                    f"{' (a zombie: its parent has not reaped it)' if zombie(killed) else ''}"
                )
                await asyncio.sleep(0.05)
            print(f"{cluster.elapsed()} node 3 (pid {killed}) gone after {(time.monotonic() - started) * 1000:.0f} ms")
            reported = await cluster.wait_for_log(f"node 3 (pid {killed}) stopped; the others keep running", REPORT_LIMIT_S)
            print(f"{cluster.elapsed()} the script reported node 3 stopped after {reported:.1f} s")
            assert cluster.running(), f"scripts/cluster-local exited when node 3 died:\n{cluster.diagnostics()}"
            for node in (1, 2):
                assert pid_running(pids[node]), f"node {node} (pid {pids[node]}) died with node 3"
                assert await ready(node), f"node {node} stopped answering /health/ready with 200 after node 3 died"
            assert (await cluster.status())[3] is None

            started = time.monotonic()
            while True:
                status = await cluster_status(1)
                if status is not None and status["leader"] is not None and status["peers_up"] == [2]:
                    break
                assert time.monotonic() - started < STATUS_LIMIT_S, (
                    f"node 1's /cluster/status did not show a leader and peers_up [2] within {STATUS_LIMIT_S} s: {status}"
                )
                await asyncio.sleep(0.1)
            print(f"{cluster.elapsed()} node 1's status after {time.monotonic() - started:.2f} s: {status}")
            assert status["leader"] in (1, 2), status

            await assert_node_1_answers(cluster, 2, "with node 3 down")

            # 4. Restart node 3: a new process, which rejoins and serves.
            started = time.monotonic()
            result = await cluster.run("restart", "3")
            assert result.returncode == 0, result
            restarted = [int(pid) for node, pid in NODE_LINE_RE.findall(result.stderr) if node == "3"]
            assert len(restarted) == 1, f"`restart 3` should print `node 3: pid P, ws://...`:\n{result.stderr}"
            new_pid = restarted[0]
            assert new_pid != killed, f"node 3 restarted with its old pid {killed}"
            while not await ready(3):
                assert pid_running(new_pid) and not zombie(new_pid), (
                    f"restarted node 3 (pid {new_pid}) exited:\n{cluster.diagnostics()}"
                )
                assert time.monotonic() - started < READY_LIMIT_S, (
                    f"restarted node 3 did not answer /health/ready with 200 within {READY_LIMIT_S} s:\n"
                    f"{cluster.diagnostics()}"
                )
                await asyncio.sleep(0.2)
            print(f"{cluster.elapsed()} node 3 restarted as pid {new_pid} (was {killed}); ready after {time.monotonic() - started:.2f} s")
            assert await cluster.status() == {1: pids[1], 2: pids[2], 3: new_pid}
            reported = await cluster.wait_for_log(f"node 3: running again, pid {new_pid}", REPORT_LIMIT_S)
            print(f"{cluster.elapsed()} the script reported node 3 running again")
            assert cluster.running(), f"scripts/cluster-local exited:\n{cluster.diagnostics()}"

            await assert_node_1_answers(cluster, 3, "from the restarted node")

        # 5. SIGTERM (Ctrl-C) to the script stops every node and removes the directory.
        node_pids = {1: pids[1], 2: pids[2], 3: new_pid}
        started = time.monotonic()
        os.killpg(cluster.process.pid, signal.SIGTERM)
        exited: dict[int, float] = {}
        zombies: list[int] = []
        while len(exited) < len(node_pids):
            for node, pid in node_pids.items():
                if node not in exited and (not pid_running(pid) or zombie(pid)):
                    exited[node] = time.monotonic() - started
                    if pid_running(pid):
                        zombies.append(pid)
            assert time.monotonic() - started < STOP_LIMIT_S, (
                f"node(s) {sorted(set(node_pids) - set(exited))} still run {STOP_LIMIT_S} s after SIGTERM "
                f"to scripts/cluster-local:\n{cluster.diagnostics()}"
            )
            await asyncio.sleep(0.05)
        try:
            code = await asyncio.to_thread(cluster.process.wait, max(STOP_LIMIT_S - (time.monotonic() - started), 1))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"scripts/cluster-local still runs {STOP_LIMIT_S} s after SIGTERM:\n{cluster.log()}")
        stopped = time.monotonic() - started
        print(
            f"{cluster.elapsed()} after SIGTERM: nodes exited after "
            + ", ".join(f"{node}: {seconds:.2f} s" for node, seconds in sorted(exited.items()))
            + f"; the script exited ({code}) after {stopped:.2f} s"
            + (f"; zombies left to their parent's reaping: {zombies}" if zombies else "")
        )
        assert code == 0, f"scripts/cluster-local exited with {code}:\n{cluster.log()}"
        assert "stopping the cluster" in cluster.log(), cluster.log()
        assert not cluster.dir.exists(), f"scripts/cluster-local left {cluster.dir} behind"
    except BaseException:
        print(cluster.diagnostics())
        raise
    finally:
        cluster.kill_everything()
