"""Calculator against torchinfo (params per layer and total) and fvcore (conv/linear MACs per layer)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")
fvcore_nn = pytest.importorskip("fvcore.nn")

from archcalc.torch import build_with_report  # noqa: E402

MAC_OPS = {"conv2d", "linear", "conv_transpose2d"}
SMALL_INPUT = {"C": 3, "HW": 96}  # fvcore needs a real forward; big models run at a reduced size


def _input_for(report_input: tuple[int, ...], macs: int) -> tuple[int, ...] | None:
    """The spec's own input for small models; a reduced square input for big ones (rules hold at any size)."""
    return None if macs < 2_000_000_000 else (report_input[0], SMALL_INPUT["HW"], SMALL_INPUT["HW"])


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


def test_conv_linear_macs_match_fvcore(spec_name: str) -> None:
    _, probe = build_with_report(spec_name)
    size = _input_for(probe.input, probe.totals.macs)
    model, report = build_with_report(spec_name, size)
    model.eval()
    flops = fvcore_nn.FlopCountAnalysis(model, torch.zeros(1, *report.input))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_module = flops.by_module()
    for rec in report.layers:
        if rec.op in MAC_OPS and rec.args.get("padding") not in ("same", "valid"):
            # fvcore counts one multiply-add as one flop, bias excluded: the same convention as archcalc MACs
            assert by_module[rec.path] == rec.counts.macs, rec.path
