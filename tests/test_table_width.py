"""`archcalc table` and `list` in a terminal of 80, 100, 120 and 160 columns, and piped: no number is ever cut.

The terminal is the real CLI's: main() with stdout reporting a terminal, COLUMNS and LINES set and TERM=dumb
(rich then writes no colour codes), plus one run of `python -m archcalc` in a pseudo-terminal. The numbers
expected whole come from analyze(), formatted here with Python's thousands separator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.frontend.spec import bundled_names
from archcalc.render.fit import fit
from archcalc.render.tabular import Grid

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (80, 100, 120, 160)
HINT = "(see --columns, --no-bars)"
Run = Callable[[list[str], int], str]

# What is hidden, worked out by hand from each column's widest cell (header, rows, footer). rich's table is
# sum(widths) + 3 x columns + 1 wide, and columns are hidden (share bars, then connections, then
# kernel/stride/pad) while the layer column would get less than min(its width, 24).
# lenet5: layer 7, op 11 ("scaled_tanh"), kernel/stride/pad 17 (header), output 8, params 6, connections 11
#   (header), MACs 7 ("328,096"), two share bars of 17: all 101 + 28 = 129; no bars 67 + 22 = 89; without
#   connections 56 + 19 = 75.
# resnet50: layer 24 (of 27), op 18 ("adaptive_avgpool2d"), kernel 17, output 10, params 10 ("25,557,032"),
#   connections and MACs 13 ("4,089,184,256"), bars 34: all 139 + 28 = 167; no bars 105 + 22 = 127; without
#   connections 92 + 19 = 111; without kernel 75 + 16 = 91.
# densenet121: params 9, otherwise resnet50's: 166, 126, 110. convnext-large: params 11 ("197,767,336"),
#   connections and MACs 14: 170, 130, 113.
BARS, CONN, KERNEL = "share bars", "connections", "kernel/stride/pad"
HIDDEN = {
    "lenet5": {80: [BARS, CONN], 100: [BARS], 120: [BARS], 160: []},
    "resnet50": {80: [BARS, CONN, KERNEL], 100: [BARS, CONN, KERNEL], 120: [BARS, CONN], 160: [BARS]},
    "densenet121": {80: [BARS, CONN, KERNEL], 100: [BARS, CONN, KERNEL], 120: [BARS, CONN], 160: [BARS]},
    "convnext-large": {80: [BARS, CONN, KERNEL], 100: [BARS, CONN, KERNEL], 120: [BARS, CONN], 160: [BARS]},
}
LONG_NAMES = [s for s in ("efficientnet-b7", "regnet-y-128gf") if s in bundled_names()][:1]  # paths of 40+


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """main(args) printing to a terminal ``width`` columns wide; returns what it printed."""

    def run(args: list[str], width: int) -> str:
        for var in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setenv("LINES", "50")  # with TERM=dumb and no LINES, rich assumes 80x25
        monkeypatch.setenv("TERM", "dumb")
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
        code = main(args)
        out, err = capsys.readouterr()
        assert (code, err) == (0, "")
        return out

    return run


def n(value: int) -> str:
    return f"{value:,}"


def holds(tokens: list[str], want: list[str]) -> bool:
    return any(tokens[i : i + len(want)] == want for i in range(len(tokens) - len(want) + 1))


def assert_every_number_whole(out: str, spec: str, connections: bool) -> None:
    """Each layer's params, connections (when shown) and MACs, whole and side by side on a line of their own,
    in the order of the records; then the totals."""
    report = analyze(spec)
    lines, k = out.splitlines(), 0
    for rec in (r for r in report.records if r.kind != "block"):
        c = rec.counts
        want = [n(c.params), *([n(c.connections)] if connections else []), n(c.macs)]
        while k < len(lines) and not holds(lines[k].split(), want):
            k += 1
        assert k < len(lines), f"{rec.path}: {want} not printed whole"
        assert lines[k].split()[0] in rec.path  # the row's layer, maybe as the last part of its path
        k += 1
    t = report.totals
    total = next(line for line in lines[k:] if line.split()[:1] == ["total"])
    assert holds(total.split(), [n(t.params), *([n(t.connections)] if connections else []), n(t.macs)])
    assert "…" not in out


def header(out: str) -> str:
    return next(line for line in out.splitlines() if line.lstrip().startswith("layer "))


def notes(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("not shown:")]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("spec", [*HIDDEN, *LONG_NAMES])
def test_every_number_whole_at_width(spec: str, width: int, terminal: Run) -> None:
    out = terminal(["table", spec], width)
    assert max(len(line) for line in out.splitlines()) <= width
    head = header(out)
    hidden = [name for name in (BARS, CONN, KERNEL) if ("share" if name == BARS else name) not in head]
    if spec in HIDDEN:
        assert hidden == HIDDEN[spec][width]
    assert hidden == [BARS, CONN, KERNEL][: len(hidden)]  # in that order, never a later one first
    assert notes(out) == ([f"not shown: {', '.join(hidden)} {HINT}"] if hidden else [])
    assert_every_number_whole(out, spec, connections=CONN not in hidden)


@pytest.mark.parametrize("spec", ["lenet5", "resnet50", "densenet121", "convnext-large"])
def test_piped_shows_every_column_whole(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", spec]) == 0
    out = capsys.readouterr().out
    head = header(out)
    assert all(name in head for name in ("kernel/stride/pad", "connections", "params share", "MACs share"))
    assert notes(out) == []
    assert_every_number_whole(out, spec, connections=True)


def test_leaves_under_their_parents_at_80(terminal: Run) -> None:
    """resnet50 at 80 columns: each path shows its last part, indented two spaces a level under its block."""
    lines = terminal(["table", "resnet50"], 80).splitlines()
    rows = [(len(line) - len(line.lstrip()), line.split()[:2]) for line in lines]
    first = rows.index((4, ["0", "bottleneck"]))  # layer1.0
    assert (6, ["conv1", "conv2d"]) in rows[first : first + 6]  # layer1.0.conv1
    downsample = rows.index((6, ["downsample", "seq"]))  # layer1.0.downsample
    assert rows[downsample + 1 : downsample + 3] == [(8, ["0", "conv2d"]), (8, ["1", "batchnorm2d"])]


def test_columns_option(terminal: Run) -> None:
    # the chosen columns stay (no hiding), only the bars give way: 24 + 10 + 13 + 13 + 34 + 6 x 3 + 1 > 80
    out = terminal(["table", "resnet50", "--columns", "layer,params,CONN,macs"], 80)
    assert header(out).split() == ["layer", "params", "connections", "MACs"]
    assert notes(out) == [f"not shown: share bars {HINT}"]
    assert_every_number_whole(out, "resnet50", connections=True)
    out = terminal(["table", "resnet50", "--columns", "layer,params,CONN,macs", "--no-bars"], 80)
    assert header(out).split() == ["layer", "params", "connections", "MACs"]
    assert notes(out) == []


def test_no_bars(terminal: Run, capsys: pytest.CaptureFixture[str]) -> None:
    out = terminal(["table", "lenet5", "--no-bars"], 160)
    assert "share" not in out and "█" not in out and notes(out) == []
    assert header(out).split() == ["layer", "op", "kernel/stride/pad", "output", "params", "connections", "MACs"]
    assert main(["table", "lenet5", "--no-bars"]) == 0  # piped
    assert "share" not in capsys.readouterr().out


def test_columns_in_markdown_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "lenet5", "--columns", "layer,params", "-f", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| layer | params |\n|---|---:|\n| C1 | 156 |\n" in out
    assert main(["table", "lenet5", "--columns", "MACs,layer", "-f", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["layer,MACs", "C1,117600"]  # in the table's order


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("layer,flops", "--columns: 'flops' is not a column; the columns are layer, op, kernel/stride/pad,"),
        ("o", "--columns: 'o' is the start of more than one column; the columns are layer, op,"),
        (",", "--columns names no column; the columns are layer, op,"),
    ],
)
def test_bad_columns_are_one_line(value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "lenet5", "--columns", value]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"archcalc: error: {message}") and err.count("\n") == 1


def test_list_at_80(terminal: Run) -> None:
    """Every name and every params total whole on the row's first line; the titles wrap; source is hidden."""
    lines = terminal(["list"], 80).splitlines()
    assert max(len(line) for line in lines) <= 80
    assert [line.split() for line in lines if line.lstrip().startswith("name ")] == [
        ["name", "title", "input", "params"]
    ]
    firsts = {line.split()[0]: line.split() for line in lines if line.startswith("  ") and line[2] != " "}
    for name in bundled_names():
        rep = analyze(name)
        assert firsts[name][-2:] == ["x".join(map(str, rep.input)), n(rep.totals.params)]
    assert lines[-1] == "not shown: source (--format markdown shows it)"
    assert "…" not in "\n".join(lines)


def test_fit_keeps_a_text_column_while_the_flex_column_has_room() -> None:
    """A list-like grid: 'title' wraps into what is left; 'source' (one-line: cut at 48) stays while title
    keeps 24 columns, and is hidden below that."""
    rows = [["net", "t" * 60, "s" * 100, "12,345"]]
    g = Grid("", ["name", "title", "source", "params"], rows, {3}, one_line=True, flex="title", optional=("source",))
    wide = fit(g, 200)  # 4 + 60 + 48 + 6 + 4 x 3 + 1 = 131
    assert (wide.widths, wide.hidden, wide.width) == ([4, 60, 48, 6], [], 131)  # 'name' header: 4
    roomy = fit(g, 100)  # title gets 100 - (4 + 48 + 6 + 3 x 3 + 1) - 3 = 29
    assert (roomy.widths, roomy.hidden) == ([4, 29, 48, 6], [])
    narrow = fit(g, 90)  # title would get 19 < 24: source goes, then title gets 90 - (4 + 6 + 7) - 3 = 70 > 60
    assert (narrow.widths, narrow.hidden, narrow.grid.columns) == ([4, 60, 6], ["source"], ["name", "title", "params"])
    tight = fit(g, 20)  # the numbers keep their width; the title stops at 8 and the table is wider than 20
    assert (tight.widths, tight.width) == ([4, 8, 6], 28)


def test_commands_doc_shows_the_80_column_table(terminal: Run) -> None:
    doc = (ROOT / "docs" / "commands.md").read_text().split("$ COLUMNS=80 archcalc table lenet5\n", 1)[1]
    out = "\n".join(line.rstrip() for line in terminal(["table", "lenet5"], 80).splitlines())
    assert doc.split("\n```", 1)[0] == out


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_real_terminal_80_columns() -> None:
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "LINES": "50", "TERM": "dumb"}
    for var in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(var, None)
    args = [sys.executable, "-m", "archcalc", "table", "lenet5"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=follower, stderr=subprocess.PIPE, text=True, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, "")
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    assert max(len(line) for line in out.splitlines()) <= 80
    assert notes(out) == [f"not shown: share bars, connections {HINT}"]
    assert_every_number_whole(out, "lenet5", connections=False)
