"""The README shows real output: its blocks are compared with what the commands print now."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _block_after(heading: str) -> str:
    section = README.split(heading, 1)[1]
    return section.split("```\n", 1)[1].split("\n```", 1)[0]


def _run(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True, text=True, cwd=ROOT)
    return "\n".join(line.rstrip() for line in proc.stdout.splitlines())


@pytest.mark.parametrize(
    ("heading", "args"),
    [
        ("## What `archcalc table lenet5` prints", ("table", "lenet5")),
        ("## Every number with its formula: `archcalc explain lenet5 C3`", ("explain", "lenet5", "C3")),
    ],
)
def test_readme_output_is_current(heading: str, args: tuple[str, ...]) -> None:
    assert _block_after(heading) == _run(*args)


def test_readme_opens_with_the_two_setup_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert blocks[:2] == ["pip install . && archcalc table lenet5", 'pip install ".[test]" && python -m pytest -q']
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install .\n" in ci and 'pip install ".[test]"' in ci and "python -m pytest -q" in ci


def test_readme_user_module_output_is_current() -> None:
    """The imported-module block: its first line is the command, the rest what that command prints now."""
    pytest.importorskip("torch")
    command, _, shown = _block_after("## Your own model:").partition("\n")
    assert command.startswith("$ archcalc ")
    assert shown == _run(*command.split()[2:])
