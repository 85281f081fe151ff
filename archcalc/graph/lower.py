"""Lowering: the expanded tree -> the graph. The only place that reads the wiring (from, side, feed, merges).

Every entry's input becomes an explicit edge: the previous non-side entry, the ``from`` list, the enclosing
scope's input, a dense feed's bus. Every scope gets an ``in`` and an ``out`` node, so a container (a branch,
a block, a repeat) can be named by ``from`` and can be the network's output.
"""

from __future__ import annotations

from archcalc.errors import ArchcalcError
from archcalc.frontend.tree import Node
from archcalc.graph.ir import BUS, IN, LAYER, MERGE, OUT, GNode, Graph, Scope
from archcalc.ops import OPS


class _Lowering:
    def __init__(self, name: str, file: str) -> None:
        self.graph = Graph(name, file, [], [], {}, ())
        self.sides: list[int] = []

    def fail(self, msg: str, node: Node) -> ArchcalcError:
        return ArchcalcError(msg, file=self.graph.file, line=node.line, layer=node.path or None)

    def add(self, role: str, path: str, inputs: tuple[int, ...], scope: int, line: int, op: str = "") -> GNode:
        g = self.graph
        node = GNode(len(g.nodes), role, op, path, inputs, scope, line)
        g.nodes.append(node)
        if role in (LAYER, IN, OUT):
            g.by_path[path] = node.index
        return node

    def source(self, node: Node, path: str) -> int:
        index = self.graph.by_path.get(path)
        if index is None:  # expand resolved it, so only a container still open can be missing
            raise self.fail(f"'from: {path}' names a container that is still running", node)
        return index

    def inputs(self, node: Node, prev: int) -> tuple[int, ...]:
        if node.sources is None:
            return (prev,)
        return tuple(self.source(node, p) for p in node.sources)

    # ---- scopes ---------------------------------------------------------------------------------------------
    def scope(self, node: Node, parent: int, depth: int, src: tuple[int, ...]) -> int:
        """Lower a container; returns its 'out' node."""
        if len(src) != 1:
            raise self.fail(f"a {node.kind} container reads one input, got {len(src)}", node)
        g = self.graph
        s = Scope(len(g.scopes), node.path, node.name, node.kind, node.block, node.line, parent, depth)
        s.flat = node.flat
        g.scopes.append(s)
        s.derived = node.derived
        s.enter = self.add(IN, f"{node.path}@in", src, s.index, node.line).index
        if node.kind == "parallel":
            last = self.parallel(node, s)
        elif node.feed == "dense":
            last = self.dense(node, s)
        else:
            last = self.chain(node, s)
        out = self.add(OUT, node.path, (last,), s.index, node.line)
        out.name = node.name
        s.exit = out.index
        return out.index

    def chain(self, node: Node, s: Scope) -> int:
        prev = s.enter
        for child in node.children:
            out = self.entry(child, s, self.inputs(child, prev))
            if child.side:
                self.sides.append(out)
            else:
                prev = out
        return prev

    def parallel(self, node: Node, s: Scope) -> int:
        outs = tuple(self.scope(b, s.index, s.inner_depth, (s.enter,)) for b in node.children)
        s.merged = outs
        return self.add(MERGE, f"{node.path}@merge", outs, s.index, node.line, node.merge).index

    def dense(self, node: Node, s: Scope) -> int:
        s.dense = True
        feats, bus = [s.enter], s.enter
        for i, child in enumerate(node.children):
            for key, bad in (("from", child.sources is not None), ("side", child.side)):
                if bad:
                    raise self.fail(
                        f"'{key}' cannot be used inside feed: dense (each entry reads the concatenation)", child
                    )
            if i:
                bus = self.add(BUS, f"{node.path}@bus{i}", (bus, feats[-1]), s.index, node.line, "concat").index
            feats.append(self.entry(child, s, (bus,)))
        s.merged = tuple(feats)
        if len(feats) == 1:
            return s.enter
        return self.add(BUS, f"{node.path}@bus", (bus, feats[-1]), s.index, node.line, "concat").index

    def entry(self, child: Node, s: Scope, src: tuple[int, ...]) -> int:
        if child.kind != "op":
            return self.scope(child, s.index, s.inner_depth, src)
        layer = self.add(LAYER, child.path, src, s.index, child.line, child.op)
        layer.name, layer.args, layer.key = child.name, child.args, child.key
        layer.derived = child.derived
        for arg in OPS[child.op].refs:
            layer.refs[arg] = self.source(child, child.args[arg])
        if child.shares:
            layer.shares = self.owner(child)
        return layer.index

    def owner(self, child: Node) -> int:
        """The layer whose weights ``child`` reuses: an earlier op layer with the same op and arguments (a chain
        of shares ends at the layer that owns them)."""
        g = self.graph
        index = g.by_path.get(child.shares, -1)
        target = g.nodes[index] if index >= 0 else None
        if target is None or target.role != LAYER:
            raise self.fail(f"'shares: {child.shares}' must name an earlier op layer, not a container", child)
        if target.op != child.op or target.args != child.args:
            raise self.fail(
                f"'shares: {child.shares}' names a {target.op} layer with other arguments; a layer that reuses "
                "weights must have the same op and arguments",
                child,
            )
        return target.shares if target.shares >= 0 else target.index


def lower(root: Node, name: str, file: str) -> Graph:
    """The graph of an expanded spec: nodes in topological order, the network output first in outputs."""
    low = _Lowering(name, file)
    out = low.scope(root, -1, -1, (-1,))
    low.graph.nodes[low.graph.scopes[0].enter].inputs = ()  # the network input reads nothing
    low.graph.outputs = (out, *low.sides)
    return low.graph
