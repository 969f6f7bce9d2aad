"""Advanced RPC: call timeouts, call canceling, caller identification,
progressive call results and progressive call invocations.

Autobahn|Python clients are used wherever its public API can express the
case. It cannot send CANCEL with an explicit mode, REGISTER with
`forward_timeout`, progressive CALLs or progressive YIELDs to a caller that
did not ask, so those cases use raw sessions (raw.py), which also show the
exact messages the router sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, CallResult, RegisterOptions

from raw import (
    CALL,
    CANCEL,
    ERROR,
    INTERRUPT,
    INVOCATION,
    RESULT,
    YIELD,
    RawSession,
    expect_abort,
    hello_details,
    raw_session,
)
from wamp import assert_router_serves, close_session, connect, open_session, within

TIMEOUT_ERROR = "wamp.error.timeout"
CANCELED = "wamp.error.canceled"

# Feature sets announced by raw peers.
CANCELING = {"call_canceling": True}
PROGRESSIVE_RESULTS = {"call_canceling": True, "progressive_call_results": True}
PROGRESSIVE_INVOCATIONS = {
    "call_canceling": True,
    "progressive_call_results": True,
    "progressive_call_invocations": True,
}


async def call_error(awaitable, timeout: float = 5.0) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        await within(awaitable, timeout, "answer to CALL")
    return excinfo.value


async def expect_call_error(session: RawSession, request: int, uri: str, timeout: float = 5.0) -> list:
    message = await session.recv(timeout)
    assert message[:3] == [ERROR, CALL, request] and len(message) >= 5, (
        f"expected ERROR(CALL, {request}, {uri}), got {message!r}"
    )
    assert message[4] == uri, f"expected ERROR {uri}, got {message!r}"
    return message


async def expect_interrupt(session: RawSession, invocation: int, mode: str, timeout: float = 5.0) -> list:
    message = await session.recv(timeout)
    assert message[:2] == [INTERRUPT, invocation] and isinstance(message[2], dict), (
        f"expected INTERRUPT for invocation {invocation}, got {message!r}"
    )
    assert message[2].get("mode") == mode, f"expected INTERRUPT mode {mode!r}, got {message!r}"
    return message


async def expect_invocation(session: RawSession, timeout: float = 5.0) -> list:
    message = await session.recv(timeout)
    assert message[0] == INVOCATION, f"expected INVOCATION, got {message!r}"
    return message


async def raw_call_round_trip(caller: RawSession, callee: RawSession, procedure: str) -> None:
    """A fresh CALL from `caller` is invoked on `callee` and answered normally."""
    request = caller.request_id()
    await caller.send([CALL, request, {}, procedure, ["ping"]])
    invocation = await expect_invocation(callee)
    await callee.send([YIELD, invocation[1], {}, ["pong"]])
    result = await caller.recv()
    assert result[:2] == [RESULT, request] and result[3] == ["pong"], f"expected RESULT, got {result!r}"


async def first_message(*sessions: RawSession, timeout: float = 5.0) -> tuple[RawSession, list]:
    """The first message that arrives on any of `sessions`, and which session got it."""
    tasks = {asyncio.ensure_future(s.recv(timeout)): s for s in sessions}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    task = next(iter(done))
    return tasks[task], task.result()


# ---------------------------------------------------------------------------
# Call timeouts
# ---------------------------------------------------------------------------


async def test_call_timeout_fails_caller_with_timeout_error_and_interrupts_callee(router_url, serializer):
    invoked = asyncio.Event()
    interrupted = asyncio.Event()
    release = asyncio.Event()

    async def slow():
        invoked.set()
        try:
            await asyncio.wait_for(release.wait(), 10)
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return "too late"

    try:
        async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
            await callee.register(slow, "com.example.slow")
            await callee.register(lambda: "fast", "com.example.fast")

            started = time.monotonic()
            error = await call_error(caller.call("com.example.slow", options=CallOptions(timeout=300)))
            elapsed = time.monotonic() - started
            assert error.error == TIMEOUT_ERROR, str(error)
            assert invoked.is_set()
            assert 0.25 <= elapsed < 3.0, f"timeout of 300 ms fired after {elapsed:.3f} s"

            # The callee announced call_canceling: the router interrupts it (killnowait).
            await within(interrupted.wait(), 3.0, "INTERRUPT at the callee after the call timed out")

            assert caller.is_attached() and callee.is_attached()
            assert await within(caller.call("com.example.fast")) == "fast"
    finally:
        release.set()


async def test_result_just_before_timeout_is_delivered(router_url, serializer):
    async def almost_too_slow():
        await asyncio.sleep(0.5)
        return "in time"

    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(almost_too_slow, "com.example.almost")
        result = await within(caller.call("com.example.almost", options=CallOptions(timeout=1200)))
        assert result == "in time"


async def test_result_just_after_timeout_is_dropped_and_both_sessions_survive(router_url, serializer):
    interrupted = asyncio.Event()
    answered = asyncio.Event()

    async def stubborn():
        # Ignores the INTERRUPT and answers 200 ms after the caller's timeout.
        sleeper = asyncio.ensure_future(asyncio.sleep(0.5))
        try:
            await asyncio.shield(sleeper)
        except asyncio.CancelledError:
            interrupted.set()
            await sleeper
        answered.set()
        return "late"

    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(stubborn, "com.example.stubborn")
        await callee.register(lambda x: x * 2, "com.example.double")

        error = await call_error(caller.call("com.example.stubborn", options=CallOptions(timeout=300)))
        assert error.error == TIMEOUT_ERROR, str(error)

        await within(answered.wait(), 3.0, "late answer from the callee")
        await asyncio.sleep(0.3)  # let the late YIELD reach the router and (not) the caller
        assert interrupted.is_set(), "the callee got no INTERRUPT after the timeout"

        # A late RESULT would make Autobahn close the caller's session with a protocol error.
        assert caller.is_attached(), "caller session was closed after the late YIELD"
        assert callee.is_attached(), "callee session was closed after its late YIELD"
        assert await within(caller.call("com.example.double", 21)) == 42
    await assert_router_serves(router_url, serializer)


@pytest.mark.parametrize("callee_canceling", [False, True], ids=["callee-without-canceling", "callee-with-canceling"])
async def test_router_timeout_errors_caller_and_discards_the_late_yield(router_url, serializer, callee_canceling):
    features = hello_details(callee=CANCELING if callee_canceling else {})
    async with raw_session(router_url, serializer, details=features) as callee, raw_session(router_url, serializer) as caller:
        await callee.register("com.example.raw.slow")
        request = caller.request_id()
        await caller.send([CALL, request, {"timeout": 200}, "com.example.raw.slow", [1]])
        invocation = await expect_invocation(callee)
        assert "timeout" not in invocation[3], (
            f"router forwarded the timeout without forward_timeout: {invocation!r}"
        )

        await expect_call_error(caller, request, TIMEOUT_ERROR, timeout=3.0)
        if callee_canceling:
            await expect_interrupt(callee, invocation[1], "killnowait")
        else:
            await callee.expect_silence(0.3)  # no INTERRUPT to a callee that cannot handle it

        await callee.send([YIELD, invocation[1], {}, ["late"]])
        await caller.expect_silence(0.5)

        await raw_call_round_trip(caller, callee, "com.example.raw.slow")


async def test_forward_timeout_passes_timeout_to_callee_and_router_does_not_time_out(router_url, serializer):
    features = hello_details(callee={"call_timeout": True, "call_canceling": True})
    async with raw_session(router_url, serializer, details=features) as callee, connect(router_url, serializer) as caller:
        await callee.register("com.example.forwarded", {"forward_timeout": True})
        pending = asyncio.ensure_future(
            caller.call("com.example.forwarded", options=CallOptions(timeout=300))
        )
        try:
            invocation = await expect_invocation(callee)
            assert invocation[3].get("timeout") == 300, (
                f"INVOCATION.Details.timeout should carry the caller's 300 ms: {invocation!r}"
            )
            await asyncio.sleep(0.6)  # twice the timeout: only the callee may enforce it
            assert not pending.done(), f"router answered the caller itself: {pending!r}"
            await callee.send([YIELD, invocation[1], {}, ["finished late"]])
            assert await within(pending, 3.0, "result after forward_timeout") == "finished late"
        finally:
            pending.cancel()


async def test_timeout_with_progressive_results_is_measured_between_results(router_url, serializer):
    async def ticker(details):
        for index in range(4):
            await asyncio.sleep(0.2)
            details.progress(index)
        await asyncio.sleep(0.2)
        return "done"

    progress: list = []
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(ticker, "com.example.ticker", RegisterOptions(details=True))
        started = time.monotonic()
        options = CallOptions(timeout=600, on_progress=lambda *a, **k: progress.append(a))
        result = await within(caller.call("com.example.ticker", options=options))
        elapsed = time.monotonic() - started
        assert result == "done"
        assert progress == [(0,), (1,), (2,), (3,)]
        assert elapsed > 0.6, "the test needs the whole stream to outlast the 600 ms timeout"


async def test_timeout_fires_when_progressive_results_stall(router_url, serializer):
    release = asyncio.Event()

    async def stalls(details):
        details.progress("first")
        await asyncio.wait_for(release.wait(), 10)
        return "never"

    progress: list = []
    try:
        async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
            await callee.register(stalls, "com.example.stalls", RegisterOptions(details=True))
            options = CallOptions(timeout=400, on_progress=lambda *a, **k: progress.append(a))
            error = await call_error(caller.call("com.example.stalls", options=options), 5.0)
            assert error.error == TIMEOUT_ERROR, str(error)
            assert progress == [("first",)]
    finally:
        release.set()


async def test_timeout_zero_means_no_timeout(router_url, serializer):
    async with raw_session(router_url, serializer) as callee, raw_session(router_url, serializer) as caller:
        await callee.register("com.example.raw.untimed")
        request = caller.request_id()
        await caller.send([CALL, request, {"timeout": 0}, "com.example.raw.untimed", []])
        invocation = await expect_invocation(callee)
        await caller.expect_silence(0.4)
        await callee.send([YIELD, invocation[1], {}, ["eventually"]])
        result = await caller.recv()
        assert result[:2] == [RESULT, request] and result[3] == ["eventually"], f"got {result!r}"


# ---------------------------------------------------------------------------
# Call canceling
# ---------------------------------------------------------------------------


async def test_cancelling_call_future_interrupts_autobahn_callee(router_url, serializer):
    invoked = asyncio.Event()
    interrupted = asyncio.Event()
    release = asyncio.Event()

    async def wait_forever():
        invoked.set()
        try:
            await asyncio.wait_for(release.wait(), 10)
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return "not canceled"

    try:
        async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
            await callee.register(wait_forever, "com.example.forever")
            await callee.register(lambda: "pong", "com.example.ping")

            pending = caller.call("com.example.forever")
            await within(invoked.wait(), 5.0, "invocation at the callee")
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending

            await within(interrupted.wait(), 3.0, "INTERRUPT at the callee after CANCEL")
            await asyncio.sleep(0.2)  # the callee's ERROR for the interrupted invocation is discarded
            assert caller.is_attached() and callee.is_attached()
            assert await within(caller.call("com.example.ping")) == "pong"
    finally:
        release.set()


async def test_autobahn_cancel_without_mode_is_killnowait(router_url, serializer):
    """Autobahn's CANCEL has no mode; the router applies killnowait."""
    async with raw_session(router_url, serializer, details=hello_details(callee=CANCELING)) as callee, \
            connect(router_url, serializer) as caller:
        await callee.register("com.example.raw.cancelme")
        pending = caller.call("com.example.raw.cancelme")
        invocation = await expect_invocation(callee)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        await expect_interrupt(callee, invocation[1], "killnowait")
        await callee.send([ERROR, INVOCATION, invocation[1], {}, CANCELED])
        await asyncio.sleep(0.2)
        assert caller.is_attached(), "caller session closed after the callee's answer to INTERRUPT"


async def test_raw_cancel_without_mode_errors_caller_at_once_and_interrupts_killnowait(router_url, serializer):
    async with raw_session(router_url, serializer, details=hello_details(callee=CANCELING)) as callee, \
            raw_session(router_url, serializer, details=hello_details(caller=CANCELING)) as caller:
        await callee.register("com.example.raw.cancel")
        request = caller.request_id()
        await caller.send([CALL, request, {}, "com.example.raw.cancel", []])
        invocation = await expect_invocation(callee)

        await caller.send([CANCEL, request, {}])
        await expect_call_error(caller, request, CANCELED, timeout=2.0)
        await expect_interrupt(callee, invocation[1], "killnowait")

        await callee.send([YIELD, invocation[1], {}, ["ignored"]])
        await caller.expect_silence(0.5)
        await raw_call_round_trip(caller, callee, "com.example.raw.cancel")


async def test_cancel_mode_skip_errors_caller_and_sends_no_interrupt(router_url, serializer):
    async with raw_session(router_url, serializer, details=hello_details(callee=CANCELING)) as callee, \
            raw_session(router_url, serializer, details=hello_details(caller=CANCELING)) as caller:
        await callee.register("com.example.raw.skip")
        request = caller.request_id()
        await caller.send([CALL, request, {}, "com.example.raw.skip", []])
        invocation = await expect_invocation(callee)

        await caller.send([CANCEL, request, {"mode": "skip"}])
        await expect_call_error(caller, request, CANCELED, timeout=2.0)
        await callee.expect_silence(0.3)  # skip: no INTERRUPT

        await callee.send([YIELD, invocation[1], {}, ["finished anyway"]])
        await caller.expect_silence(0.5)  # the late YIELD is discarded
        await raw_call_round_trip(caller, callee, "com.example.raw.skip")


async def test_cancel_mode_killnowait_errors_caller_and_interrupts_callee(router_url, serializer):
    async with raw_session(router_url, serializer, details=hello_details(callee=CANCELING)) as callee, \
            raw_session(router_url, serializer, details=hello_details(caller=CANCELING)) as caller:
        await callee.register("com.example.raw.killnowait")
        request = caller.request_id()
        await caller.send([CALL, request, {}, "com.example.raw.killnowait", []])
        invocation = await expect_invocation(callee)

        await caller.send([CANCEL, request, {"mode": "killnowait"}])
        await expect_call_error(caller, request, CANCELED, timeout=2.0)
        await expect_interrupt(callee, invocation[1], "killnowait")

        await callee.send([ERROR, INVOCATION, invocation[1], {}, CANCELED])
        await caller.expect_silence(0.5)  # the callee's answer to INTERRUPT is discarded
        await raw_call_round_trip(caller, callee, "com.example.raw.killnowait")


@pytest.mark.parametrize("callee_answer", ["error", "yield"])
async def test_cancel_mode_kill_waits_for_callee_answer(router_url, serializer, callee_answer):
    async with raw_session(router_url, serializer, details=hello_details(callee=CANCELING)) as callee, \
            raw_session(router_url, serializer, details=hello_details(caller=CANCELING)) as caller:
        await callee.register("com.example.raw.kill")
        request = caller.request_id()
        await caller.send([CALL, request, {}, "com.example.raw.kill", []])
        invocation = await expect_invocation(callee)

        await caller.send([CANCEL, request, {"mode": "kill"}])
        await expect_interrupt(callee, invocation[1], "kill")
        await caller.expect_silence(0.3)  # kill: the caller waits for the callee

        if callee_answer == "error":
            await callee.send([ERROR, INVOCATION, invocation[1], {}, CANCELED])
            await expect_call_error(caller, request, CANCELED)
        else:  # the callee finished before it handled the interrupt
            await callee.send([YIELD, invocation[1], {}, ["finished first"]])
            result = await caller.recv()
            assert result[:2] == [RESULT, request] and result[3] == ["finished first"], (
                f"expected the callee's RESULT, got {result!r}"
            )
        await caller.expect_silence(0.3)
        await raw_call_round_trip(caller, callee, "com.example.raw.kill")


@pytest.mark.parametrize("mode", ["kill", "killnowait"])
async def test_cancel_to_callee_without_canceling_behaves_as_skip(router_url, serializer, mode):
    async with raw_session(router_url, serializer) as callee, \
            raw_session(router_url, serializer, details=hello_details(caller=CANCELING)) as caller:
        await callee.register("com.example.raw.nocancel")
        request = caller.request_id()
        await caller.send([CALL, request, {}, "com.example.raw.nocancel", []])
        invocation = await expect_invocation(callee)

        await caller.send([CANCEL, request, {"mode": mode}])
        await expect_call_error(caller, request, CANCELED, timeout=2.0)
        await callee.expect_silence(0.3)  # no INTERRUPT to a callee that did not announce call_canceling

        await callee.send([YIELD, invocation[1], {}, ["late"]])
        await caller.expect_silence(0.5)
        await raw_call_round_trip(caller, callee, "com.example.raw.nocancel")


@pytest.mark.parametrize("mode", [None, "skip", "kill", "killnowait"])
async def test_cancel_of_a_finished_call_is_ignored(router_url, serializer, mode):
    async with raw_session(router_url, serializer, details=hello_details(callee=CANCELING)) as callee, \
            raw_session(router_url, serializer, details=hello_details(caller=CANCELING)) as caller:
        await callee.register("com.example.raw.done")
        request = caller.request_id()
        await caller.send([CALL, request, {}, "com.example.raw.done", []])
        invocation = await expect_invocation(callee)
        await callee.send([YIELD, invocation[1], {}, ["done"]])
        result = await caller.recv()
        assert result[:2] == [RESULT, request], f"expected RESULT, got {result!r}"

        await caller.send([CANCEL, request, {} if mode is None else {"mode": mode}])
        await caller.expect_silence(0.5)  # no ERROR, no ABORT
        await callee.expect_silence(0.1)  # no INTERRUPT for a finished invocation
        await raw_call_round_trip(caller, callee, "com.example.raw.done")


async def test_cancelling_a_finished_call_future_changes_nothing(router_url, serializer):
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(lambda x: x + 1, "com.example.inc")
        pending = caller.call("com.example.inc", 1)
        assert await within(pending) == 2
        assert pending.cancel() is False
        await asyncio.sleep(0.2)
        assert caller.is_attached() and callee.is_attached()
        assert await within(caller.call("com.example.inc", 41)) == 42


# ---------------------------------------------------------------------------
# Caller identification
# ---------------------------------------------------------------------------


async def test_callee_sees_caller_session_authid_and_authrole(router_url, serializer):
    def whoami(details):
        return [details.caller, details.caller_authid, details.caller_authrole]

    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(whoami, "com.example.whoami", RegisterOptions(details=True))
        me = caller.joined.result()
        caller_id, authid, authrole = await within(caller.call("com.example.whoami"))
        assert caller_id == me.session
        assert authid == me.authid
        assert authrole == "anonymous" == me.authrole


async def test_raw_caller_with_disclose_me_is_identified_to_autobahn_callee(router_url, serializer):
    seen = []

    def whoami(details):
        seen.append(details)
        return details.caller

    async with connect(router_url, serializer) as callee, raw_session(router_url, serializer) as caller:
        await callee.register(whoami, "com.example.whoami", RegisterOptions(details=True))
        request = caller.request_id()
        await caller.send([CALL, request, {"disclose_me": True}, "com.example.whoami", []])
        result = await caller.recv()
        assert result[:2] == [RESULT, request], f"expected RESULT, got {result!r}"
        assert result[3] == [caller.session_id]
        assert seen[0].caller_authrole == "anonymous"
        assert seen[0].caller_authid == caller.welcome[2].get("authid")


# ---------------------------------------------------------------------------
# Progressive call results
# ---------------------------------------------------------------------------


async def test_progressive_results_arrive_in_order_before_the_final_result(router_url, serializer):
    async def stream(details):
        assert details.progress is not None
        details.progress()  # a keep-alive without payload
        details.progress(1)
        details.progress(step=2)
        details.progress(3, "three", step=3)
        await asyncio.sleep(0.05)
        return CallResult("final", total=3)

    progress: list = []
    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(stream, "com.example.stream", RegisterOptions(details=True))
        options = CallOptions(on_progress=lambda *args, **kwargs: progress.append((args, kwargs)))
        result = await within(caller.call("com.example.stream", options=options))
        assert progress == [((), {}), ((1,), {}), ((), {"step": 2}), ((3, "three"), {"step": 3})]
        assert isinstance(result, CallResult)
        assert list(result.results) == ["final"] and result.kwresults == {"total": 3}


async def test_callee_gets_no_progress_callback_when_caller_did_not_ask(router_url, serializer):
    seen = []

    def maybe_stream(details):
        seen.append(details.progress)
        return "final only"

    async with connect(router_url, serializer) as callee, connect(router_url, serializer) as caller:
        await callee.register(maybe_stream, "com.example.maybe", RegisterOptions(details=True))
        assert await within(caller.call("com.example.maybe")) == "final only"
        assert seen == [None]


async def test_progressive_yields_to_caller_that_did_not_ask_are_dropped(router_url, serializer):
    async with raw_session(router_url, serializer, details=hello_details(callee=PROGRESSIVE_RESULTS)) as callee, \
            raw_session(router_url, serializer) as caller:
        await callee.register("com.example.raw.stream")
        request = caller.request_id()
        await caller.send([CALL, request, {}, "com.example.raw.stream", []])
        invocation = await expect_invocation(callee)
        assert not invocation[3].get("receive_progress"), (
            f"receive_progress set for a caller that did not ask: {invocation!r}"
        )
        for index in range(3):
            await callee.send([YIELD, invocation[1], {"progress": True}, [index]])
        await callee.send([YIELD, invocation[1], {}, ["final"]])

        result = await caller.recv()
        assert result[:2] == [RESULT, request] and result[3] == ["final"], (
            f"expected only the final RESULT, got {result!r}"
        )
        assert not result[2].get("progress"), f"final RESULT marked progress: {result!r}"
        await caller.expect_silence(0.3)


async def test_progressive_results_from_raw_callee_reach_autobahn_caller_in_order(router_url, serializer):
    async with raw_session(router_url, serializer, details=hello_details(callee=PROGRESSIVE_RESULTS)) as callee, \
            connect(router_url, serializer) as caller:
        await callee.register("com.example.raw.stream")
        progress: list = []
        options = CallOptions(on_progress=lambda *args, **kwargs: progress.append(args))
        pending = asyncio.ensure_future(caller.call("com.example.raw.stream", options=options))
        try:
            invocation = await expect_invocation(callee)
            assert invocation[3].get("receive_progress") is True, f"INVOCATION: {invocation!r}"
            for index in range(5):
                await callee.send([YIELD, invocation[1], {"progress": True}, [index]])
            await callee.send([YIELD, invocation[1], {}, ["final"]])
            assert await within(pending) == "final"
            assert progress == [(0,), (1,), (2,), (3,), (4,)]
        finally:
            pending.cancel()


@pytest.mark.parametrize("leave", ["tcp_abort", "goodbye"])
async def test_caller_leaving_mid_stream_interrupts_callee_and_router_keeps_serving(router_url, serializer, leave):
    interrupted = asyncio.Event()
    chunks_seen = asyncio.Event()
    progress: list = []

    async def endless(details):
        try:
            for index in range(200):  # at most ~10 s
                details.progress(index)
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return "stream ended"

    def on_progress(index):
        progress.append(index)
        if len(progress) >= 3:
            chunks_seen.set()

    async with connect(router_url, serializer) as callee:
        await callee.register(endless, "com.example.endless", RegisterOptions(details=True))
        await callee.register(lambda: "still here", "com.example.alive")
        caller = await open_session(router_url, serializer)
        pending = caller.call("com.example.endless", options=CallOptions(on_progress=on_progress))
        try:
            await within(chunks_seen.wait(), 5.0, "three progressive results")
            if leave == "tcp_abort":
                caller.drop_connection()
            else:
                caller.leave()
            await within(asyncio.shield(caller.disconnected), 5.0, "caller disconnect")
        finally:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(pending, 1.0)
            await close_session(caller)

        await within(interrupted.wait(), 3.0, "INTERRUPT at the callee after the caller left")
        assert progress == list(range(len(progress))), f"progress out of order: {progress!r}"
        assert callee.is_attached()
        async with connect(router_url, serializer) as other:
            assert await within(other.call("com.example.alive")) == "still here"
    await assert_router_serves(router_url, serializer)


# ---------------------------------------------------------------------------
# Progressive call invocations (Autobahn 26.10.2 cannot send progressive
# CALLs, and raises a protocol error on a second INVOCATION with the same id,
# so both ends are raw unless the case is "callee without the feature").
# ---------------------------------------------------------------------------


def pci_caller() -> dict:
    return hello_details(caller=PROGRESSIVE_INVOCATIONS)


def pci_callee() -> dict:
    return hello_details(callee=PROGRESSIVE_INVOCATIONS)


async def test_progressive_call_chunks_reach_callee_as_invocations_with_one_id(router_url, serializer):
    async with raw_session(router_url, serializer, details=pci_callee()) as callee, \
            raw_session(router_url, serializer, details=pci_caller()) as caller:
        registration = await callee.register("com.example.upload")
        request = caller.request_id()

        invocations = []
        for chunk in ("chunk-1", "chunk-2"):
            await caller.send([CALL, request, {"progress": True}, "com.example.upload", [chunk]])
            invocation = await expect_invocation(callee)
            assert invocation[2] == registration
            assert invocation[3].get("progress") is True, f"chunk not marked progress: {invocation!r}"
            assert invocation[4] == [chunk]
            invocations.append(invocation)
        await caller.send([CALL, request, {}, "com.example.upload", ["chunk-3"]])
        final = await expect_invocation(callee)
        assert not final[3].get("progress"), f"final chunk marked progress: {final!r}"
        assert final[4] == ["chunk-3"]
        assert invocations[0][1] == invocations[1][1] == final[1], (
            f"chunks got different invocation ids: {[m[1] for m in invocations + [final]]}"
        )

        await caller.expect_silence(0.1)  # no RESULT before the callee answers
        await callee.send([YIELD, final[1], {}, ["received 3 chunks"]])
        result = await caller.recv()
        assert result[:2] == [RESULT, request] and result[3] == ["received 3 chunks"], f"got {result!r}"


async def test_progressive_call_with_progressive_results_streams_both_ways(router_url, serializer):
    async with raw_session(router_url, serializer, details=pci_callee()) as callee, \
            raw_session(router_url, serializer, details=pci_caller()) as caller:
        await callee.register("com.example.duplex")
        request = caller.request_id()
        options = {"progress": True, "receive_progress": True}
        invocation_id = None
        for index in range(3):
            await caller.send([CALL, request, options, "com.example.duplex", [index]])
            invocation = await expect_invocation(callee)
            invocation_id = invocation_id or invocation[1]
            assert invocation[1] == invocation_id and invocation[4] == [index]
            await callee.send([YIELD, invocation_id, {"progress": True}, [index * 10]])
            echo = await caller.recv()
            assert echo[:2] == [RESULT, request] and echo[2].get("progress") is True, f"got {echo!r}"
            assert echo[3] == [index * 10]
        await caller.send([CALL, request, {"receive_progress": True}, "com.example.duplex", ["end"]])
        final = await expect_invocation(callee)
        assert final[1] == invocation_id and not final[3].get("progress")
        await callee.send([YIELD, invocation_id, {}, ["closed"]])
        result = await caller.recv()
        assert result[:2] == [RESULT, request] and not result[2].get("progress") and result[3] == ["closed"]


async def test_progressive_call_to_callee_without_the_feature_fails_with_feature_not_supported(router_url, serializer):
    invoked = []
    async with connect(router_url, serializer) as callee, \
            raw_session(router_url, serializer, details=pci_caller()) as caller:
        await callee.register(lambda *args: invoked.append(args) or "plain", "com.example.plain")
        request = caller.request_id()
        await caller.send([CALL, request, {"progress": True}, "com.example.plain", ["chunk-1"]])
        await expect_call_error(caller, request, "wamp.error.feature_not_supported")
        await asyncio.sleep(0.1)
        assert invoked == [], "the callee without progressive_call_invocations was invoked"
        assert callee.is_attached()

        plain = caller.request_id()
        await caller.send([CALL, plain, {}, "com.example.plain", ["whole"]])
        result = await caller.recv()
        assert result[:2] == [RESULT, plain] and result[3] == ["plain"], f"got {result!r}"


@pytest.mark.parametrize(
    "callee_features",
    [
        {"call_canceling": True, "progressive_call_results": True},
        {"progressive_call_invocations": True},  # without call_canceling the feature does not count
    ],
    ids=["no-progressive-invocations", "no-call-canceling"],
)
async def test_progressive_call_to_raw_callee_lacking_the_feature_fails_with_feature_not_supported(
    router_url, serializer, callee_features
):
    async with raw_session(router_url, serializer, details=hello_details(callee=callee_features)) as callee, \
            raw_session(router_url, serializer, details=pci_caller()) as caller:
        await callee.register("com.example.upload")
        request = caller.request_id()
        await caller.send([CALL, request, {"progress": True}, "com.example.upload", ["chunk-1"]])
        await expect_call_error(caller, request, "wamp.error.feature_not_supported")
        await callee.expect_silence(0.2)
        await raw_call_round_trip(caller, callee, "com.example.upload")


async def test_progressive_call_from_caller_without_the_feature_is_a_protocol_violation(router_url, serializer):
    async with raw_session(router_url, serializer, details=pci_callee()) as callee:
        await callee.register("com.example.upload")
        async with raw_session(router_url, serializer) as caller:  # announces no features
            await caller.send([CALL, caller.request_id(), {"progress": True}, "com.example.upload", ["x"]])
            await expect_abort(caller, "wamp.error.protocol_violation")
        await callee.expect_silence(0.2)
    await assert_router_serves(router_url, serializer)


async def test_late_call_chunk_after_completion_is_silently_discarded(router_url, serializer):
    async with raw_session(router_url, serializer, details=pci_callee()) as callee, \
            raw_session(router_url, serializer, details=pci_caller()) as caller:
        await callee.register("com.example.upload")
        request = caller.request_id()
        await caller.send([CALL, request, {"progress": True}, "com.example.upload", ["a"]])
        invocation = await expect_invocation(callee)
        await caller.send([CALL, request, {}, "com.example.upload", ["b"]])
        await expect_invocation(callee)
        await callee.send([YIELD, invocation[1], {}, ["ok"]])
        result = await caller.recv()
        assert result[:2] == [RESULT, request], f"expected RESULT, got {result!r}"

        await caller.send([CALL, request, {"progress": True}, "com.example.upload", ["late"]])
        await caller.send([CALL, request, {}, "com.example.upload", ["later"]])
        await caller.expect_silence(0.5)  # no ERROR and no ABORT
        await callee.expect_silence(0.1)  # and nothing forwarded
        await raw_call_round_trip(caller, callee, "com.example.upload")


async def test_progressive_call_chunks_stick_to_one_callee_of_a_shared_registration(router_url, serializer):
    async with raw_session(router_url, serializer, details=pci_callee()) as first, \
            raw_session(router_url, serializer, details=pci_callee()) as second, \
            raw_session(router_url, serializer, details=pci_caller()) as caller:
        registration = await first.register("com.example.sticky", {"invoke": "roundrobin"})
        assert await second.register("com.example.sticky", {"invoke": "roundrobin"}) == registration

        chosen_callees = []
        for _ in range(2):
            request = caller.request_id()
            await caller.send([CALL, request, {"progress": True}, "com.example.sticky", [0]])
            chosen, invocation = await first_message(first, second)
            assert invocation[0] == INVOCATION, f"expected INVOCATION, got {invocation!r}"
            other = second if chosen is first else first
            for index in (1, 2):
                options = {"progress": True} if index < 2 else {}
                await caller.send([CALL, request, options, "com.example.sticky", [index]])
                chunk = await expect_invocation(chosen)
                assert chunk[1] == invocation[1] and chunk[4] == [index]
            await other.expect_silence(0.2)
            await chosen.send([YIELD, invocation[1], {}, ["done"]])
            result = await caller.recv()
            assert result[:2] == [RESULT, request], f"expected RESULT, got {result!r}"
            chosen_callees.append(chosen)
        assert chosen_callees[0] is not chosen_callees[1], "roundrobin picked the same callee twice"


async def test_caller_leaving_mid_progressive_call_interrupts_callee(router_url, serializer):
    async with raw_session(router_url, serializer, details=pci_callee()) as callee:
        await callee.register("com.example.upload")
        async with raw_session(router_url, serializer, details=pci_caller()) as caller:
            await caller.send([CALL, caller.request_id(), {"progress": True}, "com.example.upload", ["a"]])
            invocation = await expect_invocation(callee)
            caller.abort()
        await expect_interrupt(callee, invocation[1], "killnowait")
    await assert_router_serves(router_url, serializer)


async def test_callee_leaving_mid_progressive_call_errors_caller_with_canceled(router_url, serializer):
    async with raw_session(router_url, serializer, details=pci_caller()) as caller:
        async with raw_session(router_url, serializer, details=pci_callee()) as callee:
            await callee.register("com.example.upload")
            request = caller.request_id()
            await caller.send([CALL, request, {"progress": True}, "com.example.upload", ["a"]])
            await expect_invocation(callee)
            callee.abort()
        await expect_call_error(caller, request, CANCELED)

        # A further chunk of the failed call is discarded; the session keeps working.
        await caller.send([CALL, request, {"progress": True}, "com.example.upload", ["b"]])
        await caller.expect_silence(0.3)
        fresh = caller.request_id()
        await caller.send([CALL, fresh, {}, "com.example.upload", []])
        await expect_call_error(caller, fresh, "wamp.error.no_such_procedure")
    await assert_router_serves(router_url, serializer)


# ---------------------------------------------------------------------------
# Call re-routing
# ---------------------------------------------------------------------------


def declining(name: str, declines: set[str], asked: list[str]):
    """A handler that answers wamp.error.unavailable while its name is in `declines`."""

    def handler(job):
        asked.append(name)
        if name in declines:
            raise ApplicationError("wamp.error.unavailable", f"{name} is busy")
        return f"{job} by {name}"

    return handler


@pytest.mark.parametrize("invoke, first_asked, answerer", [
    ("roundrobin", "a", "b"),
    ("first", "a", "b"),
    ("last", "c", "b"),
])
async def test_a_call_declined_with_unavailable_is_answered_by_the_next_callee(
    router_url, serializer, invoke, first_asked, answerer
):
    asked: list[str] = []
    declines = {"a", "c"} if invoke != "last" else {"c"}
    async with contextlib.AsyncExitStack() as stack:
        for name in ("a", "b", "c"):
            callee = await stack.enter_async_context(connect(router_url, serializer))
            await callee.register(
                declining(name, declines, asked), "com.example.reroute", options=RegisterOptions(invoke=invoke)
            )
        caller = await stack.enter_async_context(connect(router_url, serializer))
        result = await within(caller.call("com.example.reroute", "job"), 5.0, "the call's answer")
    assert result == f"job by {answerer}"
    assert asked == [first_asked, answerer], asked


async def test_when_every_callee_declines_the_caller_gets_no_available_callee(router_url, serializer):
    asked: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        for name in ("a", "b", "c"):
            callee = await stack.enter_async_context(connect(router_url, serializer))
            await callee.register(
                declining(name, {"a", "b", "c"}, asked),
                "com.example.reroute.none",
                options=RegisterOptions(invoke="random"),
            )
        caller = await stack.enter_async_context(connect(router_url, serializer))
        error = await call_error(caller.call("com.example.reroute.none", "job"))
    assert error.error == "wamp.error.no_available_callee", error
    assert sorted(asked) == ["a", "b", "c"], f"each callee is asked once: {asked}"
