"""Memory estimates from the spec: per-layer activation bytes and model-level inference/training figures.

Conventions (docs/memory.md explains each figure):
* activation elements of a layer = the elements of its output tensor x batch;
* parameter bytes = params x dtype size; buffer bytes = buffers x dtype size (running stats, prototypes);
* inference peak = parameters + buffers + the input + the largest set of activations alive at one moment of a
  forward pass (plan.py's liveness pass over the graph: outputs live until their last reader, branches
  until the merge);
* training = parameters + buffers + gradients (trainable params) + optimizer state + activations kept for
  backward, taken as the input plus every tensor the forward pass allocates (plan.Summary.allocated).
  SGD with momentum keeps 1 value per trainable parameter, Adam 2 (exp_avg, exp_avg_sq).
Workspace (im2col, LRN temporaries), the allocator's rounding and the framework itself are not included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.analysis.records import compile_spec
from archcalc.analysis.report import Report, gc_paused
from archcalc.analysis.sizes import SizePass, Summary
from archcalc.graph.ir import Graph
from archcalc.ops import OPS, prod

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
OPTIMIZER_SLOTS = {"sgd_momentum": 1, "adam": 2}


@dataclass(frozen=True)
class LayerMemory:
    path: str
    op: str
    elements: int  # output elements x batch
    bytes: int
    alias: bool  # the op returns its input's storage: no new memory at inference


@dataclass(frozen=True)
class ModelMemory:
    dtype: str
    batch: int
    layers: list[LayerMemory]
    param_bytes: int
    buffer_bytes: int
    input_bytes: int
    peak_activation_bytes: int  # largest live set during forward, input excluded
    inference_peak_bytes: int
    saved_activation_bytes: int  # input + every forward allocation (kept for backward)
    gradient_bytes: int
    training_bytes: dict[str, int]  # optimizer -> total
    optimizer_state_bytes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "batch": self.batch,
            "layers": [vars(layer) for layer in self.layers],
            "param_bytes": self.param_bytes,
            "buffer_bytes": self.buffer_bytes,
            "input_bytes": self.input_bytes,
            "peak_activation_bytes": self.peak_activation_bytes,
            "inference_peak_bytes": self.inference_peak_bytes,
            "saved_activation_bytes": self.saved_activation_bytes,
            "gradient_bytes": self.gradient_bytes,
            "optimizer_state_bytes": self.optimizer_state_bytes,
            "training_bytes": self.training_bytes,
        }


def dtype_size(dtype: str) -> int:
    from archcalc.errors import ArchcalcError

    if dtype not in DTYPE_BYTES:
        raise ArchcalcError(f"unknown dtype '{dtype}' (choose {', '.join(DTYPE_BYTES)})")
    return DTYPE_BYTES[dtype]


def figures(summary: Summary, input_elems: int, dtype: str = "float32", batch: int = 1) -> dict[str, int]:
    """Model-level bytes from a plan summary (the sweep uses this directly)."""
    size = dtype_size(dtype)
    params, trainable, buffers = summary.counts[0], summary.counts[1], summary.counts[2]
    fixed = (params + buffers) * size
    out = {
        "param_bytes": params * size,
        "buffer_bytes": buffers * size,
        "input_bytes": input_elems * batch * size,
        "peak_activation_bytes": summary.peak * batch * size,
        "saved_activation_bytes": (input_elems + summary.allocated) * batch * size,
        "gradient_bytes": trainable * size,
    }
    out["inference_peak_bytes"] = fixed + out["input_bytes"] + out["peak_activation_bytes"]
    for opt, slots in OPTIMIZER_SLOTS.items():
        out[f"optimizer_{opt}"] = slots * trainable * size
        out[f"training_{opt}"] = fixed + out["gradient_bytes"] + out[f"optimizer_{opt}"] + out["saved_activation_bytes"]
    return out


@gc_paused
def model_memory(
    spec: str, report: Report, dtype: str = "float32", batch: int = 1, sets: dict[str, Any] | None = None
) -> ModelMemory:
    from archcalc.errors import ArchcalcError

    if batch < 1:
        raise ArchcalcError(f"--batch must be at least 1, got {batch}")
    size = dtype_size(dtype)
    graph: Graph = report.graph if report.graph is not None else compile_spec(spec, sets)[2]
    summary = SizePass(graph).summary(report.input)
    aliases = {n.path for n in graph.layers() if OPS[n.op].alias(n.args)}
    layers = [
        LayerMemory(r.path, r.op, r.activations * batch, r.activations * batch * size, r.path in aliases)
        for r in report.layers
    ]
    f = figures(summary, prod(report.input), dtype, batch)
    return ModelMemory(
        dtype,
        batch,
        layers,
        f["param_bytes"],
        f["buffer_bytes"],
        f["input_bytes"],
        f["peak_activation_bytes"],
        f["inference_peak_bytes"],
        f["saved_activation_bytes"],
        f["gradient_bytes"],
        {k: f[f"training_{k}"] for k in OPTIMIZER_SLOTS},
        {k: f[f"optimizer_{k}"] for k in OPTIMIZER_SLOTS},
    )


def human(n: int) -> str:
    """Bytes in binary units (MiB = 2**20 bytes), one decimal."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{n:,} B"
        value /= 1024
    return f"{n:,} B"
