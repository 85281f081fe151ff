"""The graph: its invariants on every bundled spec, the one-place wiring rule, and issue 9's wiring defects.

Expected shapes and counts come from plain torch modules written here by hand, never from archcalc.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.analysis.records import analyze, compile_spec
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import parse_spec
from archcalc.frontend.yamlio import load_text
from archcalc.graph.ir import BUS, IN, LAYER, MERGE, OUT

torch = pytest.importorskip("torch")
nn = torch.nn

ROOT = Path(__file__).resolve().parent.parent


def spec_of(text: str, name: str = "t.yaml") -> object:
    return parse_spec(load_text(text, file=name), name)


def numel(m: object) -> int:
    return sum(p.numel() for p in m.parameters())  # type: ignore[attr-defined]


def test_graph_invariants(spec_name: str) -> None:
    _, _, g = compile_spec(spec_name)
    for node in g.nodes:
        assert all(0 <= i < node.index for i in (*node.inputs, *node.refs.values())), node.path
        scope = g.scopes[node.scope]
        assert scope.enter <= node.index <= scope.exit, node.path
    for scope in g.scopes:
        assert g.nodes[scope.enter].role == IN and g.nodes[scope.exit].role == OUT
        if scope.parent >= 0:
            parent = g.scopes[scope.parent]
            assert parent.enter < scope.enter < scope.exit < parent.exit
    assert g.output == g.scopes[0].exit
    paths = [n.path for n in g.nodes if n.role in (LAYER, IN, OUT)]
    assert len(paths) == len(set(paths))
    assert {n.role for n in g.nodes} <= {LAYER, IN, OUT, MERGE, BUS}


WIRING = re.compile(r"(?<!self)\.(sources|side|feed|merge|children)\b")


def test_only_lowering_reads_the_wiring() -> None:
    """After expansion, only graph/lower.py reads the tree's wiring fields (expand.py writes them)."""
    allowed = {"expand.py", "lower.py"}
    offenders = []
    for path in (ROOT / "archcalc").rglob("*.py"):
        if path.name in allowed:
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if WIRING.search(code) and "rec.merged" not in code and ".merged" not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == []


# ---------------------------------------------------------------- defect 1: a container as the network output

LAST_BRANCHES = """
name: last-branches
input: [3, 8, 8]
layers:
  - name: mix
    branches:
      l: [{name: c, op: conv2d, out: 4, kernel: 1}]
      r: [{name: c, op: conv2d, out: 6, kernel: 1}]
    merge: concat
"""


def test_container_last_is_the_output() -> None:
    left, right = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 6, 1)
    x = torch.zeros(1, 3, 8, 8)
    want = tuple(torch.cat([left(x), right(x)], 1).shape[1:])  # (10, 8, 8)
    report = analyze(spec_of(LAST_BRANCHES))  # type: ignore[arg-type]
    assert report.output_shape == want
    assert report.totals.params == numel(left) + numel(right)


def test_container_last_through_the_cli(tmp_path: Path) -> None:
    spec = tmp_path / "last.yaml"
    spec.write_text(LAST_BRANCHES)
    claims = tmp_path / "claims.yaml"
    claims.write_text(f"spec: {spec}\nclaims:\n  - {{value: 10x8x8}}\n")
    table = _cli("table", str(spec), "-f", "markdown")
    assert "| **total** |  |  | **10x8x8** |" in table.stdout
    assert _cli("check", str(claims)).returncode == 0
    explain = _cli("explain", str(spec), "total", "-f", "markdown")
    assert "10x8x8" in explain.stdout


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True, text=True, check=False)


def test_side_output_last_is_not_the_output() -> None:
    text = """
name: side-last
input: [3, 8, 8]
layers:
  - {name: a, op: conv2d, out: 5, kernel: 3}
  - {name: aux, op: conv2d, out: 2, kernel: 1, side: true}
"""
    want = tuple(nn.Conv2d(3, 5, 3)(torch.zeros(1, 3, 8, 8)).shape[1:])
    assert analyze(spec_of(text)).output_shape == want  # type: ignore[arg-type]


# ---------------------------------------------------------------- defects 2, 3, 9: refused with file:line


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("  - name: x\n    feed: danse\n    layers: [{op: relu}]\n", 5, "feed must be chain or dense"),
        ("  - {name: a, op: relu}\n  - name: x\n    feed: dense\n    layers: [{op: relu, from: a}]\n", 7, "'from'"),
        ("  - name: x\n    feed: dense\n    layers: [{op: relu, side: true}]\n", 6, "'side'"),
        ("  - {name: a, op: relu}\n  - {name: x, op: relu, repeat: 2, first: {from: a}}\n", 5, "'first'"),
        ("  - {name: x, op: relu, repeat: 2, first: {when: false}}\n", 4, "'first'"),
        ("  - {name: x, repeat: 2, first: {out: 3}, layers: [{op: relu}]}\n", 4, "inline layers"),
        ("  - {name: x, op: relu, from: []}\n", 4, "'from' lists no layers"),
    ],
)
def test_wiring_mistakes_are_refused(text: str, line: int, words: str) -> None:
    head = "name: bad\ninput: [4, 8, 8]\nlayers:\n"
    with pytest.raises(ArchcalcError) as err:
        analyze(spec_of(head + text))  # type: ignore[arg-type]
    assert f"t.yaml:{line}:" in str(err.value) and words in str(err.value)


def test_block_body_feed_typo_is_refused() -> None:
    text = "name: b\ninput: [4, 8, 8]\nblocks:\n  body:\n    feed: danse\n    layers: [{op: relu}]\n"
    text += "layers:\n  - {name: x, block: body}\n"
    with pytest.raises(ArchcalcError, match=r"t\.yaml:5: .*feed must be chain or dense"):
        analyze(spec_of(text))  # type: ignore[arg-type]


# ---------------------------------------------------------------- defect 8: repeat + dense, inline or block


class DenseByHand(nn.Module):  # type: ignore[misc]
    """Two dense copies of [BatchNorm2d, Conv2d(out 2, k3, p1)], as torchvision's DenseNet wires them."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.copies = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(c + 2 * i), nn.Conv2d(c + 2 * i, 2, 3, padding=1)) for i in range(2)
        )

    def forward(self, x: object) -> object:
        feats = [x]
        for copy in self.copies:
            feats.append(copy(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


def test_repeat_dense_inline_equals_block() -> None:
    ref = DenseByHand(4)
    want_shape = tuple(ref(torch.zeros(1, 4, 8, 8)).shape[1:])
    body = "[{op: batchnorm2d}, {op: conv2d, out: 2, kernel: 3, padding: 1}]"
    inline = f"name: i\ninput: [4, 8, 8]\nlayers:\n  - {{name: d, repeat: 2, feed: dense, layers: {body}}}\n"
    block = f"name: b\ninput: [4, 8, 8]\nblocks:\n  unit:\n    layers: {body}\n"
    block += "layers:\n  - {name: d, repeat: 2, feed: dense, block: unit}\n"
    for text in (inline, block):
        report = analyze(spec_of(text))  # type: ignore[arg-type]
        assert report.output_shape == want_shape == (8, 8, 8)
        assert report.totals.params == numel(ref) == 204


def test_no_analysis_module_imports_a_renderer() -> None:
    """Data flows one way: front end, graph, ops and passes never import renderers or the CLI."""
    offenders = []
    for folder in ("frontend", "graph", "ops", "analysis"):
        for path in (ROOT / "archcalc" / folder).rglob("*.py"):
            text = path.read_text()
            offenders += [f"{path.relative_to(ROOT)}: {m}" for m in ("archcalc.render", "archcalc.cli") if m in text]
    assert offenders == []


def test_records_keep_their_tree_links(spec_name: str) -> None:
    """Each record names its enclosing block record; the links rebuild the dotted paths: a record is named
    under its parent's module path, which skips flat containers (a flat container itself is named under
    its parent's logical path)."""
    report = analyze(spec_name)
    blocks = {r.path: r for r in report.blocks}

    def module_path(path: str) -> str:
        while path and blocks[path].flat:
            path = blocks[path].parent
        return path

    for rec in report.records:
        assert rec.parent == "" or rec.parent in blocks, rec.path
        base = rec.parent if rec.flat else module_path(rec.parent)
        assert rec.path == (f"{base}.{rec.name}" if base else rec.name), rec.path
