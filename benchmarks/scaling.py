"""Every command's work against the number of layers: synthetic specs of 1,000 to 20,000 layers.

Each spec mixes the wiring that used to cost more than linear: a chain of convs where every 4th layer
reads the one 3 back by ``from``, two-branch residual blocks, and dense feeds. Each command runs through
the real CLI in-process (click's runner), best of 3, and the table prints seconds and seconds per 1,000
layers: a linear command keeps the second column flat. ``compare`` reads two copies of the spec; ``check``
reads a claims file with total, layer-level and block-level claims against it. ``deconv`` also runs on a
plain chain of convs and ReLUs, where every conv can be mirrored (its search for the deepest one).
A command slower than ``--budget`` seconds is not run at the larger sizes.

    python benchmarks/scaling.py                  # 1k, 2k, 5k, 10k, 20k
    python benchmarks/scaling.py --sizes 1000 4000 --runs 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

# label -> argv; {spec} is the synthetic spec, {copy} a second copy of it, {claims} the claims file
COMMANDS: dict[str, list[str]] = {
    "table": ["table", "{spec}", "-f", "json"],
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


def best(argv: list[str], runs: int) -> float:
    from click.testing import CliRunner

    from archcalc.cli.app import app

    runner = CliRunner()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = runner.invoke(app, argv)
        times.append(time.perf_counter() - t)
        if result.exit_code != 0 and not (argv[0] == "check" and result.exit_code == 1):  # 1: a claim fails
            raise SystemExit(f"{' '.join(argv)}: exit {result.exit_code}\n{result.output[-500:]}")
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--budget", type=float, default=120.0, help="seconds; slower commands stop growing")
    ap.add_argument("--only", nargs="+", default=list(COMMANDS), help="labels of the commands to run")
    args = ap.parse_args()
    rows: dict[str, list[str]] = {label: [] for label in args.only}
    slow: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            spec, last = synthetic(n)
            files = {"spec": Path(tmp) / f"s{n}.yaml", "copy": Path(tmp) / f"s{n}-copy.yaml"}
            for path in files.values():
                path.write_text(spec)
            (Path(tmp) / f"chain{n}.yaml").write_text(chain(n))
            claims_path = Path(tmp) / f"claims{n}.yaml"
            claims_path.write_text(claims(files["spec"], last))
            subst = {"{spec}": str(files["spec"]), "{copy}": str(files["copy"])}
            subst |= {"{claims}": str(claims_path), "{last}": last, "{chain}": str(Path(tmp) / f"chain{n}.yaml")}
            for label in args.only:
                if label in slow:
                    rows[label].append(f"> {args.budget:.0f} s at a smaller size")
                    continue
                t = best([subst.get(a, a) for a in COMMANDS[label]], args.runs)
                if t > args.budget:
                    slow.add(label)
                rows[label].append(f"{t:.2f} s ({t / n * 1000:.3f})")
                print(f"{n} {label}: {t:.2f} s", flush=True)
    print("\n| command | " + " | ".join(f"{n:,} layers" for n in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for label, cells in rows.items():
        print(f"| `{label}` | " + " | ".join(cells) + " |")
    print("\nseconds, best of", args.runs, "(seconds per 1,000 layers in brackets: flat means linear)")


if __name__ == "__main__":
    main()
