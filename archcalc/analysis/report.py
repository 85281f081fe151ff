"""Records: what the calculator found, kept apart from any rendering."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
COUNT_KEYS = ("params", "trainable_params", "buffers", "connections", "macs", "activations")
# the counts an opaque layer (an op archcalc does not know) leaves unknown; its activations are its known shape
UNKNOWN_KEYS = ("params", "trainable_params", "buffers", "connections", "macs")
Shape = tuple[int, ...]


@dataclass(slots=True)
class Counts:
    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    connections: int = 0
    macs: int = 0
    activations: int = 0

    def add(self, other: Counts) -> None:
        self.params += other.params
        self.trainable_params += other.trainable_params
        self.buffers += other.buffers
        self.connections += other.connections
        self.macs += other.macs
        self.activations += other.activations

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs (one multiply and one add per MAC)."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in COUNT_KEYS}


@dataclass(slots=True)
class Record:
    """One layer (kind 'layer') or one container with subtotals (kind 'block')."""

    path: str
    name: str
    op: str
    kind: str
    depth: int
    line: int
    input_shape: Shape | list[Shape]
    output_shape: Shape
    counts: Counts
    args: dict[str, Any] = field(default_factory=dict)
    block: str = ""
    merged: list[Shape] = field(default_factory=list)  # block: the shapes its merge combined
    parent: str = ""  # the enclosing block record's path ("" at the top level): the record tree's link
    derived: tuple[Any, ...] = ()  # the expressions its entry evaluated (frontend/expr.Derived), for explain
    flat: bool = False  # a flat container: a logical scope with no torch module of its own (spec 'flat')
    unknown: bool = False  # an opaque layer, or a block holding one: UNKNOWN_KEYS are not known (shown "?")
    shares: str = ""  # a layer reusing another's weights (spec 'shares'): that layer's path; its params are 0

    def __getattr__(self, key: str) -> int:
        # report["C1"].params etc.: count fields read straight through
        if key in COUNT_KEYS:
            return int(getattr(self.counts, key))
        raise AttributeError(key)

    def to_dict(self) -> dict[str, Any]:
        inp = [list(s) for s in self.input_shape] if isinstance(self.input_shape, list) else list(self.input_shape)
        counts: dict[str, int | None] = dict(self.counts.to_dict())
        if self.unknown and self.kind == "layer":
            counts |= dict.fromkeys(UNKNOWN_KEYS)
        out = {
            "path": self.path,
            "name": self.name,
            "op": self.op,
            "input_shape": inp,
            "output_shape": list(self.output_shape),
            **counts,
        }
        if self.shares:
            out["shares"] = self.shares
        return out | {"unknown": True} if self.unknown else out


@dataclass
class Report:
    model: str
    title: str
    source: str
    file: str
    input: Shape
    params: dict[str, Any]
    records: list[Record]
    outputs: list[str]
    totals: Counts = field(default_factory=Counts)
    output_shape: Shape = ()  # the network output (the graph's output node), not the last record's
    graph: Any = field(default=None, repr=False, compare=False)  # the archcalc.graph.Graph it was computed on
    _index: dict[str, Record] | None = field(default=None, repr=False, compare=False)
    _lookup: tuple[dict[str, list[int]], ...] | None = field(default=None, repr=False, compare=False)

    @property
    def layers(self) -> list[Record]:
        return [r for r in self.records if r.kind == "layer"]

    @property
    def blocks(self) -> list[Record]:
        return [r for r in self.records if r.kind == "block"]

    @property
    def unknown_layers(self) -> list[str]:
        """Paths of the opaque layers (ops archcalc does not know): their counts are unknown."""
        return [r.path for r in self.records if r.kind == "layer" and r.unknown]

    @property
    def partial(self) -> bool:
        """Whether the totals leave out unknown counts (params, buffers, MACs, connections)."""
        return any(r.unknown for r in self.records)

    def __getitem__(self, path: str) -> Record:
        if self._index is None:
            self._index = {r.path: r for r in self.records}
        try:
            return self._index[path]
        except KeyError:
            raise KeyError(f"no layer '{path}' in {self.model}") from None

    def lookup(self, name: str) -> tuple[list[int], list[int]]:
        """Positions in ``records`` of those whose path is ``name``, and of those whose name is ``name`` or whose
        path ends in ``.name``, in order: from an index built once (a scan per lookup made claims quadratic)."""
        if self._lookup is None:
            by_path: dict[str, list[int]] = {}
            by_name: dict[str, list[int]] = {}
            by_last: dict[str, list[int]] = {}  # last path component: the candidates of a suffix match
            for i, r in enumerate(self.records):
                by_path.setdefault(r.path, []).append(i)
                by_name.setdefault(r.name, []).append(i)
                by_last.setdefault(r.path.rpartition(".")[2], []).append(i)
            self._lookup = (by_path, by_name, by_last)
        by_path, by_name, by_last = self._lookup
        tail = "." + name
        ends = [i for i in by_last.get(name.rpartition(".")[2], ()) if self.records[i].path.endswith(tail)]
        return by_path.get(name, []), sorted({*by_name.get(name, ()), *ends})

    def close_paths(self, name: str, *, layers_only: bool = False, n: int = 3) -> list[str]:
        """Paths near a name that matched none, for 'did you mean': the nearest whole paths, else the paths whose
        last component is nearest (``conv6`` -> ``features.conv5``), else the paths that contain it."""
        from archcalc.errors import close_matches

        recs = [r for r in self.records if r.kind == "layer" or not layers_only]
        near = close_matches(name, (r.path for r in recs), n)
        if near:
            return near
        by_last: dict[str, list[str]] = {}
        for r in recs:
            by_last.setdefault(r.path.rpartition(".")[2], []).append(r.path)
        near = [path for last in close_matches(name.rpartition(".")[2], by_last, n) for path in by_last[last]]
        low = name.lower()
        return (near or [r.path for r in recs if low in r.path.lower()])[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "title": self.title,
            "source": self.source,
            "input": list(self.input),
            "params": self.params,
            "layers": [r.to_dict() for r in self.layers],
            "blocks": [{**r.to_dict(), "depth": r.depth} for r in self.blocks],
            "totals": self.totals.to_dict(),
            **({"partial": True, "unknown_layers": self.unknown_layers} if self.partial else {}),
        }


@dataclass
class Column:
    """An extra per-record column, as data: a value per record path (missing: blank), and a total.

    ``layer_grid`` formats it; ``json`` names the key the values get in the JSON document."""

    title: str
    values: dict[str, Any]
    numeric: bool = True
    total: Any = None
    caption: str = ""
    json: str = ""


def gc_paused(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with CPython's cyclic collector off (back on after, if it was on).

    A pass builds O(n) objects that live until the command ends, and every full collection walks all live
    objects again: at 20,000 layers the collections cost as much as the work itself, and grew faster than it.
    The passes make no reference cycles that need collecting before they return."""

    @functools.wraps(fn)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return paused
