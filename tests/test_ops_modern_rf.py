"""Issue 10's norm and layout ops in the other passes: receptive fields against torch autograd, explain, the
DeconvNet mirror.

Receptive fields: archcalc's model in float64 with random weights (running variances positive) and a random
input; the input pixels whose gradient is non-zero for the centre unit of a layer's output (channel 0, H and
W wherever a permute put them) must span exactly the calculator's interval for that unit, clipped to the
input. Random values leave no exact cancellation, so statistics (group and instance norm) show up as the
whole map they are computed over.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from archcalc.analysis.records import analyze, resolve
from archcalc.analysis.rf import receptive_fields, unit_interval
from archcalc.errors import ArchcalcError

CHANNELS_LAST = """
name: rf-last
input: [3, 12, 14]
layers:
  - {name: conv, op: conv2d, out: 8, kernel: 3}
  - {name: ln2d, op: layernorm2d}
  - {name: to_last, op: permute, dims: [0, 2, 3, 1]}
  - {name: ln, op: layernorm}
  - {name: fc, op: linear, out: 16}
  - {name: cols, op: chunk, chunks: 3, index: 1, dim: -2}
  - {name: rows, op: chunk, chunks: 4, index: 2, dim: 1}
  - {name: to_first, op: permute, dims: [0, 3, 1, 2]}
  - {name: shuffle, op: channel_shuffle, groups: 4}
  - {name: sd, op: stochastic_depth, p: 0.5}
  - {name: conv2, op: conv2d, out: 4, kernel: 3, padding: 1}
"""
STATISTICS = """
name: rf-stats
input: [3, 12, 14]
layers:
  - {name: conv, op: conv2d, out: 8, kernel: 3}
  - {name: inorm_track, op: instancenorm2d, affine: true, track_running_stats: true}
  - {name: conv2, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: ln_w, op: layernorm}
  - {name: gn, op: groupnorm, groups: 2}
"""
ROWS = """
name: rf-rows
input: [3, 12, 14]
layers:
  - {name: conv, op: conv2d, out: 8, kernel: 3}
  - {name: fc_w, op: linear, out: 5}
  - {name: conv2, op: conv2d, out: 4, kernel: 3}
  - {name: inorm, op: instancenorm2d}
"""


def _spec(tmp_path: Any, text: str) -> str:
    path = tmp_path / "rf.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text", [CHANNELS_LAST, STATISTICS, ROWS], ids=["channels-last", "statistics", "rows"])
def test_fields_against_torch_gradients(tmp_path: Any, text: str) -> None:
    torch = pytest.importorskip("torch")
    from archcalc.torch import build_with_report

    spec = _spec(tmp_path, text)
    graph, report = resolve(spec)
    rows = [r for r in receptive_fields(graph, report) if r.kind == "layer"]
    torch.manual_seed(0)
    model = build_with_report(spec)[0].double().eval()
    with torch.no_grad():
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            if t.is_floating_point():
                t.uniform_(0.5, 1.5) if name.endswith("running_var") else t.normal_()
    outs: dict[str, Any] = {}
    for row in rows:
        model.get_submodule(row.path).register_forward_hook(lambda m, a, o, p=row.path: outs.__setitem__(p, o))
    x = torch.randn(1, *report.input, dtype=torch.float64, requires_grad=True)
    model(x)
    size = report.input[1:]
    for row in rows:
        f = row.field
        unit = [0, 0, 0]
        unit[f.hw[0]] = row.output_shape[f.hw[0]] // 2
        unit[f.hw[1]] = row.output_shape[f.hw[1]] // 2
        (grad,) = torch.autograd.grad(outs[row.path][(0, *unit)], x, retain_graph=True)
        support = grad[0].abs().sum(0) != 0
        got = (_extent(support.any(1)), _extent(support.any(0)))
        want = tuple(
            _clip(unit_interval(axis, unit[dim]), n)
            for axis, dim, n in ((f.h, f.hw[0], size[0]), (f.w, f.hw[1], size[1]))
        )
        if f.exact:
            assert got == want, f"{row.path}: torch rows/cols {got}, calculator {want}"
        else:  # a per-unit maximum: the unit reads within it
            inside = all(w[0] <= g[0] and g[1] <= w[1] for g, w in zip(got, want, strict=True))
            assert inside, f"{row.path}: torch rows/cols {got} outside the calculator's {want}"


def _extent(mask: Any) -> tuple[int, int]:
    import torch

    idx = torch.nonzero(mask).flatten()
    return int(idx.min()), int(idx.max())


def _clip(iv: tuple[Fraction, Fraction], n: int) -> tuple[int, int]:
    lo, hi = iv
    assert lo.denominator == 1 and hi.denominator == 1, iv
    return max(0, int(lo)), min(n - 1, int(hi))


def test_field_values(tmp_path: Any) -> None:
    """The rules by hand: the permute moves H and W, a W chunk moves the start, statistics span the map."""
    graph, report = resolve(_spec(tmp_path, CHANNELS_LAST))
    f = {r.path: r.field for r in receptive_fields(graph, report)}
    assert f["to_last"].hw == (0, 1) and f["to_first"].hw == (1, 2)
    assert f["cols"].w.start == f["fc"].w.start + 4  # W 12 in pieces of 4: piece 1 starts at unit 4
    assert f["rows"].h.start == f["cols"].h.start + 6  # H 10 in pieces of 3: piece 2 starts at unit 6
    assert f["conv2"].h.size == 5 and f["ln"].h == f["conv"].h
    assert f["fc"].exact and not f["cols"].exact  # a piece along W: a later padded window overstates
    graph, report = resolve(_spec(tmp_path, STATISTICS))
    f = {r.path: r.field for r in receptive_fields(graph, report)}
    assert f["ln_w"].w.jump == 0 and f["ln_w"].h.jump == 1  # the whole row
    assert f["gn"].h.jump == f["gn"].w.jump == 0 and f["inorm_track"] == f["conv"]


def test_window_op_on_a_permuted_layout_is_refused(tmp_path: Any) -> None:
    text = "name: x\ninput: [3, 8, 8]\nlayers:\n  - {name: p, op: permute, dims: [0, 2, 3, 1]}\n"
    spec = _spec(tmp_path, text + "  - {name: c, op: conv2d, out: 2, kernel: 3}\n")
    graph, report = resolve(spec)
    with pytest.raises(ArchcalcError, match=r"rf.yaml:5: layer 'c': no receptive-field rule for conv2d on a permuted"):
        receptive_fields(graph, report)
    spec = _spec(tmp_path, text + "  - {name: s, op: channel_shuffle, groups: 2}\n")
    graph, report = resolve(spec)
    with pytest.raises(ArchcalcError, match=r"rf.yaml:5: layer 's': no receptive-field rule for channel_shuffle"):
        receptive_fields(graph, report)


def test_explain_formulas(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from archcalc.analysis.explain import explain_layer
    from archcalc.cli.app import main

    more = "  - {name: inorm, op: instancenorm2d, track_running_stats: true}\n"
    more += "  - {name: last, op: chunk, chunks: 2, index: 1, dim: 2}\n"  # H = 3: pieces 2 and 1
    spec = _spec(tmp_path, CHANNELS_LAST + more)
    for rec in analyze(spec).layers:
        explain_layer(rec)  # re-runs each rule symbolically and checks it against the record
    for layer, text in (
        ("ln2d", "params 16 = 2*C"),
        ("cols", "size 4 = ceil(L/chunks)"),
        ("rows", "size 3 = ceil(L/chunks)"),
        ("last", "last 1 = L - index*size"),
        ("inorm", "buffers 9 = 2*C + 1"),
        ("fc", "MACs 15,360 = F_in*F_out*positions"),
    ):
        assert main(["explain", spec, layer]) == 0
        assert text in capsys.readouterr().out, layer


def test_deconv_passes_norms_and_names_the_rest(tmp_path: Any) -> None:
    from archcalc.analysis.deconv import mirror_kind, plan_deconv

    text = """
name: dc
input: [3, 16, 16]
layers:
  - {name: conv1, op: conv2d, out: 8, kernel: 3}
  - {name: ln2d, op: layernorm2d}
  - {name: gn, op: groupnorm, groups: 2}
  - {name: inorm, op: instancenorm2d}
  - {name: ln, op: layernorm}
  - {name: sd, op: stochastic_depth, p: 0.1}
  - {name: relu, op: relu}
  - {name: conv2, op: conv2d, out: 4, kernel: 3}
"""
    plan = plan_deconv(_spec(tmp_path, text), "conv2")
    assert [s.op for s in plan.steps] == ["conv_transpose2d", "relu", *["pass"] * 5, "conv_transpose2d"]
    assert plan.steps[-1].output_shape == (3, 16, 16)
    for op in ("permute", "channel_shuffle", "chunk"):
        assert mirror_kind(op) not in ("invert", "rectify", "pass") and op.replace("_", " ") in mirror_kind(op)
