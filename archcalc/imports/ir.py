"""The captured model, between a capture (torch.fx, ONNX) and the spec writer.

An unknown op is a node with ``op == UNKNOWN``: by default the writer refuses the whole graph with one line
listing every such node; with ``allow_unknown`` it becomes an ``opaque`` layer that keeps the captured shape and
has unknown counts ("?"), so totals are partial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNKNOWN = "?"  # ImportedNode.op of an op archcalc does not know; ``source`` names what it was


@dataclass
class ImportedNode:
    path: str  # dotted module path "layer1.0.conv1"; a functional op "<enclosing module>.<op name>[_k]"
    op: str  # archcalc op name, or UNKNOWN
    args: dict[str, Any]  # archcalc op args as in specs (out, kernel, stride, ...)
    inputs: list[str]  # producer paths; "input" = the network input
    shape: tuple[int, ...]  # captured per-sample output shape (batch removed)
    source: str  # what it was, for messages: "nn.Conv2d", "torch.cat", "onnx Conv"
    shares: str | None = None  # the path of the module this call reuses (a module called more than once)


@dataclass
class ImportedGraph:
    name: str
    input: tuple[int, ...]  # per sample, e.g. (3, 224, 224)
    nodes: list[ImportedNode]  # topological order
    outputs: list[str]
    origin: str  # "mypkg.models:build_net", "model.onnx": shown in messages as the file
    notes: list[str] = field(default_factory=list)  # one-line remarks for the spec's notes (e.g. a folded BN)
