"""Start-up hygiene: commands that do not build a model never import torch, torchinfo, fvcore or pydantic.

Each command runs in a fresh interpreter through archcalc.cli.app.main, then the interpreter lists the
heavy modules it has loaded. torch costs ~1 s to import; pydantic (~0.2 s) must never come in through
a CLI library. Lazy torch imports live in archcalc/torch/
(and the commands that need a model: maps, deconv).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "torchinfo", "fvcore", "pydantic")
SCRIPT = f"""
import contextlib, io, json, sys
from archcalc.cli.app import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"code": code, "heavy": heavy}}))
"""

COMMANDS = [
    ["table", "resnet152"],
    ["table", "lenet5", "--format", "json", "--set", "num_classes=5", "--depth", "1"],
    ["table", "tests/bad/groups.yaml"],  # an error path too
    ["list"],
    ["explain", "lenet5", "C3"],
    ["check", "examples/claims/seed-004-classic-cnns.yaml"],
    ["sweep", "alexnet", "--input", "64:256:64", "--format", "csv"],
    ["--help"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_no_heavy_imports(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["code"] in (0, 1, 2)  # check exits 1 when a claim fails; still no torch
    assert got["heavy"] == [], f"{argv} imported {got['heavy']}"


def test_torch_imports_confined() -> None:
    """Outside archcalc/torch/, only function bodies import torch (never a module's top level)."""
    offenders = []
    for path in (ROOT / "archcalc").rglob("*.py"):
        if "torch" in path.relative_to(ROOT / "archcalc").parts[:1]:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith(("import torch", "from torch", "import fvcore", "from fvcore", "import torchinfo")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line}")
    assert offenders == []
