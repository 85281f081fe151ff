"""Calculator against torchinfo: params per layer and in total.

Per-layer conv/linear MACs against fvcore are checked in test_conventions.py, in the same fvcore trace
that checks the fvcore convention total.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")

from archcalc.torch import build_with_report  # noqa: E402


def test_params_match_torchinfo(spec_name: str) -> None:
    model, report = build_with_report(spec_name)
    stats = torchinfo.summary(model, input_size=(1, *report.input), device="meta", verbose=0)
    assert stats.total_params == report.totals.params
    assert stats.trainable_params == report.totals.trainable_params
    path_of = {id(m): p for p, m in model.named_modules()}
    checked = 0
    for info in stats.summary_list:
        path = path_of.get(id(info.module))
        if path is None or any(True for _ in info.module.children()):
            continue
        rec = next((r for r in report.records if r.path == path), None)
        if rec is not None:
            assert info.num_params == rec.counts.params, path
            checked += 1
    assert checked > 0
