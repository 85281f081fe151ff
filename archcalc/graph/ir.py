"""The graph every analysis runs on: nodes in topological order with explicit input edges, and scopes.

A node is one of five roles:

* ``layer``: an op entry of the spec (one record, one torch module);
* ``in``: a scope's input, an alias of the value the scope reads (``from: input`` names it);
* ``out``: a scope's output, an alias of its last non-side entry, its merge or its dense bus;
* ``merge``: the implicit concat/add of a ``branches`` container;
* ``bus``: a dense feed's running concatenation, ``bus_i = concat(bus_{i-1}, out_{i-1})`` (linear in edges).

Scopes carry the dotted names, the block structure and the record depth; a scope's nodes are the
contiguous range ``enter..exit``. Nothing after lowering reads the spec's wiring keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LAYER, IN, OUT, MERGE, BUS = "layer", "in", "out", "merge", "bus"


@dataclass(slots=True, eq=False)
class GNode:
    index: int
    role: str
    op: str  # layer: the registered op; merge: concat | add; bus: concat; in/out: ""
    path: str  # layer: its record path; in: '<scope>@in'; out: the scope's path; merge/bus: '<scope>@merge/@bus'
    inputs: tuple[int, ...]
    scope: int
    line: int
    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, int] = field(default_factory=dict)  # args that name another node (an unpool's pool)
    key: Any = None  # hashable op+args key: equal keys, equal rule results for equal inputs (None: never reuse)
    derived: tuple[Any, ...] = ()  # the expressions its entry evaluated (frontend/expr.Derived)
    shares: int = -1  # layer: the earlier layer whose weights it reuses (spec 'shares'); -1 for its own


@dataclass(slots=True, eq=False)
class Scope:
    index: int
    path: str
    name: str
    kind: str  # seq | parallel (dense feeds are seq scopes with bus nodes)
    block: str
    line: int
    parent: int  # -1 for the root
    depth: int  # record depth; the root is -1 and has no record
    enter: int = -1  # its 'in' node
    exit: int = -1  # its 'out' node
    dense: bool = False
    flat: bool = False  # its children's module paths skip its name (no torch module of its own)
    merged: tuple[int, ...] = ()  # parallel: the branch outputs; dense: the input and every entry's output
    derived: tuple[Any, ...] = ()  # the expressions its entry evaluated (a block use's args, a repeat count)

    @property
    def inner_depth(self) -> int:
        """Its children's record depth: module levels, as named_modules() counts them (flat adds none)."""
        return self.depth if self.flat else self.depth + 1


@dataclass(slots=True, eq=False)
class Graph:
    name: str
    file: str
    nodes: list[GNode]
    scopes: list[Scope]
    by_path: dict[str, int]
    outputs: tuple[int, ...]  # the network output, then every side output in order
    _users: list[list[int]] | None = None

    @property
    def output(self) -> int:
        return self.outputs[0]

    def users(self) -> list[list[int]]:
        """Readers of each node (data inputs and refs), in order; computed once."""
        if self._users is None:
            users: list[list[int]] = [[] for _ in self.nodes]
            for node in self.nodes:
                for i in (*node.inputs, *node.refs.values()):
                    users[i].append(node.index)
            self._users = users
        return self._users

    def layers(self) -> list[GNode]:
        return [n for n in self.nodes if n.role == LAYER]

    def where(self, node: GNode) -> tuple[str, int]:
        """The path and line an error at this node is reported against (merges and buses: their scope)."""
        if node.role in (MERGE, BUS):
            s = self.scopes[node.scope]
            return s.path, s.line
        return node.path, node.line
