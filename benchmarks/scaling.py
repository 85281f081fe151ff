"""Every command's work against the number of layers: synthetic specs of 1,000 to 20,000 layers.

Each spec mixes the wiring that used to cost more than linear: a chain of convs where every 4th layer
reads the one 3 back by ``from``, two-branch residual blocks, and dense feeds. Each command runs through
the real CLI in-process (click's runner), best of 3, and the table prints CPU seconds of this process
(``time.process_time``: other jobs on the machine change wall time more) and seconds per 1,000 layers: a
linear command keeps the second column flat. ``compare`` reads two copies of the spec; ``check`` reads a
claims file with total, layer-level and block-level claims against it. ``deconv`` also runs on a plain chain
of convs and ReLUs, where every conv can be mirrored, and ``rf`` and ``deconv`` on one dense feed as long as
the network. The rich layout (what a terminal gets) is timed through the API: the CLI picks plain text when
stdout is not a terminal. A command slower than ``--budget`` seconds is not run at the larger sizes.

    python benchmarks/scaling.py                  # 1k, 2k, 5k, 10k, 20k
    python benchmarks/scaling.py --sizes 1000 4000 --runs 1
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# label -> argv; {spec} is the synthetic spec, {copy} a second copy of it, {claims} the claims file,
# {chain} a plain conv/relu chain, {dense} one long dense feed, {last} the spec's last layer (a unique name)
COMMANDS: dict[str, list[str]] = {
    "table": ["table", "{spec}", "-f", "json"],
    "table (rich layout)": ["rich", "{spec}"],
    "table --rf --convention fvcore": ["table", "{spec}", "--rf", "--convention", "fvcore", "-f", "csv"],
    "table (plain text)": ["table", "{spec}"],
    "explain": ["explain", "{spec}", "-f", "json"],
    "explain LAYER": ["explain", "{spec}", "{last}"],
    "rf": ["rf", "{spec}", "-f", "json"],
    "memory": ["memory", "{spec}", "-f", "json"],
    "sweep": ["sweep", "{spec}", "--input", "16:64:16", "-f", "json"],
    "flops": ["flops", "{spec}", "-f", "json"],
    "deconv": ["deconv", "{spec}", "-f", "json"],
    "deconv (plain chain)": ["deconv", "{chain}", "-f", "json"],
    "deconv (one dense feed)": ["deconv", "{dense}", "-f", "json"],
    "rf (one dense feed)": ["rf", "{dense}", "-f", "json"],
    "minsize": ["minsize", "{spec}"],
    "compare": ["compare", "{spec}", "{copy}", "-f", "json"],
    "check": ["check", "{claims}", "-f", "json"],
}


def synthetic(n: int) -> tuple[str, str]:
    """About n layers: units of conv, relu, a from-reference, a residual block and a small dense block.

    Returns the spec and the path of its last conv (a unique name deep in the network)."""
    lines = ["name: synthetic", "input: [4, 32, 32]", "layers:"]
    count, i = 0, 0
    while count < n:
        lines += [
            f"  - {{name: c{i}, op: conv2d, out: 4, kernel: 3, padding: 1}}",
            f"  - {{name: r{i}, op: relu}}",
            f"  - {{name: f{i}, op: conv2d, out: 4, kernel: 1, from: c{i}}}",
            f"  - name: res{i}",
            "    branches:",
            "      main: [{op: conv2d, out: 4, kernel: 3, padding: 1}, {op: batchnorm2d}]",
            "      skip: []",
            "    merge: add",
            f"  - {{name: d{i}, op: conv2d, out: 2, kernel: 1, repeat: 2, feed: dense}}",
            f"  - {{name: t{i}, op: conv2d, out: 4, kernel: 1}}",
        ]
        count, i = count + 8, i + 1
    return "\n".join(lines) + "\n", f"t{i - 1}"


def chain(n: int) -> str:
    """n layers, conv and relu in turn: every conv can be mirrored back to the input."""
    lines = ["name: chain", "input: [4, 32, 32]", "layers:"]
    for i in range(n // 2):
        lines += [f"  - {{name: c{i}, op: conv2d, out: 4, kernel: 3, padding: 1}}", f"  - {{name: r{i}, op: relu}}"]
    return "\n".join(lines) + "\n"


def dense(n: int) -> str:
    """n layers: a conv, a dense feed of n - 2 convs (each reads the input and every earlier output), a conv."""
    return (
        "\n".join(
            [
                "name: dense",
                "input: [4, 8, 8]",
                "layers:",
                "  - {name: c, op: conv2d, out: 4, kernel: 3, padding: 1}",
                f"  - {{name: d, op: conv2d, out: 2, kernel: 1, repeat: {n - 2}, feed: dense}}",
                "  - {name: t, op: conv2d, out: 4, kernel: 1}",
            ]
        )
        + "\n"
    )


def claims(spec: Path, last: str) -> str:
    """A handful of claims: totals, a layer's shape and MACs (by unique name), and a block's params."""
    return (
        "\n".join(
            [
                "title: synthetic claims",
                f"spec: {spec}",
                "claims:",
                "  - {claim: total params, quantity: params, value: 1}",
                "  - {claim: total MACs, quantity: macs, value: 1M}",
                f"  - {{claim: last shape, layer: {last}, value: [4, 32, 32]}}",
                f"  - {{claim: last MACs, layer: {last}, quantity: macs, value: 65536}}",
                "  - {claim: first block params, layer: res0, quantity: params, value: 152}",
                "  - {claim: a conv's params, layer: c0, quantity: params, value: 148}",
            ]
        )
        + "\n"
    )


def rich_layout(path: str) -> None:
    """What ``archcalc table`` prints to a terminal: the rich table, 200 columns wide."""
    from rich.console import Console

    from archcalc.analysis.records import analyze
    from archcalc.render.richtable import print_rich
    from archcalc.render.tabular import layer_grid

    print_rich(layer_grid(analyze(path)), Console(file=io.StringIO(), width=200, force_terminal=True))


def cli(argv: list[str]) -> Callable[[], None]:
    from click.testing import CliRunner

    from archcalc.cli.app import app

    if argv[0] == "rich":
        return lambda: rich_layout(argv[1])

    def run() -> None:
        result = CliRunner().invoke(app, argv)
        if result.exit_code != 0 and not (argv[0] == "check" and result.exit_code == 1):  # 1: a claim fails
            raise SystemExit(f"{' '.join(argv)}: exit {result.exit_code}\n{result.output[-500:]}")

    return run


def best(run: Callable[[], None], runs: int) -> float:
    """The least CPU time of ``runs`` runs, each after a full collection (no run pays for the last one's garbage)."""
    times = []
    for _ in range(runs):
        gc.collect()
        t = time.process_time()
        run()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--budget", type=float, default=120.0, help="seconds; slower commands stop growing")
    ap.add_argument("--only", nargs="+", default=list(COMMANDS), help="labels of the commands to run")
    args = ap.parse_args()
    load = os.getloadavg()
    rows: dict[str, list[str]] = {label: [] for label in args.only}
    slow: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for n in [100, *args.sizes]:  # 100: a warm-up, so that no size pays for the first imports
            spec, last = synthetic(n)
            files = {"spec": Path(tmp) / f"s{n}.yaml", "copy": Path(tmp) / f"s{n}-copy.yaml"}
            for path in files.values():
                path.write_text(spec)
            (Path(tmp) / f"chain{n}.yaml").write_text(chain(n))
            (Path(tmp) / f"dense{n}.yaml").write_text(dense(n))
            claims_path = Path(tmp) / f"claims{n}.yaml"
            claims_path.write_text(claims(files["spec"], last))
            subst = {"{spec}": str(files["spec"]), "{copy}": str(files["copy"])}
            subst |= {"{claims}": str(claims_path), "{last}": last}
            subst |= {f"{{{k}}}": str(Path(tmp) / f"{k}{n}.yaml") for k in ("chain", "dense")}
            for label in args.only:
                if label in slow:
                    rows[label].append(f"> {args.budget:.0f} s at a smaller size")
                    continue
                t = best(cli([subst.get(a, a) for a in COMMANDS[label]]), args.runs if n > 100 else 1)
                if n == 100:
                    continue
                if t > args.budget:
                    slow.add(label)
                rows[label].append(f"{t:.2f} s ({t / n * 1000:.3f})")
                print(f"{n} {label}: {t:.2f} s", flush=True)
    print("\n| command | " + " | ".join(f"{n:,} layers" for n in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for label, cells in rows.items():
        print(f"| `{label}` | " + " | ".join(cells) + " |")
    print(f"\nCPU seconds, best of {args.runs} (seconds per 1,000 layers in brackets: flat means linear)")
    print(f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load[0]:.1f} at the start")


if __name__ == "__main__":
    main()
