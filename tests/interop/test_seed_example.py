"""The Python examples of Bondy's RPC guide run unmodified against Switchboard.

seed/callee.py and seed/caller.py are the guide's code, copied verbatim
(see README.md); they read the router URL from BONDY_URL.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from autobahn.wamp.exception import ApplicationError

from wamp import connect

SEED_DIR = Path(__file__).parent / "seed"
CALLER_ATTEMPTS = 4
CALLER_TIMEOUT = 10.0  # seconds for one run of caller.py
REGISTRATION_WAIT = 10.0  # seconds for callee.py to register com.example.add


def seed_env(router_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["BONDY_URL"] = router_url
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("REALM", "AUTHMETHOD"):
        env.pop(name, None)
    return env


async def run_caller(env: dict[str, str]) -> tuple[int, str, str]:
    """Run seed/caller.py to completion; returns (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SEED_DIR / "caller.py"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CALLER_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        pytest.fail(
            f"caller.py did not finish within {CALLER_TIMEOUT:.0f} s\n"
            f"stdout:\n{stdout.decode(errors='replace')}\nstderr:\n{stderr.decode(errors='replace')}"
        )
    return process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")


async def wait_until_registered(router_url: str, procedure: str, callee_log: Path) -> None:
    deadline = time.monotonic() + REGISTRATION_WAIT
    async with connect(router_url, "json") as probe:
        while True:
            try:
                await asyncio.wait_for(probe.call(procedure, 0, 0), 5)
                return
            except ApplicationError as error:
                if error.error != "wamp.error.no_such_procedure":
                    raise
            if time.monotonic() > deadline:
                pytest.fail(
                    f"callee.py did not register {procedure} within {REGISTRATION_WAIT:.0f} s; "
                    f"its output:\n{callee_log.read_text('utf-8', 'replace')}"
                )
            await asyncio.sleep(0.2)


@pytest.mark.timeout(30)
async def test_guide_caller_gets_sum_from_guide_callee(router_url, tmp_path):
    await run_guide_example(router_url, tmp_path)


async def run_guide_example(router_url: str, tmp_path: Path) -> None:
    """Starts the guide's callee, runs its caller until it prints the sum, stops the callee."""
    env = seed_env(router_url)
    callee_log = tmp_path / "callee.log"
    with open(callee_log, "wb") as log:
        callee = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SEED_DIR / "callee.py"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
    try:
        await wait_until_registered(router_url, "com.example.add", callee_log)

        attempts: list[str] = []
        for _ in range(CALLER_ATTEMPTS):
            assert callee.returncode is None, (
                f"callee.py exited with code {callee.returncode}:\n"
                + callee_log.read_text("utf-8", "replace")
            )
            code, stdout, stderr = await run_caller(env)
            attempts.append(f"exit={code}\nstdout:\n{stdout}\nstderr:\n{stderr}")
            if "RPC failed" not in stdout:
                break
            await asyncio.sleep(0.5)  # give the callee a moment, then retry

        report = "\n---\n".join(attempts) + (
            f"\n--- callee output:\n{callee_log.read_text('utf-8', 'replace')}"
        )
        assert "2 + 3 = 5.0" in stdout.splitlines(), report
        assert code == 0, report
    finally:
        if callee.returncode is None:
            callee.kill()
        await asyncio.wait_for(callee.wait(), 5)


@pytest.mark.timeout(30)
async def test_guide_caller_prints_rpc_failed_when_no_callee_is_registered(router_url):
    # The guide prints error.args[0]: the router's no_such_procedure ERROR
    # must carry a message in its args, or the guide's caller crashes.
    code, stdout, stderr = await run_caller(seed_env(router_url))
    report = f"exit={code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert any(line.startswith("RPC failed: ") for line in stdout.splitlines()), report
    assert code == 0, report
