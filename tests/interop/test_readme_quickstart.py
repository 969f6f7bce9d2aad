"""The README's first command, run exactly as written, serves the guide's example.

A newcomer copies the first line of the README's first shell block into a shell
at the repository root. This test does the same (under a time limit), waits for
``ws://localhost:18080/ws``, runs Bondy's guide example through Autobahn|Python
against it, then stops the router. The command is ``cargo run --release``, so a
release binary that is already built and fresh is used as it is; cargo builds
one only if there is none (CI's suite runs this before the image build, which
then finds the binary fresh).

It needs the fixed port 18080 and may build, so it is marked ``readme`` and
left out of the default run; ``scripts/test`` runs it with ``-m readme``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from test_seed_example import run_guide_example

README = REPO_ROOT / "README.md"
URL = "ws://localhost:18080/ws"
PORT = 18080
# A release build from nothing takes a few minutes on two cores.
START_LIMIT_S = 1200
STOP_LIMIT_S = 15


def first_shell_command(readme: str) -> str:
    """The first line of the first ```sh (or ```bash, ```shell) block, comment stripped."""
    block = re.search(r"^```(?:sh|bash|shell)\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    assert block, "README.md has no shell block"
    line = block.group(1).splitlines()[0]
    return line.split("#", 1)[0].strip()


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_first_shell_command_is_read_from_the_readme():
    assert first_shell_command("x\n```sh\ncargo run   # go\nnext\n```\n") == "cargo run"


@pytest.mark.readme
@pytest.mark.timeout(START_LIMIT_S + 120)
async def test_readme_first_command_serves_the_guide_example(tmp_path: Path):
    command = first_shell_command(README.read_text("utf-8"))
    assert not port_open(PORT), f"port {PORT} is already taken; this test needs it free"
    log_path = tmp_path / "router.log"
    with open(log_path, "wb") as log:
        # Its own process group, so stopping it stops cargo and the router alike.
        process = subprocess.Popen(
            ["timeout", "--signal=TERM", str(START_LIMIT_S + 60), "bash", "-c", command],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_LIMIT_S
        while not port_open(PORT):
            output = log_path.read_text("utf-8", "replace")
            assert process.poll() is None, f"`{command}` exited ({process.returncode}):\n{output}"
            assert time.monotonic() < deadline, f"`{command}` did not listen on {PORT}:\n{output}"
            time.sleep(0.5)
        await run_guide_example(URL, tmp_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = log_path.read_text("utf-8", "replace")
    assert "router stopped" in output, f"the router did not stop cleanly:\n{output}"
