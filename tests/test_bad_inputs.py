"""The bad-input catalogue (tests/bad/EXPECTED): every invalid spec or option gives one clean line.

Each case runs the real CLI in a fresh process from the repo root and must give exit code 2,
exactly the expected line on stderr (file:line and layer where they exist), nothing on stdout and
no traceback. The processes run a few at a time: the catalogue is long and each start costs ~0.3 s.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("bad")
    _make_generated(tmp)

    def run(case: Case) -> subprocess.CompletedProcess[str]:
        argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
        return subprocess.run(
            [sys.executable, "-m", "archcalc", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip([c.argv for c in CASES], pool.map(run, CASES), strict=True))
    for proc in done.values():
        proc.stderr = proc.stderr.replace(str(tmp), "{tmp}")
    return done


def test_catalogue_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.argv for c in CASES}) == len(CASES), "duplicate command in tests/bad/EXPECTED"
    files = {p.name for p in BAD.glob("*.yaml")}
    used = {Path(a).name for c in CASES for a in c.argv if a.startswith("tests/bad/")}
    assert files <= used, f"files in tests/bad/ without an expected message: {sorted(files - used)}"


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c.argv) for c in CASES])
def test_bad_input_gives_one_clean_line(
    case: Case, results: dict[tuple[str, ...], subprocess.CompletedProcess[str]]
) -> None:
    proc = results[case.argv]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == "", "partial output on stdout"
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [case.expected]
    assert proc.stderr.endswith("\n")
