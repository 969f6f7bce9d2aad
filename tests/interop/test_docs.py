"""The Python examples of docs/rpc.md are the files in docs_examples/, and they run.

docs/rpc.md shows each example as a fenced block right after a marker line
``<!-- example: tests/interop/docs_examples/<file> -->``; the block must equal
the whole file. Every file in docs_examples/ must be shown, and every ```python
and ```toml block of the guide must be one of them, so the guide cannot drift
from code that runs. Each ``*.py`` example then runs as a subprocess against a
fresh router on both serializers and must exit 0. An example whose text says
``switchboard --config <file>.toml`` gets a router started with that config.
(crates/switchboard/tests/rpc_guide.rs checks the guide's Rust examples.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = REPO_ROOT / "docs" / "rpc.md"
EXAMPLES = Path(__file__).parent / "docs_examples"
PYTHON_PREFIX = "tests/interop/docs_examples/"
RUST_PREFIX = "crates/switchboard/tests/rpc_guide.rs#"
MARKER = re.compile(r"^<!-- example: (\S+) -->$")
CONFIG = re.compile(r"switchboard --config (\S+\.toml)")
EXAMPLE_TIMEOUT = 20.0  # seconds for one run of one example


@dataclass
class Shown:
    """A fenced block of the guide that follows an example marker."""

    target: str  # what the marker names
    line: int  # the block's first line in docs/rpc.md
    text: str  # the block's content


def shown_examples() -> list[Shown]:
    lines = GUIDE.read_text("utf-8").splitlines()
    shown = []
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        fence = lines[index + 1] if index + 1 < len(lines) else ""
        assert fence.startswith("```"), (
            f"docs/rpc.md:{index + 1}: an example marker must be followed by a fenced block"
        )
        body = []
        for block_line in lines[index + 2 :]:
            if block_line == "```":
                break
            body.append(block_line + "\n")
        shown.append(Shown(match.group(1), index + 3, "".join(body)))
    return shown


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.is_file() and p.suffix in (".py", ".toml"))


def test_every_example_the_guide_shows_is_a_file_verbatim():
    for shown in shown_examples():
        if shown.target.startswith(RUST_PREFIX):
            continue  # checked by rpc_guide.rs
        assert shown.target.startswith(PYTHON_PREFIX), (
            f"docs/rpc.md:{shown.line}: unknown example {shown.target!r}"
        )
        path = REPO_ROOT / shown.target
        assert path.is_file(), f"docs/rpc.md:{shown.line}: no file {shown.target}"
        assert shown.text == path.read_text("utf-8"), (
            f"docs/rpc.md:{shown.line}: the block differs from {shown.target}"
        )


def test_the_guide_shows_every_example_file():
    shown = {s.target for s in shown_examples()}
    missing = [p.name for p in example_files() if PYTHON_PREFIX + p.name not in shown]
    assert not missing, f"docs/rpc.md does not show {missing}"


def test_every_python_and_toml_block_of_the_guide_is_a_tested_example():
    text = GUIDE.read_text("utf-8")
    marked = {s.line for s in shown_examples()}
    for index, line in enumerate(text.splitlines()):
        if line.strip() in ("```python", "```toml"):
            assert index + 2 in marked, (
                f"docs/rpc.md:{index + 1}: a {line.strip()[3:]} block without an example marker"
            )


def runnable_examples() -> list[Path]:
    return [p for p in example_files() if p.suffix == ".py"]


@pytest.mark.timeout(EXAMPLE_TIMEOUT + 15)
@pytest.mark.parametrize("example", runnable_examples(), ids=lambda p: p.stem)
def test_example_runs(example: Path, serializer: str, router_factory):
    config = CONFIG.search(example.read_text("utf-8"))
    if config:
        router = router_factory("--config", str(EXAMPLES / config.group(1)))
    else:
        router = router_factory()
    env = dict(os.environ)
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
            cwd=EXAMPLES,
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
