"""What the size pass (plan.py) needs of a graph, computed once from its edges in O(n log n).

* each scope's *entries*: its layers and its child scopes (by their out node), in order;
* a structural key per scope, interned from its entries' keys and relative edges (O(n) in total), so two
  scopes with equal keys have equal results for equal input shapes;
* closedness: no edge crosses the scope's border except into its in node and out of its out node;
* lifetimes of a chain scope's entries: which entry owns each storage (an alias shares its input's), the step
  after which each storage is freed (its last reader, an escape keeping it to the end), and the output's owner.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from archcalc.graph.ir import IN, LAYER, OUT, Graph, Scope
from archcalc.ops import OPS

SEQ, PARALLEL, DENSE = "seq", "parallel", "dense"


@dataclass(slots=True)
class ScopeTable:
    key: int  # structural: equal keys and equal input shapes give equal results
    closed: bool  # so memoisable by (key, input shape)
    pos: int  # its position among its parent's entries (-1: the root)
    kind: str  # SEQ | PARALLEL | DENSE
    n: int  # entries
    keep: list[bool] = field(default_factory=list)  # seq: the entry's own storage outlives its step
    dies: list[tuple[int, ...]] = field(default_factory=list)  # seq: per step, the entries whose storage is freed
    out_owner: int = -1  # seq: the entry owning the output's storage (-1: the scope's input)
    add3: bool = False  # parallel: an add of more than two branches keeps one partial sum


@dataclass(slots=True)
class Tables:
    scopes: list[ScopeTable]
    pos: list[int]  # per node: its position among its home scope's entries (-1: not an entry)
    layer_keys: list[int]  # per node: interned op+args key of a layer (equal keys, equal rule results)
    alias: list[bool]  # per node: the layer returns its input's storage


@dataclass(slots=True)
class _Entries:
    of: list[list[int]]  # per scope: its entries' node indices
    pos: list[int]  # per node: position among its home scope's entries
    home: list[int]  # per node: the scope it is an entry of (-1: none)
    starts: list[list[int]]  # per scope: each entry's first node (to find the entry holding a deep node)


def tables(graph: Graph) -> Tables:
    ent = _entries(graph)
    layer_keys, alias = _layer_keys(graph)
    sides = set(graph.outputs[1:])
    keys = _structural_keys(graph, ent, layer_keys, sides)
    closed = _closed(graph)
    out: list[ScopeTable] = []
    for s in graph.scopes:
        kind = DENSE if s.dense else s.kind
        pos = ent.pos[s.exit] if s.parent >= 0 else -1
        t = ScopeTable(keys[s.index], closed[s.index], pos, kind, len(ent.of[s.index]))
        if kind == SEQ:
            _lifetimes(graph, s, ent, sides, alias, t)
        elif kind == PARALLEL:
            merge = graph.nodes[graph.nodes[s.exit].inputs[0]]
            t.add3 = merge.op in ("add", "mul") and len(merge.inputs) > 2
        out.append(t)
    return Tables(out, ent.pos, layer_keys, alias)


def _entries(graph: Graph) -> _Entries:
    nodes, scopes = graph.nodes, graph.scopes
    ent = _Entries([[] for _ in scopes], [-1] * len(nodes), [-1] * len(nodes), [[] for _ in scopes])
    for node in nodes:
        if node.role == LAYER:
            home, start = node.scope, node.index
        elif node.role == OUT and scopes[node.scope].parent >= 0:
            home, start = scopes[node.scope].parent, scopes[node.scope].enter
        else:
            continue
        ent.pos[node.index] = len(ent.of[home])
        ent.home[node.index] = home
        ent.of[home].append(node.index)
        ent.starts[home].append(start)
    return ent


def _layer_keys(graph: Graph) -> tuple[list[int], list[bool]]:
    """Keys from the validated args (raw spellings such as 1 and [1, 1] differ, their args do not), without
    references (an unpool's pool is an edge); each distinct raw key is rendered once."""
    canonical: dict[Any, int] = {}
    by_raw: dict[Any, int] = {}
    keys = [-1] * len(graph.nodes)
    alias = [False] * len(graph.nodes)
    for node in graph.layers():
        opdef = OPS[node.op]
        raw = (node.key, node.shares >= 0) if node.key is not None else None  # a sharer counts no weights
        key = by_raw.get(raw) if raw is not None else None
        if key is None:
            args = repr(sorted((k, v) for k, v in node.args.items() if k not in opdef.refs))
            key = canonical.setdefault((node.op, args, node.shares >= 0), len(canonical))
            if raw is not None:
                by_raw[raw] = key
        keys[node.index] = key
        alias[node.index] = opdef.alias(node.args)
    return keys, alias


def _structural_keys(graph: Graph, ent: _Entries, layer_keys: list[int], sides: set[int]) -> list[int]:
    """Children before parents: a scope's key interns its head, its entries' keys and their edges as offsets
    from the reader (translation-invariant, so equal blocks anywhere get equal keys)."""
    nodes = graph.nodes
    interned: dict[Any, int] = {}
    keys = [-1] * len(graph.scopes)
    for s in reversed(graph.scopes):
        parts: list[tuple[Any, ...]] = []
        for k in ent.of[s.index]:
            node = nodes[k]
            if node.role == LAYER:
                refs = tuple((a, k - r) for a, r in node.refs.items())
                parts.append((layer_keys[k], k in sides, tuple(k - i for i in node.inputs), refs))
            else:
                d = graph.scopes[node.scope]
                parts.append((-1 - keys[d.index], k in sides, tuple(d.enter - i for i in nodes[d.enter].inputs)))
        how = nodes[nodes[s.exit].inputs[0]].op if s.kind == PARALLEL else ""
        keys[s.index] = interned.setdefault((s.kind, s.dense, how, tuple(parts)), len(interned))
    return keys


def _closed(graph: Graph) -> list[bool]:
    """A scope is closed when every node in (enter, exit] reads only nodes from enter on, and nothing after exit
    reads a node in [enter, exit). One pass gathers each scope's own min-source and max-reader, a second
    folds children into parents (children have larger scope indices)."""
    nodes, scopes, users = graph.nodes, graph.scopes, graph.users()
    lo = [len(nodes)] * len(scopes)
    hi = [-1] * len(scopes)
    for node in nodes:
        s = scopes[node.scope]
        srcs = (*node.inputs, *node.refs.values())
        target = s.parent if node.index == s.enter else s.index  # a scope's own input is not its inside
        if srcs and target >= 0:
            lo[target] = min(lo[target], min(srcs))
        readers = users[node.index]
        target = s.parent if node.index == s.exit else s.index  # nor are the readers of its output
        if readers and target >= 0:
            hi[target] = max(hi[target], readers[-1])
    for s in reversed(scopes):
        if s.parent >= 0:
            lo[s.parent] = min(lo[s.parent], lo[s.index])
            hi[s.parent] = max(hi[s.parent], hi[s.index])
    return [s.parent >= 0 and lo[s.index] >= s.enter and hi[s.index] <= s.exit for s in scopes]


def _lifetimes(graph: Graph, s: Scope, ent: _Entries, sides: set[int], alias: list[bool], t: ScopeTable) -> None:
    """Each entry's last reading step (n: kept to the end: a side output, the output, an escape), folded
    onto the storage owner so an alias keeps its owner alive; the steps after which storages are freed."""
    nodes, users, mine = graph.nodes, graph.users(), ent.of[s.index]
    n = len(mine)
    last = [n if k in sides else -1 for k in mine]
    owner = list(range(n))
    for i, k in enumerate(mine):
        for u in users[k]:
            last[i] = max(last[i], n if u >= s.exit else _step_of(graph, s, ent, u))
        node = nodes[k]
        if alias[k] and len(node.inputs) == 1:
            src = node.inputs[0]
            owner[i] = ent.pos[src] if ent.home[src] == s.index else -1
    for i in range(n):  # an alias keeps its owner's storage alive (owners come first, so one hop each)
        o = i
        while o >= 0 and owner[o] != o:
            o = owner[o]
        owner[i] = o
        if o >= 0:
            last[o] = max(last[o], last[i])
    t.keep = [owner[i] == i and last[i] > i for i in range(n)]
    freed: dict[int, list[int]] = {}
    for o in range(n):
        if owner[o] == o and o < last[o] < n:
            freed.setdefault(last[o], []).append(o)
    t.dies = [()] * n  # one shared empty tuple: most steps free nothing (and the GC has less to track)
    for step, gone in freed.items():
        t.dies[step] = tuple(gone)
    out = nodes[s.exit].inputs[0]
    t.out_owner = owner[ent.pos[out]] if ent.home[out] == s.index else -1


def _step_of(graph: Graph, s: Scope, ent: _Entries, u: int) -> int:
    """The position of the entry of ``s`` that holds node ``u`` (inside ``s``)."""
    node = graph.nodes[u]
    if node.role == LAYER and node.scope == s.index:
        return ent.pos[u]
    if node.role == IN and graph.scopes[node.scope].parent == s.index:
        return ent.pos[graph.scopes[node.scope].exit]
    return bisect_right(ent.starts[s.index], u) - 1  # a deep reader ('from' or a reference)
