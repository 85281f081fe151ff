"""The DeconvNet mirror of Zeiler & Fergus (2014), by pure math: the path from one layer back to the input.

Walking the forward chain backwards from layer L along the graph's edges, each layer is mirrored:

* conv2d -> conv_transpose2d with the same filters (C_out -> C_in, same kernel, stride, padding, dilation,
  groups; no bias: Zeiler & Fergus apply the transposed filters only). ``output_padding`` restores the rows
  and columns the forward floor division dropped, so the step lands exactly on the conv's input size.
* maxpool2d -> max_unpool2d with the pool's switches (kernel, stride, padding) and ``output_size`` = the
  pool's input size.
* relu -> relu (the reconstruction is rectified, as in the forward pass).
* lrn, dropout, batchnorm2d, identity, stochastic_depth, the layer/group/instance norms -> passed through
  unchanged (no inverse; Zeiler & Fergus ignore contrast normalisation in the deconvnet, and dropout, stochastic
  depth and BN are identities at inference, up to BN's affine map).
* anything else (linear, flatten, avg/adaptive pooling, LeNet's subsample, tanh/sigmoid, table convs, ...)
  has no DeconvNet inverse and is an error, as is a path through a merge (concat, add, dense feed): the
  mirror follows one chain.

Every output size comes from the op registry's own rules (conv_transpose2d, max_unpool2d). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.analysis.records import resolve
from archcalc.analysis.report import Record, Report, Shape, gc_paused
from archcalc.errors import ArchcalcError, ShapeError, did_you_mean, show
from archcalc.frontend.spec import Spec
from archcalc.graph.ir import IN, LAYER, GNode, Graph
from archcalc.ops import OPS
from archcalc.ops.conv import pads  # the conv rule's own (low, high) padding, 'same' included
from archcalc.ops.symbolic import FAST

INPUT = "@in"

# layers the mirror passes through unchanged, and why
PASS_THROUGH = {
    "lrn": "LRN has no inverse: passed through (Zeiler & Fergus ignore contrast normalisation here)",
    "dropout": "dropout is the identity at inference: passed through",
    "batchnorm2d": "batch norm is not inverted: passed through",
    "identity": "identity: passed through",
    "stochastic_depth": "stochastic depth is the identity at inference: passed through",
    "layernorm": "layer norm is not inverted: passed through (as batch norm)",
    "layernorm2d": "layer norm is not inverted: passed through (as batch norm)",
    "groupnorm": "group norm is not inverted: passed through (as batch norm)",
    "instancenorm2d": "instance norm is not inverted: passed through (as batch norm)",
}
NO_INVERSE = {
    "linear": "a linear layer has no DeconvNet inverse: start the mirror at a feature map (a conv layer)",
    "flatten": "flatten leaves the feature maps: start the mirror at a conv layer before it",
    "avgpool2d": "average pooling records no switches, so it has no DeconvNet inverse",
    "adaptive_avgpool2d": "adaptive average pooling records no switches, so it has no DeconvNet inverse",
    "mean": "a mean records no switches, so it has no DeconvNet inverse",
    "adaptive_maxpool2d": "adaptive max pooling is not mirrored (only maxpool2d switches are recorded)",
    "subsample": "LeNet's trainable subsampling has no DeconvNet inverse",
    "permute": "the mirror runs on C x H x W maps: a permute (channels-last) has no step in it",
    "channel_shuffle": "the mirror has no channel permutation step: a channel shuffle has no DeconvNet inverse",
    "chunk": "a chunk keeps part of its input: the rest has no path back, so there is no DeconvNet inverse",
}


@dataclass(frozen=True)
class MirrorStep:
    """One step of the mirror: ``op`` applied to ``input_shape`` gives ``output_shape``."""

    source: str  # path of the forward layer this step mirrors
    source_op: str
    op: str  # conv_transpose2d | max_unpool2d | relu | pass
    input_shape: Shape
    output_shape: Shape
    args: dict[str, Any] = field(default_factory=dict)  # validated args of ``op`` (registry names)
    fit: tuple[int, int] = (0, 0)  # rows, cols added to the rule's default size (output_padding / output_size)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.args.items()}
        return {
            "mirrors": self.source,
            "forward_op": self.source_op,
            "op": self.op,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "args": args,
            "fit": list(self.fit),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class DeconvPlan:
    model: str
    layer: str  # the forward layer whose output the mirror starts from
    start_shape: Shape  # that layer's output shape
    input: Shape  # the network input, where the last step lands
    steps: tuple[MirrorStep, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "layer": self.layer,
            "start_shape": list(self.start_shape),
            "input": list(self.input),
            "steps": [s.to_dict() for s in self.steps],
        }


def plan_deconv(
    spec_or_path: Spec | str,
    layer: str | None = None,
    input: str | tuple[int, ...] | list[int] | None = None,
    sets: dict[str, Any] | None = None,
) -> DeconvPlan:
    """The mirror from ``layer`` (default: ``default_layer``, the deepest mirrorable conv) back to the input."""
    graph, report = resolve(spec_or_path, input, sets)
    return mirror_plan(graph, report, layer)


@gc_paused
def mirror_plan(graph: Graph, report: Report, layer: str | None = None) -> DeconvPlan:
    if layer is None:
        layer = default_layer(graph, report)
    rec = find_layer(report, layer)
    steps = tuple(_step(report, report[path]) for path in trace(graph, report, rec.path))
    return DeconvPlan(report.model, rec.path, rec.output_shape, report.input, steps)


def default_layer(graph: Graph, report: Report) -> str:
    """The deepest mirrorable conv: the one whose path back to the input has the most steps (the later of equals).

    On a branched network that is a conv of the main path: a shortcut conv (ResNet's downsample) reaches the
    input in fewer steps than the convs of the branch beside it, which come earlier in forward order."""
    depths = mirror_depths(graph, report)
    if not depths:
        raise ArchcalcError("no conv layer can be mirrored back to the input", file=report.file)
    order = {path: i for i, path in enumerate(depths)}
    return max(depths, key=lambda path: (depths[path], order[path]))


def mirrorable_convs(graph: Graph, report: Report) -> list[str]:
    """Paths of the conv2d layers whose whole path back to the input can be mirrored, in forward order."""
    return list(mirror_depths(graph, report))


def mirror_depths(graph: Graph, report: Report) -> dict[str, int]:
    """Each mirrorable conv2d layer (in forward order) and the number of layers on its path back to the input.

    One pass: a layer's path back is mirrorable when its own step is and its single producer's path is, so each
    layer is traced and stepped once (tracing back from every conv was quadratic, cubic through dense buses)."""
    src = single_sources(graph)
    depth: dict[int, int] = {}  # mirrorable layers only: the steps of their path back
    ok: dict[int, bool] = {}
    out = {}
    for rec in report.layers:
        start = graph.by_path[rec.path]
        if rec.op == "conv2d" and _mirrorable(graph, report, src, ok, depth, start):
            out[rec.path] = depth[start]
    return out


def _mirrorable(
    graph: Graph, report: Report, src: list[int | None], ok: dict[int, bool], depth: dict[int, int], start: int
) -> bool:
    """Walk back to the first layer already judged (or the input), then judge the walked layers upwards."""
    chain: list[int] = []
    i: int | None = start
    while i is not None and i != _NET_INPUT and i not in ok:
        chain.append(i)
        i = src[i]
    good = i == _NET_INPUT or (i is not None and ok[i])
    steps = depth.get(i, 0) if i is not None else 0
    for j in reversed(chain):
        if good:
            try:
                _step(report, report[graph.nodes[j].path])
            except ArchcalcError:
                good = False
            else:
                steps += 1
                depth[j] = steps
        ok[j] = good
    return ok[start]


_NET_INPUT, _MANY = -1, -2


def single_sources(graph: Graph) -> list[int | None]:
    """Per layer node: the one layer node it reads (``-1``: the network input), or None when ``producers``
    would give it zero or several. Each node's producers are counted once (capped at two) from its inputs'."""
    count = [0] * len(graph.nodes)  # producers of the node's value: a layer is its own, 2 means 'several'
    one = [_MANY] * len(graph.nodes)  # the producer when count == 1
    out: list[int | None] = [None] * len(graph.nodes)
    for node in graph.nodes:
        n, first = 0, _MANY
        for j in node.inputs:
            if count[j] and not n:
                first = one[j]
            n = min(2, n + count[j])
        if node.role == LAYER:
            out[node.index] = first if n == 1 else None
            count[node.index], one[node.index] = 1, node.index
        elif node.role == IN and not node.inputs:
            count[node.index], one[node.index] = 1, _NET_INPUT
        else:
            count[node.index], one[node.index] = n, first
    return out


def find_layer(report: Report, name: str) -> Record:
    """A layer by full path, or by a unique last path component (``conv2`` for ``features.conv2``)."""
    exact, near = report.lookup(name)
    recs = report.records
    hits = [recs[i] for i in exact if recs[i].kind == "layer"] or [recs[i] for i in near if recs[i].kind == "layer"]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ArchcalcError(f"layer '{name}' is ambiguous: {', '.join(r.path for r in hits)}", file=report.file)
    block = next((r for r in report.blocks if r.path == name), None)
    if block is not None:
        raise ArchcalcError(f"'{name}' is a block: name one of its layers", file=report.file, line=block.line)
    convs = [r.path for r in report.layers if r.op == "conv2d"]
    more = f" and {len(convs) - 8} more" if len(convs) > 8 else ""
    hint = did_you_mean(report.close_paths(name, layers_only=True)) or f"; conv layers: {', '.join(convs[:8])}{more}"
    raise ArchcalcError(f"no layer {show(name)} in {report.model}{hint}", file=report.file)


def producers(graph: Graph, node: GNode) -> list[str]:
    """The layers whose outputs ``node`` reads, back through the graph's edges (``@in``: the network input).

    Scope inputs and outputs are aliases; merges and dense buses stand for every input they concatenate
    or add, so a layer reading one of them has several producers.
    """
    out: list[str] = []
    stack = list(reversed(node.inputs))
    while stack:
        src = graph.nodes[stack.pop()]
        if src.role == LAYER:
            out.append(src.path)
        elif src.role == IN and not src.inputs:  # the network input
            out.append(INPUT)
        else:
            stack.extend(reversed(src.inputs))
    return out


def wiring(graph: Graph) -> dict[str, list[str]]:
    """For every layer path, the layer paths whose outputs it reads (``@in`` is the network input)."""
    return {n.path: producers(graph, n) for n in graph.layers()}


def trace(graph: Graph, report: Report, path: str) -> list[str]:
    """The layer paths from ``path`` back to the input (``path`` first); one producer per step or an error."""
    chain = [path]
    src = producers(graph, graph.nodes[graph.by_path[path]])
    while src != [INPUT]:
        if len(src) != 1:
            rec = report[chain[-1]]
            raise ArchcalcError(
                f"the path back to the input meets '{rec.path}' ({rec.op}), which reads {len(src)} layers "
                f"({', '.join(src)}); the DeconvNet mirror follows a single chain",
                file=report.file,
                line=rec.line,
                layer=path,
            )
        chain.append(src[0])
        src = producers(graph, graph.nodes[graph.by_path[src[0]]])
    return chain


def mirror_kind(op: str) -> str:
    """How the mirror treats an op: 'invert', 'rectify', 'pass', or the reason it has no inverse
    (every op has one of these, so a new op needs no edit here)."""
    if op in ("conv2d", "maxpool2d"):
        return "invert"
    if op == "relu":
        return "rectify"
    if op in PASS_THROUGH:
        return "pass"
    return NO_INVERSE.get(op, f"'{op}' has no DeconvNet inverse (the mirror defines conv, max pool and ReLU)")


def _step(report: Report, rec: Record) -> MirrorStep:
    try:
        if rec.op == "conv2d":
            return _conv_step(rec)
        if rec.op == "maxpool2d":
            return _unpool_step(rec)
    except ShapeError as err:
        raise err.located(file=report.file, line=rec.line, layer=rec.path) from None
    out, inp = rec.output_shape, _single(rec)
    if rec.op == "relu":
        return MirrorStep(rec.path, rec.op, "relu", out, inp, notes=("rectify the reconstruction",))
    if rec.op in PASS_THROUGH:
        return MirrorStep(rec.path, rec.op, "pass", out, inp, notes=(PASS_THROUGH[rec.op],))
    raise ArchcalcError(mirror_kind(rec.op), file=report.file, line=rec.line, layer=rec.path)


def _single(rec: Record) -> Shape:
    assert not isinstance(rec.input_shape, list), rec.path  # trace() lets no merge through
    return rec.input_shape


def _conv_step(rec: Record) -> MirrorStep:
    """conv2d C_in -> C_out becomes conv_transpose2d C_out -> C_in with the same filters, no bias."""
    a, inp = rec.args, _single(rec)
    if a["table"] is not None:
        raise ShapeError("a connection-table convolution has no single transposed convolution to mirror it")
    lohi = [pads(a, axis) for axis in (0, 1)]
    if any(lo != hi for lo, hi in lohi):
        raise ShapeError(f"padding {a['padding']!r} is asymmetric ({lohi}); ConvTranspose2d pads both sides alike")
    targs = {
        "out": int(inp[0]),
        "kernel": a["kernel"],
        "stride": a["stride"],
        "padding": (lohi[0][0], lohi[1][0]),
        "dilation": a["dilation"],
        "groups": a["groups"],
        "bias": False,
        "trainable": a["trainable"],
        "output_padding": (0, 0),
    }
    rule = OPS["conv_transpose2d"].rule
    default = rule(targs, rec.output_shape, FAST).shape
    fit = (int(inp[1]) - int(default[1]), int(inp[2]) - int(default[2]))
    targs["output_padding"] = fit  # the rule rejects output_padding >= max(stride, dilation)
    shape = tuple(int(d) for d in rule(targs, rec.output_shape, FAST).shape)
    notes = _fit_notes("output_padding", fit, (lohi[0][1], lohi[1][1]), inp, a["stride"])
    if a["padding_mode"] != "zeros":
        notes.append(f"padding_mode '{a['padding_mode']}': the transposed conv treats the border as zeros")
    return MirrorStep(rec.path, rec.op, "conv_transpose2d", rec.output_shape, shape, targs, fit, _kept(notes))


def _unpool_step(rec: Record) -> MirrorStep:
    """maxpool2d becomes max_unpool2d with its switches and output_size = the pool's input size."""
    a, inp = rec.args, _single(rec)
    uargs = {
        "pool": rec.path,
        "kernel": a["kernel"],
        "stride": a["stride"] or a["kernel"],
        "padding": a["padding"],
        "output_size": None,
    }
    rule = OPS["max_unpool2d"].rule
    default = rule(uargs, rec.output_shape, FAST).shape
    fit = (int(inp[1]) - int(default[1]), int(inp[2]) - int(default[2]))
    uargs["output_size"] = (int(inp[1]), int(inp[2]))  # the rule checks it is within a stride of the default
    shape = tuple(int(d) for d in rule(uargs, rec.output_shape, FAST).shape)
    notes = _fit_notes("output_size", fit, a["padding"], inp, uargs["stride"])
    if a["dilation"] != (1, 1):
        notes.append("MaxUnpool2d has no dilation: the switches alone place each value")
    return MirrorStep(rec.path, rec.op, "max_unpool2d", rec.output_shape, shape, uargs, fit, _kept(notes))


def _fit_notes(
    how: str, fit: tuple[int, int], pad_hi: tuple[int, int], inp: Shape, stride: tuple[int, int]
) -> list[str]:
    """Per axis, why the rule's default size misses the forward input size (one note when H and W agree)."""
    sizes = (int(inp[1]), int(inp[2]))
    if fit[0] == fit[1] and pad_hi[0] == pad_hi[1] and sizes[0] == sizes[1] and stride[0] == stride[1]:
        return [_fit_note("H and W", "row and column", how, fit[0], pad_hi[0], sizes[0], stride[0])]
    return [
        _fit_note(axis, unit, how, fit[i], pad_hi[i], sizes[i], stride[i])
        for i, (axis, unit) in enumerate((("H", "row"), ("W", "column")))
    ]


def _fit_note(axis: str, unit: str, how: str, fit: int, pad_hi: int, size: int, stride: int) -> str:
    value = fit if how == "output_padding" else size
    units = unit if fit == 1 else f"{fit} " + unit.replace(" and ", "s and ") + "s"
    if fit > 0:
        real = max(0, fit - pad_hi)
        which = f"{real} of them real input, lost to every later layer" if real else "padding only"
        return (
            f"{axis}: floor division dropped the last {units} of the padded input ({which}); "
            f"{how} {value} gives {size}, not {size - fit}"
        )
    if fit < 0:
        return f"{axis}: ceil_mode's last window overhangs the input by {-fit}; {how} trims {size - fit} to {size}"
    if stride > 1:
        return f"{axis}: the stride-{stride} windows tile the padded input exactly, nothing dropped"
    return ""


def _kept(notes: list[str]) -> tuple[str, ...]:
    return tuple(n for n in notes if n)
