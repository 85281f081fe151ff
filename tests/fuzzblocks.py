"""Block bodies, repeated layers and max-unpool sandwiches for the wiring generator (tests/fuzzgen.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fuzzops import BAD_SIZE
from fuzzstate import BlockInfo, ChannelFn, Gen, Made, Val, _merged_val, _value, make_safe, safe_op
from hypothesis import strategies as st

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
