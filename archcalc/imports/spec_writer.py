"""ImportedGraph -> an ordinary spec document (nested ``layers:`` per module, ``from:`` for other edges).

The document goes through the normal pipeline (YAML text -> parse_spec -> expand -> graph -> passes), so every
command works unchanged; after analysis each node's captured shape is compared with archcalc's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import Spec, parse_spec
from archcalc.frontend.yamlio import load_text
from archcalc.imports.ir import UNKNOWN, ImportedGraph, ImportedNode
from archcalc.ops import OPS

NET_INPUT = "input"


@dataclass
class _Tree:
    """A module scope: its entries in order (leaf nodes and child scopes)."""

    path: str
    name: str
    items: list[ImportedNode | _Tree] = field(default_factory=list)

    def first(self) -> ImportedNode:
        item = self.items[0]
        return item if isinstance(item, ImportedNode) else item.first()


def to_spec_doc(g: ImportedGraph, allow_unknown: bool = False) -> dict[str, Any]:
    """The spec document of ``g``; unknown ops are refused with one line (unless allowed)."""
    _check_unknown(g, allow_unknown)
    root = _tree(g)
    w = _Writer(g)
    layers = w.entries(root, [], NET_INPUT)
    layers += w.outputs(layers)
    doc: dict[str, Any] = {
        "name": _spec_name(g.name),
        "title": f"{g.name}, imported from {g.origin}",
        "source": f"archcalc import {g.origin}",
        "input": list(g.input),
        "layers": layers,
    }
    if g.notes:
        doc["notes"] = " ".join(g.notes)
    return doc


def to_yaml(g: ImportedGraph, allow_unknown: bool = False, fold: bool = False) -> str:
    """The spec as YAML text; ``fold`` writes repeated identical submodules as ``repeat`` (archcalc import)."""
    doc = to_spec_doc(g, allow_unknown)
    if fold:
        from archcalc.imports.fold import fold as fold_entries

        doc["layers"] = fold_entries(doc["layers"])
    head = "# yaml-language-server: $schema=archcalc-spec.schema.json\n"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's: the same text, 5x faster
    return head + yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=None, width=120)


def load(g: ImportedGraph, allow_unknown: bool = False) -> Spec:
    """The spec of ``g``, analysed once to check every captured shape against archcalc's rules."""
    text = to_yaml(g, allow_unknown)
    spec = parse_spec(load_text(text, file=g.origin), g.origin)
    check_shapes(g, spec)
    return spec


def check_shapes(g: ImportedGraph, spec: Spec) -> None:
    from archcalc.analysis.records import analyze

    report = analyze(spec)
    shapes = {r.path: tuple(int(d) for d in r.output_shape) for r in report.records if r.kind == "layer"}
    for node in g.nodes:
        got = shapes.get(node.path)
        if got is None:
            raise ArchcalcError(f"the imported layer '{node.path}' ({node.source}) has no record", file=g.origin)
        if got != tuple(node.shape):
            msg = (
                f"archcalc gives {_x(got)} but the captured model gives {_x(node.shape)} for '{node.path}' "
                f"({node.source} -> {node.op}); this is an archcalc bug, please report it"
            )
            raise ArchcalcError(msg, file=g.origin, layer=node.path)


def _x(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def _spec_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()) or "imported"


def _check_unknown(g: ImportedGraph, allow: bool) -> None:
    bad = [n for n in g.nodes if n.op == UNKNOWN]
    if bad and not allow:  # allowed: each is an 'opaque' layer with unknown counts (ops/opaque.py)
        shown = ", ".join(f"{n.source} at '{n.path}'" for n in bad[:20]) + (", ..." if len(bad) > 20 else "")
        hint = " (--allow-unknown shows the rest with these counts as '?')"
        raise ArchcalcError(f"{len(bad)} unsupported op(s): {shown}{hint}", file=g.origin)


def _tree(g: ImportedGraph) -> _Tree:
    root = _Tree("", "")
    index: dict[str, _Tree] = {"": root}
    done: set[str] = set()
    for node in g.nodes:
        parts = node.path.split(".")
        scope = root
        for i in range(len(parts) - 1):
            path = ".".join(parts[: i + 1])
            child = index.get(path)
            if child is None:
                child = index[path] = _Tree(path, parts[i])
                scope.items.append(child)
            elif scope.items[-1] is not child:
                raise ArchcalcError(
                    f"the calls of module '{path}' are not contiguous (it is called again after other layers)",
                    file=g.origin,
                )
            scope = child
        if node.path in done or node.path in index:
            raise ArchcalcError(f"two imported layers are named '{node.path}'", file=g.origin)
        done.add(node.path)
        scope.items.append(node)
    return root


class _Writer:
    """Writes entries in order, with ``from`` wherever an input is not the previous entry's output."""

    def __init__(self, g: ImportedGraph) -> None:
        self.g = g
        self.shapes = {NET_INPUT: g.input, **{n.path: n.shape for n in g.nodes}}
        self.scopes: list[tuple[str, str, set[str]]] = []  # (container path, its input producer, names so far)

    def entries(self, tree: _Tree, out: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        self.scopes.append((tree.path, source, set()))
        prev = source
        for index, item in enumerate(tree.items):
            if isinstance(item, ImportedNode):
                entry = self.leaf(item, prev)
                prev = item.path
            else:
                entry, prev = self.container(item, prev)
            if entry["name"] == str(index):  # the default name: its position, as nn.Sequential numbers it
                del entry["name"]
            out.append(entry)
            self.scopes[-1][2].add(item.path.rpartition(".")[2])
        self.scopes.pop()
        self.last = prev
        return out

    def container(self, tree: _Tree, prev: str) -> tuple[dict[str, Any], str]:
        source = tree.first().inputs[0] if tree.first().inputs else prev
        entry: dict[str, Any] = {"name": tree.name}
        if source != prev:
            entry["from"] = self.ref(source)
        entry["layers"] = self.entries(tree, [], source)
        return entry, self.last

    def leaf(self, node: ImportedNode, prev: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": node.path.rpartition(".")[2]}
        if node.op == UNKNOWN:
            entry |= {"op": "opaque", "shape": list(node.shape), "what": node.source}
            if node.inputs:  # its output is known only at this input: a sweep or a size search stops there
                entry["input_shape"] = list(self.shapes[node.inputs[0]])
        else:
            entry |= {"op": node.op, **_args(node)}
        if node.shares:  # a module with weights called again: the same weights, counted once
            entry["shares"] = self.ref(node.shares, layer=True)
        many = node.op in OPS and OPS[node.op].many_inputs
        if many or (node.op == UNKNOWN and len(node.inputs) > 1):
            entry["from"] = [self.ref(p) for p in node.inputs]
        elif node.inputs and node.inputs[:1] != [prev]:
            entry["from"] = self.ref(node.inputs[0])
        return entry

    def outputs(self, layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Identity layers for outputs that are not the last entry's (a model returning a tuple)."""
        extra: list[dict[str, Any]] = []
        # an unnamed entry is named by its position, as nn.Sequential numbers its layers
        self.scopes.append(("", NET_INPUT, {str(e.get("name", i)) for i, e in enumerate(layers)}))
        for i, out in enumerate(self.g.outputs):
            if i == 0 and out == self.last:
                continue
            entry = {"name": f"output{i}", "op": "identity", "from": self.ref(out)}
            extra.append(entry if i == 0 else {**entry, "side": True})
        self.scopes.pop()
        return extra

    def ref(self, target: str, layer: bool = False) -> str:
        """A 'from' (or, with ``layer``, 'shares') name that expand's scope lookup resolves to ``target`` from
        the current container."""
        path, source, _ = self.scopes[-1]
        if target == source and not layer:
            return "input"
        if target == NET_INPUT:
            raise ArchcalcError(f"'{path}' reads the network input inside another module's input", file=self.g.origin)
        for depth in range(len(self.scopes) - 1, -1, -1):
            scope = self.scopes[depth][0]
            if scope and not target.startswith(scope + "."):
                continue
            rest = target[len(scope) + 1 :] if scope else target
            head = rest.split(".")[0]
            if any(head in names or head == "input" for _, _, names in self.scopes[depth + 1 :]):
                raise ArchcalcError(
                    f"'{path}' reads '{target}', whose name '{head}' is also a name inside '{path}'", file=self.g.origin
                )
            return rest
        raise ArchcalcError(f"'{path}' reads '{target}', which is not defined before it", file=self.g.origin)


def _args(node: ImportedNode) -> dict[str, Any]:
    """Op args without those equal to the op's defaults, so the spec reads as a person writes it."""
    opdef = OPS[node.op]
    out = {}
    for key, value in node.args.items():
        arg = opdef.args.get(key)
        default = getattr(arg, "default", None)
        if arg is not None and type(value) is type(default) and value == default:
            continue
        out[key] = value
    return out
