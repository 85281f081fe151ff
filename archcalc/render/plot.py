"""Plots with matplotlib (Agg backend), imported only when a --plot option asks for one.

User text (a spec's name, layer paths) is drawn as plain text: ``parse_math=False`` and no usetex, so a
name such as ``$\\frac{$`` is shown as written instead of being parsed as mathtext (which would raise).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from archcalc.errors import ArchcalcError, show

SUFFIXES = (".png", ".svg", ".pdf")
PLAIN = {"parse_math": False}  # Text properties for user text


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ArchcalcError('--plot needs matplotlib: pip install "archcalc[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_path(path: str) -> None:
    """Refuse, before any work, a plot path that names no file: empty, a folder, or another suffix."""
    if not path.strip():
        raise ArchcalcError("--plot needs a file name, e.g. plot.png")
    if path.endswith(tuple(s for s in (os.sep, os.altsep) if s)):
        raise ArchcalcError(f"--plot {show(path)} ends in a path separator; name a file in that folder, e.g. plot.png")
    if Path(path).suffix.lower() not in SUFFIXES:
        raise ArchcalcError(f"--plot {show(path)}: use a .png, .svg or .pdf file name")


def _save(fig: Any, path: str) -> None:
    """Write the figure, creating missing parent folders; a place that cannot be written is one line."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=110, format=target.suffix[1:].lower())
    except OSError as err:
        raise ArchcalcError(f"cannot write the plot: {err.strerror or err}", file=path) from None


def sweep_plot(points: list[Any], path: str, title: str) -> None:
    """MACs, activations and memory against input side, log-log (cost grows like side^2)."""
    check_path(path)
    plt = _pyplot()
    ok = [p for p in points if p.output is not None]
    if not ok:
        raise ArchcalcError("no input size in the sweep works; nothing to plot")
    side = [p.size[0] for p in ok]
    with plt.rc_context({"text.usetex": False}):
        fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
        series = [
            ("MACs per sample", [p.macs for p in ok], "MACs"),
            ("activations per sample (elements)", [p.activations for p in ok], "elements"),
            ("memory (bytes)", [p.inference_bytes for p in ok], "bytes"),
        ]
        for ax, (name, ys, unit) in zip(axes, series, strict=True):
            ax.plot(side, ys, marker="." if len(side) < 60 else None, label=name.split(" (")[0])
            if name.startswith("memory"):
                ax.plot(side, [p.training_adam_bytes for p in ok], linestyle="--", label="training, Adam")
                ax.legend(["inference peak", "training (Adam)"], fontsize=8)
            ax.set_xscale("log", base=2)
            ax.set_yscale("symlog", linthresh=1)  # log above 1; a network without MACs has zeros, log warns
            ax.set_xlabel("input side (pixels)")
            ax.set_ylabel(unit)
            ax.set_title(name, fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
        fig.suptitle(title, **PLAIN)
        try:
            _save(fig, path)
        finally:
            plt.close(fig)


def layer_plot(report: Any, path: str) -> None:
    """Per-layer bars of params and MACs (layers with neither are left out), log scale."""
    check_path(path)
    plt = _pyplot()
    layers = [r for r in report.layers if r.counts.params or r.counts.macs]
    if not layers:
        raise ArchcalcError("no layer has params or MACs; nothing to plot")
    names = [r.path for r in layers]
    x = range(len(layers))
    width = max(8.0, min(40.0, 0.18 * len(layers)))
    with plt.rc_context({"text.usetex": False}):
        fig, axes = plt.subplots(2, 1, figsize=(width, 7), sharex=True, constrained_layout=True)
        for ax, key, colour in ((axes[0], "params", "tab:blue"), (axes[1], "macs", "tab:orange")):
            ax.bar(x, [max(getattr(r.counts, key), 0) for r in layers], color=colour)
            ax.set_yscale("symlog", linthresh=1)
            ax.set_ylabel("params" if key == "params" else "MACs")
            ax.grid(True, axis="y", alpha=0.3)
        axes[1].set_xticks(list(x))
        axes[1].set_xticklabels(names, rotation=90, fontsize=6 if len(names) > 40 else 8, **PLAIN)
        shape = "x".join(map(str, report.input))
        fig.suptitle(f"{report.model}: params and MACs per layer (input {shape})", **PLAIN)
        try:
            _save(fig, path)
        finally:
            plt.close(fig)
