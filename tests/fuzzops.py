"""Single op entries for the fuzz (tests/fuzzgen.py): every argument with a range, mostly inside it.

In a ``wild`` spec each ranged argument is drawn outside its range 1 time in 10: sizes of 0 or -1, negative
paddings, a pool's padding beyond half its kernel (already common inside the plain draws), output_padding
>= stride, dims beyond the rank, p outside [0, 1], a negative eps, non-finite numbers, values over the
language's cap of 2**31 - 1, unknown padding modes. With ``big``, a few sizes are sometimes huge but in
range (outputs that no int64 byte count can hold); ``big`` is off where torch runs on the CPU.

The strategies only draw. Whether torch refuses an entry is for the reference (tests/torchref.py) to find.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

Entry = tuple[dict[str, Any], int]  # an op entry and its output channels (as far as the generator knows)

BAD_SIZE = st.sampled_from([0, -1, 2**31])  # sizes are whole numbers from 1 to 2**31 - 1
BAD_PAD = st.sampled_from([-1, -2, 2**31])
BAD_NUMBER = st.sampled_from([math.nan, math.inf, -math.inf])
HUGE = st.integers(2**16, 2**31 - 1)


@dataclass(frozen=True)
class Draws:
    """One spec's way of drawing arguments: inside their range, or (wild) sometimes outside it."""

    draw: st.DrawFn
    wild: bool = False
    big: bool = False  # only in specs that are not wild: the reference probes small arguments only

    def __post_init__(self) -> None:
        object.__setattr__(self, "big", self.big and not self.wild)

    def chance(self, one_in: int) -> bool:
        return bool(self.draw(st.integers(0, one_in - 1)) == 0)

    def out_of_range(self) -> bool:
        return self.wild and self.chance(10)

    def arg(self, inside: st.SearchStrategy[Any], outside: st.SearchStrategy[Any]) -> Any:
        return self.draw(outside if self.out_of_range() else inside)

    def pair(self, inside: st.SearchStrategy[int], outside: st.SearchStrategy[int] = BAD_SIZE) -> Any:
        """A number or [h, w]; out of range, one of them (or both) is outside."""
        if self.out_of_range():
            bad, good = self.draw(outside), self.draw(inside)
            return self.draw(st.sampled_from([bad, [bad, good], [good, bad]]))
        return self.draw(st.one_of(inside, st.lists(inside, min_size=2, max_size=2)))

    def huge(self, inside: st.SearchStrategy[int]) -> int:
        """Mostly ``inside``; with ``big``, 1 in 20 a huge size (the output may not fit torch's storage)."""
        return int(self.draw(HUGE if self.big and self.chance(20) else inside))


def _channels(out: Any) -> int:
    return out if isinstance(out, int) and 1 <= out <= 64 else 1


def _groups(d: Draws, c: int, out: Any) -> int:
    """Mostly a common divisor of C_in and C_out (valid); sometimes any small number (torch must refuse)."""
    if d.out_of_range():
        return int(d.draw(st.sampled_from([0, -1])))
    if d.chance(10):
        return int(d.draw(st.integers(1, 4)))
    g = math.gcd(c, _channels(out))
    return int(d.draw(st.sampled_from([k for k in range(1, g + 1) if g % k == 0])))


def conv2d(d: Draws, c: int) -> Entry:
    out = d.arg(st.integers(1, 16), BAD_SIZE)
    e: dict[str, Any] = {"op": "conv2d", "out": out, "kernel": d.pair(st.integers(1, 7))}
    if d.chance(2):
        e["stride"] = d.pair(st.integers(1, 4))
    pad = d.arg(
        st.one_of(st.integers(0, 4), st.lists(st.integers(0, 4), min_size=2, max_size=2), st.just("same")),
        st.sampled_from([-1, [0, -2], "full", 2**31]),
    )
    if d.big and d.chance(20):
        pad = d.draw(HUGE)
    if pad != 0 or d.chance(2):
        e["padding"] = d.draw(st.sampled_from([pad, "valid"])) if d.chance(8) else pad
    if d.chance(2):
        e["dilation"] = d.pair(st.integers(1, 3))
    g = _groups(d, c, out)
    if g != 1:
        e["groups"] = g
    if d.chance(4):
        e["bias"] = False
    if d.chance(4):
        e["padding_mode"] = d.arg(st.sampled_from(["reflect", "replicate", "circular"]), st.just("mirror"))
    return e, _channels(out)


def conv_transpose2d(d: Draws, c: int) -> Entry:
    out = d.arg(st.integers(1, 16), BAD_SIZE)
    e: dict[str, Any] = {"op": "conv_transpose2d", "out": out, "kernel": d.pair(st.integers(1, 5))}
    e["stride"] = d.draw(HUGE) if d.big and d.chance(20) else d.pair(st.integers(1, 3))
    e["padding"] = d.pair(st.integers(0, 3), BAD_PAD)
    e["output_padding"] = d.pair(st.integers(0, 2), st.sampled_from([-1, 3, 2**31]))
    if d.chance(2):
        e["dilation"] = d.pair(st.integers(1, 2))
    g = _groups(d, c, out)
    if g != 1:
        e["groups"] = g
    if d.chance(4):
        e["bias"] = False
    return e, _channels(out)


def pool(d: Draws, c: int) -> Entry:
    op = d.draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
    e: dict[str, Any] = {"op": op, "kernel": d.pair(st.integers(1, 5))}
    if d.chance(2):
        e["stride"] = d.pair(st.integers(1, 4))
    if d.chance(2):
        e["padding"] = d.pair(st.integers(0, 3), BAD_PAD)  # inside: often beyond half the kernel already
    if d.chance(2):
        e["ceil_mode"] = True
    if op == "maxpool2d" and d.chance(2):
        e["dilation"] = d.pair(st.integers(1, 3))
    if op == "avgpool2d" and d.chance(2):
        e["count_include_pad"] = False
    return e, c


def adaptive(d: Draws, c: int) -> Entry:
    op = d.draw(st.sampled_from(["adaptive_avgpool2d", "adaptive_maxpool2d"]))

    def size() -> Any:
        return d.huge(st.integers(1, 9)) if not d.out_of_range() else d.draw(BAD_SIZE)

    output = size() if d.chance(2) else [None if d.chance(4) else size(), None if d.chance(4) else size()]
    return {"op": op, "output": output}, c


def batchnorm(d: Draws, c: int) -> Entry:
    e: dict[str, Any] = {"op": "batchnorm2d"}
    if d.chance(4):
        e["affine"] = False
    if d.chance(4):
        e["track_running_stats"] = False
    if d.chance(4) or d.wild:
        e["eps"] = d.arg(st.sampled_from([1e-5, 1e-3, 0.5]), st.sampled_from([-1e-5, -1.0, 0.0, -0.0, math.nan]))
    if d.chance(4) or d.wild:
        e["momentum"] = d.arg(st.sampled_from([0.1, 0.0, 1.0, -0.5, 3.0]), BAD_NUMBER)  # torch takes any
    return e, c


def lrn(d: Draws, c: int) -> Entry:
    e: dict[str, Any] = {"op": "lrn", "size": d.arg(st.integers(1, 7), BAD_SIZE)}
    for key, inside in (("alpha", [1e-4, 0.5, -1.0]), ("beta", [0.75, 2.0, -0.5]), ("k", [1.0, 2.0, 0.5])):
        if d.chance(3) or d.wild:
            e[key] = d.arg(st.sampled_from(inside), BAD_NUMBER)
    return e, c


def softmax(d: Draws, c: int, rank: int = 3) -> Entry:
    """dim counts the batch: torch takes -(rank+1)..rank."""
    dim = d.arg(st.integers(-(rank + 1), rank), st.sampled_from([rank + 1, -(rank + 2), 99, -99]))
    return ({"op": "softmax", "dim": dim} if dim != 1 or d.chance(2) else {"op": "softmax"}), c


def dropout(d: Draws, c: int) -> Entry:
    return {"op": "dropout", "p": d.arg(st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.sampled_from([-0.1, 1.5]))}, c


def elementwise(d: Draws, c: int) -> Entry:
    op = d.draw(st.sampled_from(["relu", "sigmoid", "tanh", "scaled_tanh", "identity"]))
    if op == "relu" and d.chance(3):
        return {"op": op, "inplace": True}, c
    return {"op": op}, c


def compress(d: Draws, c: int) -> Entry:
    """DenseNet's compression: a 1x1 conv to floor(ratio*C) maps, ratio in (0, 1] (the language's range)."""
    ratio = d.arg(st.sampled_from([0.5, 0.25, 1.0, 0.3, 0.125]), st.sampled_from([0.0, -0.5, 1.5]))
    e: dict[str, Any] = {"op": "compress", "ratio": ratio, **({"bias": True} if d.chance(4) else {})}
    return e, max(1, math.floor(ratio * c)) if 0 < ratio <= 1 else c


def subsample(d: Draws, c: int) -> Entry:
    e: dict[str, Any] = {"op": "subsample", "kernel": d.arg(st.integers(1, 4), BAD_SIZE)}
    if d.chance(4):
        e["bias"] = False
    return e, c


def linear(d: Draws, c: int) -> Entry:
    """Mid-network, a linear layer acts on the last dim (W): the channels stay."""
    e: dict[str, Any] = {"op": "linear", "out": d.arg(st.integers(1, 10), BAD_SIZE)}
    if d.big and d.chance(10):
        e["out"] = d.draw(HUGE)
    if d.chance(4):
        e["bias"] = False
    return e, c


# ---------------------------------------------------------------- issue 10: activations, norms, layout ops

INPLACE = ["relu6", "hardswish", "hardsigmoid", "silu", "mish", "leaky_relu", "elu"]
ACTIVATIONS = [*INPLACE, "gelu", "prelu"]


def activation(d: Draws, c: int) -> Entry:
    """One of issue 10's activations with its arguments; prelu mostly with 1 or C slopes (others: torch refuses)."""
    op = d.draw(st.sampled_from(ACTIVATIONS))
    e: dict[str, Any] = {"op": op}
    if op in INPLACE and d.chance(3):
        e["inplace"] = True
    if op == "gelu" and (d.chance(2) or d.wild):
        e["approximate"] = d.arg(st.sampled_from(["tanh", "none"]), st.sampled_from(["erf", "exact"]))
    if op == "leaky_relu" and (d.chance(2) or d.wild):
        e["negative_slope"] = d.arg(st.sampled_from([0.2, 0.0, -0.5, 3.0]), BAD_NUMBER)
    if op == "elu" and (d.chance(2) or d.wild):
        e["alpha"] = d.arg(st.sampled_from([0.5, 1.0, 0.0, -1.0]), BAD_NUMBER)
    if op == "prelu":
        n = d.arg(st.sampled_from([1, 1, c, c, max(1, c - 1), c + 1]), st.sampled_from([0, -1, 2**31]))
        if n != 1 or d.chance(2):
            e["num_parameters"] = n
        if d.chance(3) or d.wild:
            e["init"] = d.arg(st.sampled_from([0.25, 0.0, -1.0]), BAD_NUMBER)
    return e, c


def _eps(d: Draws, e: dict[str, Any]) -> None:
    if d.chance(4) or d.wild:  # torch takes any finite eps for these norms; the language any finite number
        e["eps"] = d.arg(st.sampled_from([1e-5, 1e-6, 0.5, 0.0, -1e-3]), BAD_NUMBER)


def norm(d: Draws, c: int) -> Entry:
    """layernorm (over the last dim: W here), layernorm2d, groupnorm, instancenorm2d with their arguments."""
    op = d.draw(st.sampled_from(["layernorm", "layernorm2d", "groupnorm", "instancenorm2d"]))
    e: dict[str, Any] = {"op": op}
    _eps(d, e)
    if op in ("layernorm", "layernorm2d"):
        if d.chance(4):
            e["elementwise_affine"] = False
        if d.chance(4):
            e["bias"] = False
    elif op == "groupnorm":
        e["groups"] = _groups(d, c, c)
        if d.chance(4):
            e["affine"] = False
    else:
        for key in ("affine", "track_running_stats"):
            if d.chance(3):
                e[key] = True
        if d.chance(4) or d.wild:
            e["momentum"] = d.arg(st.sampled_from([0.1, 0.0, 1.0, -0.5]), BAD_NUMBER)
    return e, c


def _piece(c: int, chunks: int, index: int) -> int:
    """torch.chunk's piece ``index`` of a length-c dim (c when it does not exist: torch refuses it)."""
    if c < 1 or chunks < 1:
        return c
    size = -(-c // chunks)
    return min(size, c - index * size) if index * size < c else c


def layout(d: Draws, c: int) -> Entry:
    """permute (batch first, or wild: moved, repeated, too few dims), channel_shuffle, chunk (any dim, an index
    past torch's last piece sometimes), stochastic_depth."""
    op = d.draw(st.sampled_from(["permute", "channel_shuffle", "chunk", "chunk", "stochastic_depth"]))
    if op == "permute":
        inside = st.permutations([1, 2, 3]).map(lambda p: [0, *p])
        dims = d.arg(inside, st.sampled_from([[1, 0, 2, 3], [0, 1, 1, 2], [0, 2, 1], [0, 1, 2, 4], [0, -5, 1, 2]]))
        if d.chance(3):
            dims = [x - 4 if x and d.chance(2) else x for x in dims]
        return {"op": "permute", "dims": dims}, c if dims[1] in (1, -3) else 1
    if op == "channel_shuffle":
        return {"op": op, "groups": _groups(d, c, c)}, c
    if op == "stochastic_depth":
        e: dict[str, Any] = {"op": op, "p": d.arg(st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.sampled_from([-0.1, 1.5]))}
        if d.chance(2) or d.wild:
            e["mode"] = d.arg(st.sampled_from(["row", "batch"]), st.just("both"))
        return e, c
    chunks = d.arg(st.integers(1, 5), BAD_SIZE)
    index = d.arg(st.integers(0, 5), st.sampled_from([-1, 2**31]))
    e = {"op": "chunk", "chunks": chunks, "index": index}
    if d.chance(2) or d.wild:
        e["dim"] = d.arg(st.sampled_from([1, 2, 3, -1, -2, -3]), st.sampled_from([0, -4, 4, 99]))
    return e, _piece(c, chunks, index) if e.get("dim", 1) in (1, -3) else c


def channels_last(d: Draws, c: int) -> Entry:
    """ConvNeXt's block interior as a list: permute to channels-last, then layernorm, linear, an activation,
    stochastic depth or a chunk along the last dim (the channels), and permute back."""
    items: list[dict[str, Any]] = [{"name": "to_last", "op": "permute", "dims": [0, 2, 3, 1]}]
    for j in range(d.draw(st.integers(1, 4))):
        kind = d.draw(st.sampled_from(["layernorm", "layernorm", "linear", "linear", "act", "drop", "chunk"]))
        e: dict[str, Any]
        if kind == "layernorm":
            e = {"op": "layernorm"}
            _eps(d, e)
        elif kind == "linear":
            e = {"op": "linear", "out": d.arg(st.integers(1, 16), BAD_SIZE)}
            c = _channels(e["out"])
        elif kind == "act":
            e, _ = activation(d, c)
            e.pop("num_parameters", None)  # channels-last: PReLU's per-channel slopes would read dim 1 (H)
        elif kind == "drop":
            e = {"op": d.draw(st.sampled_from(["stochastic_depth", "dropout"])), "p": 0.1}
        else:
            e = {"op": "chunk", "chunks": d.draw(st.integers(1, 4)), "index": d.draw(st.integers(0, 2)), "dim": -1}
            c = _piece(c, e["chunks"], e["index"])
        items.append({"name": f"l{j}", **e})
    items.append({"name": "to_first", "op": "permute", "dims": [0, 3, 1, 2]})
    return {"layers": items}, c


OpFn = Callable[[Draws, int], Entry]
KEEPS_SIZE = {"batchnorm2d", "lrn", "softmax", "dropout", "compress"} | {"relu", "sigmoid", "tanh", "scaled_tanh"}
KEEPS_SIZE |= {"identity", *ACTIVATIONS, "layernorm", "layernorm2d", "groupnorm", "instancenorm2d"}
KEEPS_SIZE |= {"channel_shuffle", "stochastic_depth"}
LAYER_KINDS: list[OpFn] = [conv2d, conv2d, conv2d, conv_transpose2d, pool, pool, adaptive, batchnorm]
LAYER_KINDS += [lrn, softmax, dropout, elementwise, compress, subsample, linear]
LAYER_KINDS += [activation] * 3 + [norm] * 3 + [layout] * 2 + [channels_last] * 2  # issue 10: about 2 in 5


def layer(d: Draws, c: int) -> Entry:
    """One op entry on a C x H x W value with c channels."""
    kind: OpFn = d.draw(st.sampled_from(LAYER_KINDS))
    return kind(d, c)


def flatten(d: Draws) -> dict[str, Any]:
    """flatten of a C x H x W value: dims 1..3 or -3..-1 (dim 0, the batch, stays); outside: the batch and beyond."""
    e: dict[str, Any] = {"op": "flatten"}
    if d.chance(4) or d.wild:
        e["start_dim"] = d.arg(st.sampled_from([1, 2, -3, -2]), st.sampled_from([0, -4, 4, 2**31]))
    if d.chance(6) or d.wild:
        e["end_dim"] = d.arg(st.sampled_from([-1, 3, 2]), st.sampled_from([0, 4, -5]))
    return e


def head_layer(d: Draws) -> dict[str, Any]:
    """An entry after flatten: mostly linear; sometimes softmax, dropout, relu, LeNet's RBF output, an activation
    of issue 10 or a layer norm (over the features)."""
    kinds = ["linear", "linear", "linear", "softmax", "dropout", "relu", "rbf", "act", "layernorm"]
    kind = d.draw(st.sampled_from(kinds))
    if kind == "act":
        return activation(d, 1)[0]
    if kind == "layernorm":
        e: dict[str, Any] = {"op": "layernorm"}
        _eps(d, e)
        return e
    if kind == "linear":
        e, _ = linear(d, 0)
        return e
    if kind == "softmax":
        return softmax(d, 0, rank=1)[0]
    if kind == "dropout":
        return dropout(d, 0)[0]
    if kind == "rbf":
        return {"op": "rbf", "out": d.huge(st.integers(1, 10)) if not d.out_of_range() else d.draw(BAD_SIZE)}
    return {"op": "relu"}
