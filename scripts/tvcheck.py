"""Check a bundled spec against the torchvision model it mirrors (a development aid; tests do the same).

    python scripts/tvcheck.py <torchvision name> <spec> [--input CxHxW] [--set k=v ...]

Prints state_dict key/shape differences, loads torchvision's random-init state_dict strictly into the
model built from the spec, and compares the eval-mode outputs on one random input in float64. Also compares
params, buffers and MACs (FlopCounterMode / 2) at the spec's default input on the meta device.
Never downloads weights (weights=None).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch
from torch.utils.flop_counter import FlopCounterMode
from tvshim import import_torchvision

from archcalc.analysis.records import analyze
from archcalc.frontend.spec import parse_sets
from archcalc.torch import build

KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False}, "inception_v3": {"init_weights": False}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("tv_name")
    ap.add_argument("spec")
    ap.add_argument("--input", default=None, help="CxHxW for the output comparison (default: the spec's)")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    tv = import_torchvision()
    sets = parse_sets(a.set)
    report = analyze(a.spec, None, sets)
    torch.manual_seed(0)
    ref = tv.models.get_model(a.tv_name, weights=None, **KWARGS.get(a.tv_name, {})).eval()
    ours = build(a.spec, a.input, sets).eval()
    sd_ref, sd_ours = ref.state_dict(), ours.state_dict()
    bad = 0
    for k in sorted(set(sd_ref) | set(sd_ours)):
        r, o = sd_ref.get(k), sd_ours.get(k)
        if r is None or o is None or r.shape != o.shape:
            bad += 1
            if bad <= 30:
                print(
                    f"  {k}: torchvision {None if r is None else tuple(r.shape)} spec {None if o is None else tuple(o.shape)}"
                )
    print(f"state_dict: {len(sd_ref)} torchvision keys, {len(sd_ours)} spec keys, {bad} differ")
    n_ref = sum(p.numel() for p in ref.parameters())
    b_ref = sum(b.numel() for b in ref.buffers())
    print(
        f"params  torchvision {n_ref:,}  spec {report.totals.params:,}  {'OK' if n_ref == report.totals.params else 'DIFF'}"
    )
    print(
        f"buffers torchvision {b_ref:,}  spec {report.totals.buffers:,}  {'OK' if b_ref == report.totals.buffers else 'DIFF'}"
    )
    try:
        with torch.device("meta"):
            meta = tv.models.get_model(a.tv_name, weights=None, **KWARGS.get(a.tv_name, {})).eval()
    except NotImplementedError:  # RegNet computes its widths with tensors (.tolist()): not on meta
        meta = copy.deepcopy(ref).to("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.zeros(1, *report.input, device="meta"))
    macs = counter.get_total_flops() // 2
    print(
        f"MACs at {report.input}: FlopCounterMode/2 {macs:,}  spec {report.totals.macs:,}  {'OK' if macs == report.totals.macs else 'DIFF'}"
    )
    if bad:
        return 1
    ours.load_state_dict(sd_ref, strict=True)
    shape = tuple(int(v) for v in a.input.split("x")) if a.input else report.input
    x = torch.randn(2, *shape, dtype=torch.float64)
    with torch.no_grad():
        want = ref.double()(x)
        got = ours.double()(x)
    got = got[0] if isinstance(got, tuple) else got
    diff = (want - got).abs().max().item()
    print(
        f"output at {shape}: max |diff| {diff:.3g}  {'OK' if torch.allclose(want, got, rtol=1e-7, atol=1e-9) else 'DIFF'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
