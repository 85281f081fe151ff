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
from dataclasses import dataclass, field
from typing import Any

from fuzzops import BAD_SIZE, KEEPS_SIZE, Draws, Entry, flatten, head_layer, layer
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


# ---------------------------------------------------------------- wiring: what the generator knows


@dataclass(frozen=True)
class Val:
    """What a value holds, as far as the generator knows: channels (features once flat) and a spatial
    token (equal tokens: equal H x W). ``pool`` = (kernel, H_in, W_in) marks a maxpool2d's output."""

    c: int
    sp: Hashable
    pool: tuple[int, int, int] | None = None


@dataclass
class Made:
    entry: dict[str, Any]
    out: Val
    sub: dict[str, Val] = field(default_factory=dict)  # values inside it, by dotted name relative to it
    kept: bool = True  # False: when is false, the entry does not exist
    side: bool = False


ChannelFn = Callable[[int, dict[str, Any]], int]  # a template's output channels: (input channels, params)


@dataclass
class BlockInfo:
    params: dict[str, Any]  # declared params (None: required)
    fn: ChannelFn
    residual: bool  # an add body with an identity branch: valid when w equals the input channels


@dataclass
class Gen:
    """One spec's drawing state: names in scope (innermost list last), blocks, spec params."""

    draw: st.DrawFn
    params: dict[str, Any]
    scopes: list[dict[str, Val]] = field(default_factory=list)
    blocks: dict[str, BlockInfo] = field(default_factory=dict)
    serial: int = 0
    depth: int = 0
    mischief: bool = False  # this spec may break rules of the language on purpose (expecting a refusal)
    wild: bool = False  # this spec draws op arguments outside their range (1 in 10 per argument)
    skip: frozenset[str] = frozenset()  # FEATURES left out (to isolate a defect)

    def has(self, feature: str) -> bool:
        return feature not in self.skip

    @property
    def d(self) -> Draws:
        return Draws(self.draw, self.wild, big=True)

    def fresh(self, stem: str = "t") -> str:
        self.serial += 1
        return f"{stem}{self.serial}"

    def token(self) -> str:
        return self.fresh("sp")

    def chance(self, one_in: int) -> bool:
        return bool(self.draw(st.integers(0, one_in - 1)) == 0)

    def breaks(self, one_in: int) -> bool:
        """Whether to break a rule here: only in the few specs drawn for mischief."""
        return self.mischief and self.chance(one_in)

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def visible(self) -> list[tuple[str, Val]]:
        """`from` names this list can read: its input, and every named value of it and enclosing lists."""
        seen = {"input": self.scopes[-1]["input"]}
        for scope in self.scopes:
            seen.update((k, v) for k, v in scope.items() if k != "input")
        return sorted(seen.items())


def _value(v: Any, env: dict[str, Any]) -> Any:
    return env[v[1:]] if isinstance(v, str) and v.startswith("$") else v


def _merged_val(g: Gen, vals: list[Val], add: bool = False) -> Val:
    """concat (channels add up) or add (channels of the first) of values; one token if they share one."""
    sp = vals[0].sp if all(v.sp == vals[0].sp for v in vals) else g.token()
    return Val(vals[0].c if add else sum(v.c for v in vals), sp)


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
    if e["op"] in KEEPS_SIZE:
        sp = x.sp
    elif e["op"].startswith("adaptive") and all(isinstance(v, int) for v in _pair_list(e["output"])):
        sp = ("fix", *_pair_list(e["output"]))
    return Made(e, Val(c, sp))


def _pair_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list) else [v, v]


def safe_op(g: Gen, c: int) -> tuple[dict[str, Any], int]:
    """An op that keeps H x W and rarely fails: stride-1 padded conv, batch norm, relu, identity."""
    kind = g.pick(["conv", "conv", "bn", "relu", "identity"])
    if kind != "conv":
        return {"op": {"bn": "batchnorm2d"}.get(kind, kind)}, c
    out, k = g.draw(st.integers(1, 12)), g.pick([1, 3, 5])
    e: dict[str, Any] = {"op": "conv2d", "out": out, "kernel": k, "padding": (k - 1) // 2}
    if g.chance(4):
        e["padding"] = "same"
    if g.chance(4):
        e["bias"] = False
    return e, out


def make_safe(g: Gen, x: Val) -> Made:
    e, c = safe_op(g, x.c)
    return Made(e, Val(c, x.sp))


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


# ---------------------------------------------------------------- wiring: templates (block bodies, repeated layers)

Effect = tuple[str, Any]  # ("out", n or "$w"): sets channels; ("keep", None); ("cat", name): concat(input, name)


def _template_op(g: Gen, pnames: set[str]) -> tuple[dict[str, Any], Effect]:
    """A spatial-size-keeping op whose arguments may be block parameters ($w, $k, $on)."""
    e, c = safe_op(g, 0)
    effect: Effect = ("keep", None)
    if e["op"] == "conv2d":
        out = "$w" if "w" in pnames and g.chance(2) else c
        e["out"], effect = out, ("out", out)
        if "k" in pnames and g.chance(2):
            e["kernel"], e["padding"] = "$k", "same"
    if "on" in pnames and g.has("when") and g.chance(4):
        e["when"] = "$on"
    return e, effect


def gen_template(g: Gen, pnames: set[str], dense: bool, n: int) -> tuple[list[dict[str, Any]], ChannelFn]:
    """n ops (chain or dense) over any input size; their output channels as a function of input and params."""
    items: list[tuple[dict[str, Any], Effect]] = []
    for j in range(n):
        e, effect = _template_op(g, pnames)
        items.append(({"name": f"c{j}", **e} if g.chance(2) else e, effect))
    named = [e["name"] for e, _ in items if "name" in e and "when" not in e]
    if (
        not dense and named and g.has("from") and g.chance(3)
    ):  # a local `from`: input and an earlier op of the same body
        items.append(({"name": "join", "op": "concat", "from": ["input", g.pick(named)]}, ("cat", None)))

    def fn(c_in: int, env: dict[str, Any]) -> int:
        return _eval_template(items, c_in, env, dense)

    return [e for e, _ in items], fn


def _eval_template(items: list[tuple[dict[str, Any], Effect]], c_in: int, env: dict[str, Any], dense: bool) -> int:
    c, total, seen = c_in, c_in, dict[Any, int]()
    for e, (kind, v) in items:
        if not _value(e.get("when", True), env):
            continue
        x = total if dense else c
        if kind == "out":
            y = _value(v, env)
        elif kind == "cat":
            y = c_in + seen[e["from"][1]]
        else:
            y = x
        seen[e.get("name")] = y
        total += y
        c = y
    return total if dense else c


def gen_block(g: Gen) -> tuple[dict[str, Any], BlockInfo]:
    """A block definition: params w (maybe required), on, k; a chain, dense, concat or residual add body."""
    params: dict[str, Any] = {"w": g.pick([None, 2, 4, 8]), "on": g.draw(st.booleans())}
    if g.chance(2):
        params["k"] = g.pick([1, 3, 5])
    kind = g.pick(["chain", "dense", "concat", "add"] if g.has("dense") else ["chain", "concat", "add"])
    n = g.draw(st.integers(1, 3))
    body: dict[str, Any]
    if kind in ("chain", "dense"):
        entries, fn = gen_template(g, set(params), kind == "dense", n)
        body = {"layers": entries, **({"feed": "dense"} if kind == "dense" else {})}
        return {"params": params, **body}, BlockInfo(params, fn, False)
    main, fa = gen_template(g, set(params), False, n)
    if kind == "concat":
        side, fb = gen_template(g, set(params), False, g.draw(st.integers(0, 2)))
        body = {"branches": {"a": main, "b": side or None}, "merge": "concat"}
        return {"params": params, **body}, BlockInfo(params, lambda c, env: fa(c, env) + fb(c, env), False)
    main.append({"name": "proj", "op": "conv2d", "out": "$w", "kernel": 1})
    residual = g.chance(2)
    skip = None if residual else [{"op": "conv2d", "out": "$w", "kernel": 1, "bias": False}]
    body = {"branches": {"main": main, "skip": skip}, "merge": "add"}
    return {"params": params, **body}, BlockInfo(params, lambda c, env: int(env["w"]), residual)


def _block_args(g: Gen, info: BlockInfo, c: int) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if info.params["w"] is None or g.chance(2):
        args["w"] = c if info.residual and not g.chance(8) else g.pick([g.draw(st.integers(1, 8)), "$w"])
    if g.chance(3):
        args["on"] = g.draw(st.booleans())
    return args


def _block_env(g: Gen, info: BlockInfo, args: dict[str, Any]) -> dict[str, Any]:
    return {**g.params, **info.params, **{k: _value(v, g.params) for k, v in args.items()}}


def make_block(g: Gen, x: Val) -> Made:
    if not g.blocks:
        return make_safe(g, x)
    name = g.pick(sorted(g.blocks))
    info = g.blocks[name]
    args = _block_args(g, info, x.c)
    e: dict[str, Any] = {"block": name, **({"args": args} if args or g.chance(2) else {})}
    return Made(e, Val(info.fn(x.c, _block_env(g, info, args)), x.sp))


FIRST_REFUSED = ("from", "side", "when", "name")


def make_repeat(g: Gen, x: Val) -> Made:
    """repeat: n copies (0..n-1) of an op, of inline layers or of a block; `first` overrides copy 0;
    `feed: dense` makes the copies dense."""
    n = g.draw(st.integers(1, 3))
    dense = g.has("dense") and g.chance(2)
    body, first, fns = _repeat_body(g, x, n)
    e: dict[str, Any] = {"repeat": "$n" if n == g.params["n"] and g.chance(2) else n, **body}
    if dense:
        e["feed"] = "dense"
    if first:
        e["first"] = first
    if g.breaks(3):  # refused: first overrides arguments only (and inline layers have none)
        e["first"] = {**first, g.pick(list(FIRST_REFUSED)): g.pick(["input", True, False, "zz"])}
        if "layers" in body and g.chance(2):
            e["first"] = {"out": 3}
    sub: dict[str, Val] = {}
    c, total = x.c, x.c
    for i, fn in enumerate(fns):
        y = fn(total if dense else c)
        sub[str(i)] = Val(y, x.sp if not (i == 0 and first.get("stride")) else g.token())
        c, total = y, total + y
    out = Val(total, _merged_val(g, [x, *sub.values()]).sp) if dense else sub[str(n - 1)]
    return Made(e, out, sub)


def _repeat_body(g: Gen, x: Val, n: int) -> tuple[dict[str, Any], dict[str, Any], list[Callable[[int], int]]]:
    """The repeated body, its `first` overrides and one channel function per copy."""
    kind = g.pick(["op", "layers", "layers", "block"] if g.blocks else ["op", "layers"])
    if kind == "layers":
        entries, fn = gen_template(g, set(g.params), False, g.draw(st.integers(1, 3)))
        return {"layers": entries}, {}, [lambda c: fn(c, g.params)] * n
    first: dict[str, Any] = {}
    if kind == "block":
        name = g.pick(sorted(g.blocks))
        info = g.blocks[name]
        args = _block_args(g, info, x.c)
        if g.chance(3):
            first["on"] = g.draw(st.booleans())
        if not info.residual and g.chance(3):
            first["w"] = g.draw(st.integers(1, 8))
        envs = [_block_env(g, info, {**args, **first}), *[_block_env(g, info, args)] * (n - 1)]
        fns = [_block_channels(info, env) for env in envs]
        return {"block": name, **({"args": args} if args else {})}, first, fns
    e, out = safe_op(g, x.c)
    if e["op"] == "conv2d" and g.chance(2):
        first = g.pick([{"stride": 2}, {"out": g.draw(st.integers(1, 12))}, {"kernel": 1, "padding": 0}])
    elif e["op"] == "batchnorm2d" and g.chance(2):
        first = {"affine": False}
    if e["op"] != "conv2d":
        return e, first, [lambda c: c] * n
    return e, first, [_const(first.get("out", out)), *[_const(out)] * (n - 1)]


def _const(n: int) -> Callable[[int], int]:
    return lambda c: n


def _block_channels(info: BlockInfo, env: dict[str, Any]) -> Callable[[int], int]:
    return lambda c: info.fn(c, env)


def _unpool_entry(g: Gen, ref: str, pooled: Val, reads_pool: bool) -> dict[str, Any]:
    """max_unpool2d with the switches of the pool named `ref`; output_size where the size is not a
    multiple of the kernel (without it, torch's default size would not hold every switch)."""
    assert pooled.pool is not None
    k, h, w = pooled.pool
    d = g.d
    e: dict[str, Any] = {"op": "max_unpool2d", "pool": ref, "kernel": d.arg(st.just(k), BAD_SIZE)}
    if g.chance(2) or d.wild:
        e["stride"] = d.arg(st.just(k), st.sampled_from([0, -1, k + 1, 2**31]))
    if d.out_of_range():
        e["padding"] = d.draw(st.sampled_from([1, -1, 2**31]))
    if (h % k or w % k or g.chance(3)) and not d.out_of_range():  # wild: the default size, maybe too small
        e["output_size"] = [h, w]
        if g.breaks(3) or d.out_of_range():  # h + k: out of torch's range; h - 1: not the pool's input size
            e["output_size"] = d.draw(st.sampled_from([[h + k, w], [h - 1, w], [0, w], [h, -1]]))
    if reads_pool:
        e["from"] = ref
    return e


def make_unpool(g: Gen, x: Val) -> Made:
    targets = [(r, v) for r, v in g.visible() if v.pool is not None]
    if targets and g.chance(2):
        ref, pooled = g.pick(targets)
        assert pooled.pool is not None
        e = _unpool_entry(g, ref, pooled, reads_pool=x != pooled or g.chance(2))
        return Made(e, Val(pooled.c, ("fix", *pooled.pool[1:])))
    return _sandwich(g, x)


def _sandwich(g: Gen, x: Val) -> Made:
    """adaptive pool to a known h x w, maxpool2d k, a few ops, max_unpool2d back to h x w (as a list)."""
    h, w, k = g.draw(st.integers(1, 12)), g.draw(st.integers(1, 12)), g.pick([1, 2, 2, 3])
    op = g.pick(["adaptive_avgpool2d", "adaptive_maxpool2d"])
    entries: list[dict[str, Any]] = [{"name": "fit", "op": op, "output": [h, w]}]
    entries.append({"name": "pool", "op": "maxpool2d", "kernel": k, **({"stride": k} if g.chance(2) else {})})
    pooled = Val(x.c, ("fix", h // k, w // k), (k, h, w))
    cur = pooled
    for j in range(g.draw(st.integers(0, 2))):
        e, c = safe_op(g, cur.c)
        entries.append({"name": f"m{j}", **e})
        cur = Val(c, cur.sp)
    # reading the pool again is needed when the ops changed the channels; without it torch refuses
    entries.append({"name": "up", **_unpool_entry(g, "pool", pooled, cur.c != x.c and not g.breaks(2))})
    return Made({"layers": entries}, Val(x.c, ("fix", h, w)), {"pool": pooled})


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
