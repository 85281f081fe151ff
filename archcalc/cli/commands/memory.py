"""``archcalc memory``: activation bytes per layer and model-level inference/training estimates."""

from __future__ import annotations

import click

from archcalc.cli.commands.common import (
    DType,
    Fmt,
    batch_opt,
    command,
    dtype_opt,
    emit,
    fmt_opt,
    input_opt,
    set_opt,
    spec_arg,
)


def register(app: click.Group) -> None:
    app.add_command(memory_cmd)


@command("memory")
@spec_arg
@input_opt
@set_opt
@fmt_opt
@dtype_opt
@batch_opt("batch size (activations scale with it, params do not)")
def memory_cmd(spec: str, input: str | None, set: list[str] | None, fmt: Fmt, dtype: DType, batch: int) -> None:
    """Memory: activation elements and bytes per layer; parameter bytes, an inference peak and training
    estimates (SGD with momentum, Adam). See docs/memory.md for what each figure includes.

    Examples:

      archcalc memory vgg16

      archcalc memory resnet50 --dtype float16 --batch 32
    """
    from archcalc.analysis.memory import human, model_memory
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.tabular import Grid, n, partial_text

    sets = parse_sets(set or [])
    report = analyze(spec, input, sets)
    mem = model_memory(spec, report, dtype.value, batch, sets)
    rows = [[m.path, m.op, n(m.elements), n(m.bytes), "shares input" if m.alias else ""] for m in mem.layers]
    q = " + ?" if report.partial else ""  # the params and buffers of unknown layers are not in these sums
    caption = " | ".join(
        [
            f"params {human(mem.param_bytes)}{q} + buffers {human(mem.buffer_bytes)}{q}",
            f"inference peak {human(mem.inference_peak_bytes)}{q} (params + buffers + input + "
            f"largest live activations {human(mem.peak_activation_bytes)})",
            f"training, SGD momentum {human(mem.training_bytes['sgd_momentum'])}{q}, "
            f"Adam {human(mem.training_bytes['adam'])}{q} (saved activations "
            f"{human(mem.saved_activation_bytes)}, gradients {human(mem.gradient_bytes)}{q})",
        ]
    ) + partial_text(report)
    grid = Grid(
        f"{report.model}: memory, {dtype.value}, batch {batch}",
        ["layer", "op", "activations", "bytes", "note"],
        rows,
        {2, 3},
        footer=[
            "total (new tensors)",
            "",
            n(sum(m.elements for m in mem.layers if not m.alias)),
            n(sum(m.bytes for m in mem.layers if not m.alias)),
            "",
        ],
        caption=caption,
    )
    partial = {"partial": True, "unknown_layers": report.unknown_layers} if report.partial else {}
    emit(grid, fmt, {"model": report.model, "input": list(report.input), **mem.to_dict(), **partial})
