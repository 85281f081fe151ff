"""``archcalc compare A B [C ...]``: totals side by side with ratios, then the aligned per-stage table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from archcalc.cli.commands.common import Fmt, argument, command, emit, fmt_opt, input_opt, set_opt

if TYPE_CHECKING:
    from archcalc.analysis.compare import Comparison, Stage
    from archcalc.analysis.report import Report
    from archcalc.render.tabular import Grid

TOTAL_ROWS = (
    ("params", "params"),
    ("trainable params", "trainable_params"),
    ("buffers", "buffers"),
    ("connections", "connections"),
    ("MACs", "macs"),
    ("FLOPs (2 x MACs)", "flops"),
    ("activations", "activations"),
)


def register(app: click.Group) -> None:
    app.add_command(compare_cmd)


@command("compare")
@argument("specs", "two or more bundled spec names or .yaml paths", label="<list[str]>", nargs=-1, required=True)
@input_opt
@set_opt
@fmt_opt
def compare_cmd(specs: tuple[str, ...], input: str | None, set: list[str] | None, fmt: Fmt) -> None:
    """Compare networks: totals side by side with ratios to the first, then a per-stage table.

    Stages align by position: stage convI is the I-th conv layer (conv2d, conv_transpose2d) of each
    network and fcI the I-th fully connected layer (linear, rbf), in forward order, each together with
    the layers after it up to the next conv or fc layer ('stem' holds any layers before the first).
    --input and --set apply to every network.

    Examples:

      archcalc compare alexnet-227 zfnet-227

      archcalc compare lenet lenet5 --format markdown

      archcalc compare alexnet zfnet -i 3x224x224 -f html > compare.html
    """
    from archcalc.analysis.compare import compare
    from archcalc.analysis.records import analyze
    from archcalc.errors import ArchcalcError
    from archcalc.frontend.spec import parse_sets

    if len(specs) < 2:
        raise ArchcalcError("compare needs at least two specs")
    sets = parse_sets(set or [])
    cmp = compare([analyze(s, input, sets) for s in specs])
    emit([totals_grid(cmp), stages_grid(cmp)], fmt, _marked(cmp))


_UNKNOWN_TOTALS = ("params", "trainable_params", "buffers", "connections", "macs", "flops")


def _marked(cmp: Comparison) -> dict[str, Any]:
    """The JSON with partial networks (ops archcalc does not know) marked, and their ratios of unknown totals null."""
    data = cmp.to_dict()
    partial = [r.partial for r in cmp.reports]
    for net, rep in zip(data["networks"], cmp.reports, strict=True):
        if rep.partial:
            net |= {"partial": True, "unknown_layers": rep.unknown_layers}
        if rep.partial or partial[0]:
            net["ratios"] |= dict.fromkeys(_UNKNOWN_TOTALS)
    return data


def _value(rep: Report, key: str, v: int) -> str:
    from archcalc.render.tabular import known_part, n

    return known_part(v) if rep.partial and key in _UNKNOWN_TOTALS else n(v)


def _ratio_text(value: int, base: int) -> str:
    if base == 0:
        return "-" if value == 0 else "n/a"
    return f"{value / base:.2f}x"


def totals_grid(cmp: Comparison) -> Grid:
    from archcalc.analysis.compare import total
    from archcalc.render.tabular import Grid, n, partial_text, shape_text

    others = cmp.names[1:]
    cols = ["quantity", *cmp.names, *(f"{o} / {cmp.names[0]}" for o in others)]
    reps = cmp.reports
    rows = [
        ["input", *(shape_text(r.input) for r in reps), *("" for _ in others)],
        ["output", *(shape_text(r.output_shape) for r in reps), *("" for _ in others)],
        [
            "layers",
            *(n(len(r.layers)) for r in reps),
            *(_ratio_text(len(r.layers), len(reps[0].layers)) for r in reps[1:]),
        ],
    ]
    for label, key in TOTAL_ROWS:
        vals = [total(r.totals, key) for r in reps]
        unknown = [r.partial and key in _UNKNOWN_TOTALS for r in reps]
        ratios = [
            "?" if u or unknown[0] else _ratio_text(v, vals[0]) for v, u in zip(vals[1:], unknown[1:], strict=True)
        ]
        rows.append([label, *(_value(r, key, v) for r, v in zip(reps, vals, strict=True)), *ratios])
    numeric = set(range(1, len(cols)))
    caption = "ratios are to the first network; MACs = multiply-accumulates of conv/linear layers, bias excluded"
    parts = zip(cmp.names, reps, strict=True)
    caption += "".join(f"; {name}: {partial_text(r).removeprefix(' | ')}" for name, r in parts if r.partial)
    return Grid("totals: " + " vs ".join(cmp.names), cols, rows, numeric, caption=caption)


def _stage_ratio(m: int | None, base: int | None) -> str:
    if m is None or base is None:
        return "-"
    return "?" if m < 0 or base < 0 else _ratio_text(m, base)  # -1: a stage holding an unknown layer


def stages_grid(cmp: Comparison) -> Grid:
    from archcalc.analysis.compare import ALIGNMENT
    from archcalc.render.tabular import Grid, known_part, n

    cols, numeric = ["stage"], set()
    for name in cmp.names:
        cols.append(f"{name} layer -> output")
        numeric |= {len(cols), len(cols) + 1}
        cols += [f"{name} params", f"{name} MACs"]
    for name in cmp.names[1:]:
        numeric.add(len(cols))
        cols.append(f"MACs {name} / {cmp.names[0]}")
    rows: list[list[str]] = []
    bars: dict[str, list[int | None]] = {f"{m} · {name}": [] for m in ("params", "MACs") for name in cmp.names}
    for key in cmp.keys:
        row, macs = [key], []
        for name, st, rep in zip(cmp.names, cmp.stages, cmp.reports, strict=True):
            s = st.get(key)
            unknown = s is not None and bool(set(s.paths) & set(rep.unknown_layers))
            k = known_part if unknown else n
            row += [_layer_text(s), k(s.counts.params), k(s.counts.macs)] if s else ["-", "-", "-"]
            macs.append(None if s is None else -1 if unknown else s.counts.macs)
            bars[f"params · {name}"].append(s.counts.params if s and not unknown else None)
            bars[f"MACs · {name}"].append(s.counts.macs if s and not unknown else None)
        row += [_stage_ratio(m, macs[0]) for m in macs[1:]]
        rows.append(row)
    grid = Grid("stages: " + " vs ".join(cmp.names), cols, rows, numeric, caption=ALIGNMENT)
    grid.bars, grid.bar_columns = bars, False
    return grid


def _layer_text(s: Stage) -> str:
    """'k11 s4 p0 -> 96x55x55': the aligned layer's op summary and output (the path is in the JSON)."""
    from archcalc.render.tabular import shape_text, summary_text

    if s.head is None:
        return "(stem)"
    return f"{summary_text(s.head) or s.head.op} -> {shape_text(s.head.output_shape)}"
