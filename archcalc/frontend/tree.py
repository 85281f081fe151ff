"""The expanded tree's types: a Node per layer or container, the expansion context, the keys an entry may have.

frontend/expand.py builds the tree; graph/lower.py turns it into the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import Spec
from archcalc.frontend.yamlio import LMap

ENTRY_KEYS = {
    "name": "module name (default: the position in its list)",
    "op": "a registered op; its arguments sit beside it",
    "layers": "a nested sequence",
    "branches": "parallel branches (name -> list of layers), merged by 'merge'",
    "merge": "concat or add, for branches",
    "block": "use a block defined under 'blocks'",
    "args": "values for the block's params",
    "repeat": "unroll n copies, named 0..n-1",
    "first": "argument overrides for the first copy of a repeat",
    "feed": "chain (default) or dense: each copy reads the concat of the input and all earlier outputs",
    "from": "read this earlier layer (or list of layers) instead of the previous one",
    "when": "keep the entry only when this is true (usually a $param)",
    "side": "a side output (e.g. an auxiliary head): the next entry does not read it",
    "shares": "reuse an earlier op layer's weights (same op and arguments): params once, MACs per call",
    "flat": "a container whose layers join the enclosing module's names (torchvision-style module paths)",
    "index_from": "with repeat: the copies are named index_from, index_from+1, ... (default 0)",
    "name_prefix": "with repeat: text before each copy's number (denselayer -> denselayer1, denselayer2, ...)",
    "doc": "free text",
}
CONTAINER_KEYS = ("op", "layers", "branches", "block")
# expansion stops here with one line, long before time or memory run out (docs/spec-format.md, Limits);
# the largest bundled spec has about 1,500
MAX_ENTRIES = 100_000
BLOCK_KEYS = {"params", "doc", "layers", "branches", "merge", "feed"}


@dataclass
class Node:
    """One expanded layer or container; ``path`` is the torch qualified name."""

    path: str
    name: str
    kind: str  # "op", "seq" or "parallel"
    line: int
    op: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    sources: list[str] | None = None  # resolved paths; None reads the previous entry
    side: bool = False
    shares: str = ""  # op nodes: the resolved path of the earlier layer whose weights this one reuses
    derived: tuple[Any, ...] = field(default=(), repr=False, compare=False)  # its expressions (expr.Derived)
    merge: str = ""  # parallel: concat | add
    feed: str = "chain"  # seq: chain | dense
    block: str = ""
    flat: bool = False  # a container whose children's paths skip its name (its own path stays logical)
    # op nodes: a hashable key of the op and its raw argument values; nodes with equal keys have equal
    # args, so the calculator may reuse a rule's result for the same input (None: never reuse)
    key: Any = field(default=None, repr=False, compare=False)


@dataclass
class Ctx:
    spec: Spec
    params: dict[str, Any]
    scopes: list[dict[str, str]]
    paths: set[str]
    depth: int = 0
    # Per-expansion memos, never shared between calls (nothing can go stale). Keys holding id() of an
    # object keep that object alive in the value, so an id is never reused while the memo exists.
    refs: dict[int, tuple[Any, tuple[str, ...] | None]] = field(default_factory=dict)  # _refs
    subs: dict[tuple[int, ...], tuple[Any, ...]] = field(default_factory=dict)  # _sub: (source, env values)
    statics: dict[tuple[int, str], tuple[Any, ...]] = field(default_factory=dict)  # _entry's checks
    keys: dict[int, tuple[LMap, Any, dict[str, Any]]] = field(default_factory=dict)  # _op: entry -> key, args
    checked: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # typed key -> args
    bodies: dict[str, LMap] = field(default_factory=dict)  # _block: block name -> body without params

    def fail(self, msg: str, line: int | None, layer: str | None = None) -> ArchcalcError:
        return ArchcalcError(msg, file=self.spec.file, line=line, layer=layer)

    def add_path(self, path: str, line: int) -> None:
        if path in self.paths:  # only flat containers can bring two equal names into one module
            head, _, name = path.rpartition(".")
            where = f"'{head}'" if head else "the top level"
            msg = f"the name '{name}' is used twice in {where} (a flat container's layers share its parent's names)"
            raise self.fail(msg, line, path)
        self.paths.add(path)
        if len(self.paths) > MAX_ENTRIES:
            raise self.fail(f"the spec expands to more than {MAX_ENTRIES:,} layers and containers", line, path)

    def scope(self, path: str) -> _Scope:
        return _Scope(self.scopes, path)


class _Scope:
    """A name scope for 'from' references (a class: contextmanager's generator was a hot spot)."""

    __slots__ = ("path", "scopes")

    def __init__(self, scopes: list[dict[str, str]], path: str) -> None:
        self.scopes, self.path = scopes, path

    def __enter__(self) -> None:
        self.scopes.append({"input": f"{self.path}@in"})

    def __exit__(self, *exc: object) -> None:
        self.scopes.pop()
