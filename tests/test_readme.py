"""Every ```python and ```bash block of README.md runs, so the README cannot drift from the code.

Python blocks run in order in one namespace; bash blocks run line by line with ``nerlens``
resolved to this checkout's CLI. Both run offline (``HF_HUB_OFFLINE=1``) in a temporary folder
holding :data:`FILES`. A block is skipped only when the line before it (blank lines aside) is
``<!-- not-tested: REASON -->``. New README sections are picked up without changes here; add the
files their examples need to :data:`FILES`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOT_TESTED = re.compile(r"^<!--\s*not-tested:\s*\S.*-->$")
FENCE = re.compile(r"^```(\w*)\s*$")

_FILLER = "The committee met on Tuesday to discuss the budget for the coming year. "
FILES = {
    # longer than the demo model's 512 tokens, with one entity to explain
    "long.txt": _FILLER * 20 + "We visited Paris last weekend. " + _FILLER * 20,
}


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # 1-based line of the opening fence
    code: str


def readme_blocks(text: str) -> list[Block]:
    """The tested ```python and ```bash blocks of ``text``, in order."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if fence.group(1) in ("python", "bash") and not NOT_TESTED.match(before):
            blocks.append(Block(fence.group(1), i + 1, "\n".join(lines[i + 1 : end])))
        i = end + 1
    return blocks


def bash_commands(code: str) -> list[str]:
    """The commands of a bash block: comment-only and blank lines dropped, ``\\`` lines joined."""
    commands, pending = [], ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    for name, content in FILES.items():
        (folder / name).write_text(content, encoding="utf-8")
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    script = bin_dir / "nerlens"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m nerlens.cli "$@"\n')
    script.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def namespace() -> dict:
    return {"__name__": "__readme__"}


def test_the_readme_has_tested_examples_of_both_kinds():
    assert {block.language for block in BLOCKS} == {"python", "bash"}
    assert readme_blocks("<!-- not-tested: needs a GPU -->\n\n```bash\nfalse\n```\n") == []


def test_every_file_the_readme_cites_is_in_the_repository():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s#]+)", text)  # markdown links and images
    paths = re.findall(r"`((?:docs|tests|src|benchmarks|training)/[^`\s]*)`", text)
    cited = [p for p in links + paths if "://" not in p]
    assert "docs/reference-semantics.md" in cited
    missing = [
        p for p in cited if not (ROOT / p).resolve().is_relative_to(ROOT) or not (ROOT / p).exists()
    ]
    assert not missing, f"README.md cites files that are not in the repository: {missing}"


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if b.language == "python"],
    ids=lambda b: f"python-line-{b.line}",
)
def test_python_block(block, namespace, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    exec(compile(block.code, f"README.md:{block.line}", "exec"), namespace)


@pytest.mark.parametrize(
    "command",
    [(b.line, c) for b in BLOCKS if b.language == "bash" for c in bash_commands(b.code)],
    ids=lambda lc: f"bash-line-{lc[0]}: {lc[1][:40]}",
)
def test_bash_command(command, workdir):
    env = {
        **os.environ,
        "PATH": f"{workdir / '.bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "100",
    }
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{command[1]}"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"README.md:{command[0]}: {command[1]}\n{done.stderr[-2000:]}"
