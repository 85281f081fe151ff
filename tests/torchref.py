"""An independent torch reference for small generated specs (used by the fuzz and regression tests).

It interprets the same entry dicts a spec holds straight into torch modules, layer by layer, reading each
layer's input channels from the real tensor. It never looks at archcalc's expander or calculator, so a
wrong shape or wiring rule there cannot leak in here. It knows the whole spec language the fuzz draws:
``op``, ``layers``, ``branches``/``merge``, ``block``/``args`` with ``$param`` substitution, ``repeat``,
``first``, ``when``, ``from``, ``side``, ``feed: dense`` and ``max_unpool2d`` with ``pool: name``.

The wiring semantics (decided in issue 9):

* a list's output is its last non-``side`` entry's output (the list's input if it has none); a
  ``branches`` container merges its branches' outputs; a ``feed: dense`` list's entry i reads
  concat(input, out_0..out_{i-1}) and the list's output is concat(input, every output);
* ``feed: dense`` on a ``repeat`` makes the copies dense; each copy of inline ``layers`` is a chain;
* under ``feed: dense`` a child's ``from`` or ``side`` is refused; so are ``from: []`` and the keys
  ``from``, ``side``, ``when``, ``name`` in ``first``;
* ``from`` names resolve innermost list first; ``input`` is the enclosing list's input; a dotted name
  (``mix.a``, ``enc.pool``) names a branch or a nested layer of an entry defined earlier.

Two passes, as the language is static: ``_Expander`` resolves names and refuses what the language
refuses (a ``spec`` refusal, anywhere in the spec: the wiring rules above and the language's own argument
ranges, refops.language_refusal), and notes every op entry torch refuses on any input
(refops.static_refusal, a CPU probe); then ``_Runner`` runs torch and stops at the first layer torch
refuses (a ``torch`` refusal, with its path), or that the language refuses on its input (``_language``,
``_add``, the unpool's plane).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from refops import language_refusal, make_module, own_macs, pair, static_refusal
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class RefLayer:
    shape: tuple[int, ...]  # output, batch dropped
    params: int
    buffers: int
    macs: int  # FlopCounterMode FLOPs / 2 for this module alone


@dataclass
class RefRun:
    layers: dict[str, RefLayer] = field(default_factory=dict)
    blocks: dict[str, tuple[int, ...]] = field(default_factory=dict)  # every container but the root
    output: tuple[int, ...] | None = None  # the network's output, batch dropped
    error_at: str | None = None  # path of the first entry refused
    error: str = ""
    refused_by: str = ""  # "spec" (the language refuses; found before any torch run) or "torch"
    notes: list[str] = field(default_factory=list)  # where meta and CPU torch disagreed
    static: dict[str, str] = field(default_factory=dict)  # entries torch refuses on any input, by path


class _Refused(Exception):
    def __init__(self, path: str, msg: str, by: str = "torch") -> None:
        super().__init__(msg)
        self.path, self.by = path, by


def _numel(mod: nn.Module, which: str) -> int:
    if which == "params":
        return sum(p.numel() for p in mod.parameters())
    return sum(b.numel() for b in mod.buffers())


BATCH = 1  # archcalc counts per sample; torch's storage limit ('Storage size ... overflowed') is per tensor
CPU_CHECK_NUMEL = 1 << 15  # inputs this small also run on the CPU kernels, whose checks are the real ones
CPU_CHECK_OUT = 1 << 22  # ... when the output and the parameters are small enough to allocate as well


def _batch_for(e: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    """Batch norm without running stats uses the batch's own statistics, so torch refuses N*H*W == 1: a
    matter of the batch, which archcalc does not model (tests/test_regressions.py). It sees the sample twice."""
    if e["op"] == "batchnorm2d" and not e.get("track_running_stats", True) and x.shape[0] == 1:
        return x.expand(2, *x.shape[1:])
    return x


def _call(e: dict[str, Any], x: torch.Tensor) -> tuple[nn.Module, torch.Tensor, int]:
    """The module for entry ``e``, its output, and its MACs per sample (FlopCounterMode FLOPs / 2 / N)."""
    with torch.device(x.device):
        mod = make_module(e, x.shape[1] if x.dim() > 1 else 0, x.shape[-1])
    mod.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = mod(_batch_for(e, x))[: x.shape[0]]
    return mod, y, fc.get_total_flops() // (2 * x.shape[0]) + own_macs(e, x, y)


def _meta_gaps(run: RefRun, e: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> None:
    """Checks the CPU kernels make and the meta kernels skip (torch 2.13), for inputs too big to run on CPU.
    (Checks that do not depend on the input are asked of the CPU beforehand: refops.static_refusal.)

    * A zero-size output is refused even where a torch kernel lets it through: archcalc refuses it.
      meta's convolution only refuses an output with *every* spatial size < 1; CPU refuses any size < 1.
    * meta's softmax does not check dim against the rank: a 1-element CPU tensor of the same rank does.
    """
    if any(d < 1 for d in y.shape[1:]):
        run.notes.append("meta accepted a zero-size output")
        raise RuntimeError(f"Calculated output size per channel: {tuple(y.shape[2:])}. Output size is too small")
    if e["op"] == "softmax":
        torch.softmax(torch.zeros((1,) * x.dim()), e.get("dim", 1))


SPATIAL = {"conv2d", "conv_transpose2d", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "adaptive_maxpool2d"}
SPATIAL |= {"batchnorm2d", "subsample", "compress"}


def _language(e: dict[str, Any], path: str, x: torch.Tensor) -> None:
    """The language's refusals that depend on the input, where torch would run something else."""
    if e["op"] in SPATIAL and x.dim() != 4:
        # torch would read a batched (N, F) as one unbatched (H, W) map; a spec's maps are C x H x W
        raise _Refused(path, f"{e['op']} needs a C x H x W input, got {tuple(x.shape[1:])}")
    if e["op"] == "flatten":
        dims = [d + x.dim() if d < 0 else d for d in (e.get("start_dim", 1), e.get("end_dim", -1))]
        if 0 in dims:  # torch would merge the batch into the sample; archcalc's shapes are per sample
            raise _Refused(path, "flatten keeps the batch (dim 0)")


def _cpu_check(run: RefRun, e: dict[str, Any], x: torch.Tensor, y: torch.Tensor, mod: nn.Module) -> None:
    small = y.numel() <= CPU_CHECK_OUT and _numel(mod, "params") + _numel(mod, "buffers") <= CPU_CHECK_OUT
    if x.numel() <= CPU_CHECK_NUMEL and small:
        try:
            _call(e, torch.zeros(x.shape))
        except (RuntimeError, ValueError, IndexError):
            run.notes.append("meta accepted what the CPU kernel refused")
            raise


def _layer(run: RefRun, e: dict[str, Any], path: str, x: torch.Tensor) -> torch.Tensor:
    _language(e, path, x)
    try:
        mod, y, macs = _call(e, x)
        _cpu_check(run, e, x, y, mod)
        _meta_gaps(run, e, x, y)
    except (RuntimeError, ValueError, IndexError) as err:
        raise _Refused(path, str(err)) from None
    params, buffers = _numel(mod, "params"), _numel(mod, "buffers")
    run.layers[path] = RefLayer(tuple(y.shape[1:]), params, buffers, macs)
    return y


# ---------------------------------------------------------------- pass 1: the spec language

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
            for index, raw in enumerate(items):
                child = self.entry(_subst(self, raw, env, path), path, index, env, dense)
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


# ---------------------------------------------------------------- pass 2: torch


class _Runner:
    """Runs an expanded tree: every output by path (for `from`) and every max pool's switches."""

    def __init__(self, run: RefRun, pools: set[str]) -> None:
        self.run, self.pools = run, pools
        self.values: dict[str, torch.Tensor] = {}
        self.switches: dict[str, torch.Tensor] = {}
        self.pool_in: dict[str, tuple[int, ...]] = {}  # each switch pool's input plane, H x W

    def node(self, node: RNode, xs: list[torch.Tensor]) -> torch.Tensor:
        if node.kind == "op":
            out = self.op(node, xs)
        elif node.kind == "par":
            out = self.par(node, xs[0])
        else:
            out = self.seq(node, xs[0])
        self.values[node.path] = out
        return out

    def seq(self, node: RNode, x: torch.Tensor) -> torch.Tensor:
        self.values[f"{node.path}@in"] = x
        if node.dense:
            feats = [x]
            for child in node.children:
                feats.append(self.node(child, [_cat(feats, node.path)]))
            out = _cat(feats, node.path)
        else:
            out = x
            for child in node.children:
                got = self.node(child, [self.values[s] for s in child.sources] if child.sources else [out])
                out = out if child.side else got
        return self.close(node, out)

    def par(self, node: RNode, x: torch.Tensor) -> torch.Tensor:
        outs = [self.node(branch, [x]) for branch in node.children]
        return self.close(node, _cat(outs, node.path) if node.merge == "concat" else _add(outs, node.path))

    def close(self, node: RNode, out: torch.Tensor) -> torch.Tensor:
        if node.path:
            self.run.blocks[node.path] = tuple(out.shape[1:])
        return out

    def op(self, node: RNode, xs: list[torch.Tensor]) -> torch.Tensor:
        a, path = node.args, node.path
        if node.static is not None:  # the meta kernels may skip the check (e.g. a negative transposed padding)
            raise _Refused(path, node.static)
        if a["op"] in MANY_INPUTS:
            # torch.cat and + count no FLOPs in FlopCounterMode, and hold nothing
            y = _cat(xs, path, a.get("dim", 1)) if a["op"] == "concat" else _add(xs, path)
            self.run.layers[path] = RefLayer(tuple(y.shape[1:]), 0, 0, 0)
            return y
        if a["op"] == "max_unpool2d":
            return self.unpool(node, xs[0])
        y = _layer(self.run, a, path, xs[0])
        if path in self.pools:
            pool = make_module(a, 0, 0)
            assert isinstance(pool, nn.MaxPool2d)
            pool.return_indices = True
            self.switches[path] = pool(xs[0])[1]
            self.pool_in[path] = tuple(xs[0].shape[2:])
        return y

    def unpool(self, node: RNode, x: torch.Tensor) -> torch.Tensor:
        """nn.MaxUnpool2d with the named pool's switches: torch checks that x has their shape."""
        a = node.args
        if x.dim() != 4:
            raise _Refused(node.path, f"max_unpool2d needs a C x H x W input, got {tuple(x.shape[1:])}")
        mod = nn.MaxUnpool2d(pair(a["kernel"]), pair(a.get("stride")), pair(a.get("padding", 0)))
        size = a.get("output_size")
        try:
            with FlopCounterMode(display=False) as fc:
                y: torch.Tensor = mod(x, self.switches[a["pool"]], list(_pair2(size)) if size is not None else None)
            if any(d < 1 for d in y.shape[2:]):
                raise RuntimeError(f"output size {tuple(y.shape[2:])} is empty")
        except (RuntimeError, ValueError, IndexError) as err:
            raise _Refused(node.path, str(err)) from None
        if tuple(y.shape[2:]) != self.pool_in[a["pool"]]:
            # the language's rule: a smaller plane makes most real switches invalid ('invalid max index',
            # which the meta kernel cannot see), a larger one scatters the values to other positions
            raise _Refused(node.path, f"unpooling to {tuple(y.shape[2:])}, not the pool's input plane")
        self.run.layers[node.path] = RefLayer(tuple(y.shape[1:]), 0, 0, fc.get_total_flops() // (2 * x.shape[0]))
        return y


def _cat(xs: list[torch.Tensor], path: str, dim: int = 1) -> torch.Tensor:
    try:
        return torch.cat(xs, dim)
    except (RuntimeError, IndexError) as err:
        raise _Refused(path, str(err)) from None


def _add(xs: list[torch.Tensor], path: str) -> torch.Tensor:
    """Elementwise sum. Unequal shapes are refused where torch would broadcast: the spec language's add
    (archcalc's documented exception to following torch)."""
    if any(x.shape != xs[0].shape for x in xs):
        raise _Refused(path, f"add of unequal shapes {[tuple(x.shape[1:]) for x in xs]}")
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def _pair2(v: Any) -> tuple[int, int]:
    return (v[0], v[1]) if isinstance(v, list) else (v, v)


def reference_spec(doc: dict[str, Any], device: str = "meta") -> RefRun:
    """Run a whole spec dict (input, params, blocks, layers) through torch; stop at the first refusal."""
    run = RefRun()
    ex = _Expander(doc)
    run.static = ex.static  # filled while expanding
    try:
        root = ex.seq(doc["layers"], "", dict(ex.params), False)
        out = _Runner(run, ex.unpool_pools).seq(root, torch.zeros((BATCH, *doc["input"]), device=device))
        run.output = tuple(out.shape[1:])
    except _Refused as err:
        run.error_at, run.error, run.refused_by = err.path, str(err), err.by
    return run


def reference(input_shape: list[int], layers: list[dict[str, Any]], device: str = "meta") -> RefRun:
    """The reference for a spec that is only an input and a list of layers."""
    return reference_spec({"input": input_shape, "layers": layers}, device)
