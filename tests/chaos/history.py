"""History check against the three-node docker-compose cluster (issue 12, item 3).

Twelve raw WebSocket clients (JSON, `wamp.2.json`; four per node) REGISTER and
UNREGISTER procedures from a shared pool of 40 `single` URIs while nodes are paused
or killed one at a time. Every frame sent and received is logged with its time.
After the faults the cluster is healed and settled, the clients stop, the routers
are read through the meta API on every node, and the history is checked:

  divergence      the nodes disagree on registrations (uri -> id, callees) or sessions
  double holders  two sessions' definite holds of one `single` URI overlap
  lost            an acknowledged registration of a live session is gone: at the end
                  (not a callee on some node) or during the run (its first UNREGISTER
                  answered `wamp.error.no_such_registration` while the session lived on)
  zombies         a connected session the router says does not exist
                  (`wamp.session.get` of its own id, or absent from `wamp.session.list`)
  unanswered      a request of a session still connected at the end got no answer
  double          a second answer to a request id, or an answer to an id never sent
  orphaned        what the router keeps for a client that does not hold it: a
                  registration whose callee got an ERROR (or nothing) for it, or left;
                  a session still listed although its client saw it end

A definite hold of URI u by a session runs from receiving REGISTERED to sending
UNREGISTER for it. When the session ends without our asking (GOODBYE from the
router, a closed connection), its holds end no later than the last REGISTERED (or
RESULT) received on it, nor than the start of the last fault on its node before
it ended: the last moment the cluster surely counted it alive and holding what it
registered (an UNREGISTERED proves less: a node back from a pause
may confirm an UNREGISTER of a registration its session lost with the session). (A paused node's sessions are dropped by the other nodes long before
their clients hear of it, and another session may then rightly take their URIs.)
Requests outstanding when their session ended are abandoned, not unanswered.

Any non-zero count exits 1, prints the details (request ids, sessions, URIs, times,
the faults nearby) and saves every node's log and the whole history under
target/chaos-logs/history-*. Every wait is bounded; the run ends within
CHAOS_HISTORY_S + 90 s.

Environment:
  CHAOS_HISTORY_S        seconds of faults (default 60)
  CHAOS_HISTORY_SEED     the seed of the random choices (default: random, printed)
  CHAOS_HISTORY_FAULTS   pauses+kills (default), pauses, kills or none
  CHAOS_HISTORY_CLUSTER  fresh (default: `down -v` and `up -d` the compose cluster
                         first, `down -v` afterwards) or running (use the cluster
                         that runs under CHAOS_PROJECT and leave it running)
  CHAOS_HISTORY_KEEP     1: save the logs and the history even without a violation
  CHAOS_PROJECT          the compose project (default switchboardhistory)
"""

import asyncio
import collections
import dataclasses
import datetime
import json
import os
import pathlib
import random
import sys
import time

os.environ.setdefault("CHAOS_PROJECT", "switchboardhistory")
ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "chaos"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import websockets  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

import chaos  # noqa: E402
from chaos import PORTS, compose, container, ready, status, url  # noqa: E402
from raw import (  # noqa: E402
    ABORT, CALL, ERROR, GOODBYE, HELLO, HELLO_DETAILS, INVOCATION, REALM, REGISTER,
    REGISTERED, RESULT, UNREGISTER, UNREGISTERED, WELCOME,
)

HISTORY_S = float(os.environ.get("CHAOS_HISTORY_S", "60"))
SEED = int(os.environ["CHAOS_HISTORY_SEED"]) if os.environ.get("CHAOS_HISTORY_SEED") else random.SystemRandom().randrange(1, 2**31)
FAULTS = os.environ.get("CHAOS_HISTORY_FAULTS", "pauses+kills")
CLUSTER = os.environ.get("CHAOS_HISTORY_CLUSTER", "fresh")
KEEP = os.environ.get("CHAOS_HISTORY_KEEP") == "1"
PROJECT = chaos.PROJECT

CLIENTS_PER_NODE = 4
URIS = [f"com.history.p{i}" for i in range(40)]
MAX_IN_FLIGHT = 2
HOLD_S = (0.05, 0.3)          # how long a client keeps a registration
THINK_S = (0.01, 0.08)        # between two REGISTERs of one client
LATE_S = 10.0                 # a request unanswered this long stops taking a slot
DRAIN_S = 15.0                # the wait for answers after the clients stop
SEND_TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 3.0
BACKOFF_S = (0.2, 2.0)
LIVED_ON_S = 5.0              # a "live" session outlived a no_such_registration this long
NEAR_BEFORE_S, NEAR_AFTER_S = 3.0, 10.0

ALREADY_EXISTS = "wamp.error.procedure_already_exists"
NO_SUCH_REGISTRATION = "wamp.error.no_such_registration"
NO_SUCH_SESSION = "wamp.error.no_such_session"
KIND_CODE = {"register": REGISTER, "unregister": UNREGISTER, "call": CALL}

T0 = time.monotonic()
T0_WALL = time.time()


def now():
    """Seconds since the script started (one clock for every client)."""
    return time.monotonic() - T0


def wall(t):
    return datetime.datetime.fromtimestamp(T0_WALL + t, datetime.timezone.utc).isoformat(timespec="milliseconds")


@dataclasses.dataclass
class Request:
    session: "Session"
    rid: int
    kind: str                 # register, unregister, call
    uri: str                  # the procedure (un)registered, or the one called
    reg: int | None           # the registration id an UNREGISTER names
    first: bool               # an UNREGISTER: the first for that registration
    t_sent: float
    answers: list = dataclasses.field(default_factory=list)   # [(t, message)]

    def describe(self):
        extra = f" registration {self.reg}" if self.reg is not None else ""
        return f"{self.kind.upper()} rid {self.rid} {self.uri}{extra} by session {self.session.sid} ({self.session.client.name}, node {self.session.node}) sent at {self.t_sent:.3f}"


@dataclasses.dataclass
class Hold:
    session: "Session"
    uri: str
    reg: int
    t_start: float                        # REGISTERED received
    due: float                            # when the client means to UNREGISTER
    t_unreg_sent: float | None = None

    def definite_end(self, t_check):
        s = self.session
        if s.t_end is None:
            return self.t_unreg_sent if self.t_unreg_sent is not None else t_check
        ends = [max(self.t_start, s.last_alive)]
        if self.t_unreg_sent is not None:
            ends.append(self.t_unreg_sent)
        cut = fault_cut(s)
        if cut is not None:
            ends.append(cut)
        return min(ends)


def fault_cut(s):
    """When a session that the router ended stopped being sure of its holds: the
    start of the last fault on its node before it ended. From then on the other
    nodes may declare the node down and remove its sessions (a lease that ran out
    while its holder was paused); a REGISTERED its node delivers after coming back
    is true of the log but promises nothing past that point."""
    starts = [f["t_start"] for f in H.faults
              if f["node"] == s.node and s.t_join <= f["t_start"] <= s.t_end]
    return max(starts) if starts else None


class History:
    def __init__(self):
        self.events = []          # every frame and every fault, in order
        self.sessions = []
        self.requests = []
        self.holds = []
        self.faults = []
        self.stray = []           # (t, session, message): answers to ids never sent
        self.no_such_reg = []     # first UNREGISTERs answered no_such_registration
        self.connect_failures = 0
        self.stop_new = False
        self.notes = []

    def log(self, **event):
        self.events.append(event)


H = History()


class Session:
    def __init__(self, client, ws, sid, t_join):
        self.client, self.ws, self.sid, self.node = client, ws, sid, client.node
        self.t_join, self.t_end, self.end_reason = t_join, None, None
        self.last_alive = t_join                # the last REGISTERED or RESULT received
        self.next_rid = 1
        self.requests = {}
        self.holds = {}                       # uri -> Hold, REGISTERED and no UNREGISTER sent yet
        self.retries = []                     # [(t, uri, reg)] UNREGISTERs to send again
        self.unregistering = set()            # uris with an UNREGISTER outstanding or to retry
        self.wake = asyncio.Event()
        self.reader = None
        self.closing = False                  # we are saying GOODBYE ourselves

    @property
    def live(self):
        return self.t_end is None

    def end(self, t, reason):
        if self.t_end is None:
            self.t_end, self.end_reason = t, reason
            H.log(t=t, ev="end", client=self.client.name, sid=self.sid, reason=reason)
        self.wake.set()

    def outstanding(self):
        return [r for r in self.requests.values() if not r.answers]

    async def send(self, message):
        H.log(t=now(), ev="send", client=self.client.name, sid=self.sid, msg=message)
        try:
            await asyncio.wait_for(self.ws.send(json.dumps(message)), SEND_TIMEOUT_S)
            return True
        except Exception as exc:
            self.end(now(), f"send failed: {type(exc).__name__}")
            return False

    async def request(self, kind, uri, reg=None, first=False, message=None):
        rid = self.next_rid
        self.next_rid += 1
        r = Request(self, rid, kind, uri, reg, first, now())
        self.requests[rid] = r
        H.requests.append(r)
        if kind == "register":
            msg = [REGISTER, rid, {}, uri]
        elif kind == "unregister":
            msg = [UNREGISTER, rid, reg]
        else:
            msg = [CALL, rid, {}, uri, message or []]
        await self.send(msg)
        return r

    async def read(self):
        try:
            async for frame in self.ws:
                t = now()
                try:
                    message = json.loads(frame)
                except Exception:
                    H.log(t=t, ev="recv-undecodable", client=self.client.name, sid=self.sid, frame=repr(frame)[:200])
                    continue
                H.log(t=t, ev="recv", client=self.client.name, sid=self.sid, msg=message)
                await self.on_message(t, message)
                if not self.live:
                    break
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            H.log(t=now(), ev="reader-error", client=self.client.name, sid=self.sid, error=repr(exc))
        if not self.closing:
            self.end(now(), f"connection closed (code {self.ws.close_code}, reason {self.ws.close_reason!r})")

    async def on_message(self, t, message):
        code = message[0] if isinstance(message, list) and message else None
        if code == GOODBYE:
            if self.closing:
                return
            self.end(t, f"GOODBYE {message[2] if len(message) > 2 else '?'}")
            asyncio.create_task(self.goodbye_and_close())
            return
        if code == ABORT:
            self.end(t, f"ABORT {message[2] if len(message) > 2 else '?'}")
            asyncio.create_task(self.close())
            return
        if code in (REGISTERED, UNREGISTERED, RESULT):
            rid = message[1]
        elif code == ERROR:
            rid = message[2]
        else:
            H.notes.append(f"unexpected message on session {self.sid} at {t:.3f}: {message!r}"[:300])
            if code == INVOCATION:
                await self.send([ERROR, INVOCATION, message[1], {}, "wamp.error.canceled"])
            return
        r = self.requests.get(rid)
        if r is None:
            H.stray.append((t, self, message))
            return
        r.answers.append((t, message))
        if len(r.answers) > 1:
            return
        if code == ERROR and message[1] != KIND_CODE[r.kind]:
            H.notes.append(f"ERROR for request type {message[1]} answers {r.describe()}: {message!r}")
        if code in (REGISTERED, RESULT):
            self.last_alive = max(self.last_alive, t)
        if r.kind == "register":
            if code == REGISTERED:
                hold = Hold(self, r.uri, message[2], t, t + self.client.rng.uniform(*HOLD_S))
                H.holds.append(hold)
                if r.uri in self.holds:
                    H.notes.append(f"session {self.sid} got REGISTERED for {r.uri} it already held")
                self.holds[r.uri] = hold
        elif r.kind == "unregister":
            if code == UNREGISTERED:
                self.unregistering.discard(r.uri)
            elif code == ERROR and message[4] == NO_SUCH_REGISTRATION:
                self.unregistering.discard(r.uri)
                if r.first:
                    H.no_such_reg.append((t, r))
            else:
                # network_failure and the like: it may or may not have happened; ask again
                self.retries.append((t + 0.5, r.uri, r.reg))
        self.wake.set()

    async def goodbye_and_close(self):
        try:
            await asyncio.wait_for(self.ws.send(json.dumps([GOODBYE, {}, "wamp.close.goodbye_and_out"])), 1)
        except Exception:
            pass
        await self.close()

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except Exception:
            pass


class Client:
    def __init__(self, index, node, seed):
        self.name, self.node = f"c{index}", node
        self.rng = random.Random(f"{seed}-client-{index}")
        self.session = None
        self.sessions = []

    async def connect(self):
        ws = await asyncio.wait_for(
            websockets.connect(
                url(self.node),
                subprotocols=["wamp.2.json"],
                open_timeout=CONNECT_TIMEOUT_S,
                close_timeout=2,
                max_size=None,
                ping_interval=None,
                compression=None,
            ),
            CONNECT_TIMEOUT_S + 1,
        )
        try:
            await asyncio.wait_for(ws.send(json.dumps([HELLO, REALM, HELLO_DETAILS])), SEND_TIMEOUT_S)
            welcome = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
            if welcome[0] != WELCOME:
                raise RuntimeError(f"HELLO answered with {welcome!r}")
        except BaseException:
            try:
                await asyncio.wait_for(ws.close(), 2)
            except Exception:
                pass
            raise
        t = now()
        s = Session(self, ws, welcome[1], t)
        H.log(t=t, ev="join", client=self.name, sid=s.sid, node=self.node)
        H.sessions.append(s)
        self.sessions.append(s)
        s.reader = asyncio.create_task(s.read())
        return s

    async def run(self):
        backoff = BACKOFF_S[0]
        while not H.stop_new:
            try:
                self.session = await self.connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                H.connect_failures += 1
                H.log(t=now(), ev="connect-failed", client=self.name, node=self.node, error=repr(exc)[:200])
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_S[1])
                continue
            backoff = BACKOFF_S[0]
            await self.drive(self.session)

    async def drive(self, s):
        next_register = now()
        while s.live and not H.stop_new:
            t = now()
            in_flight = [r for r in s.outstanding() if t - r.t_sent < LATE_S]
            if len(in_flight) < MAX_IN_FLIGHT:
                retry = next((x for x in s.retries if x[0] <= t), None)
                due = min((h for h in s.holds.values() if h.due <= t), key=lambda h: h.due, default=None)
                if retry is not None:
                    s.retries.remove(retry)
                    await s.request("unregister", retry[1], reg=retry[2])
                    continue
                if due is not None:
                    due.t_unreg_sent = now()
                    del s.holds[due.uri]
                    s.unregistering.add(due.uri)
                    await s.request("unregister", due.uri, reg=due.reg, first=True)
                    continue
                if t >= next_register:
                    busy = set(s.holds) | s.unregistering | {r.uri for r in s.outstanding() if r.kind == "register"}
                    free = [u for u in URIS if u not in busy]
                    if free:
                        await s.request("register", self.rng.choice(free))
                    next_register = now() + self.rng.uniform(*THINK_S)
                    continue
            wakeups = [next_register] + [h.due for h in s.holds.values()] + [x[0] for x in s.retries]
            timeout = min(max(min(wakeups) - now(), 0.005), 0.2)
            s.wake.clear()
            try:
                await asyncio.wait_for(s.wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass


# ---------------------------------------------------------------- the cluster


async def docker_async(*args, timeout=20.0):
    p = await asyncio.create_subprocess_exec("docker", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(p.communicate(), timeout)
    except asyncio.TimeoutError:
        p.kill()
        await p.wait()
        return None, "", f"docker {' '.join(args)}: timed out"
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def statuses():
    return dict(zip(PORTS, await asyncio.gather(*(asyncio.to_thread(status, n) for n in PORTS))))


async def leader_now():
    for s in (await statuses()).values():
        if s and s.get("leader") is not None:
            return s["leader"]
    return None


async def all_ready():
    return all(await asyncio.gather(*(asyncio.to_thread(ready, n) for n in PORTS)))


async def wait_ready(limit):
    """Every node ready and the same leader known everywhere; False after `limit` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await all_ready():
            st = await statuses()
            leaders = {s.get("leader") if s else None for s in st.values()}
            if len(leaders) == 1 and None not in leaders:
                return True
        await asyncio.sleep(0.5)
    return False


async def wait_settled(limit):
    """Ready, one leader, and `last_applied` equal on every node and unchanged over
    two polls half a second apart; returns that index, or None after `limit` s."""
    deadline = time.monotonic() + limit
    previous = None
    while time.monotonic() < deadline:
        st = await statuses() if await all_ready() else {}
        if st and all(st.values()):
            leaders = {s.get("leader") for s in st.values()}
            applied = {s.get("last_applied") for s in st.values()}
            if len(leaders) == 1 and None not in leaders and len(applied) == 1:
                index = applied.pop()
                if index is not None and index == previous:
                    return index
                previous = index
            else:
                previous = None
        else:
            previous = None
        await asyncio.sleep(0.5)
    return None


async def container_state(cid):
    rc, out, _ = await docker_async("inspect", "-f", "{{.State.Running}} {{.State.Paused}}", cid, timeout=10)
    if rc != 0:
        return None, None
    running, paused = out.split()
    return running == "true", paused == "true"


async def heal(containers):
    """Every container running and unpaused."""
    for node, cid in containers.items():
        running, paused = await container_state(cid)
        if paused:
            await docker_async("unpause", cid)
            H.log(t=now(), ev="heal", node=node, action="unpause")
        elif running is False:
            await docker_async("start", cid)
            H.log(t=now(), ev="heal", node=node, action="start")


async def inject_faults(containers, rng, until):
    kinds = {"pauses+kills": ["pause", "kill"], "pauses": ["pause"], "kills": ["kill"], "none": []}[FAULTS]
    if not kinds:
        return
    await asyncio.sleep(rng.uniform(2, 4))
    while now() < until - 3:
        leader = await leader_now()
        if leader is not None and rng.random() < 0.5:
            node = leader
        else:
            node = rng.choice(sorted(PORTS))
        kind = rng.choice(kinds)
        fault = {"kind": kind, "node": node, "leader": leader, "was_leader": node == leader, "t_start": now()}
        H.faults.append(fault)
        H.log(t=fault["t_start"], ev="fault", kind=kind, node=node, leader=leader)
        print(f"  fault {len(H.faults)}: {kind} node {node}{' (the leader)' if node == leader else ''} at {fault['t_start']:.2f} s ({wall(fault['t_start'])})", flush=True)
        if kind == "pause":
            await docker_async("pause", containers[node])
            await asyncio.sleep(rng.uniform(2, 4))
            await docker_async("unpause", containers[node])
        else:
            await docker_async("kill", containers[node])
            await asyncio.sleep(2)
            await docker_async("start", containers[node])
        fault["t_heal"] = now()
        H.log(t=fault["t_heal"], ev="fault-healed", kind=kind, node=node)
        await asyncio.sleep(max(min(rng.uniform(4, 6), until - now()), 0))


# ------------------------------------------------------------- reading state


class MetaReader:
    """A fresh raw session on one node that calls meta procedures."""

    def __init__(self, node):
        self.node, self.ws, self.sid, self.rid = node, None, None, 0

    async def open(self):
        self.ws = await asyncio.wait_for(
            websockets.connect(url(self.node), subprotocols=["wamp.2.json"], open_timeout=CONNECT_TIMEOUT_S, close_timeout=2, max_size=None, ping_interval=None, compression=None),
            CONNECT_TIMEOUT_S + 1,
        )
        await asyncio.wait_for(self.ws.send(json.dumps([HELLO, REALM, HELLO_DETAILS])), SEND_TIMEOUT_S)
        welcome = json.loads(await asyncio.wait_for(self.ws.recv(), CONNECT_TIMEOUT_S))
        if welcome[0] != WELCOME:
            raise RuntimeError(f"node {self.node} answered HELLO with {welcome!r}")
        self.sid = welcome[1]

    async def calls(self, calls, timeout=8.0):
        """Sends every (procedure, args) at once; returns [("ok", value) | ("error", uri) | ("none", None)]."""
        rids = []
        for procedure, args in calls:
            self.rid += 1
            rids.append(self.rid)
            await asyncio.wait_for(self.ws.send(json.dumps([CALL, self.rid, {}, procedure, args])), SEND_TIMEOUT_S)
        answers = {}
        deadline = time.monotonic() + timeout
        while len(answers) < len(rids) and time.monotonic() < deadline:
            try:
                message = json.loads(await asyncio.wait_for(self.ws.recv(), max(deadline - time.monotonic(), 0.01)))
            except asyncio.TimeoutError:
                break
            if message[0] == RESULT:
                answers[message[1]] = ("ok", (message[3] if len(message) > 3 else [None])[0])
            elif message[0] == ERROR:
                answers[message[2]] = ("error", message[4])
        return [answers.get(rid, ("none", None)) for rid in rids]

    async def read(self):
        """{"sessions": set, "regs": {uri: (id, callees)}, "other": [...]} or raises."""
        (kind, listed), (skind, sessions) = await self.calls([("wamp.registration.list", []), ("wamp.session.list", [])])
        if kind != "ok" or skind != "ok":
            raise RuntimeError(f"node {self.node}: registration.list -> {kind} {listed!r}, session.list -> {skind} {sessions!r}")
        other = [(k, v) for k, v in listed.items() if k != "exact" and v]
        ids = listed.get("exact", [])
        answers = await self.calls([(p, [i]) for i in ids for p in ("wamp.registration.get", "wamp.registration.list_callees")])
        regs = {}
        for n, i in enumerate(ids):
            (gk, details), (ck, callees) = answers[2 * n], answers[2 * n + 1]
            if gk != "ok" or ck != "ok":
                raise RuntimeError(f"node {self.node}: registration {i}: get -> {gk} {details!r}, list_callees -> {ck} {callees!r}")
            regs[details["uri"]] = (i, tuple(sorted(callees)), details.get("invoke"))
        return {"sessions": set(sessions), "regs": regs, "other": other}

    async def close(self):
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.send(json.dumps([GOODBYE, {}, "wamp.close.close_realm"])), 1)
                await asyncio.wait_for(self.ws.close(), 2)
            except Exception:
                pass


async def read_cluster(limit):
    """Reads every node's registrations and sessions with the cluster settled
    (last_applied equal on every node before and after the read)."""
    readers = {n: MetaReader(n) for n in PORTS}
    deadline = time.monotonic() + limit
    errors = {}
    for node, r in readers.items():
        try:
            await r.open()
        except Exception as exc:
            errors[node] = f"could not open a session: {exc!r}"
    states, settled = {}, False
    try:
        while time.monotonic() < deadline:
            before = await wait_settled(max(deadline - time.monotonic(), 1))
            results = await asyncio.gather(*(r.read() for n, r in readers.items() if n not in errors), return_exceptions=True)
            after = await statuses()
            states = {}
            for node, result in zip([n for n in readers if n not in errors], results):
                if isinstance(result, Exception):
                    errors[node] = repr(result)
                else:
                    states[node] = result
            applied = {s.get("last_applied") if s else None for s in after.values()}
            if before is not None and applied == {before}:
                settled = True
                break
            H.notes.append(f"the log moved while reading the state (settled at {before}, then {sorted(map(str, applied))}); reading again")
    finally:
        await asyncio.gather(*(r.close() for r in readers.values()))
    checkers = {r.sid for r in readers.values() if r.sid is not None}
    return states, errors, checkers, settled


# ----------------------------------------------------------------- checking


def near(*times):
    found = []
    for i, f in enumerate(H.faults, 1):
        end = f.get("t_heal", f["t_start"] + 6)
        if any(f["t_start"] - NEAR_BEFORE_S <= t <= end + NEAR_AFTER_S for t in times if t is not None):
            found.append(f"#{i} {f['kind']} node {f['node']}{' (leader)' if f['was_leader'] else ''} {f['t_start']:.2f}-{end:.2f}")
    return "faults near: " + (", ".join(found) if found else "none")


def faults_on(s):
    """The faults on a session's node while it lived."""
    found = [f"#{i} {f['kind']} {f['t_start']:.2f}-{f.get('t_heal', float('nan')):.2f}"
             for i, f in enumerate(H.faults, 1)
             if f["node"] == s.node and f["t_start"] >= s.t_join - NEAR_BEFORE_S and (s.t_end is None or f["t_start"] <= s.t_end)]
    return f"faults on node {s.node} while it lived: " + (", ".join(found) if found else "none")


def session_line(s):
    end = f"ended {s.t_end:.3f} ({s.end_reason})" if s.t_end is not None else "live at the end"
    return f"session {s.sid} ({s.client.name}, node {s.node}) joined {s.t_join:.3f}, {end}, last REGISTERED {s.last_alive:.3f}"


def answer_text(answers):
    return "; ".join(f"{t:.3f} {json.dumps(m)}" for t, m in answers)


def check(states, errors, checkers, settled, zombie_answers, t_check, cluster_settled):
    v = collections.defaultdict(list)   # violation kind -> detail lines
    info = collections.defaultdict(list)
    live = {s.sid: s for s in H.sessions if s.live}
    known = {s.sid: s for s in H.sessions}

    # 1. divergence
    for node, error in errors.items():
        v["divergence"].append(f"node {node} could not be read: {error}")
    if not cluster_settled:
        v["divergence"].append("the cluster did not settle (ready, one leader, equal last_applied) in time")
    if not settled and states:
        v["divergence"].append("the log kept moving while the state was read")
    if len(states) > 1:
        uris = set().union(*(s["regs"] for s in states.values()))
        for uri in sorted(uris):
            seen = {n: st["regs"].get(uri) for n, st in states.items()}
            if len({x[:2] if x else None for x in seen.values()}) > 1:
                v["divergence"].append(f"{uri}: " + ", ".join(f"node {n}: " + (f"id {x[0]} callees {list(x[1])}" if x else "absent") for n, x in seen.items()))
        sessions = set().union(*(st["sessions"] for st in states.values())) - checkers
        for sid in sorted(sessions):
            where = [n for n, st in states.items() if sid in st["sessions"]]
            if len(where) != len(states):
                who = session_line(known[sid]) if sid in known else "not one of ours"
                v["divergence"].append(f"session {sid} listed only by nodes {where}: {who}")
    for node, st in states.items():
        if st["other"]:
            info["other"].append(f"node {node} lists non-exact registrations: {st['other']}")

    # 2. double holders
    windows = collections.defaultdict(list)
    for h in H.holds:
        end = h.definite_end(t_check)
        if end > h.t_start:
            windows[h.uri].append((h.t_start, end, h))
    for uri, ws in windows.items():
        ws.sort(key=lambda w: w[0])
        for i, (a0, a1, a) in enumerate(ws):
            for b0, b1, b in ws[i + 1:]:
                if b0 >= a1:
                    break
                if b.session is not a.session:
                    v["double holders"].append(
                        f"{uri}: session {a.session.sid} (registration {a.reg}) held it {a0:.3f}-{a1:.3f} and session {b.session.sid} (registration {b.reg}) {b0:.3f}-{b1:.3f}, "
                        f"overlap {b0:.3f}-{min(a1, b1):.3f}; {session_line(a.session)}; {session_line(b.session)}; {near(a0, a1, b0, b1)}")

    # 3a. lost at the end
    for s in live.values():
        for uri, h in sorted(s.holds.items()):
            bad = []
            for node, st in states.items():
                x = st["regs"].get(uri)
                if x is None:
                    bad.append(f"node {node}: no registration")
                elif s.sid not in x[1]:
                    bad.append(f"node {node}: id {x[0]} callees {list(x[1])}")
                elif x[0] != h.reg:
                    bad.append(f"node {node}: id {x[0]} instead of {h.reg}")
            if bad:
                v["lost"].append(f"{uri} registration {h.reg} acknowledged to session {s.sid} ({s.client.name}, node {s.node}) at {h.t_start:.3f}, never unregistered, session live: " + "; ".join(bad) + f"; {near(h.t_start)}")
    # 3b. lost during the run
    for t, r in H.no_such_reg:
        s = r.session
        hold = next((h for h in H.holds if h.session is s and h.reg == r.reg), None)
        acked = f"acknowledged at {hold.t_start:.3f}" if hold else "never acknowledged to it"
        line = f"{r.describe()}: answered no_such_registration at {t:.3f}; the registration was {acked}; {session_line(s)}; {near(r.t_sent, t)}"
        if s.live or s.t_end - t >= LIVED_ON_S:
            v["lost"].append(line)
        else:
            info["lost as its session was dropped"].append(line)
    # 3c. zombies
    for s in live.values():
        answer = zombie_answers.get(s.sid)
        missing = [n for n, st in states.items() if s.sid not in st["sessions"]]
        gone = answer is not None and answer[0] == ERROR and answer[4] == NO_SUCH_SESSION
        if gone or missing:
            v["zombies"].append(f"{session_line(s)}: wamp.session.get of itself -> {json.dumps(answer)}; missing from wamp.session.list on nodes {missing}; {faults_on(s)}")

    # 4. unanswered, double answered, abandoned
    abandoned = 0
    for r in H.requests:
        if len(r.answers) > 1:
            v["double"].append(f"{r.describe()}: {len(r.answers)} answers: {answer_text(r.answers)}; {session_line(r.session)}; {near(r.t_sent, *(t for t, _ in r.answers))}")
        if not r.answers:
            if r.session.live:
                v["unanswered"].append(f"{r.describe()}: no answer by {t_check:.3f}; {session_line(r.session)}; {near(r.t_sent)}")
            else:
                abandoned += 1
    for t, s, message in H.stray:
        v["double"].append(f"answer to request id never sent, on {session_line(s)} at {t:.3f}: {json.dumps(message)}; {near(t)}")

    for node, st in states.items():
        for uri, (rid, callees, _) in sorted(st["regs"].items()):
            for c in callees:
                if c not in st["sessions"]:
                    who = session_line(known[c]) if c in known else "not one of ours"
                    v["orphaned"].append(f"node {node}: {uri} registration {rid}: callee {c} is not in its wamp.session.list ({who})")

    # Orphans: sessions the nodes still list although their client saw them end, and
    # registrations whose callee is not holding them by its own account (an ERROR,
    # or no answer, for a REGISTER that committed; or a departed session's leftovers).
    if states:
        st = next(iter(states.values()))
        for sid in sorted(st["sessions"] - checkers - set(live)):
            who = session_line(known[sid]) if sid in known else "not one of ours"
            v["orphaned"].append(f"session {sid} is still listed although its client saw it end: {who}")
        for uri, (rid, callees, _) in sorted(st["regs"].items()):
            for c in callees:
                s = live.get(c)
                if s is None or (uri not in s.holds and uri not in s.unregistering):
                    last = [r for r in H.requests if r.session.sid == c and r.uri == uri]
                    tail = f"last request on it: {last[-1].describe()} -> {answer_text(last[-1].answers) or 'no answer'}" if last else "it never asked for it"
                    v["orphaned"].append(f"{uri} registration {rid} is held by callee {c}, which does not hold it by its own account ({session_line(known[c]) if c in known else 'not one of ours'}); {tail}")
    return v, info, abandoned


async def keep_evidence(tag, containers, violations, info, states):
    out = ROOT / "target" / "chaos-logs"
    out.mkdir(parents=True, exist_ok=True)
    for node, cid in containers.items():
        rc, o, e = await docker_async("logs", "--timestamps", cid, timeout=20)
        (out / f"{tag}-node{node}.log").write_text((o or "") + (e or ""))
    with open(out / f"{tag}-events.jsonl", "w") as f:
        f.write(json.dumps({"seed": SEED, "t0_wall": T0_WALL, "t0_iso": wall(0), "faults": H.faults}) + "\n")
        for e in H.events:
            f.write(json.dumps(e) + "\n")
    (out / f"{tag}-state.json").write_text(json.dumps(
        {n: {"sessions": sorted(st["sessions"]), "registrations": {u: {"id": x[0], "callees": list(x[1])} for u, x in sorted(st["regs"].items())}} for n, st in states.items()}, indent=1))
    (out / f"{tag}-violations.txt").write_text(
        "".join(f"{k}:\n" + "".join(f"  {line}\n" for line in lines) for k, lines in {**violations, **info}.items()))
    return out


# --------------------------------------------------------------------- main


async def run(deadline):
    print(f"history check: seed {SEED} (CHAOS_HISTORY_SEED={SEED} repeats its choices), faults {FAULTS}, {HISTORY_S:g} s, project {PROJECT}, t0 {wall(0)}", flush=True)
    if CLUSTER == "fresh":
        await asyncio.to_thread(compose, "down", "-v", "-t", "2", check=False)
        await asyncio.to_thread(compose, "up", "-d")
    if not await wait_ready(min(45, deadline - time.monotonic() - HISTORY_S - 40)):
        raise SystemExit("history: the cluster did not become ready")
    containers = {n: await asyncio.to_thread(container, n) for n in PORTS}

    clients = [Client(i, node, SEED) for i, node in enumerate([n for n in sorted(PORTS) for _ in range(CLIENTS_PER_NODE)])]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    fault_rng = random.Random(f"{SEED}-faults")
    t_window = now()
    await inject_faults(containers, fault_rng, t_window + HISTORY_S)
    while now() < t_window + HISTORY_S:
        await asyncio.sleep(min(0.5, t_window + HISTORY_S - now()))
    t_faults_over = now()

    # Heal, let the clients reconnect on a healthy cluster, then stop them.
    await heal(containers)
    healthy = await wait_ready(max(min(30, deadline - time.monotonic() - 45), 1))
    if healthy:
        await asyncio.sleep(2)
    H.stop_new = True
    t_stop = now()
    await asyncio.wait(tasks, timeout=5)
    for task in tasks:
        task.cancel()
    drain_until = time.monotonic() + min(DRAIN_S, max(deadline - time.monotonic() - 25, 1))
    while time.monotonic() < drain_until and any(s.outstanding() for s in H.sessions if s.live):
        await asyncio.sleep(0.2)
    cluster_settled = await wait_settled(max(min(15, deadline - time.monotonic() - 20), 1)) is not None

    # Zombies: every live session asks the router about itself.
    asks = {}
    for s in [s for s in H.sessions if s.live]:
        asks[s.sid] = await s.request("call", "wamp.session.get", message=[s.sid])
    ask_until = time.monotonic() + 5
    while time.monotonic() < ask_until and any(not r.answers and r.session.live for r in asks.values()):
        await asyncio.sleep(0.1)
    zombie_answers = {sid: (r.answers[0][1] if r.answers else None) for sid, r in asks.items()}

    states, errors, checkers, settled = await read_cluster(max(min(15, deadline - time.monotonic() - 8), 2))
    await asyncio.sleep(0.5)   # late answers still count as double
    t_check = now()
    violations, info, abandoned = check(states, errors, checkers, settled, zombie_answers, t_check, cluster_settled)

    for s in H.sessions:
        if s.live:
            s.closing = True
    await asyncio.gather(*(s.goodbye_and_close() for s in H.sessions if s.live and s.closing))
    for s in H.sessions:
        if s.reader is not None:
            s.reader.cancel()

    first = [r.answers[0][1] for r in H.requests if r.answers]
    row = {
        "history": f"history ({FAULTS}, {HISTORY_S:g} s, seed {SEED})",
        "requests": len(H.requests),
        "acked": sum(1 for m in first if m[0] in (REGISTERED, UNREGISTERED, RESULT)),
        "refused": sum(1 for m in first if m[0] == ERROR and m[4] == ALREADY_EXISTS),
        "errors": sum(1 for m in first if m[0] == ERROR and m[4] != ALREADY_EXISTS),
        "abandoned": abandoned,
        "lost": len(violations["lost"]),
        "zombies": len(violations["zombies"]),
        "unanswered": len(violations["unanswered"]),
        "double": len(violations["double"]),
        "double holders": len(violations["double holders"]),
        "divergence": len(violations["divergence"]),
        "orphaned": len(violations["orphaned"]),
    }
    errors_by_uri = collections.Counter(m[4] for m in first if m[0] == ERROR and m[4] != ALREADY_EXISTS)
    print(f"  {len(H.faults)} faults; {len(H.sessions)} sessions ({sum(1 for s in H.sessions if s.live)} live at the end), "
          f"{H.connect_failures} failed connects; {len(H.holds)} holds ({sum(len(s.holds) for s in H.sessions if s.live)} still held at the end); errors: {dict(errors_by_uri)}; "
          f"faults over at {t_faults_over:.1f} s, clients stopped at {t_stop:.1f} s, checked at {t_check:.1f} s", flush=True)
    for i, f in enumerate(H.faults, 1):
        print(f"  fault #{i}: {f['kind']} node {f['node']}{' (leader)' if f['was_leader'] else ''} {f['t_start']:.2f}-{f.get('t_heal', float('nan')):.2f} s ({wall(f['t_start'])})")
    for kind, lines in info.items():
        print(f"  note, not counted: {kind}: {len(lines)}")
        for line in lines[:10]:
            print(f"    {line}")
    for note in H.notes[:10]:
        print(f"  note: {note}")
    bad = {k: lines for k, lines in violations.items() if lines}
    tag = f"history-{time.strftime('%Y%m%d-%H%M%S')}-seed{SEED}"
    if bad or KEEP:
        out = await keep_evidence(tag, containers, bad, info, states)
        print(f"  evidence: {out}/{tag}-node*.log, {tag}-events.jsonl (every frame), {tag}-state.json (what each node held at the end), {tag}-violations.txt", file=sys.stderr if bad else sys.stdout)
    if bad:
        print("VIOLATIONS (times are seconds since the script started, t0 above):", file=sys.stderr)
        for kind, lines in bad.items():
            print(f"  {kind}: {len(lines)}", file=sys.stderr)
            for line in lines[:25]:
                print(f"    {line}", file=sys.stderr)
            if len(lines) > 25:
                print(f"    ... and {len(lines) - 25} more in the violations file", file=sys.stderr)
    print()
    print(" | ".join(row))
    print(" | ".join(str(x) for x in row.values()), flush=True)
    return 1 if bad else 0


async def main():
    deadline = time.monotonic() + HISTORY_S + 85
    try:
        return await asyncio.wait_for(run(deadline), HISTORY_S + 85)
    except asyncio.TimeoutError:
        print("history: ran out of time (a bounded wait was not bounded enough)", file=sys.stderr)
        return 1
    finally:
        if CLUSTER == "fresh":
            await asyncio.to_thread(compose, "down", "-v", "-t", "2", check=False)


if __name__ == "__main__":
    if FAULTS not in ("pauses+kills", "pauses", "kills", "none") or CLUSTER not in ("fresh", "running"):
        raise SystemExit("CHAOS_HISTORY_FAULTS is pauses+kills, pauses, kills or none; CHAOS_HISTORY_CLUSTER is fresh or running")
    sys.exit(asyncio.run(main()))
