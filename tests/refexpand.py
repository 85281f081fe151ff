"""Pass 1 of the torch reference (tests/torchref.py): the spec language, with no torch run.

Blocks, ``$param`` substitution, ``repeat``/``first``/``when``, names and ``from``: an expanded tree of
``RNode`` s, refusing what the language refuses (a ``spec`` refusal: the wiring rules and the language's own
argument ranges, refops.language_refusal) and noting every op entry torch refuses on any input
(refops.static_refusal, a CPU probe). It never looks at archcalc's expander.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from refops import language_refusal, static_refusal


class _Refused(Exception):
    def __init__(self, path: str, msg: str, by: str = "torch") -> None:
        super().__init__(msg)
        self.path, self.by = path, by


STRUCTURE = {"name", "op", "layers", "branches", "merge", "block", "args", "repeat", "first", "feed"}
WIRING = {"from", "when", "side", "doc"}
FIRST_REFUSED = {"from", "side", "when", "name"}  # first: overrides arguments of copy 0, nothing else
REPEAT_OWN = {"name", "repeat", "first", "feed"} | WIRING  # keys of the repeat entry, not of its copies
MANY_INPUTS = {"concat", "add"}


@dataclass
class RNode:
    """One expanded entry: an op, a list ("seq", chain or dense) or a branches container ("par")."""

    path: str
    kind: str
    args: dict[str, Any] = field(default_factory=dict)  # op: the op entry without wiring keys
    children: list[RNode] = field(default_factory=list)
    sources: list[str] | None = None  # full paths ('X@in' is list X's input); None: the previous entry
    side: bool = False
    dense: bool = False
    merge: str = ""
    static: str | None = None  # torch refuses this op's arguments on any input (refops.static_refusal)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Expander:
    """Blocks, $params, repeat/first/when, names and `from`, with no torch at all."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.blocks: dict[str, Any] = doc.get("blocks") or {}
        self.params: dict[str, Any] = doc.get("params") or {}
        self.scopes: list[dict[str, str]] = []
        self.defined: dict[str, RNode] = {}  # every path defined so far (entries, copies, branches)
        self.unpool_pools: set[str] = set()
        self.static: dict[str, str] = {}

    def fail(self, path: str, msg: str) -> _Refused:
        return _Refused(path, msg, "spec")

    def seq(self, items: list[Any], path: str, env: dict[str, Any], dense: bool) -> RNode:
        node = RNode(path, "seq", dense=dense)
        self.scopes.append({"input": f"{path}@in"})
        try:
            for raw in items:  # an unnamed entry is named by its position among the kept entries (nn.Sequential)
                child = self.entry(_subst(self, raw, env, path), path, len(node.children), env, dense)
                if child is not None:
                    node.children.append(child)
        finally:
            self.scopes.pop()
        return node

    def entry(self, e: dict[str, Any], prefix: str, index: int, env: dict[str, Any], dense: bool) -> RNode | None:
        name = str(e.get("name", index))
        path = _join(prefix, name)
        if not e.get("when", True):
            return None
        if name in self.scopes[-1] and name != "input":
            raise self.fail(path, f"two entries named {name} in one list")
        if dense and ("from" in e or "side" in e):
            raise self.fail(path, "under feed: dense an entry reads the concat of all before it: no from, no side")
        sources = self.sources(e, path)
        node = self.repeat(e, path, env) if "repeat" in e else self.single(e, path, env, e.get("args") or {})
        node.sources, node.side = sources, bool(e.get("side", False))
        self.check_inputs(node, path)
        self.scopes[-1][name] = path
        self.defined[path] = node
        return node

    def sources(self, e: dict[str, Any], path: str) -> list[str] | None:
        if "from" not in e:
            return None
        refs = e["from"] if isinstance(e["from"], list) else [e["from"]]
        if not refs:
            raise self.fail(path, "from: [] reads nothing")
        return [self.resolve(str(r), path) for r in refs]

    def resolve(self, ref: str, path: str) -> str:
        """Innermost list first; the head's scope decides, a dotted rest must name a defined path."""
        head, _, rest = ref.partition(".")
        for scope in reversed(self.scopes):
            if head in scope:
                full = scope[head] + (f".{rest}" if rest else "")
                if rest and full not in self.defined:
                    break
                return full
        raise self.fail(path, f"from: {ref} names no earlier layer")

    def check_inputs(self, node: RNode, path: str) -> None:
        n = len(node.sources) if node.sources is not None else 1
        if node.kind == "op" and node.args["op"] in MANY_INPUTS:
            if n < 2:
                raise self.fail(path, f"{node.args['op']} merges two or more 'from' inputs")
        elif n != 1:
            raise self.fail(path, f"{node.kind} {node.args.get('op', '')} reads one input, from lists {n}")

    def repeat(self, e: dict[str, Any], path: str, env: dict[str, Any]) -> RNode:
        first = e.get("first") or {}
        bad = sorted(FIRST_REFUSED & set(first))
        if bad:
            raise self.fail(path, f"first: overrides arguments only, not {', '.join(bad)}")
        body = {k: v for k, v in e.items() if k not in REPEAT_OWN}
        if first and "op" not in body and "block" not in body:
            raise self.fail(path, "first: inline layers or branches have no arguments to override")
        node = RNode(path, "seq", dense=e.get("feed") == "dense")
        self.scopes.append({"input": f"{path}@in"})
        try:
            for i in range(int(e["repeat"])):
                sub = f"{path}.{i}"
                args = dict(body.get("args") or {})
                copy = dict(body)
                if i == 0 and "block" in body:
                    args.update(first)
                elif i == 0:
                    copy.update(first)
                child = self.single(copy, sub, env, args)  # an inline 'layers' copy is a chain
                self.scopes[-1][str(i)] = sub
                self.defined[sub] = child
                node.children.append(child)
        finally:
            self.scopes.pop()
        return node

    def single(self, e: dict[str, Any], path: str, env: dict[str, Any], args: dict[str, Any]) -> RNode:
        if "op" in e:
            return self.op(e, path)
        if "block" in e:
            return self.block(e["block"], path, args)
        if "layers" in e:
            return self.seq(e["layers"], path, env, e.get("feed") == "dense")
        node = RNode(path, "par", merge=e["merge"])
        self.scopes.append({"input": f"{path}@in"})
        try:
            for bname, items in e["branches"].items():
                branch = self.seq(items or [], f"{path}.{bname}", env, False)
                self.defined[branch.path] = branch
                node.children.append(branch)
        finally:
            self.scopes.pop()
        return node

    def op(self, e: dict[str, Any], path: str) -> RNode:
        args = {k: v for k, v in e.items() if k not in STRUCTURE - {"op"} and k not in WIRING}
        if args["op"] == "max_unpool2d":
            pool = self.resolve(str(args["pool"]), path)
            target = self.defined.get(pool)
            if target is None or target.kind != "op" or target.args["op"] != "maxpool2d":
                raise self.fail(path, f"pool: {args['pool']} is not an earlier maxpool2d")
            args["pool"] = pool
            self.unpool_pools.add(pool)
        refused = language_refusal(args)
        if refused is not None:
            raise self.fail(path, refused)
        node = RNode(path, "op", args=args, static=static_refusal(args))
        if node.static is not None:
            self.static[path] = node.static
        return node

    def block(self, bname: str, path: str, args: dict[str, Any]) -> RNode:
        block = self.blocks[bname]
        declared = block.get("params") or {}
        unknown = sorted(set(args) - set(declared))
        missing = sorted(k for k, v in declared.items() if v is None and k not in args)
        if unknown or missing:
            raise self.fail(path, f"block {bname}: unknown args {unknown}, missing {missing}")
        env = {**self.params, **declared, **args}  # a body sees the spec's params and its own, not the caller's
        body = _subst(self, {k: v for k, v in block.items() if k not in ("params", "doc")}, env, path)
        if "layers" in body:
            return self.seq(body["layers"], path, env, body.get("feed") == "dense")
        return self.single(body, path, env, {})


def _subst(ex: _Expander, v: Any, env: dict[str, Any], path: str) -> Any:
    """Whole-value '$name' substitution, recursively (nested lists see the same parameters)."""
    if isinstance(v, str) and v.startswith("$"):
        if v[1:] not in env:
            raise ex.fail(path, f"unknown parameter {v}")
        return env[v[1:]]
    if isinstance(v, list):
        return [_subst(ex, x, env, path) for x in v]
    if isinstance(v, dict):
        return {k: _subst(ex, x, env, path) for k, x in v.items()}
    return v
