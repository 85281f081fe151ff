"""Calculator against torch: every bundled spec, every record path, shapes and param counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from archcalc.torch import build_with_report  # noqa: E402
from archcalc.torch.crosscheck import measure  # noqa: E402


def test_shapes_and_params_match_torch(spec_name: str) -> None:
    model, report = build_with_report(spec_name)
    got = measure(model, report, device="meta")
    for rec in report.records:
        assert got.shapes[rec.path] == rec.output_shape, rec.path
        assert got.params[rec.path] == rec.counts.params, rec.path
        assert got.trainable[rec.path] == rec.counts.trainable_params, rec.path
        assert got.buffers[rec.path] == rec.counts.buffers, rec.path
    assert got.total_params == report.totals.params
    assert got.total_trainable == report.totals.trainable_params


def test_real_forward_runs(spec_name: str) -> None:
    """Forward must run for real on the CPU, not only on meta (small batch, default input)."""
    model, report = build_with_report(spec_name)
    if report.totals.macs > 3_000_000_000:
        pytest.skip("large model: real forward covered by the meta-device shape check")
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, *report.input))
    main = out[0] if isinstance(out, tuple) else out
    assert tuple(main.shape[1:]) == report.output_shape
    assert torch.isfinite(main).all()
