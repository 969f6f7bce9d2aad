"""Chaos against the three-node docker-compose cluster.

Callers on all three nodes call a shared roundrobin procedure continuously while
callees on all three nodes serve it; each scenario injects one fault (kill a
callee's node, kill the leader, pause a node, cut a node off the network, restart
every node in turn), heals it, and reports: calls attempted, succeeded, failed
with a WAMP error, hung (no answer within HANG_S: must be 0), time from the fault
to the first error and to recovery, and whether every acknowledged registration
of a session still alive survived (must be all). When the fault kills, pauses or
cuts off a node, a call through another node to a slow procedure of the victim's
callee is in flight as the fault starts; the row gives the seconds from the fault
to that call's error (a measurement, never fatal). Failed and hung calls are split
by cause: "own" if the caller's own node was the one faulted while the call was
outstanding (from the fault until that node was ready again, or until the caller
had reconnected if that was later), "other" otherwise. Exits non-zero on a hang,
a lost registration, or an "other" failure in a scenario of GRACEFUL (the router
drains on SIGTERM, so a restart must fail no call of a caller on another node).
Every wait is bounded.
"""

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallOptions, RegisterOptions  # noqa: E402
from wamp import close_session, open_session  # noqa: E402

PROJECT = os.environ.get("CHAOS_PROJECT", "switchboardchaos")
PORTS = {1: 18080, 2: 18081, 3: 18082}
HANG_S = 10.0
CALL_TIMEOUT_MS = 3000
SCENARIO_S = 8.0
SLOW_S = 60.0       # how long com.chaos.slow.n{node} takes to answer
IN_FLIGHT_S = 15.0  # the in-flight call counts as hung if it has not ended this long after the fault
# Scenarios whose faults are graceful (SIGTERM: the node drains), where a call
# whose caller's node stayed up must not fail, even if its callee's node restarted.
GRACEFUL = {"rolling restart"}


def compose(*args, check=True):
    tool = ["docker", "compose"] if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0 else ["docker-compose"]
    return subprocess.run([*tool, "-p", PROJECT, "-f", str(ROOT / "docker-compose.yml"), *args], check=check, capture_output=True, text=True)


def container(node):
    return compose("ps", "-q", f"node{node}").stdout.strip()


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True)


async def fault_command(*args):
    """A docker command that injects or heals a fault, run off the event loop:
    the callers keep calling while it runs (a `docker restart` lasts as long as
    the node's drain and start), which is what the scenario is about."""
    return await asyncio.to_thread(docker, *args)


def status(node):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORTS[node]}/cluster/status", timeout=2) as r:
            return json.loads(r.read())
    except Exception:
        return None


def ready(node):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORTS[node]}/health/ready", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


async def wait_all_ready(limit=90.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all(ready(n) for n in PORTS):
            return
        await asyncio.sleep(0.5)
    raise SystemExit("the cluster did not become ready")


def url(node):
    return f"ws://127.0.0.1:{PORTS[node]}/ws"


class Stats:
    def __init__(self):
        self.attempted = self.succeeded = self.failed = self.hung = 0
        self.errors = []      # times of failures
        self.successes = []   # times of successes
        self.hung_on = []     # (node, time made) of each hung call
        self.failures = []    # (node, time made, time given up, "failed" or "hung", error) of each failed or hung call
        self.opened = []      # (node, time) of each caller session opened


class Faults:
    """The fault windows of one scenario: the node each fault hit, from the fault
    until that node was ready again (a rolling restart has one per node)."""

    def __init__(self):
        self.windows = []  # [node, start, end or None while the fault lasts]

    def hit(self, node):
        self.windows.append([node, time.monotonic(), None])

    def healed(self):
        now = time.monotonic()
        for w in self.windows:
            if w[2] is None:
                w[2] = now

    def own_node(self, node, made, given_up, opened):
        """Whether a call through `node`, made at `made` and answered (or given up)
        at `given_up`, was outstanding while its own node was faulted: from the
        fault until the node was ready again, or until this caller opened its first
        session after the fault if that was later (`opened`: Stats.opened)."""
        for hit, start, end in self.windows:
            if hit != node:
                continue
            until = float("inf") if end is None else end
            reconnect = next((t for n, t in opened if n == node and t >= start), None)
            if reconnect is not None:
                until = max(until, reconnect)
            if made <= until and given_up >= start:
                return True
        return False


class Callee:
    """A callee on one node: the shared procedure plus a few of its own."""

    def __init__(self, node):
        self.node, self.session, self.keep, self.starts = node, None, [], 0
        self.invoked = asyncio.Event()  # set when com.chaos.slow.n{node} is invoked

    async def start(self):
        self.starts += 1
        self.session = await open_session(url(self.node), "json")
        self.keep = []  # a new session: the old one's registrations went with it

        def work():
            return self.node

        async def slow():
            self.invoked.set()
            await asyncio.sleep(SLOW_S)
            return self.node

        await self.session.register(work, "com.chaos.work", options=RegisterOptions(invoke="roundrobin"))
        for i in range(5):
            uri = f"com.chaos.keep.n{self.node}.s{self.session.session_id}.{i}"
            await self.session.register(lambda: None, uri)
            self.keep.append(uri)
        # Like com.chaos.work, not in `keep`: a procedure in use, not one kept to be
        # checked. Registered last, so that a refusal loses none of the others.
        await self.session.register(slow, f"com.chaos.slow.n{self.node}")

    @property
    def alive(self):
        return self.session is not None and self.session.is_attached()


class InFlight:
    """A call in flight on the faulted node when the fault starts: the slow procedure
    of the victim's callee, called through another node, so that the time the caller
    takes to hear of the failure can be measured."""

    def __init__(self, callee):
        self.callee, self.session, self.call, self.ended = callee, None, None, None
        self.invoked, self.error = False, None

    async def start(self):
        """Makes the call; returns once the callee has the invocation (at most 3 s)."""
        through = next(n for n in PORTS if n != self.callee.node)
        self.callee.invoked.clear()
        try:
            self.session = await asyncio.wait_for(open_session(url(through), "json"), 3)
            self.call = asyncio.ensure_future(self.session.call(f"com.chaos.slow.n{self.callee.node}"))
        except Exception as e:
            self.error = f"not made: {type(e).__name__}: {e}"
            return
        self.call.add_done_callback(self._ended)
        invoked = asyncio.create_task(self.callee.invoked.wait())
        await asyncio.wait({self.call, invoked}, timeout=3, return_when=asyncio.FIRST_COMPLETED)
        invoked.cancel()
        self.invoked = self.callee.invoked.is_set()

    def _ended(self, _call):
        self.ended = time.monotonic()

    async def finish(self, fault_start):
        """(seconds from `fault_start` to the call's error, the error); (None, "hung")
        if the call had not ended IN_FLIGHT_S after it, and is then cancelled."""
        if self.call is not None:
            await asyncio.wait({self.call}, timeout=max(0.0, fault_start + IN_FLIGHT_S - time.monotonic()))
        outcome = self._outcome(fault_start)
        if self.call is not None and not self.call.done():
            self.call.cancel()
        if self.session is not None:
            await close_session(self.session)
        return outcome

    def _outcome(self, fault_start):
        if self.call is None:
            return None, self.error
        error = self._error()
        if self.ended is not None and self.ended < fault_start:
            return None, f"ended before the fault: {error}"
        if not self.invoked:
            return None, "not invoked before the fault"
        if self.ended is None or self.ended > fault_start + IN_FLIGHT_S:
            return None, "hung"
        if error is None:
            return None, "returned a result"
        return round(self.ended - fault_start, 2), error

    def _error(self):
        """The URI of the call's error (or the exception), None if it is not done or returned."""
        if not self.call.done() or self.call.cancelled() or self.call.exception() is None:
            return None
        e = self.call.exception()
        return e.error if isinstance(e, ApplicationError) else f"{type(e).__name__}: {e}"


class Caller:
    def __init__(self, node, stats):
        self.node, self.stats, self.stop = node, stats, False

    async def run(self):
        session = None
        while not self.stop:
            if session is None or not session.is_attached():
                try:
                    session = await asyncio.wait_for(open_session(url(self.node), "json"), 3)
                except Exception:
                    await asyncio.sleep(0.3)
                    continue
                self.stats.opened.append((self.node, time.monotonic()))
            self.stats.attempted += 1
            started = time.monotonic()
            try:
                await asyncio.wait_for(session.call("com.chaos.work", options=CallOptions(timeout=CALL_TIMEOUT_MS)), HANG_S)
                self.stats.succeeded += 1
                self.stats.successes.append(time.monotonic())
            except asyncio.TimeoutError:
                self.stats.hung += 1
                self.stats.hung_on.append((self.node, started))
                self.stats.failures.append((self.node, started, time.monotonic(), "hung", None))
            except Exception as e:
                self.stats.failed += 1
                self.stats.errors.append(time.monotonic())
                error = f"{e.error} {list(e.args)}" if isinstance(e, ApplicationError) else f"{type(e).__name__}: {e}"
                self.stats.failures.append((self.node, started, time.monotonic(), "failed", error))
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.02)
        if session is not None and session.is_attached():
            await close_session(session)


async def check_registrations(callees):
    """Every acknowledged registration of a callee session still alive exists."""
    lost = []
    for callee in callees:
        if not callee.alive:
            continue
        for uri in callee.keep:
            found = None
            for node in PORTS:
                try:
                    s = await asyncio.wait_for(open_session(url(node), "json"), 3)
                    found = await asyncio.wait_for(s.call("wamp.registration.lookup", uri), 3)
                    await close_session(s)
                    break
                except Exception:
                    continue
            if found is None:
                lost.append(uri)
    return lost


def leader():
    for node in PORTS:
        s = status(node)
        if s and s.get("leader") is not None:
            return s["leader"]
    return None


def seed_example_across_nodes():
    """Bondy's guide example, unmodified: callee on node 3, caller on node 1."""
    seed = ROOT / "tests" / "interop" / "seed"
    env = dict(os.environ, BONDY_URL=url(3))
    callee = subprocess.Popen([sys.executable, str(seed / "callee.py")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(20):
            time.sleep(0.5)
            out = subprocess.run(
                [sys.executable, str(seed / "caller.py")],
                env=dict(os.environ, BONDY_URL=url(1)),
                capture_output=True,
                text=True,
                timeout=20,
            )
            if "2 + 3 = 5.0" in out.stdout:
                print("seed example across the compose cluster: 2 + 3 = 5.0", flush=True)
                return
        raise SystemExit("the seed example did not work against the compose cluster")
    finally:
        callee.kill()
        callee.wait()


async def restart_lost_callees(callees):
    """Callees whose session ended (their node went away, or said GOODBYE when it
    came back) reconnect and register again, as a real service would."""
    for callee in callees:
        if not callee.alive:
            try:
                await callee.start()
            except Exception:
                pass


def keep_evidence(name, t_fault, hung_on, lost, callees, other=(), faults=None):
    """Saves every node's log and says what went wrong, so a failure seen once can
    be read afterwards (CI keeps the work tree's target/ only until the run ends,
    so the details are printed too)."""
    out = ROOT / "target" / "chaos-logs"
    out.mkdir(parents=True, exist_ok=True)
    slug = name.replace(" ", "-").replace("'", "")
    for node in PORTS:
        logs = docker("logs", "--timestamps", container(node))
        (out / f"{slug}-node{node}.log").write_text(logs.stdout + logs.stderr)
    for node, started in hung_on:
        print(f"  hung: a call through node {node}, made {started - t_fault:.2f} s after the fault", file=sys.stderr)
    for uri in lost:
        print(f"  lost: {uri}", file=sys.stderr)
    for node, made, given_up, kind, error in other:
        print(f"  {kind}, caller's node up: a call through node {node}, made {made - t_fault:.2f} s after the fault, given up {given_up - made:.2f} s later: {error}", file=sys.stderr)
    for hit, start, end in faults.windows if faults else []:
        until = "never healed" if end is None else f"ready {end - t_fault:.2f} s"
        print(f"  fault on node {hit}: {start - t_fault:.2f} s after the fault, {until}", file=sys.stderr)
    for callee in callees:
        print(f"  callee on node {callee.node}: session {callee.session.session_id if callee.session else None}, started {callee.starts} times", file=sys.stderr)
    print(f"  node logs: {out}/{slug}-node*.log", file=sys.stderr)
    print(f"  at {time.time():.3f}; fault at {time.time() - (time.monotonic() - t_fault):.3f}", file=sys.stderr)


async def start_in_flight(callees, node):
    """The in-flight call of a scenario whose fault hits `node`; None for no node."""
    if node is None:
        return None
    probe = InFlight(next(c for c in callees if c.node == node))
    await probe.start()
    return probe


async def run_scenario(name, target, fault, heal, callees):
    """`target` picks the node the fault hits (None: a fault of its own choosing,
    with no in-flight call); `fault(faults, node)` and `heal(node)` act on it."""
    await restart_lost_callees(callees)
    stats = Stats()
    faults = Faults()
    callers = [Caller(n, stats) for n in PORTS]
    tasks = [asyncio.create_task(c.run()) for c in callers]
    await asyncio.sleep(1.5)
    node = target() if target else None
    probe = await start_in_flight(callees, node)
    t_fault = time.monotonic()
    await fault(faults, node)
    await asyncio.sleep(SCENARIO_S / 2)
    await heal(node)
    await wait_all_ready()
    faults.healed()
    await restart_lost_callees(callees)
    await asyncio.sleep(SCENARIO_S / 2)
    for c in callers:
        c.stop = True
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), HANG_S + 5)
    # From the fault's docker command (its first window), not t_fault: container
    # lookups come first.
    fault_start = faults.windows[0][1] if faults.windows else t_fault
    in_flight_s, in_flight_error = (None, None) if probe is None else await probe.finish(fault_start)
    first_error = next((t - t_fault for t in stats.errors if t >= t_fault), None)
    last_error = max((t for t in stats.errors if t >= t_fault), default=None)
    recovery = None
    if last_error is not None:
        recovery = next((t - t_fault for t in stats.successes if t > last_error), None)
    own, other = [], []
    for f in stats.failures:
        (own if faults.own_node(f[0], f[1], f[2], stats.opened) else other).append(f)
    lost = await check_registrations(callees)
    strict = [f for f in other if f[3] == "failed"] if name in GRACEFUL else []
    if stats.hung or lost or strict:
        keep_evidence(name, t_fault, stats.hung_on, lost, callees, strict, faults)
    return {
        "scenario": name,
        "attempted": stats.attempted,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "failed own": sum(1 for f in own if f[3] == "failed"),
        "failed other": sum(1 for f in other if f[3] == "failed"),
        "hung": stats.hung,
        "hung own": sum(1 for f in own if f[3] == "hung"),
        "hung other": sum(1 for f in other if f[3] == "hung"),
        "first error s": None if first_error is None else round(first_error, 2),
        "recovered s": None if recovery is None else round(recovery, 2),
        "in_flight_error_s": in_flight_s,
        "in_flight_error": in_flight_error,
        "registrations lost": len(lost),
    }


async def main():
    compose("down", "-v", check=False)
    compose("up", "-d")
    try:
        await wait_all_ready()
        await asyncio.to_thread(seed_example_across_nodes)
        callees = [Callee(n) for n in PORTS]
        for c in callees:
            await c.start()

        def on_node(command):
            """A docker command on the scenario's node, the fault starting with it."""
            async def run(faults, node):
                cid = container(node)
                faults.hit(node)
                await fault_command(command, cid)
            return run

        def on_same(command):
            async def run(node):
                await fault_command(command, container(node))
            return run

        network = f"{PROJECT}_switchboard"

        async def disconnect(faults, node):
            cid = container(node)
            faults.hit(node)
            await fault_command("network", "disconnect", network, cid)

        async def reconnect(node):
            await fault_command("network", "connect", "--alias", f"node{node}", network, container(node))

        async def rolling_restart(faults, _node):
            """Each node's restart is its own fault window; its callee reconnects
            before the next node goes, as a real service would (else the last
            restart would leave no callee at all)."""
            for node in PORTS:
                faults.hit(node)
                await fault_command("restart", "-t", "10", container(node))
                await wait_all_ready()
                faults.healed()
                await restart_lost_callees(callees)

        async def noop(_node):
            pass

        scenarios = [
            ("kill a callee's node", lambda: 3, on_node("kill"), on_same("start")),
            ("kill the leader", lambda: leader() or 1, on_node("kill"), on_same("start")),
            # The leader: it comes back believing it still leads, the hardest case.
            ("pause the leader", lambda: leader() or 2, on_node("pause"), on_same("unpause")),
            ("cut a node off", lambda: 1, disconnect, reconnect),
            # No node and no in-flight call: each node drains on SIGTERM, and a 60 s
            # call would hold its drain until the drain's timeout.
            ("rolling restart", None, rolling_restart, noop),
        ]

        rows = []
        only = os.environ.get("CHAOS_ONLY")
        for name, target, fault, heal in scenarios:
            if only and only not in name:
                continue
            rows.append(await run_scenario(name, target, fault, heal, callees))
            print(json.dumps(rows[-1]), flush=True)
        columns = [c for c in rows[0] if c != "in_flight_error"]  # the error's URI: JSON only
        headers = {"in_flight_error_s": "in-flight error s"}
        print()
        print(" | ".join(headers.get(c, c) for c in columns))
        for row in rows:
            print(" | ".join(str(row[c]) for c in columns))
        print()
        print("note: own = the caller's own node was faulted while the call was outstanding (until the node was ready", flush=True)
        print("again or the caller had reconnected); other = the caller's node stayed up. Failed calls of either kind are", flush=True)
        print(f"expected and not fatal, except other failures in: {', '.join(sorted(GRACEFUL))} (the node drains on SIGTERM).", flush=True)
        print("in-flight error s (a measurement, never fatal): target an error within 0.5 s of `docker kill` in the kill scenarios; the pause and cut-off scenarios show the failure timeout (1.5 s) by design; None: hung, cancelled at 15 s, or not applicable (see in_flight_error in the JSON line).", flush=True)
        bad = [r for r in rows if r["hung"] or r["registrations lost"] or (r["scenario"] in GRACEFUL and r["failed other"])]
        return 1 if bad else 0
    finally:
        compose("down", "-v", check=False)


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(), 600)))
