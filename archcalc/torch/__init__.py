"""Build a real ``nn.Module`` from a spec (needs the ``torch`` extra).

Module qualified names equal the calculator's record paths, so a forward hook
on ``model.get_submodule(rec.path)`` sees exactly the layer the record describes.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from archcalc.calc import resolve
from archcalc.expand import Node
from archcalc.report import Report
from archcalc.spec import Spec
from archcalc.torch import modules as M
from archcalc.torch.builders import BUILDERS, BuildCtx

__all__ = ["BUILDERS", "build", "build_with_report"]


def build(
    spec_or_path: Spec | str,
    input: str | tuple[int, ...] | list[int] | None = None,
    sets: dict[str, Any] | None = None,
) -> nn.Module:
    """The torch model for a spec (random init; fixed weights where the spec gives them)."""
    return build_with_report(spec_or_path, input, sets)[0]


def build_with_report(
    spec_or_path: Spec | str,
    input: str | tuple[int, ...] | list[int] | None = None,
    sets: dict[str, Any] | None = None,
) -> tuple[nn.Module, Report]:
    """The model and the calculator's report it was built from (records resolve first)."""
    root, report = resolve(spec_or_path, input, sets)
    by_path = {r.path: r for r in report.records}
    ctx = BuildCtx(env=M.Env(), switch_pools=_unpool_sources(root))
    body = _container(root, by_path, ctx)
    assert isinstance(body, M.Seq)
    return M.SpecNet(body, ctx.env, report.model), report


def _unpool_sources(node: Node) -> set[str]:
    out = {node.args["pool"]} if node.op == "max_unpool2d" else set()
    for child in node.children:
        out |= _unpool_sources(child)
    return out


def _module(node: Node, by_path: dict[str, Any], ctx: BuildCtx) -> nn.Module:
    if node.kind == "op":
        return BUILDERS[node.op](node.args, by_path[node.path], ctx)
    return _container(node, by_path, ctx)


def _container(node: Node, by_path: dict[str, Any], ctx: BuildCtx) -> nn.Module:
    if node.kind == "parallel":
        branches = {b.name: _container(b, by_path, ctx) for b in node.children}
        return M.Parallel(branches, node.merge)
    steps = [M.Step(c.name, c.path, tuple(c.sources or ()), c.side) for c in node.children]
    children = [_module(c, by_path, ctx) for c in node.children]
    return M.Seq(node.path, ctx.env, steps, children, node.feed == "dense")
