"""Walking a chain of ONNX nodes back from its last one, for the fusions that span constant arithmetic
(onnxfuse_lrn.py, onnxfuse_lenet.py): every link checked, a difference raises NoMatch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Fused:
    """What a chain is: one layer ``op`` (named ``name`` in its scope) reading ``x``."""

    x: str
    name: str
    op: str
    args: dict[str, Any]
    source: str


Matcher = Callable[["Graph", Any], Fused]  # raises NoMatch


class NoMatch(Exception):
    """A link of the chain is not what torch writes."""


class Graph:
    """What the matcher reads of the reader: producers, reads per tensor, constants, full shapes."""

    def __init__(self, producer: dict[str, Any], reader: Any) -> None:
        self.producer, self.uses, self.value = producer, reader.uses, reader.value
        self.shapes, self.const_dims = reader.shapes, reader.const_dims
        self.chain: set[str] = set()  # the intermediates matched so far

    def node(self, tensor: str, op: str, reads: int = 1) -> Any:
        """The node of type ``op`` that writes ``tensor``, read ``reads`` times (the next link only)."""
        n = self.producer.get(tensor)
        if n is None or n.op_type != op or n.domain not in ("", "ai.onnx") or list(n.output) != [tensor]:
            raise NoMatch
        if self.uses.get(tensor, 0) != reads:
            raise NoMatch
        self.chain.add(tensor)
        return n

    def const(self, tensor: str) -> np.ndarray:
        v = self.value(tensor) if tensor else None
        if v is None:
            raise NoMatch
        return np.asarray(v)

    def scalar(self, tensor: str) -> float:
        """A one-element float constant."""
        v = self.const(tensor)
        if v.size != 1 or v.dtype.kind != "f":
            raise NoMatch
        return float(v.reshape(-1)[0])

    def scalar_and_other(self, n: Any) -> tuple[float, str]:
        """A binary node with one scalar constant input: (its value, the other input)."""
        if len(n.input) != 2:
            raise NoMatch
        for i in (1, 0):
            try:
                return self.scalar(n.input[i]), str(n.input[1 - i])
            except NoMatch:
                continue
        raise NoMatch

    def const_and_other(self, n: Any, dims: tuple[int, ...]) -> tuple[str, str]:
        """A binary node with one constant input of shape ``dims``: (that constant, the other input)."""
        consts = [i for i in (1, 0) if len(n.input) == 2 and self.const_dims.get(n.input[i]) == dims]
        if not consts or n.input[1 - consts[0]] in self.const_dims:
            raise NoMatch
        return str(n.input[consts[0]]), str(n.input[1 - consts[0]])

    def dims(self, tensor: str) -> tuple[int, ...]:
        proto = self.shapes.get(tensor)
        if proto is None or not proto.dim or not all(d.HasField("dim_value") for d in proto.dim):
            raise NoMatch
        return tuple(int(d.dim_value) for d in proto.dim)


def attrs(n: Any) -> dict[str, Any]:
    from onnx import helper

    got = {a.name: helper.get_attribute_value(a) for a in n.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in got.items()}


def attempt(match: Matcher, producer: dict[str, Any], reader: Any, node: Any) -> tuple[Fused, set[str]] | None:
    """The layer and the chain's intermediates when ``match`` takes the chain ending in ``node``; else None."""
    g = Graph(producer, reader)
    try:
        return match(g, node), g.chain
    except NoMatch:
        return None
