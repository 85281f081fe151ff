"""Build a real ``nn.Module`` from a spec's graph (needs the ``torch`` extra).

One container module per scope, one leaf module per layer node; module qualified names equal the
calculator's record paths, so a forward hook on ``model.get_submodule(rec.path)`` sees exactly the
layer the record describes. Each container runs its scope's slice of the graph with precomputed steps.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from archcalc.analysis.records import resolve
from archcalc.analysis.report import Report
from archcalc.frontend.spec import Spec
from archcalc.graph.ir import BUS, IN, LAYER, MERGE, OUT, GNode, Graph, Scope
from archcalc.torch import modules as M
from archcalc.torch.builders import Kit, build_layer

__all__ = ["DeconvNet", "Kit", "build", "build_deconv", "build_with_report"]


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
    graph, report = resolve(spec_or_path, input, sets)
    pools = {graph.nodes[i].path for node in graph.nodes for i in node.refs.values()}
    if switches:
        pools |= {node.path for node in graph.layers() if node.op == "maxpool2d"}
    env = M.Env(len(graph.nodes), graph.outputs[1:])
    builder = _Builder(graph, report, Kit(env, frozenset(pools)))
    steps, children = builder.slice(graph.scopes[0])
    return M.SpecNet(env, steps, children, report.model), report


class _Liveness:
    """What each node reads and which node reads each value last, so a value is dropped after its last use.

    A dense bus is read as its list of features (one torch.cat per reader, as torchvision's DenseNet does),
    not as a chain of cats, so a bus itself is never stored. Refs (an unpool's pool) read switches, not the
    value, so unlike ``graph.users()`` they do not keep it alive.
    """

    def __init__(self, graph: Graph) -> None:
        self.feats: dict[int, tuple[int, ...]] = {}
        self.last = [-1] * len(graph.nodes)
        for node in graph.nodes:
            if node.role == BUS:  # bus_i = concat(bus_{i-1}, out_{i-1}): the features so far
                prev, new = node.inputs
                self.feats[node.index] = (*self.feats.get(prev, (prev,)), new)
                continue
            for j in self.reads(node):
                self.last[j] = node.index
        for j in graph.outputs:
            self.last[j] = len(graph.nodes)  # the network's outputs live to the end

    def arg(self, j: int) -> M.Arg:
        return self.feats.get(j, j)

    def args(self, node: GNode) -> tuple[M.Arg, ...]:
        return tuple(self.arg(j) for j in node.inputs)

    def reads(self, node: GNode) -> list[int]:
        return [k for j in node.inputs for k in self.feats.get(j, (j,))]

    def free(self, node: GNode) -> tuple[int, ...]:
        return tuple(j for j in dict.fromkeys(self.reads(node)) if self.last[j] == node.index)

    def keep(self, j: int) -> bool:
        return self.last[j] >= 0


class _Builder:
    def __init__(self, graph: Graph, report: Report, kit: Kit) -> None:
        self.graph, self.kit = graph, kit
        self.records = {r.path: r for r in report.records}
        self.live = _Liveness(graph)
        self.made: dict[int, nn.Module | nn.Parameter] = {}  # layer node -> its module, for 'shares'
        self.shared = kit.env.shared  # sharer node -> the owner's module

    def slice(self, s: Scope) -> tuple[M.Steps, dict[str, nn.Module | nn.Parameter]]:
        """The steps and submodules of one scope: a child scope is one step (its module runs its own slice);
        a flat child's nodes are inlined, so its layers are our submodules, as in torchvision's naming."""
        nodes, live = self.graph.nodes, self.live
        body: list[M.SliceStep] = []
        children: dict[str, nn.Module | nn.Parameter] = {}
        i = s.enter + 1
        while i < s.exit:
            node = nodes[i]
            # a flat child is inlined: its input and output are aliases here, and its layers are ours
            # (an OUT node met here is a flat child's: our own ends the loop)
            if (node.role == IN and self.graph.scopes[node.scope].flat) or node.role == OUT:
                body.append(M.SliceStep(i, M.ALIAS, "", live.args(node), live.free(node), live.keep(i)))
            elif node.role == IN:
                child = self.graph.scopes[node.scope]
                children[child.name] = self.container(child)
                body.append(M.SliceStep(child.exit, M.CALL, child.name, live.args(node), (), live.keep(child.exit)))
                i = child.exit + 1
                continue
            elif node.role == LAYER and node.shares >= 0:  # the owner's module, called again (not registered)
                self.shared[node.index] = self.made[node.shares]
                body.append(M.SliceStep(i, M.SHARED, str(i), live.args(node), live.free(node), live.keep(i)))
            elif node.role == LAYER:
                made = children[node.name] = build_layer(self.kit, self.graph, node, self.records[node.path])
                self.made[i] = made
                action = M.SCALE if isinstance(made, nn.Parameter) else M.CALL
                body.append(M.SliceStep(i, action, node.name, live.args(node), live.free(node), live.keep(i)))
            elif node.role == MERGE:
                action = {"concat": M.CAT, "add": M.ADD, "mul": M.MUL}[node.op]
                body.append(M.SliceStep(i, action, "", live.args(node), live.free(node), live.keep(i)))
            i += 1  # a bus is read by its readers as its features: no step of its own
        enter, out = nodes[s.enter], nodes[s.exit]
        result = live.arg(out.inputs[0])
        steps = M.Steps(s.enter, live.keep(s.enter), live.free(enter), tuple(body), result, live.free(out))
        return steps, children

    def container(self, s: Scope) -> M.Slice:
        steps, children = self.slice(s)
        cls = M.Parallel if s.kind == "parallel" else M.Seq
        return cls(s.path, self.kit.env, steps, children)


from archcalc.torch.deconv import DeconvNet, build_deconv  # noqa: E402  (it uses build_with_report)
