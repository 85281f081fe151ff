"""Calculator against torch: every bundled spec, every record path, shapes and param counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from archcalc.analysis.records import analyze  # noqa: E402
from archcalc.errors import ArchcalcError  # noqa: E402
from archcalc.torch import build_with_report  # noqa: E402
from archcalc.torch.crosscheck import measure  # noqa: E402


def test_shapes_and_params_match_torch(spec_name: str) -> None:
    model, report = build_with_report(spec_name)
    got = measure(model, report, device="meta")
    children: dict[str, list[str]] = {}
    for rec in report.records:
        children.setdefault(rec.parent, []).append(rec.path)

    def torch_params(path: str) -> int:  # a module's numel, or a flat scope's: the sum over its children
        return got.params[path] if path in got.params else sum(map(torch_params, children.get(path, [])))

    for rec in report.records:
        if rec.flat:  # a logical scope without a module: its modules' params add up to its subtotal
            assert torch_params(rec.path) == rec.counts.params, rec.path
            continue
        if rec.op != "layer_scale":  # a bare parameter: nothing to hook
            assert got.shapes[rec.path] == rec.output_shape, rec.path
        assert got.params[rec.path] == rec.counts.params, rec.path
        assert got.trainable[rec.path] == rec.counts.trainable_params, rec.path
        assert got.buffers[rec.path] == rec.counts.buffers, rec.path
    assert got.total_params == report.totals.params
    assert got.total_trainable == report.totals.trainable_params


def _affordable_input(spec_name: str) -> tuple[int, ...] | None:
    """The spec's own input, or for big models the smallest of a few square sizes the network accepts."""
    report = analyze(spec_name)
    if report.totals.macs <= 3_000_000_000:
        return None
    for side in (96, 128, 160, 224):
        try:
            analyze(spec_name, (report.input[0], side, side))
        except ArchcalcError:
            continue
        return (report.input[0], side, side)
    return None


def test_real_forward_runs(spec_name: str) -> None:
    """Forward runs for real on the CPU, not only on meta (big models at a reduced input)."""
    model, report = build_with_report(spec_name, _affordable_input(spec_name))
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, *report.input))
    main = out[0] if isinstance(out, tuple) else out
    assert tuple(main.shape[1:]) == report.output_shape
    assert torch.isfinite(main).all()
