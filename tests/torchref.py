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

Two passes, as the language is static: ``_Expander`` (tests/refexpand.py) resolves names (an unnamed entry is
named by its position among the entries ``when`` keeps, as nn.Sequential numbers them) and refuses what the
language refuses (a ``spec`` refusal, anywhere in the spec: the wiring rules above and the language's own argument
ranges, refops.language_refusal), and notes every op entry torch refuses on any input (refops.static_refusal, a
CPU probe); then ``_Runner`` runs torch and stops at the first layer torch refuses (a ``torch`` refusal, with its
path), or that the language refuses on its input (``_language``, the unpool's plane). ``add`` broadcasts as torch
does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from refexpand import MANY_INPUTS, RNode, _Expander, _Refused
from refops import make_module, own_macs, pair
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
    if e["op"] == "groupnorm" and x.shape[0] == 1:  # torch refuses N*(C/groups)*H*W == 1 likewise
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
SPATIAL |= {"batchnorm2d", "subsample", "compress", "layernorm2d", "instancenorm2d"}


def _language(e: dict[str, Any], path: str, x: torch.Tensor) -> None:
    """The language's refusals that depend on the input, where torch would run something else."""
    if e["op"] in SPATIAL and x.dim() != 4:
        # torch would read a batched (N, F) as one unbatched (H, W) map; a spec's maps are C x H x W
        raise _Refused(path, f"{e['op']} needs a C x H x W input, got {tuple(x.shape[1:])}")
    if e["op"] == "flatten":
        dims = [d + x.dim() if d < 0 else d for d in (e.get("start_dim", 1), e.get("end_dim", -1))]
        if 0 in dims:  # torch would merge the batch into the sample; archcalc's shapes are per sample
            raise _Refused(path, "flatten keeps the batch (dim 0)")
    # torch would move or split the batch (a valid permutation or dim otherwise: torch refuses the rest itself)
    if e["op"] == "permute" and _moves_batch(e["dims"], x.dim()):
        raise _Refused(path, "permute keeps the batch (dim 0) first")
    if e["op"] == "chunk" and e.get("dim", 1) in (0, -x.dim()):
        raise _Refused(path, "chunk does not split the batch (dim 0)")


def _moves_batch(dims: list[int], n: int) -> bool:
    """A permutation torch takes (n dims, each in range, none repeated) that does not keep dim 0 first."""
    if len(dims) != n or not all(-n <= d < n for d in dims):
        return False
    norm = [d % n for d in dims]
    return sorted(norm) == list(range(n)) and norm[0] != 0


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
    """Elementwise sum with torch's broadcasting (dims of 1 stretch), as the language's add (issue 10); inputs
    of different ranks are the language's own refusal (per sample they would align unlike torch's batches)."""
    if len({x.dim() for x in xs}) > 1:
        raise _Refused(path, "add needs inputs of one rank")
    try:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
    except RuntimeError as err:
        raise _Refused(path, str(err)) from None
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
