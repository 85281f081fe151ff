"""``archcalc memory``: activation bytes per layer and model-level inference/training estimates."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from archcalc.commands.common import Fmt, FmtOpt, InputOpt, SetOpt, SpecArg, emit


class DType(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    int8 = "int8"


def register(app: typer.Typer) -> None:
    @app.command("memory")
    def memory_cmd(
        spec: SpecArg,
        input: InputOpt = None,
        set: SetOpt = None,
        fmt: FmtOpt = Fmt.rich,
        dtype: Annotated[DType, typer.Option(help="element type of params and activations")] = DType.float32,
        batch: Annotated[int, typer.Option(help="batch size (activations scale with it, params do not)")] = 1,
    ) -> None:
        """Memory: activation elements and bytes per layer; parameter bytes, an inference peak and training
        estimates (SGD with momentum, Adam). See docs/memory.md for what each figure includes.

        Examples:

          archcalc memory vgg16

          archcalc memory resnet50 --dtype float16 --batch 32
        """
        from archcalc.calc import analyze
        from archcalc.memory import human, model_memory
        from archcalc.render.tabular import Grid, n
        from archcalc.spec import parse_sets

        sets = parse_sets(set or [])
        report = analyze(spec, input, sets)
        mem = model_memory(spec, report, dtype.value, batch, sets)
        rows = [[m.path, m.op, n(m.elements), n(m.bytes), "shares input" if m.alias else ""] for m in mem.layers]
        caption = " | ".join(
            [
                f"params {human(mem.param_bytes)} + buffers {human(mem.buffer_bytes)}",
                f"inference peak {human(mem.inference_peak_bytes)} (params + buffers + input + "
                f"largest live activations {human(mem.peak_activation_bytes)})",
                f"training, SGD momentum {human(mem.training_bytes['sgd_momentum'])}, "
                f"Adam {human(mem.training_bytes['adam'])} (saved activations "
                f"{human(mem.saved_activation_bytes)}, gradients {human(mem.gradient_bytes)})",
            ]
        )
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
        emit(grid, fmt, {"model": report.model, "input": list(report.input), **mem.to_dict()})
