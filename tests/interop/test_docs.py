"""The Python and TOML examples of the guides are files, shown verbatim, and they run.

Each guide (docs/rpc.md, docs/security.md, docs/pubsub.md) shows an example as a fenced block
right after a marker line ``<!-- example: <path> -->``; the block must equal
the whole file. Every ``*.py`` and ``*.toml`` file in the guide's example
directory must be shown, and every ```python and ```toml block of the guide
must be one of them, so a guide cannot drift from code that runs. Each ``*.py``
example then runs as a subprocess against a fresh router on every serializer (json, msgpack, cbor)
and must exit 0, with the router's URL in ``SWITCHBOARD_URL`` and the
serializer in ``SWITCHBOARD_SERIALIZER``. What the example's text says sets
up its router:

- ``switchboard --config <file>.toml``: the router starts with that config
  (from the example's directory, which is also the example's working directory).
- ``switchboard certs --out``: the test makes a development CA and certificates
  with ``switchboard certs --out <tmp>``, starts the router with ``--tls-cert``
  and ``--tls-key`` on them, and gives the example the CA's path in
  ``SWITCHBOARD_CA``.

(crates/switchboard/tests/rpc_guide.rs checks the Rust examples of docs/rpc.md.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import router_binary

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- example: (\S+) -->$")
CONFIG = re.compile(r"switchboard --config (\S+\.toml)")
CERTS = re.compile(r"switchboard certs --out\b")
EXAMPLE_TIMEOUT = 20.0  # seconds for one run of one example
CERTS_TIMEOUT = 30.0  # seconds for `switchboard certs`


@dataclass(frozen=True)
class Guide:
    """A guide and the directory its Python and TOML examples live in."""

    doc: str  # relative to the repository root
    examples: str  # relative to the repository root, no trailing slash
    elsewhere: tuple[str, ...] = ()  # marker prefixes another test checks

    @property
    def name(self) -> str:
        return Path(self.doc).stem

    @property
    def path(self) -> Path:
        return REPO_ROOT / self.doc

    @property
    def directory(self) -> Path:
        return REPO_ROOT / self.examples

    @property
    def prefix(self) -> str:
        return self.examples + "/"


GUIDES = [
    Guide("docs/rpc.md", "tests/interop/docs_examples", ("crates/switchboard/tests/rpc_guide.rs#",)),
    Guide("docs/security.md", "tests/interop/docs_examples/security"),
    Guide("docs/pubsub.md", "tests/interop/docs_examples/pubsub"),
]


@dataclass
class Shown:
    """A fenced block of a guide that follows an example marker."""

    target: str  # what the marker names
    line: int  # the block's first line in the guide
    text: str  # the block's content


def shown_examples(guide: Guide) -> list[Shown]:
    lines = guide.path.read_text("utf-8").splitlines()
    shown = []
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        fence = lines[index + 1] if index + 1 < len(lines) else ""
        assert fence.startswith("```"), (
            f"{guide.doc}:{index + 1}: an example marker must be followed by a fenced block"
        )
        body = []
        for block_line in lines[index + 2 :]:
            if block_line == "```":
                break
            body.append(block_line + "\n")
        shown.append(Shown(match.group(1), index + 3, "".join(body)))
    return shown


def example_files(guide: Guide) -> list[Path]:
    return sorted(p for p in guide.directory.iterdir() if p.is_file() and p.suffix in (".py", ".toml"))


guides = pytest.mark.parametrize("guide", GUIDES, ids=lambda g: g.name)


@guides
def test_every_example_the_guide_shows_is_a_file_verbatim(guide: Guide):
    for shown in shown_examples(guide):
        if shown.target.startswith(guide.elsewhere):
            continue
        assert shown.target.startswith(guide.prefix) and "/" not in shown.target[len(guide.prefix) :], (
            f"{guide.doc}:{shown.line}: unknown example {shown.target!r} "
            f"(this guide's examples are files in {guide.prefix})"
        )
        path = REPO_ROOT / shown.target
        assert path.is_file(), f"{guide.doc}:{shown.line}: no file {shown.target}"
        assert shown.text == path.read_text("utf-8"), (
            f"{guide.doc}:{shown.line}: the block differs from {shown.target}"
        )


@guides
def test_the_guide_shows_every_example_file(guide: Guide):
    shown = {s.target for s in shown_examples(guide)}
    missing = [p.name for p in example_files(guide) if guide.prefix + p.name not in shown]
    assert not missing, f"{guide.doc} does not show {missing}"


@guides
def test_every_python_and_toml_block_of_the_guide_is_a_tested_example(guide: Guide):
    text = guide.path.read_text("utf-8")
    marked = {s.line for s in shown_examples(guide)}
    for index, line in enumerate(text.splitlines()):
        if line.strip() in ("```python", "```toml"):
            assert index + 2 in marked, (
                f"{guide.doc}:{index + 1}: a {line.strip()[3:]} block without an example marker"
            )


def runnable_examples() -> list[tuple[Guide, Path]]:
    return [(guide, p) for guide in GUIDES for p in example_files(guide) if p.suffix == ".py"]


def make_certs(directory: Path) -> Path:
    """`switchboard certs --out directory`; returns the directory."""
    try:
        run = subprocess.run(
            [str(router_binary()), "certs", "--out", str(directory)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CERTS_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"switchboard certs did not finish within {CERTS_TIMEOUT:.0f} s")
    assert run.returncode == 0, (
        f"switchboard certs --out {directory} exited {run.returncode}\n"
        f"stdout:\n{run.stdout.decode(errors='replace')}\nstderr:\n{run.stderr.decode(errors='replace')}"
    )
    return directory


@pytest.mark.timeout(EXAMPLE_TIMEOUT + CERTS_TIMEOUT + 15)
@pytest.mark.parametrize(
    "guide, example", runnable_examples(), ids=lambda v: v.name if isinstance(v, Guide) else v.stem
)
def test_example_runs(guide: Guide, example: Path, serializer: str, router_factory, tmp_path):
    text = example.read_text("utf-8")
    args: list[str] = []
    env = dict(os.environ)
    config = CONFIG.search(text)
    if config:
        args += ["--config", str(guide.directory / config.group(1))]
    if CERTS.search(text):
        certs = make_certs(tmp_path / "certs")
        args += ["--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem")]
        env["SWITCHBOARD_CA"] = str(certs / "ca.pem")
    router = router_factory(*args)
    env.update(
        SWITCHBOARD_URL=router.url,
        SWITCHBOARD_SERIALIZER=serializer,
        PYTHONUNBUFFERED="1",
    )
    try:
        run = subprocess.run(
            [sys.executable, str(example)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            cwd=guide.directory,
            timeout=EXAMPLE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"{example.name} did not finish within {EXAMPLE_TIMEOUT:.0f} s\n"
            f"stdout:\n{(expired.stdout or b'').decode(errors='replace')}\n"
            f"stderr:\n{(expired.stderr or b'').decode(errors='replace')}"
        )
    report = (
        f"{example.name} ({serializer}) exited {run.returncode}\n"
        f"stdout:\n{run.stdout.decode(errors='replace')}\n"
        f"stderr:\n{run.stderr.decode(errors='replace')}"
    )
    assert run.returncode == 0, report
