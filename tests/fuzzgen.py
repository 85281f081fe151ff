"""Hypothesis strategies for random specs (tests/test_fuzz_torch.py).

``specs()`` draws plain op sequences with parallel branches; ``wiring_specs()`` adds the wiring of the
spec language: ``from`` (names, ``input``, dotted ``mix.a``), ``side``, ``feed: dense``, ``repeat`` with
``first`` and ``when``, ``blocks`` with ``$param`` arguments, and ``max_unpool2d`` tied to a pool.

The op entries come from tests/fuzzops.py; in a *wild* spec (1 in ``WILD``) every argument with a range
is drawn outside it 1 time in 10. The generator tracks what each value holds (channels, and a token for
the spatial size: equal tokens mean equal H x W) only to make valid specs likely. It never decides a
verdict: the torch reference does. A small fraction of sites break a rule of the language on purpose
(``from`` under ``feed: dense``, forbidden keys in ``first``, ``from: []``, unknown names), so refusals are
exercised too.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from fuzzblocks import gen_block, make_block, make_repeat, make_unpool
from fuzzops import KEEPS_SIZE, Draws, Entry, flatten, head_layer, layer
from fuzzstate import Gen, Made, Val, _merged_val, make_safe
from hypothesis import strategies as st

# ---------------------------------------------------------------- plain sequences with branches


def branches(d: Draws, c: int, depth: int) -> Entry:
    """Parallel branches; an add block mostly keeps shapes equal (stride-1 'same' convs, identity)."""
    merge = d.draw(st.sampled_from(["concat", "add"]))
    n = d.draw(st.integers(1, 3))
    out_c = d.draw(st.integers(1, 12))
    bs: dict[str, Any] = {}
    total = 0
    for i in range(n):
        items: list[dict[str, Any]] = []
        bc = c
        if merge == "add" and d.draw(st.integers(0, 4)):
            if d.chance(2) or c != out_c:
                k = d.draw(st.sampled_from([1, 3, 5]))
                items.append({"name": "conv", "op": "conv2d", "out": out_c, "kernel": k, "padding": "same"})
                bc = out_c
        else:
            for j in range(d.draw(st.integers(0, 2))):
                e, bc = sequence_item(d, bc, depth + 1)
                items.append({"name": f"l{j}", **e})
        bs[f"b{i}"] = items or None
        total += bc
    return {"branches": bs, "merge": merge}, (total if merge == "concat" else bc)


def sequence_item(d: Draws, c: int, depth: int = 0) -> Entry:
    if depth < 2 and d.chance(6):
        return branches(d, c, depth)
    return layer(d, c)


SIZE = st.one_of(st.integers(1, 40), st.integers(1, 300), st.integers(1, 4096))
WIRING_SIZE = st.one_of(st.integers(1, 40), st.integers(8, 64), st.integers(1, 4096))  # fewer tiny maps
WILD = 4  # 1 spec in WILD draws arguments outside their range (1 in 10 per argument)


@st.composite
def specs(draw: st.DrawFn, big: bool = True) -> dict[str, Any]:
    """A plain sequence of ops and branches; ``big=False`` keeps every size small enough for the CPU."""
    d = Draws(draw, wild=draw(st.integers(0, WILD - 1)) == 0, big=big)
    c = draw(st.integers(1, 8))
    shape = [c, draw(SIZE), draw(SIZE)]
    layers: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 6))):
        e, c = sequence_item(d, c)
        layers.append({"name": f"l{i}", **e})
    _head(d, layers)
    return {"name": "fuzz", "input": shape, "layers": layers}


def _head(d: Draws, layers: list[dict[str, Any]]) -> None:
    if d.chance(3):
        layers.append({"name": "flat", **flatten(d)})
        for j in range(d.draw(st.integers(1, 2))):
            layers.append({"name": f"fc{j}", **head_layer(d)})


# ---------------------------------------------------------------- wiring: lists and entries


def gen_list(g: Gen, inp: Val, n: int, dense: bool = False) -> tuple[list[dict[str, Any]], Val, dict[str, Val]]:
    """n entries read as a chain (or dense); returns them, the list's output and its named values."""
    scope: dict[str, Val] = {"input": inp}
    named: dict[str, Val] = {}
    entries: list[dict[str, Any]] = []
    feats, cur = [inp], inp
    g.scopes.append(scope)
    g.depth += 1
    try:
        for _ in range(n):
            made = gen_entry(g, _merged_val(g, feats) if dense else cur, dense)
            entries.append(made.entry)
            if not made.kept:
                continue
            name = made.entry.get("name")
            if name is not None:
                found = {name: made.out, **{f"{name}.{k}": v for k, v in made.sub.items() if g.has("dotted")}}
                scope.update(found)
                named.update(found)
            if dense:
                feats.append(made.out)
            elif not made.side:
                cur = made.out
    finally:
        g.scopes.pop()
        g.depth -= 1
    return entries, (_merged_val(g, feats) if dense else cur), named


def gen_entry(g: Gen, x: Val, dense: bool) -> Made:
    # under dense every child must keep H x W (its output joins a concat): mostly ops that do
    kinds = (
        ["layer", "safe", "safe", "block", "block"] + ["safe", "safe"] * dense + ["repeat", "repeat"] * g.has("repeat")
    )
    if g.depth < 3:
        kinds += ["branches", "layers", "layers"]
    if not dense:
        kinds += ["merge", "merge", "from", "from"] * g.has("from") + ["unpool", "unpool"] * g.has("unpool")
        kinds += ["side_head"] * g.has("side")
    made: Made = MAKERS[g.pick(kinds)](g, x)
    _decorate(g, made, dense)
    return made


def _decorate(g: Gen, made: Made, dense: bool) -> None:
    """A name (mostly), sometimes `when` or `side`; rarely a break of the language on purpose."""
    e = made.entry
    if not g.chance(10):
        made.entry = e = {"name": g.fresh(), **e}
    if g.has("when") and g.chance(12):
        e["when"] = g.pick([False, "$off", True, "$on"])
        made.kept = e["when"] in (True, "$on")
    if not dense and "side" not in e and g.has("side") and g.chance(10):
        e["side"] = made.side = True
    if dense and g.breaks(3):  # refused: a dense child reads the concat, so it has no from and no side
        key = g.pick(["from", "side"])
        e[key] = "input" if key == "from" else True
    if g.breaks(12):  # refused: `from` reads nothing, or a name no earlier entry has
        e["from"] = g.pick([[], "nope", "later.layer"])


def make_layer(g: Gen, x: Val) -> Made:
    e, c = layer(g.d, x.c)
    sp: Hashable = g.token()
    if e.get("op", "layers") in KEEPS_SIZE or "layers" in e:  # layers: fuzzops.channels_last keeps H x W
        sp = x.sp
    elif e["op"].startswith("adaptive") and all(isinstance(v, int) for v in _pair_list(e["output"])):
        sp = ("fix", *_pair_list(e["output"]))
    return Made(e, Val(c, sp))


def _pair_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list) else [v, v]


def make_from(g: Gen, x: Val) -> Made:
    """Any entry that reads an earlier value by name (a list of one name, sometimes)."""
    ref, val = g.pick(g.visible())
    made: Made = MAKERS[g.pick(["safe", "safe", "layer", "layers", "branches", "block"])](g, val)
    made.entry["from"] = [ref] if g.chance(4) else ref
    return made


def make_merge(g: Gen, x: Val) -> Made:
    """op: concat / add over 2-3 named values, mostly ones of equal size (and channels, for add)."""
    op = g.pick(["concat", "add"])
    vis = [(r, v) for r, v in g.visible()]
    groups: dict[Hashable, list[tuple[str, Val]]] = {}
    for r, v in vis:
        groups.setdefault((v.sp, v.c) if op == "add" else v.sp, []).append((r, v))
    good = [grp for grp in groups.values() if len(grp) >= 2]
    pool_ = g.pick(good) if good and not g.chance(6) else vis
    if len(pool_) < 2:
        return make_safe(g, x)
    chosen = g.draw(st.lists(st.sampled_from(pool_), min_size=2, max_size=3, unique=True))
    if g.breaks(3):
        chosen = chosen[:1]  # refused: a merge needs two or more inputs
    e: dict[str, Any] = {"op": op, "from": [r for r, _ in chosen]}
    if op == "concat" and (g.wild or g.chance(8)):  # dims count the batch as 0: 1..3 for C x H x W
        e["dim"] = g.d.arg(st.sampled_from([1, 1, 2, 3]), st.sampled_from([0, -1, 4, 2**31]))
    return Made(e, _merged_val(g, [v for _, v in chosen], add=op == "add"))


def make_layers(g: Gen, x: Val) -> Made:
    dense = g.has("dense") and g.chance(2)
    entries, out, named = gen_list(g, x, g.draw(st.integers(1, 3)), dense)
    e: dict[str, Any] = {"layers": entries}
    if dense:
        e["feed"] = "dense"
    return Made(e, out, named)


def make_branches(g: Gen, x: Val) -> Made:
    """Parallel branches; an add mostly keeps shapes equal (a stride-1 padded conv, or the identity)."""
    merge = g.pick(["concat", "add"])
    out_c = g.draw(st.integers(1, 12))
    bs: dict[str, Any] = {}
    sub: dict[str, Val] = {}
    outs: list[Val] = []
    for i in range(g.draw(st.integers(1, 3))):
        name, named = f"b{i}", dict[str, Val]()
        if merge == "add" and not g.chance(5):
            k = g.pick([1, 3, 5])
            conv = {"name": "conv", "op": "conv2d", "out": out_c, "kernel": k, "padding": "same"}
            items, val = ([conv], Val(out_c, x.sp)) if x.c != out_c or g.chance(2) else ([], x)
        else:
            items, val, named = gen_list(g, x, g.draw(st.integers(0, 2)))
        bs[name] = items or None
        sub.update({name: val, **{f"{name}.{k}": v for k, v in named.items()}})
        outs.append(val)
    return Made({"branches": bs, "merge": merge}, _merged_val(g, outs, add=merge == "add"), sub)


def make_side_head(g: Gen, x: Val) -> Made:
    """An auxiliary head (GoogLeNet's): pool, flatten, linear, reading an earlier value, as a side output."""
    k = g.draw(st.integers(1, 10))
    head = [{"op": "adaptive_avgpool2d", "output": 1}, {"op": "flatten"}, {"op": "linear", "out": k}]
    e: dict[str, Any] = {"side": True, "layers": head}
    if g.has("from") and g.chance(2):
        e["from"] = g.pick(g.visible())[0]
    return Made(e, Val(k, "flat"), side=True)


MAKERS: dict[str, Callable[[Gen, Val], Made]] = {
    "layer": make_layer,
    "safe": make_safe,
    "from": make_from,
    "merge": make_merge,
    "layers": make_layers,
    "branches": make_branches,
    "side_head": make_side_head,
    "block": make_block,
    "repeat": make_repeat,
    "unpool": make_unpool,
}


FEATURES = ("from", "side", "dense", "repeat", "when", "blocks", "unpool", "dotted", "mischief")


@st.composite
def wiring_specs(draw: st.DrawFn, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A random spec using the wiring features of the language (all but ``skip``), through blocks and nesting."""
    assert skip <= set(FEATURES), skip
    params = {"on": True, "off": False, "n": draw(st.integers(1, 3)), "w": draw(st.integers(1, 8))}
    g = Gen(draw, params, skip=skip)
    g.mischief = g.has("mischief") and g.chance(10)
    g.wild = g.chance(WILD)
    blocks: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 2)) if g.has("blocks") else 0):
        blocks[f"blk{i}"], g.blocks[f"blk{i}"] = gen_block(g)
    c = draw(st.integers(1, 8))
    shape = [c, draw(WIRING_SIZE), draw(WIRING_SIZE)]
    layers, _, _ = gen_list(g, Val(c, "input"), draw(st.integers(1, 6)))
    _head(g.d, layers)
    doc = {"name": "fuzz", "input": shape, "params": params, "blocks": blocks, "layers": layers}
    if not blocks:
        del doc["blocks"]
    return doc


def features(doc: dict[str, Any]) -> set[str]:
    """The wiring features a spec uses (for hypothesis's statistics: what the accepted specs covered)."""
    found: set[str] = {"blocks"} if doc.get("blocks") else set()
    _features(doc["layers"], found)
    return found


def _features(v: Any, found: set[str]) -> None:
    if isinstance(v, list):
        for x in v:
            _features(x, found)
        return
    if not isinstance(v, dict):
        return
    refs = v.get("from", [])
    tags = {
        "from": "from" in v,
        "from dotted": any("." in str(r) for r in (refs if isinstance(refs, list) else [refs])),
        "side": v.get("side") is True,
        "dense layers": v.get("feed") == "dense" and "repeat" not in v,
        "dense repeat": v.get("feed") == "dense" and "repeat" in v,
        "repeat": "repeat" in v,
        "first": "first" in v,
        "when": "when" in v,
        "block use": "block" in v,
        "max_unpool2d": v.get("op") == "max_unpool2d",
        "concat/add op": v.get("op") in ("concat", "add"),
    }
    found.update(k for k, on in tags.items() if on)
    for x in v.values():
        _features(x, found)
