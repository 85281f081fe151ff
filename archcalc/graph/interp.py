"""One interpreter loop over the graph (the torch.fx ``Interpreter.run_node`` pattern).

A pass subclasses ``Interpreter`` and overrides the handler of each role it cares about; values flow along
the explicit edges, in topological order. ``run`` can jump over a whole scope when a pass already knows
its result (the sweep's memo), by returning the scope's ``out`` value from ``enter`` via ``skip``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from archcalc.graph.ir import BUS, IN, LAYER, MERGE, OUT, GNode, Graph

V = TypeVar("V")


class Interpreter(Generic[V]):
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.env: list[V | None] = []
        self._skip: tuple[int, V] | None = None
        self._handlers = {LAYER: self.layer, IN: self.enter, OUT: self.exit, MERGE: self.merge, BUS: self.bus}

    def run(self, x: V) -> V:
        """Every node once, in order; returns the network output's value."""
        nodes = self.graph.nodes
        env: list[V | None] = [None] * len(nodes)
        self.env = env
        i = 0
        while i < len(nodes):
            node = nodes[i]
            args = [env[j] for j in node.inputs] if node.inputs else [x]
            env[i] = self.run_node(node, args)  # type: ignore[arg-type]
            if self._skip is not None:  # the pass knows this scope's result: jump to its out node
                i, value = self._skip
                self._skip = None
                env[i] = value
            i += 1
        out = env[self.graph.output]
        assert out is not None
        return out

    def run_node(self, node: GNode, args: Sequence[V]) -> V:
        return self._handlers[node.role](node, args)

    def skip(self, scope: int, value: V) -> None:
        """From inside ``in``: the scope's output is ``value``; its inner nodes are not run."""
        self._skip = (self.graph.scopes[scope].exit, value)

    # ---- handlers: scope boundaries are aliases unless a pass says otherwise --------------------------------
    def layer(self, node: GNode, args: Sequence[V]) -> V:
        raise NotImplementedError

    def merge(self, node: GNode, args: Sequence[V]) -> V:
        raise NotImplementedError

    def bus(self, node: GNode, args: Sequence[V]) -> V:
        raise NotImplementedError

    def enter(self, node: GNode, args: Sequence[V]) -> V:
        return args[0]

    def exit(self, node: GNode, args: Sequence[V]) -> V:
        return args[0]
