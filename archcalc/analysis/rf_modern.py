"""Receptive-field rules of issue 10's norm and layout ops (registered into archcalc.analysis.rf).

The field is the theoretical one: every input pixel a unit depends on, statistics included (as for a softmax
over a spatial dim). Each rule follows H and W wherever a permute put them (``Field.hw``, per-sample dims).
``stochastic_depth`` is declared pointwise: the field is unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from archcalc.analysis.report import Record
from archcalc.analysis.rf import Axis, Field, rf_rule, spanning, whole_map
from archcalc.errors import ArchcalcError


@rf_rule("layernorm", any_layout=True)
def _layernorm(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Statistics over the last dim at each position: unchanged channels-last (ConvNeXt's block), the whole
    row on a C x H x W input (the last dim is W)."""
    return spanning(rec, f, (len(rec.output_shape) - 1,))


@rf_rule("layernorm2d", any_layout=True)
def _layernorm2d(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Statistics over the channels (dim 0) at each position: the field is unchanged."""
    return spanning(rec, f, (0,))


@rf_rule("groupnorm", any_layout=True)
def _groupnorm(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Statistics over a group of channels and every position: each unit depends on the whole map."""
    return whole_map(rec, f)


@rf_rule("instancenorm2d", any_layout=True)
def _instancenorm2d(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Without running stats, statistics over the H x W positions of each channel: the whole map; with
    running stats (eval) an affine map per channel: unchanged."""
    if a["track_running_stats"]:
        return replace(f, via="")
    return spanning(rec, f, (1, 2))


@rf_rule("permute", any_layout=True)
def _permute(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """The same units in another order: the fields are unchanged; H and W move to their new dims."""
    n = len(rec.output_shape) + 1
    dims = [d + n if d < 0 else d for d in a["dims"]]
    per_sample = [d - 1 for d in dims[1:]]  # output per-sample dim i is input per-sample dim per_sample[i]
    if not all(d in per_sample for d in f.hw):  # a value of rank < 3: no H and W to follow
        return replace(f, via="")
    return replace(f, via="", hw=(per_sample.index(f.hw[0]), per_sample.index(f.hw[1])))


@rf_rule("channel_shuffle", any_layout=True)
def _channel_shuffle(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Reorders the channels (dim 0) at each position: unchanged. Along H or W (after a permute) the units
    would no longer sit evenly spaced, which no field here describes: an error."""
    if 0 in f.hw and len(rec.output_shape) == 3:
        raise ArchcalcError(
            "no receptive-field rule for channel_shuffle along H or W (dim 1 of its input is spatial)", layer=rec.path
        )
    return replace(f, via="")


@rf_rule("chunk", any_layout=True)
def _chunk(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """A piece along the channels: unchanged. A piece along H or W starts at input unit index*size: the same
    field, its unit 0 being that unit (start moved by index*size*jump). Marked not exact (a per-unit maximum):
    a later padded window at the piece's border reads padding where the field shows the rows next to it."""
    shape = rec.input_shape
    assert not isinstance(shape, list)
    n = len(shape) + 1
    d = (a["dim"] + n if a["dim"] < 0 else a["dim"]) - 1
    if len(shape) != 3 or d not in f.hw or f.h.jump == 0:
        return replace(f, via="")
    length = int(shape[d])
    offset = a["index"] * -(-length // a["chunks"])

    def moved(ax: Axis) -> Axis:
        return Axis(ax.size, ax.jump, ax.start + offset * ax.jump)

    exact = f.exact and int(rec.output_shape[d]) == length
    if d == f.hw[0]:
        return replace(f, h=moved(f.h), via="", exact=exact)
    return replace(f, w=moved(f.w), via="", exact=exact)


@rf_rule("mean", any_layout=True)
def _mean(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """A mean over H or W: every output reads the whole map. Over other dims the field is unchanged (with
    keepdim=false the dims after a dropped one move up one place)."""
    rank = len(rec.input_shape) + 1  # the batch counted, as the dims are
    dims = [(d + rank if d < 0 else d) - 1 for d in a["dims"]]  # per-sample
    if any(d in f.hw for d in dims):
        return whole_map(rec, f)
    if a["keepdim"]:
        return replace(f, via="")
    h, w = (x - sum(1 for d in dims if d < x) for x in f.hw)
    return replace(f, via="", hw=(h, w))
