"""The bad-input catalogue (tests/bad/EXPECTED): every invalid spec or option gives one clean line.

Each case runs the real CLI entry point from the repo root and must give exit code 2, exactly the
expected line on stderr (file:line and layer where they exist), nothing on stdout and no traceback.
A process start costs ~0.3 s, so two fresh processes run the catalogue between them through
tests/badrunner.py (each command with its own stdout and stderr), and one case per command also runs
as its own ``python -m archcalc`` process, to check that the process gives what ``main`` gave.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("test_bad_inputs")  # its module fixture runs every case once

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "bad"


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    expected: str
    note: str


def read_catalogue() -> list[Case]:
    """'# note', '$ command args', 'expected stderr line' blocks separated by blank lines."""
    cases, note, argv = [], "", None
    for line in (BAD / "EXPECTED").read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            note = line[2:]
        elif line.startswith("$ "):
            argv = tuple(shlex.split(line[2:]))
        elif line and argv is not None:
            cases.append(Case(argv, line, note))
            argv = None
    return cases


CASES = read_catalogue()


def _make_generated(tmp: Path) -> None:
    """Files too big to commit: 1,200,000 bytes of valid YAML, and 300,001 nodes in ~600 kB."""
    head = "name: huge\ninput: [3, 32, 32]\nlayers:\n  - {op: relu}\nnotes: '"
    (tmp / "huge.yaml").write_text(head + "x" * (1_200_000 - len(head) - 2) + "'\n")
    (tmp / "many-nodes.yaml").write_text("notes: [" + ",".join(["0"] * 300_000) + "]\n")
    assert (tmp / "huge.yaml").stat().st_size == 1_200_000


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def _process(argv: list[str]) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "archcalc", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _batch(argvs: list[list[str]]) -> list[Result]:
    runner = str(Path(__file__).with_name("badrunner.py"))
    proc = subprocess.run(
        [sys.executable, runner], input=json.dumps(argvs), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [Result(r["returncode"], r["stdout"], r["stderr"]) for r in json.loads(proc.stdout)]


# one case per command, also run as a process of its own
PROCESS_CASES = {c.argv[0]: c.argv for c in reversed(CASES)}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], Result]:
    tmp = tmp_path_factory.mktemp("bad")
    _make_generated(tmp)
    argvs = [[a.replace("{tmp}", str(tmp)) for a in c.argv] for c in CASES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = list(pool.map(_batch, [argvs[::2], argvs[1::2]]))
    ordered = [r for pair in zip(halves[0], halves[1], strict=False) for r in pair] + halves[0][len(halves[1]) :]
    done = dict(zip([c.argv for c in CASES], ordered, strict=True))
    for result in done.values():
        result.stderr = result.stderr.replace(str(tmp), "{tmp}")
    return done


@pytest.mark.parametrize("argv", sorted(PROCESS_CASES.values()), ids=lambda a: " ".join(a))
def test_a_process_gives_what_main_gave(
    argv: tuple[str, ...], results: dict[tuple[str, ...], Result], tmp_path: Path
) -> None:
    _make_generated(tmp_path)
    proc = _process([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert proc.returncode == results[argv].returncode == 2
    assert proc.stdout == results[argv].stdout == ""
    assert proc.stderr.replace(str(tmp_path), "{tmp}") == results[argv].stderr


def test_catalogue_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.argv for c in CASES}) == len(CASES), "duplicate command in tests/bad/EXPECTED"
    files = {p.name for p in BAD.glob("*.yaml")}
    used = {Path(a).name for c in CASES for a in c.argv if a.startswith("tests/bad/")}
    assert files <= used, f"files in tests/bad/ without an expected message: {sorted(files - used)}"


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c.argv) for c in CASES])
def test_bad_input_gives_one_clean_line(case: Case, results: dict[tuple[str, ...], Result]) -> None:
    proc = results[case.argv]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == "", "partial output on stdout"
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [case.expected]
    assert proc.stderr.endswith("\n")
