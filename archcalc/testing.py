"""Assert a model's size in tests and CI: ``assert_counts(spec_or_module, params=..., macs=..., tolerance=...)``.

Conventions (the same names as ``archcalc table``):

* ``params``: elements of all parameters (torch ``numel``), trainable or not; ``trainable_params`` only those
  with ``requires_grad``; ``buffers``: elements of persistent buffers (running stats ...).
* ``macs``: multiply-accumulates of one forward pass for ONE sample (batch 1), conv and linear layers only,
  bias excluded; ``flops`` = 2 x ``macs``.
  - spec (name or path): archcalc's own pure-integer calculator (no torch needed);
  - ``nn.Module``: ``torch.utils.flop_counter.FlopCounterMode`` total // 2, measured on the meta device with
    ``input`` (C, H, W) at batch 1; FlopCounterMode counts conv, linear, matmul and attention, and nothing else.
* ``connections`` and ``activations`` exist for specs only (LeCun's connections are not a torch notion).
  ``archcalc.analyze(module, input)`` gives a module's full per-layer report (the torch.fx import,
  docs/import.md); a failing check on a module lists its layers from it.
* ``tolerance``: relative, a fraction of the expected value (0.01 = 1%); 0 (the default) means exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archcalc.analysis.report import Counts

if TYPE_CHECKING:
    from torch import nn

SPEC_KEYS = ("params", "trainable_params", "buffers", "connections", "macs", "flops", "activations")
MODULE_KEYS = ("params", "trainable_params", "buffers", "macs", "flops")
CONVENTION = (
    "params = parameter elements (numel); macs = multiply-accumulates of conv/linear layers, bias excluded, "
    "batch 1; flops = 2 x macs"
)


def assert_counts(
    target: Any,
    *,
    params: int | None = None,
    trainable_params: int | None = None,
    buffers: int | None = None,
    connections: int | None = None,
    macs: int | None = None,
    flops: int | None = None,
    activations: int | None = None,
    tolerance: float = 0.0,
    input: str | tuple[int, ...] | list[int] | None = None,
    **overrides: Any,
) -> dict[str, int]:
    """Check the named counts of a spec (name or path) or an ``nn.Module``; return the measured counts.

    Raises AssertionError with a table of expected, actual and difference for every checked quantity.
    ``overrides`` are spec params (like ``--set``); for a module, ``input`` (C, H, W) is needed for macs/flops.
    """
    expected = {
        k: v
        for k, v in dict(
            params=params,
            trainable_params=trainable_params,
            buffers=buffers,
            connections=connections,
            macs=macs,
            flops=flops,
            activations=activations,
        ).items()
        if v is not None
    }
    if not expected:
        raise TypeError("assert_counts needs at least one expected count, e.g. params=60_000")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 (a fraction, 0.01 = 1%), got {tolerance}")
    if isinstance(target, str):
        label, actual = _spec_counts(target, input, overrides)
        how = "archcalc calculator"
    else:
        if overrides:
            raise TypeError(f"spec overrides {sorted(overrides)} do not apply to an nn.Module")
        label, actual = _module_counts(target, input, need_macs=bool({"macs", "flops"} & set(expected)))
        how = "torch: numel, FlopCounterMode // 2 on meta"
        unknown = sorted(set(expected) - set(MODULE_KEYS))
        if unknown:
            raise TypeError(f"{', '.join(unknown)} can be checked on specs only, not on an nn.Module")
    failures = [k for k, v in expected.items() if not within(actual[k], v, tolerance)]
    if failures:
        text = diff_text(label, how, expected, actual, tolerance, failures)
        raise AssertionError(text if isinstance(target, str) else text + _per_layer_text(target, input))
    return actual


def _per_layer_text(module: Any, input: Any) -> str:
    """The module's layers with params or MACs, from the torch.fx import (``archcalc.analyze(module, input)``),
    so a failing check shows where the numbers are; a module the import cannot take says why."""
    if input is None:
        return ""
    from archcalc.analysis.records import analyze
    from archcalc.errors import ArchcalcError
    from archcalc.imports.torchload import ALLOW_UNKNOWN

    token = ALLOW_UNKNOWN.set(True)  # ops archcalc does not know are listed with "?" rather than hiding the rest
    try:
        report = analyze(module, input)
    except ArchcalcError as err:
        return f"\nper layer: not available ({err})"
    finally:
        ALLOW_UNKNOWN.reset(token)
    rows = [r for r in report.records if r.kind == "layer" and (r.counts.params or r.counts.macs or r.unknown)]
    lines = [
        f"  {r.path:<40} {r.op:<14} params {_count(r, 'params'):>14}  MACs {_count(r, 'macs'):>16}" for r in rows[:40]
    ]
    more = [f"  ... and {len(rows) - 40} more layers"] if len(rows) > 40 else []
    from archcalc.render.tabular import partial_text

    partial = [partial_text(report).removeprefix(" | ")] if report.partial else []
    return "\nper layer (archcalc.analyze(module, input)):\n" + "\n".join(lines + more + partial)


def _count(rec: Any, key: str) -> str:
    return "?" if rec.unknown else f"{int(getattr(rec.counts, key)):,}"


def within(actual: int, expected: int, tolerance: float) -> bool:
    return abs(actual - expected) <= tolerance * abs(expected)


def diff_text(
    label: str, how: str, expected: dict[str, int], actual: dict[str, int], tol: float, failures: list[str]
) -> str:
    """A readable table: one line per checked quantity, with the convention the numbers follow."""
    head = ("", "quantity", "expected", "actual", "difference")
    lines = [head]
    for k, v in expected.items():
        got = actual[k]
        rel = f" ({(got - v) / v:+.2%})" if v else ""
        mark = "FAIL" if k in failures else "ok"
        lines.append((mark, k, f"{v:,}", f"{got:,}", f"{got - v:+,}{rel}"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    body = "\n".join(
        "  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in lines
    )
    tol_text = "exact" if tol == 0 else f"within {tol:.2%} of expected"
    return (
        f"archcalc counts of {label} differ ({len(failures)} of {len(expected)} outside tolerance: {tol_text})\n"
        f"{body}\nconvention: {CONVENTION}; measured by {how}"
    )


def _spec_counts(ref: str, input: Any, overrides: dict[str, Any]) -> tuple[str, dict[str, int]]:
    from archcalc.analysis.records import analyze
    from archcalc.render.tabular import shape_text

    report = analyze(ref, input, overrides)
    label = f"{report.model} (input {shape_text(report.input)})"
    if report.partial:  # a module target imported with --allow-unknown: its totals leave those layers out
        paths = ", ".join(report.unknown_layers[:10])
        raise AssertionError(
            f"archcalc counts of {label} are partial: {len(report.unknown_layers)} layer(s) are ops archcalc "
            f"does not know ({paths}); their counts are unknown, so no total can be checked"
        )
    return label, _with_flops(report.totals)


def _with_flops(c: Counts) -> dict[str, int]:
    return {**c.to_dict(), "flops": c.flops}


def module_counts(module: nn.Module, input: Any = None, need_macs: bool = True) -> dict[str, int]:
    """params / trainable_params / buffers by numel, and macs / flops by FlopCounterMode on meta at batch 1."""
    return _module_counts(module, input, need_macs)[1]


def _module_counts(module: nn.Module, input: Any, need_macs: bool) -> tuple[str, dict[str, int]]:
    from archcalc.torch.crosscheck import _persistent

    out = {
        "params": sum(p.numel() for p in module.parameters()),
        "trainable_params": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "buffers": sum(b.numel() for b in module.buffers() if _persistent(module, b)),
    }
    label = type(module).__name__
    if need_macs:
        shape = _input_shape(input)
        out["macs"] = _meta_macs(module, shape)
        out["flops"] = 2 * out["macs"]
        label += f" (input {'x'.join(map(str, shape))})"
    return label, out


def _input_shape(input: Any) -> tuple[int, ...]:
    if input is None:
        raise TypeError("checking macs or flops of an nn.Module needs input=(C, H, W) (batch excluded)")
    from archcalc.frontend.spec import parse_input

    return parse_input(list(input) if isinstance(input, tuple) else input)


def _meta_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    """FlopCounterMode // 2 for one sample; weights are swapped for meta tensors, the module is left untouched."""
    import torch
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    state = {
        name: torch.empty_like(t, device="meta")
        for named in (module.named_parameters(remove_duplicate=False), module.named_buffers(remove_duplicate=False))
        for name, t in named
    }
    x = torch.empty((1, *shape), device="meta")
    counter = FlopCounterMode(display=False)
    modes = {m: m.training for m in module.modules()}
    module.eval()  # batch 1 in train mode trips BatchNorm's size check; MACs do not depend on the mode
    try:
        with counter, torch.no_grad():
            functional_call(module, state, (x,))
    except Exception as err:
        raise RuntimeError(f"{type(module).__name__} did not run on the meta device at input {shape}: {err}") from err
    finally:
        for m, training in modes.items():
            m.training = training
    return int(counter.get_total_flops()) // 2
