"""Fixed filter values in a spec (edge-filters): the article's filters, and shape validation with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError

# seed article 002: filter_1 = [[-1, -1, 1, 1]] * 4, filter_2 = -filter_1, filter_3 = filter_1.T, filter_4 = -filter_3
F1 = [[-1, -1, 1, 1]] * 4
F3 = [list(col) for col in zip(*F1, strict=True)]
ARTICLE = [F1, [[-v for v in r] for r in F1], F3, [[-v for v in r] for r in F3]]

CONV = """name: w
input: [{c}, 8, 8]
layers:
  - {{name: first, op: relu}}
  - name: conv
    op: conv2d
    out: {out}
    kernel: {k}
    groups: {g}
    bias: false
    weights: {w}
"""
CONV_LINE = 5  # the line of '- name: conv' above


def spec_file(tmp_path: Path, weights: str, out: int = 2, k: str = "2", c: int = 1, g: int = 1) -> str:
    path = tmp_path / "w.yaml"
    path.write_text(CONV.format(w=weights, out=out, k=k, c=c, g=g))
    assert path.read_text().splitlines()[CONV_LINE - 1] == "  - name: conv"
    return str(path)


def test_edge_filters_spec_holds_the_articles_filters() -> None:
    rec = analyze("edge-filters")["conv"]
    assert [[list(r) for r in f[0]] for f in rec.args["weights"]] == ARTICLE
    assert rec.counts.params == 4 * 1 * 4 * 4  # C_out * C_in * k_h * k_w, no bias


def test_edge_filters_torch_weights() -> None:
    torch = pytest.importorskip("torch")
    from archcalc.torch import build

    weight = build("edge-filters").get_submodule("conv").weight
    assert torch.equal(weight, torch.tensor(ARTICLE, dtype=weight.dtype).unsqueeze(1))


def test_well_formed_weights_pass(tmp_path: Path) -> None:
    two = "[[[[1, -1], [1, -1]]], [[[1, 1], [-1, -1]]]]"
    assert analyze(spec_file(tmp_path, two))["conv"].output_shape == (2, 7, 7)
    # groups: [out][in/groups][kh][kw] = [2][1][1][3] for 2 input maps in 2 groups
    grouped = "[[[[1, 0, -1]]], [[[0, 1, 0]]]]"
    assert analyze(spec_file(tmp_path, grouped, k="[1, 3]", c=2, g=2))["conv"].output_shape == (2, 8, 6)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("[[[[1, -1], [1, -1]]]]", "weights must have shape [2, 1, 2, 2], got [1, 1, 2, 2]"),  # one filter short
        ("[[[1, -1], [1, -1]], [[1, 1], [-1, -1]]]", "weights must have shape [2, 1, 2, 2], got [2, 2, 2]"),
        ("[[[[1, -1, 0], [1, -1, 0]]], [[[1, 1, 0], [-1, -1, 0]]]]", "got [2, 1, 2, 3]"),  # 2x3 kernels
        ("[[[[1, -1], [1, -1]]], [[[1, 1], [-1]]]]", "ragged"),  # a short row after well-formed ones
    ],
)
def test_wrong_shape_is_one_line_with_file_and_line(tmp_path: Path, weights: str, message: str) -> None:
    path = spec_file(tmp_path, weights)
    with pytest.raises(ArchcalcError) as err:
        analyze(path)
    text = str(err.value)
    assert text.startswith(f"{path}:{CONV_LINE}: layer 'conv': ")
    assert message in text and "\n" not in text


def test_wrong_shape_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = spec_file(tmp_path, "[[[[1, -1], [1, -1]]]]")
    assert main(["table", path]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"archcalc: error: {path}:{CONV_LINE}: layer 'conv': weights must have shape [2, 1, 2, 2], got [1, 1, 2, 2]\n"
    )


def test_non_number_names_the_weights_line(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "[[[[1, -1], [1, x]]], [[[1, 1], [-1, -1]]]]")
    with pytest.raises(ArchcalcError, match=rf"^{path}:{CONV_LINE + 6}: layer 'conv': .*weights.*expected a number"):
        analyze(path)
