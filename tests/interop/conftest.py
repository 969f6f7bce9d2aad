"""Fixtures that run the Switchboard router binary as a subprocess.

The binary under test is ``$SWITCHBOARD_BIN`` (default
``target/debug/switchboard`` relative to the repository root). Every router
is started on 127.0.0.1 with an ephemeral port; the fixture waits for the
``switchboard listening on ws://...`` line (``wss://...`` when the router
serves TLS) on stdout and yields the URL.
A router started with RawSocket listeners also prints where they are
(``switchboard rawsocket listening on tcp://...`` or ``unix:...``) before
that line; ``Router.rawsocket_urls`` gives them as ``rs://`` and
``rs+unix://`` URLs, which ``wamp.connect`` takes like a ``ws://`` URL.
The router's stderr is captured to a file and attached to the report of
any failing test.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "switchboard"

READY_TIMEOUT = 20.0  # seconds to wait for the "listening on" line
STOP_TIMEOUT = 10.0  # seconds to wait for exit after SIGTERM
LISTENING_RE = re.compile(r"listening on (wss?://\S+)")
RAWSOCKET_RE = re.compile(r"rawsocket listening on (tcp://|unix:)(\S+)")


def router_binary() -> Path:
    path = Path(os.environ.get("SWITCHBOARD_BIN", DEFAULT_BIN))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"router binary {path} does not exist or is not executable; "
            "build it (cargo build -p switchboard) or set SWITCHBOARD_BIN",
            pytrace=False,
        )
    return path


class Router:
    """A running router process and where to reach it."""

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ):
        self.args = args
        self.log_path = log_path
        self.url: str | None = None
        self.stdout_lines: list[str] = []
        self._log_file = open(log_path, "wb")
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            cwd=cwd or REPO_ROOT,
            env=env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        # Keep draining stdout so the router never blocks on a full pipe.
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"router did not print 'listening on ws://...' (or wss://) within {timeout:.0f} s"
                    f"\nstdout so far: {self.stdout_lines!r}\nstderr:\n{self.log_text()}"
                )
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait(timeout=5)
                raise RuntimeError(
                    f"router exited with code {code} before it was ready"
                    f"\nstdout: {self.stdout_lines!r}\nstderr:\n{self.log_text()}"
                )
            match = LISTENING_RE.search(line)
            if match:
                self.url = match.group(1)
                return self.url

    @property
    def rawsocket_urls(self) -> dict[str, str]:
        """Where RawSocket is served, by kind ("tcp", "unix"), as ``wamp.connect`` URLs."""
        urls = {}
        for line in self.stdout_lines:
            match = RAWSOCKET_RE.search(line)
            if match and match.group(1) == "tcp://":
                urls["tcp"] = f"rs://{match.group(2)}"
            elif match:
                urls["unix"] = f"rs+unix://{match.group(2)}"
        return urls

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError as exc:
            return f"<could not read {self.log_path}: {exc}>"

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the router, wait up to `timeout` s, then SIGKILL.

        Returns the exit code, or None if the router had to be killed.
        """
        code: int | None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
                code = None
        else:
            code = self.process.returncode
        self._reader.join(timeout=2)
        self._log_file.close()
        return code


@pytest.fixture
def router_factory(request, tmp_path):
    """Start routers with extra CLI flags: ``router = router_factory("--max-message-size", "65536")``.

    ``cwd=`` runs the router in another directory than the repository root.
    """
    binary = router_binary()
    routers: list[Router] = []
    request.node._switchboard_routers = routers

    def start(*extra_args: str, cwd: Path | None = None) -> Router:
        log_path = tmp_path / f"switchboard-{len(routers)}.stderr.log"
        args = [str(binary), "--host", "127.0.0.1", "--port", "0", *extra_args]
        router = Router(args, log_path, cwd=cwd)
        routers.append(router)
        router.wait_ready()
        return router

    yield start

    for router in routers:
        router.stop()


@pytest.fixture
def router(router_factory) -> Router:
    """A router with default settings."""
    return router_factory()


@pytest.fixture
def router_url(router) -> str:
    """The ws:// URL of a router with default settings."""
    assert router.url is not None
    return router.url


@pytest.fixture
def rawsocket_router(router_factory) -> Router:
    """A router that also serves RawSocket over TCP and over a Unix socket."""
    # A short directory of its own: a Unix socket path may not exceed 107 bytes.
    directory = tempfile.mkdtemp(prefix="sb-rs-")
    try:
        yield router_factory(
            "--rawsocket-port", "0", "--rawsocket-path", os.path.join(directory, "wamp.sock")
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for index, router in enumerate(getattr(item, "_switchboard_routers", [])):
        report.sections.append(
            (
                f"switchboard router #{index} stderr ({' '.join(router.args[1:])})",
                router.log_text() or "<empty>",
            )
        )


@pytest.fixture(params=["json", "msgpack", "cbor"])
def serializer(request) -> str:
    """The WAMP serializer a test's autobahn clients use."""
    return request.param
