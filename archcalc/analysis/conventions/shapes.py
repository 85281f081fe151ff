"""Small shape helpers the convention rules share (pure integers, per sample)."""

from __future__ import annotations

from archcalc.analysis.report import Record
from archcalc.ops.registry import prod

__all__ = ["prod"]  # re-exported for the rules


def in_shape(rec: Record) -> tuple[int, ...]:
    """The single input shape of a layer (merges have a list; their rules never call this)."""
    x = rec.input_shape
    if isinstance(x, list):
        raise TypeError(f"{rec.path}: {rec.op} has several inputs")
    return tuple(int(d) for d in x)


def numel_in(rec: Record) -> int:
    return prod(in_shape(rec))


def spatial_out(rec: Record) -> int:
    """H_out * W_out of a C x H x W output."""
    return prod(rec.output_shape[1:])


def conv_weights(rec: Record) -> int:
    """Weight elements of a conv2d: C_out*(C_in/g)*k_h*k_w, or sum_j |T_j|*k_h*k_w with a connection table."""
    a = rec.args
    kk = int(a["kernel"][0]) * int(a["kernel"][1])
    if a["table"] is not None:
        return sum(len(row) for row in a["table"]) * kk
    return int(a["out"]) * (in_shape(rec)[0] // int(a["groups"])) * kk


def tconv_weights(rec: Record) -> int:
    """Weight elements of a conv_transpose2d: C_in*(C_out/g)*k_h*k_w."""
    a = rec.args
    return in_shape(rec)[0] * (int(a["out"]) // int(a["groups"])) * int(a["kernel"][0]) * int(a["kernel"][1])


def compress_weights(rec: Record) -> int:
    """Weight elements of DenseNet's compression, a 1x1 conv: C_in*C_out."""
    return in_shape(rec)[0] * int(rec.output_shape[0])


def bias_elems(rec: Record) -> int:
    return int(rec.args["out"]) if rec.args["bias"] else 0
