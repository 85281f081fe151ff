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

__all__ = ["BUILDERS", "DeconvNet", "build", "build_deconv", "build_with_report"]


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
    *,
    switches: bool = False,
) -> tuple[nn.Module, Report]:
    """The model and the calculator's report it was built from (records resolve first).

    ``switches=True`` makes every max pool record its switches (for the DeconvNet mirror).
    """
    root, report = resolve(spec_or_path, input, sets)
    by_path = {r.path: r for r in report.records}
    pools = _unpool_sources(root) | (_ops(root, "maxpool2d") if switches else set())
    ctx = BuildCtx(env=M.Env(), switch_pools=pools, referenced=_referenced(root))
    body = _container(root, by_path, ctx)
    assert isinstance(body, M.Seq)
    return M.SpecNet(body, ctx.env, report.model), report


def _unpool_sources(node: Node) -> set[str]:
    out = {node.args["pool"]} if node.op == "max_unpool2d" else set()
    for child in node.children:
        out |= _unpool_sources(child)
    return out


def _referenced(node: Node) -> set[str]:
    return set(node.sources or ()).union(*(_referenced(c) for c in node.children))


def _ops(node: Node, op: str) -> set[str]:
    return ({node.path} if node.op == op else set()).union(*(_ops(c, op) for c in node.children))


def _module(node: Node, by_path: dict[str, Any], ctx: BuildCtx) -> nn.Module:
    if node.kind == "op":
        return BUILDERS[node.op](node.args, by_path[node.path], ctx)
    return _container(node, by_path, ctx)


def _container(node: Node, by_path: dict[str, Any], ctx: BuildCtx) -> nn.Module:
    if node.kind == "parallel":
        branches = {b.name: _container(b, by_path, ctx) for b in node.children}
        return M.Parallel(branches, node.merge)
    keep = ctx.referenced
    steps = [M.Step(c.name, c.path, tuple(c.sources or ()), c.side, c.path in keep) for c in node.children]
    children = [_module(c, by_path, ctx) for c in node.children]
    return M.Seq(node.path, ctx.env, steps, children, node.feed == "dense", f"{node.path}@in" in keep)


from archcalc.torch.deconv import DeconvNet, build_deconv  # noqa: E402  (it uses build_with_report)
