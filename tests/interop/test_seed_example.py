"""The Python examples of Bondy's RPC guide run unmodified against Switchboard.

seed/callee.py and seed/caller.py are the guide's code, copied verbatim
(see README.md); they read the router URL from BONDY_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SEED_DIR = Path(__file__).parent / "seed"
CALLER_ATTEMPTS = 4
CALLER_TIMEOUT = 10.0  # seconds for one run of caller.py
OVERALL_BUDGET = 24.0  # seconds for all caller attempts together


def seed_env(router_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["BONDY_URL"] = router_url
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("REALM", "AUTHMETHOD"):
        env.pop(name, None)
    return env


@pytest.mark.timeout(30)
def test_guide_caller_gets_sum_from_guide_callee(router_url, tmp_path):
    env = seed_env(router_url)
    callee_log = tmp_path / "callee.log"
    with open(callee_log, "wb") as log:
        callee = subprocess.Popen(
            [sys.executable, str(SEED_DIR / "callee.py")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    attempts: list[str] = []
    try:
        deadline = time.monotonic() + OVERALL_BUDGET
        for _ in range(CALLER_ATTEMPTS):
            remaining = deadline - time.monotonic()
            if remaining <= 1:
                break
            assert callee.poll() is None, (
                f"callee exited early with code {callee.returncode}:\n"
                + callee_log.read_text("utf-8", "replace")
            )
            try:
                caller = subprocess.run(
                    [sys.executable, str(SEED_DIR / "caller.py")],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=min(CALLER_TIMEOUT, remaining),
                )
            except subprocess.TimeoutExpired as exc:
                pytest.fail(
                    f"caller.py did not finish within {exc.timeout:.0f} s\n"
                    f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}\n"
                    f"callee output:\n{callee_log.read_text('utf-8', 'replace')}"
                )
            attempts.append(
                f"exit={caller.returncode}\nstdout:\n{caller.stdout}\nstderr:\n{caller.stderr}"
            )
            if "RPC failed" in caller.stdout:
                # The callee may not have registered yet: try again shortly.
                time.sleep(0.5)
                continue
            break

        report = "\n---\n".join(attempts) + (
            f"\n--- callee output:\n{callee_log.read_text('utf-8', 'replace')}"
        )
        assert attempts, "caller.py was never run"
        assert "2 + 3 = 5.0" in caller.stdout.splitlines(), report
        assert caller.returncode == 0, report
    finally:
        callee.kill()
        callee.wait(timeout=5)
