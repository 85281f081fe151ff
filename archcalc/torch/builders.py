"""The kit an op's builder gets: each op declares its builder with ``declare(..., build=...)``.

Op modules never import torch (the calculator must start without it); a builder reads what it needs from
the kit instead, e.g. ``lambda k, a, rec: k.nn.ReLU(a["inplace"])``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn

from archcalc.analysis.report import Record
from archcalc.errors import ArchcalcError
from archcalc.graph.ir import GNode, Graph
from archcalc.ops import OPS
from archcalc.torch import modern, modules


@dataclass(frozen=True)
class Kit:
    """torch, torch.nn, archcalc's own modules (``M``; ``M10``: those of issue 10's ops, archcalc/torch/modern.py),
    and what this build shares across layers."""

    env: modules.Env
    switch_pools: frozenset[str]  # max pools that record their switches (an unpool or the mirror reads them)
    torch: ModuleType = torch
    nn: ModuleType = nn
    M: ModuleType = modules
    M10: ModuleType = modern


def build_layer(kit: Kit, graph: Graph, node: GNode, rec: Record) -> nn.Module | nn.Parameter:
    """The module of one layer node, made by its op's builder from the validated args and the record
    (or a bare parameter that the enclosing container registers under the layer's name: layer_scale)."""
    make = OPS[node.op].build
    if make is None:
        msg = f"op '{node.op}' has a rule but no torch builder (declare one with build= in its register call)"
        raise ArchcalcError(msg, file=graph.file, line=node.line, layer=node.path)
    module = make(kit, node.args, rec)
    if not isinstance(module, (nn.Module, nn.Parameter)):
        msg = f"the builder of op '{node.op}' returned {type(module).__name__}, not an nn.Module"
        raise ArchcalcError(msg, file=graph.file, line=node.line, layer=node.path)
    return module
