"""Print, for torchvision's CNN classifiers, archcalc's numbers next to the tools' (what test_torchvision checks).

    python scripts/tvtable.py [TV_NAME ...] [--no-cpu] [--format markdown|tsv]

One row per model (default: all 68 of tests/tvoracle.py whose spec is bundled): spec, params, MACs at the
spec's default input, then each convention as archcalc computes it, with the tool's own number after a
'!=' when they differ: fvcore (CPU trace at the reduced input of the CPU run, both at that input),
torchinfo and FlopCounterMode (meta device, default input), and the max |output difference| against
torchvision (float64, the reduced input, randomised weights: tests/tvoracle.py). --no-cpu skips the two
CPU columns (regnet_y_128gf's float64 weights alone take 5 GB). Never downloads weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch
from tvoracle import (
    CNN_CLASSIFIERS,
    EVAL_SETS,
    TV_SPECS,
    cpu_model,
    flopcounter,
    fvcore_total,
    main_output,
    reduced_hw,
    spec_model,
    torchinfo_total,
    tv_model,
)
from tvshim import import_torchvision

from archcalc.analysis.conventions import total
from archcalc.analysis.records import analyze
from archcalc.frontend.spec import bundled_names

COLUMNS = ["torchvision", "spec", "params", "MACs", "fvcore", "torchinfo", "FlopCounterMode", "max abs diff"]


def _pair(ours: int, tool: int) -> str:
    return f"{ours:,}" if ours == tool else f"{ours:,} != {tool:,}"


def _cpu(tv: object, name: str, spec: str) -> tuple[str, str]:
    """fvcore (archcalc vs tool) and max |output difference|, at the reduced input."""
    hw = reduced_hw(name)
    input = (3, hw, hw)
    sets = EVAL_SETS.get(name)
    ref = cpu_model(tv, name)
    ours = spec_model(spec, input, sets)
    keys = ours.state_dict().keys()
    ours.load_state_dict({k: v for k, v in ref.state_dict().items() if k in keys}, strict=True, assign=True)
    x = torch.randn(2, *input, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = float((main_output(ours(x)) - ref(x)).abs().max())
    fv, _ = fvcore_total(ref, x[:1])
    return f"{_pair(total(analyze(spec, input, sets), 'fvcore'), fv)} @{hw}", f"{diff:.2g}"


def row(tv: object, name: str, cpu: bool) -> list[str]:
    spec = TV_SPECS[name]
    report = analyze(spec)
    counted = analyze(spec, sets=EVAL_SETS[name]) if name in EVAL_SETS else report
    meta = tv_model(tv, name)
    params = sum(p.numel() for p in meta.parameters())
    flops, _ = flopcounter(meta, torch.zeros(1, *counted.input, device="meta"))
    mult_adds, _ = torchinfo_total(meta, counted.input)
    out = [name, spec, _pair(report.totals.params, params), _pair(counted.totals.macs, flops // 2)]
    fv, diff = _cpu(tv, name, spec) if cpu else ("-", "-")
    return [*out, fv, _pair(total(counted, "torchinfo"), mult_adds), _pair(total(counted, "flops"), flops), diff]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="torchvision model names (default: all with a bundled spec)")
    ap.add_argument("--no-cpu", action="store_true", help="skip the fvcore and output columns")
    ap.add_argument("--format", choices=["markdown", "tsv"], default="markdown")
    a = ap.parse_args()
    tv = import_torchvision()
    bundled = set(bundled_names())
    names = a.names or [n for n in CNN_CLASSIFIERS if TV_SPECS[n] in bundled]
    sep = "\t" if a.format == "tsv" else " | "
    if a.format == "markdown":
        print(f"| {sep.join(COLUMNS)} |")
        print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|")
    else:
        print(sep.join(COLUMNS))
    bad = 0
    for name in names:
        start = time.time()
        try:
            cells = row(tv, name, not a.no_cpu)
        except Exception as err:  # a broken spec is a row, not the end of the table
            cells = [name, TV_SPECS.get(name, "?"), f"error: {type(err).__name__}: {str(err)[:150]}"]
            cells += [""] * (len(COLUMNS) - len(cells))
        bad += any("!=" in c or c.startswith("error") for c in cells)
        line = sep.join(cells)
        print(f"| {line} |" if a.format == "markdown" else line, flush=True)
        print(f"  {name}: {time.time() - start:.1f} s", file=sys.stderr)
    print(f"{len(names) - bad} of {len(names)} rows agree", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
