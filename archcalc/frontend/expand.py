"""Expand a spec's layer list into a tree of nodes with dotted paths.

Blocks are instantiated with whole-value ``$param`` substitution, ``repeat`` is
unrolled (with ``first`` overriding the first copy), ``when`` drops entries,
and every reference (``from``) is resolved to the full path of an earlier node.
No shapes are computed here.
"""

from __future__ import annotations

from typing import Any

from archcalc.errors import describe, show
from archcalc.frontend.argtypes import ArgError, pos_int
from archcalc.frontend.opargs import NOT_ARGS, check_op_args, typed_key
from archcalc.frontend.params import scalar, substitute
from archcalc.frontend.spec import NAME_RE, Spec
from archcalc.frontend.tree import BLOCK_KEYS, CONTAINER_KEYS, ENTRY_KEYS, MAX_ENTRIES, Ctx, Node
from archcalc.frontend.yamlio import LMap
from archcalc.ops import OPS


def expand(spec: Spec, params: dict[str, Any]) -> Node:
    ctx = Ctx(spec, params, [], set())
    root = Node(path="", name=spec.name, kind="seq", line=spec.layers.line)
    with ctx.scope(""):
        root.children = _entries(ctx, spec.layers, "", params)
    return root


def _entries(ctx: Ctx, items: Any, prefix: str, env: dict[str, Any], logical: str | None = None) -> list[Node]:
    """Expand a list; ``prefix`` is the module path of its entries, ``logical`` the path of the container
    that holds the list (they differ inside a flat container, whose own name is not a module level)."""
    if not isinstance(items, list):
        raise ctx.fail("expected a list of layers", getattr(items, "line", None), prefix or None)
    nodes: list[Node] = []
    for index, raw in enumerate(items):
        if not isinstance(raw, LMap):
            line = getattr(items, "line", None)
            raise ctx.fail(
                f"layer #{index} must be a mapping with named arguments, got {describe(raw)}", line, prefix or None
            )
        label = raw.get("name", index)  # for messages only; the name is validated in _entry
        entry = substitute(ctx, raw, env, raw.line, f"{prefix}.{label}" if prefix else str(label))
        # an unnamed entry is named by its position among the kept entries, as nn.Sequential numbers them
        node = _entry(ctx, entry, prefix, str(len(nodes)), env, prefix if logical is None else logical)
        if node is not None:
            nodes.append(node)
    return nodes


def _check_keys(ctx: Ctx, entry: LMap, label: str) -> str:
    kinds = [k for k in CONTAINER_KEYS if k in entry]
    if len(kinds) != 1:
        what = " and ".join(kinds) if kinds else "none of op, layers, branches, block"
        raise ctx.fail(f"each entry needs exactly one of op, layers, branches, block; got {what}", entry.line, label)
    if kinds[0] != "op":
        for key in entry:
            if key not in ENTRY_KEYS:
                raise ctx.fail(f"unknown key '{key}'", entry.line_of(key), label)
    # keys that would otherwise be silently ignored
    for key, needs in (("merge", "branches"), ("args", "block"), ("first", "repeat")):
        if key in entry and needs not in entry:
            raise ctx.fail(f"'{key}' only applies together with '{needs}'", entry.line_of(key), label)
    if "feed" in entry and "repeat" not in entry and kinds[0] != "layers":
        raise ctx.fail("'feed' only applies to 'repeat' or 'layers'", entry.line_of("feed"), label)
    if "feed" in entry:
        _feed(ctx, entry, label)
    return kinds[0]


def _feed(ctx: Ctx, e: LMap, path: str) -> str:
    feed = e.get("feed", "chain")
    if feed not in ("chain", "dense"):
        raise ctx.fail(f"feed must be chain or dense, got {describe(feed)}", e.line_of("feed"), path)
    return str(feed)


def _entry(ctx: Ctx, e: LMap, prefix: str, index: str, env: dict[str, Any], logical: str) -> Node | None:
    # name, kind, when and side depend on the entry alone; a shared (substituted) entry checks them once
    hit = ctx.statics.get((id(e), index))
    if hit is not None:
        _, name, kind, when, side = hit
        path = f"{prefix}.{name}" if prefix else name
    else:
        name, path, kind, when = _statics(ctx, e, prefix, index)
        side = None
    if not when:
        ctx.statics[(id(e), index)] = (e, name, kind, when, False)
        return None
    if name in ctx.scopes[-1]:
        raise ctx.fail(f"duplicate layer name '{name}' in the same list", e.line_of("name"), path)
    sources = _sources(ctx, e, path)
    shares = _shares(ctx, e, kind, path)
    flat = _flat(ctx, e, kind, path)
    inner = prefix if flat else path  # the module prefix of the container's children
    if flat:  # a logical level only: named under its logical parent, outside the module namespace
        path = _join(logical, name)
    if "repeat" in e:
        node = _repeat(ctx, e, path, name, kind, env, inner)
    else:
        for key in ("index_from", "name_prefix"):
            if key in e:
                raise ctx.fail(f"'{key}' only applies together with 'repeat'", e.line_of(key), path)
        node = _single(ctx, e, path, name, kind, env, e.get("args", {}), inner=inner)
    node.flat = flat
    node.sources = sources
    node.shares = shares
    # the op args or block args its expressions computed (and a block's derived defaults), for explain
    node.derived = (*getattr(e, "derived", ()), *node.derived)
    if side is None:
        node.side = _flag(ctx, e, "side", path)
        ctx.statics[(id(e), index)] = (e, name, kind, when, node.side)
    else:
        node.side = side
    ctx.scopes[-1][name] = path
    ctx.add_path(path, e.line)
    return node


def _statics(ctx: Ctx, e: LMap, prefix: str, index: str) -> tuple[str, str, str, bool]:
    name = e.get("name", index)
    if not isinstance(name, (str, int)) or not NAME_RE.match(str(name)):
        raise ctx.fail(
            f"layer name {show(name)} must be an identifier (letters, digits, _, and - after the first)",
            e.line_of("name"),
            prefix or None,
        )
    name = str(name)
    path = f"{prefix}.{name}" if prefix else name
    kind = _check_keys(ctx, e, path)
    when = e.get("when", True)
    if not isinstance(when, bool):
        raise ctx.fail(f"'when' must be true or false (a $param), got {describe(when)}", e.line_of("when"), path)
    return name, path, kind, when


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _flat(ctx: Ctx, e: LMap, kind: str, path: str) -> bool:
    flat = _flag(ctx, e, "flat", path)
    if flat and kind == "op" and "repeat" not in e:
        raise ctx.fail(
            "'flat' applies to containers (layers, branches, block, repeat), not to one op", e.line_of("flat"), path
        )
    return flat


def _flag(ctx: Ctx, e: LMap, key: str, path: str) -> bool:
    v = e.get(key, False)
    if not isinstance(v, bool):
        raise ctx.fail(f"'{key}' must be true or false", e.line_of(key), path)
    return v


def _sources(ctx: Ctx, e: LMap, path: str) -> list[str] | None:
    if "from" not in e:
        return None
    refs = e["from"]
    refs = refs if isinstance(refs, list) else [refs]
    if not refs:
        raise ctx.fail("'from' lists no layers; name at least one, or leave 'from' out", e.line_of("from"), path)
    out = []
    for ref in refs:
        if not isinstance(ref, str) or not ref:
            raise ctx.fail(f"'from' must name an earlier layer, got {describe(ref)}", e.line_of("from"), path)
        out.append(_resolve(ctx, ref, e.line_of("from"), path))
    return out


def _shares(ctx: Ctx, e: LMap, kind: str, path: str) -> str:
    """The resolved path of the layer whose weights this op entry reuses ('' for none)."""
    if "shares" not in e:
        return ""
    ref, line = e["shares"], e.line_of("shares")
    if kind != "op" or "repeat" in e:
        raise ctx.fail("'shares' applies to one op layer (not a container or a repeat)", line, path)
    if not isinstance(ref, str) or not ref:
        raise ctx.fail(f"'shares' must name an earlier op layer, got {describe(ref)}", line, path)
    return _resolve(ctx, ref, line, path, "shares")


def _resolve(ctx: Ctx, ref: str, line: int, path: str, key: str = "from") -> str:
    head, _, rest = ref.partition(".")
    for scope in reversed(ctx.scopes):
        if head in scope:
            full = scope[head] + (f".{rest}" if rest else "")
            if rest and full not in ctx.paths:
                break
            return full
    raise ctx.fail(f"'{key}: {ref}' does not name a layer defined earlier", line, path)


def _repeat(ctx: Ctx, e: LMap, path: str, name: str, kind: str, env: dict[str, Any], inner: str) -> Node:
    try:
        n = pos_int(e["repeat"])
    except ArgError as err:
        raise ctx.fail(f"repeat: {err}", e.line_of("repeat"), path) from None
    start, head = e.get("index_from", 0), e.get("name_prefix", "")
    if not isinstance(head, str) or (head and not NAME_RE.match(f"{head}0")):
        raise ctx.fail(
            f"name_prefix must be the start of a layer name, got {describe(head)}", e.line_of("name_prefix"), path
        )
    if type(start) is not int or not 0 <= start <= MAX_ENTRIES:
        raise ctx.fail(
            f"index_from must be a whole number from 0 to {MAX_ENTRIES:,}, got {describe(start)}",
            e.line_of("index_from"),
            path,
        )
    if n > MAX_ENTRIES:
        raise ctx.fail(f"repeat: {n:,} copies is more than the limit of {MAX_ENTRIES:,}", e.line_of("repeat"), path)
    feed = _feed(ctx, e, path)
    first = e.get("first", LMap())
    if not isinstance(first, LMap):
        raise ctx.fail("'first' must be a mapping of argument overrides", e.line_of("first"), path)
    _check_first(ctx, e, first, kind, path)
    node = Node(path=path, name=name, kind="seq", line=e.line, feed=feed)
    with ctx.scope(path):
        for i in range(n):
            sub = _join(inner, f"{head}{start + i}")
            args = {**e.get("args", {}), **first} if i == 0 and kind == "block" else e.get("args", {})
            entry = e if i or kind != "op" else _merged(e, first)
            child = _single(ctx, entry, sub, f"{head}{start + i}", kind, env, args, copy=True)
            ctx.scopes[-1][f"{head}{start + i}"] = sub
            ctx.add_path(sub, e.line)
            node.children.append(child)
    return node


def _check_first(ctx: Ctx, e: LMap, first: LMap, kind: str, path: str) -> None:
    """'first' overrides op arguments or block args of copy 0; anything else would be dropped silently."""
    if first and kind not in ("op", "block"):
        raise ctx.fail("'first' applies to a repeated op or block, not to inline layers", e.line_of("first"), path)
    for key in first:
        if key in ENTRY_KEYS:
            msg = f"'first' overrides arguments only; '{key}' cannot differ in the first copy"
            raise ctx.fail(msg, first.line_of(key), path)


def _merged(e: LMap, first: LMap) -> LMap:
    out = LMap({**e, **first})
    out.line, out.key_lines = e.line, {**e.key_lines, **first.key_lines}
    return out


def _single(
    ctx: Ctx,
    e: LMap,
    path: str,
    name: str,
    kind: str,
    env: dict[str, Any],
    args: Any,
    copy: bool = False,
    inner: str | None = None,
) -> Node:
    # a repeat's copies are chains: its 'feed' wires the copies, not the layers inside each copy
    if kind == "op":
        return _op(ctx, e, path, name)
    inner = path if inner is None else inner
    if kind == "block":
        return _block(ctx, e, path, name, args, inner)
    ctx.depth += 1
    if ctx.depth > 64:
        raise ctx.fail("layers are nested more than 64 deep", e.line, path)
    try:
        if kind == "layers":
            node = Node(path=path, name=name, kind="seq", line=e.line, feed="chain" if copy else _feed(ctx, e, path))
            with ctx.scope(path):
                node.children = _entries(ctx, e["layers"], inner, env, path)
            return node
        return _parallel(ctx, e, path, name, env, inner)
    finally:
        ctx.depth -= 1


def _parallel(ctx: Ctx, e: LMap, path: str, name: str, env: dict[str, Any], inner: str) -> Node:
    branches, merge = e["branches"], e.get("merge")
    if not isinstance(branches, LMap) or not branches:
        raise ctx.fail("'branches' must map branch names to lists of layers", e.line_of("branches"), path)
    if merge not in ("concat", "add", "mul"):
        raise ctx.fail(
            f"branches need merge: concat, add or mul, got {describe(merge)}",
            e.line_of("merge") if "merge" in e else e.line,
            path,
        )
    node = Node(path=path, name=name, kind="parallel", line=e.line, merge=str(merge))
    with ctx.scope(path):
        for bname, items in branches.items():
            if not NAME_RE.match(bname):
                raise ctx.fail(f"branch name '{bname}' must be an identifier", branches.line_of(bname), path)
            items, flat = _branch_body(ctx, items, _join(inner, bname))
            bpath = _join(path if flat else inner, bname)
            branch = Node(path=bpath, name=bname, kind="seq", line=branches.line_of(bname), flat=flat)
            with ctx.scope(bpath):
                branch.children = _entries(ctx, items, inner if flat else bpath, env, bpath)
            ctx.add_path(bpath, branches.line_of(bname))
            node.children.append(branch)
    return node


def _branch_body(ctx: Ctx, items: Any, bpath: str) -> tuple[Any, bool]:
    """A branch is a list of layers, or a mapping {layers: [...], flat: true, doc: ...}."""
    if items is None:
        return [], False
    if not isinstance(items, LMap):
        return items, False
    for key in items:
        if key not in ("layers", "flat", "doc"):
            raise ctx.fail(f"unknown key '{key}' in branch (expected layers, flat, doc)", items.line_of(key), bpath)
    return items.get("layers", []), _flag(ctx, items, "flat", bpath)


def _block(ctx: Ctx, e: LMap, path: str, name: str, args: Any, inner: str) -> Node:
    bname = e["block"]
    block = ctx.spec.blocks.get(bname) if isinstance(bname, str) else None
    if block is not None and not isinstance(block, LMap):
        msg = f"block '{bname}' must be a mapping with layers or branches, got {describe(block)}"
        raise ctx.fail(msg, ctx.spec.blocks.line_of(bname), path)
    if not isinstance(block, LMap):
        known = ", ".join(ctx.spec.blocks) or "none"
        raise ctx.fail(f"unknown block {show(bname)} (defined: {known})", e.line_of("block"), path)
    if not isinstance(args, dict):
        raise ctx.fail("'args' must be a mapping of block parameters", e.line_of("args"), path)
    for key in block:
        if key not in BLOCK_KEYS:
            raise ctx.fail(f"unknown key '{key}' in block '{bname}'", block.line_of(key), path)
    declared = block.get("params", {}) or {}
    if not isinstance(declared, dict):
        msg = f"block '{bname}': 'params' must map names to defaults (null: required), got {describe(declared)}"
        raise ctx.fail(msg, block.line_of("params"), path)
    env = dict(ctx.params)
    for key in args:
        if key not in declared:
            raise ctx.fail(
                f"block '{bname}' has no parameter '{key}' (it has: {', '.join(declared) or 'none'})",
                e.line_of("args"),
                path,
            )
    defaults: list[Any] = []  # derived lines of defaults that are expressions over earlier params
    for key, default in declared.items():
        if key not in args and default is None:
            raise ctx.fail(
                f"block '{bname}' needs parameter '{key}'", e.line_of("args") if "args" in e else e.line, path
            )
        if key not in args and isinstance(default, str) and "$" in default:
            line = declared.line_of(key) if isinstance(declared, LMap) else block.line
            default = scalar(ctx, default, env, line, path, key, defaults)
        env[key] = args.get(key, default)
    src = ctx.bodies.get(bname)  # one source per block, so _sub can share equal substitutions
    if src is None:
        src = ctx.bodies[bname] = LMap({k: v for k, v in block.items() if k != "params"})
    body = substitute(ctx, src, env, block.line, path)
    body.line, body.key_lines = block.line, block.key_lines
    kind = "branches" if "branches" in body else "layers"
    if kind not in body:
        raise ctx.fail(f"block '{bname}' needs 'layers' or 'branches'", block.line, path)
    node = _single(ctx, body, path, name, kind, env, {}, inner=inner)
    node.block = bname
    node.derived = (*node.derived, *defaults)
    return node


def _op(ctx: Ctx, e: LMap, path: str, name: str) -> Node:
    op = e["op"]
    known = ctx.keys.get(id(e))
    if known is not None:  # this very entry was validated before (a shared substitution)
        key, args = known[1], dict(known[2])
    else:
        try:
            key = (typed_key(op), *((k, typed_key(v)) for k, v in e.items() if k not in NOT_ARGS))
        except TypeError:
            key = None
        hit = ctx.checked.get(key) if key is not None else None
        if hit is not None:
            args = dict(hit)
        else:
            args = check_op_args(e, op, ENTRY_KEYS, lambda msg, line: ctx.fail(msg, line, path))
            if key is not None:
                ctx.checked[key] = dict(args)  # validation is a pure function of op and raw values
        ctx.keys[id(e)] = (e, key, dict(args))
    for ref in OPS[op].refs:  # e.g. an unpool's switches come from an earlier pool, by name
        args[ref] = _resolve(ctx, args[ref], e.line_of(ref), path)
        key = None  # its args name a path, which differs per instance
    return Node(path=path, name=name, kind="op", line=e.line, op=op, args=args, key=key)
