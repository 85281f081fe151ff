"""Optional dependencies (issue 12): each extra in its absence, and output folders, through the real CLI.

A fresh process installs a meta-path finder that raises ModuleNotFoundError for the blocked top-level
modules (what Python raises when a package is not installed), then runs archcalc's main. .ci/run also runs
``archcalc table lenet5 --plot`` for real in a venv without the plot extra.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.cli.app import main

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "examples/images/shapes.png"
BLOCKER = """\
import sys
from importlib.abc import MetaPathFinder

BLOCKED = set(sys.argv[1].split(","))


class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
sys.argv = ["archcalc", *sys.argv[2:]]
from archcalc.cli.app import run

run()
"""
EVERY_EXTRA = "matplotlib,torch,numpy,PIL"


def archcalc(*args: str, blocked: str = "") -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", BLOCKER, blocked, *args] if blocked else [sys.executable, "-m", "archcalc", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_the_blocker_blocks() -> None:
    """The finder works like a missing package: the import itself raises ModuleNotFoundError."""
    probe = BLOCKER.replace("from archcalc.cli.app import run\n\nrun()", "import matplotlib.pyplot")
    proc = subprocess.run([sys.executable, "-c", probe, "matplotlib"], capture_output=True, text=True, timeout=60)
    assert proc.stderr.splitlines()[-1] == "ModuleNotFoundError: No module named 'matplotlib'"


@pytest.mark.parametrize(
    "args",
    [["table", "lenet5", "-f", "csv"], ["sweep", "lenet5", "--input", "28:36:4", "-f", "csv"]],
    ids=["table", "sweep"],
)
def test_plot_without_the_plot_extra_prints_the_table_then_one_line(args: list[str], tmp_path: Path) -> None:
    table = archcalc(*args)
    assert table.returncode == 0 and table.stdout
    target = tmp_path / "new" / "p.png"
    proc = archcalc(*args, "--plot", str(target), blocked="matplotlib")
    assert one_line(proc) == 'archcalc: error: --plot needs matplotlib: pip install "archcalc[plot]"'
    assert proc.stdout == table.stdout
    assert not target.exists()


@pytest.mark.parametrize(("blocked", "missing"), [("torch", "torch"), ("numpy", "numpy"), ("PIL", "pillow")])
def test_maps_without_the_maps_extra(blocked: str, missing: str, tmp_path: Path) -> None:
    out = tmp_path / "maps"
    proc = archcalc("maps", "edge-filters", "--image", IMAGE, "--out", str(out), blocked=blocked)
    assert one_line(proc) == f'archcalc: error: maps needs {missing}: pip install "archcalc[maps]"'
    assert proc.stdout == "" and not out.exists()


def test_deconv_image_without_the_maps_extra_names_every_missing_package(tmp_path: Path) -> None:
    out = tmp_path / "d"
    proc = archcalc("deconv", "edge-filters", "--image", IMAGE, "--out", str(out), blocked=EVERY_EXTRA)
    want = 'archcalc: error: deconv --image needs torch, numpy, pillow: pip install "archcalc[maps]"'
    assert one_line(proc) == want
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["table", "resnet18", "-f", "json"],
        ["explain", "lenet5", "C3"],
        ["rf", "googlenet", "-f", "csv"],
        ["memory", "vgg16", "-f", "csv"],
        ["flops", "resnet50", "-f", "json"],
        ["deconv", "zfnet", "--layer", "conv2", "-f", "json"],
        ["sweep", "lenet5", "--input", "28:36:4"],
        ["minsize", "googlenet"],
        ["check", "examples/claims/well-known.yaml", "-f", "csv"],
    ],
    ids=lambda a: a[0],
)
def test_counting_commands_need_no_extra(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain install: every command that only counts runs with matplotlib, torch, numpy and PIL absent,
    and prints what it prints with them (main in this process, with everything installed)."""
    plain = archcalc(*args, blocked=EVERY_EXTRA)
    assert plain.stderr == ""
    monkeypatch.chdir(ROOT)
    code = main(args)
    assert (plain.returncode, plain.stdout) == (code, capsys.readouterr().out)


@pytest.mark.parametrize("command", ["maps", "deconv"])
def test_output_folders_are_created_with_their_parents(command: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "a" / "b" / "c"
    args = [command, "edge-filters", "--image", IMAGE, "--out", str(out)]
    proc = archcalc(*args, *(["--layers", "conv"] if command == "maps" else []))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert sorted(p.suffix for p in out.iterdir()) and all(p.suffix == ".png" for p in out.iterdir())


def test_pyproject_extras() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert extras["plot"] == ["matplotlib>=3.8"]
    assert "torch==2.13.0" in extras["maps"] and len(extras["maps"]) == 3
    assert {e.split(">")[0] for e in extras["maps"][1:]} == {"numpy", "pillow"}
    assert "archcalc[plot,maps,onnx]" in extras["test"]
    assert {e.split(">")[0] for e in extras["onnx"]} == {"onnx", "onnxruntime"}
    every = [r.split("=")[0].split(">")[0] for r in project["dependencies"]]
    assert not {"torch", "numpy", "pillow", "matplotlib"} & set(every)
