"""Plots with matplotlib (Agg backend), imported only when a --plot option asks for one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archcalc.errors import ArchcalcError


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check(path: str) -> None:
    if Path(path).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ArchcalcError(f"--plot {path}: use a .png, .svg or .pdf file name")


def sweep_plot(points: list[Any], path: str, title: str) -> None:
    """MACs, activations and memory against input side, log-log (cost grows like side^2)."""
    _check(path)
    plt = _pyplot()
    ok = [p for p in points if p.output is not None]
    if not ok:
        raise ArchcalcError("no input size in the sweep works; nothing to plot")
    side = [p.size[0] for p in ok]
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
        ax.set_yscale("log")
        ax.set_xlabel("input side (pixels)")
        ax.set_ylabel(unit)
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def layer_plot(report: Any, path: str) -> None:
    """Per-layer bars of params and MACs (layers with neither are left out), log scale."""
    _check(path)
    plt = _pyplot()
    layers = [r for r in report.layers if r.counts.params or r.counts.macs]
    if not layers:
        raise ArchcalcError("no layer has params or MACs; nothing to plot")
    names = [r.path for r in layers]
    x = range(len(layers))
    width = max(8.0, min(40.0, 0.18 * len(layers)))
    fig, axes = plt.subplots(2, 1, figsize=(width, 7), sharex=True, constrained_layout=True)
    for ax, key, colour in ((axes[0], "params", "tab:blue"), (axes[1], "macs", "tab:orange")):
        ax.bar(x, [max(getattr(r.counts, key), 0) for r in layers], color=colour)
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylabel("params" if key == "params" else "MACs")
        ax.grid(True, axis="y", alpha=0.3)
    axes[1].set_xticks(list(x))
    axes[1].set_xticklabels(names, rotation=90, fontsize=6 if len(names) > 40 else 8)
    fig.suptitle(f"{report.model}: params and MACs per layer (input {'x'.join(map(str, report.input))})")
    fig.savefig(path, dpi=110)
    plt.close(fig)
