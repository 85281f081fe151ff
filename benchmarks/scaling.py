"""Every command's work against the number of layers: synthetic specs of 1,000 to 20,000 layers.

Each spec mixes the wiring that used to cost more than linear: a chain of convs where every 4th layer
reads the one 3 back by ``from``, two-branch residual blocks, and dense feeds. Each command runs through
the real CLI in-process (click's runner), best of 3, and the table prints seconds and seconds per 1,000
layers: a linear command keeps the second column flat.

    python benchmarks/scaling.py                  # 1k, 2k, 5k, 10k, 20k
    python benchmarks/scaling.py --sizes 1000 4000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

COMMANDS = (
    ["table", "-f", "json"],
    ["explain", "-f", "json"],
    ["rf", "-f", "json"],
    ["memory", "-f", "json"],
    ["sweep", "--input", "3x32x32", "-f", "json"],
    ["flops", "-f", "json"],
    ["deconv", "-f", "json"],
    ["minsize", "-f", "json"],
)


def synthetic(n: int) -> str:
    """About n layers: units of conv, relu, a from-reference, a residual block and a small dense block."""
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
    return "\n".join(lines) + "\n"


def best(argv: list[str], runs: int) -> float:
    from click.testing import CliRunner

    from archcalc.cli.app import app

    runner = CliRunner()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = runner.invoke(app, argv)
        times.append(time.perf_counter() - t)
        if result.exit_code not in (0, 1):
            raise SystemExit(f"{' '.join(argv)}: exit {result.exit_code}\n{result.output[-500:]}")
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows: dict[str, list[str]] = {" ".join(c[:1]): [] for c in COMMANDS}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"s{n}.yaml"
            path.write_text(synthetic(n))
            for cmd in COMMANDS:
                argv = [cmd[0], str(path), *cmd[1:]]
                t = best(argv, args.runs)
                rows[cmd[0]].append(f"{t:.2f} s ({t / n * 1000:.3f})")
    print("| command | " + " | ".join(f"{n:,} layers" for n in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nseconds, best of", args.runs, "(seconds per 1,000 layers in brackets: flat means linear)")


if __name__ == "__main__":
    main()
