"""Whole-process timings: `archcalc table` against torchinfo summary() and fvcore FlopCountAnalysis.

Every measurement is a fresh `python` process (imports, spec load or model build, analysis, output to a
pipe), timed by wall clock; the median of N runs is reported, all in one run on one machine. Also:
in-process analyze() for every bundled spec, CLI start-up (`archcalc --help`) and a 1,000-point sweep.

    python3 benchmarks/bench_cli.py                 # N=5, prints markdown tables
    python3 benchmarks/bench_cli.py --runs 9 --out /tmp/bench.md

Before/after start-up of two versions of archcalc, in one run (the old one checked out elsewhere, e.g. by
`git worktree add /tmp/old <commit>`; each version runs from its own tree with the same interpreter):

    python3 benchmarks/bench_cli.py --startup-only --against /tmp/old --runs 21

torchinfo runs on the meta device (its fastest setting: no weights, no arithmetic); fvcore needs real
CPU tensors (it cannot trace a convolution on meta), so its model is built on the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"lenet5": 1, "alexnet": 3, "vgg16": 3, "resnet152": 3, "densenet201": 3}  # name -> input channels
SIZES = (224, 1024)

TORCHINFO = """
import sys, torch, torchinfo
from archcalc.torch import build
spec, shape = sys.argv[1], tuple(int(d) for d in sys.argv[2].split("x"))
with torch.device("meta"):
    model = build(spec, sys.argv[2])
s = torchinfo.summary(model, input_size=(1, *shape), device="meta", verbose=0)
print(s.total_params, s.total_mult_adds)
"""
FVCORE = """
import sys, torch
from fvcore.nn import FlopCountAnalysis
from archcalc.torch import build
spec, shape = sys.argv[1], tuple(int(d) for d in sys.argv[2].split("x"))
model = build(spec, sys.argv[2]).eval()
fca = FlopCountAnalysis(model, torch.zeros((1, *shape)))
fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
print(fca.total())
"""


def timed(argv: list[str], runs: int, timeout: float = 600) -> float | None:
    """Median wall seconds of ``runs`` fresh processes; None if the command fails."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=timeout)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            sys.stderr.write(f"failed: {' '.join(argv)}\n{proc.stderr.decode()[-400:]}\n")
            return None
    return statistics.median(times)


def machine() -> str:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    try:
        import torch

        tv = str(torch.__version__)
    except ImportError:
        tv = "not installed"
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, {cpu}; Python {platform.python_version()}, torch {tv}; load average {load}"


def spec_exists(name: str) -> bool:
    return (ROOT / "specs" / f"{name}.yaml").is_file()


def cli_table(runs: int, fvcore_runs: int) -> list[str]:
    py = sys.executable
    rows = [
        "| spec | input | archcalc table | torchinfo (meta) | fvcore (CPU) | torchinfo / archcalc | fvcore / archcalc |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, c in MODELS.items():
        if not spec_exists(name):
            rows.append(f"| {name} | - | spec missing | | | | |")
            continue
        for size in SIZES:
            shape = f"{c}x{size}x{size}"
            ours = timed([py, "-m", "archcalc", "table", name, "--input", shape], runs)
            ti = timed([py, "-c", TORCHINFO, name, shape], runs)
            fv = timed([py, "-c", FVCORE, name, shape], fvcore_runs)
            cells = [f"{t:.3f} s" if t is not None else "failed" for t in (ours, ti, fv)]
            ratios = [f"{t / ours:.0f}x" if t and ours else "-" for t in (ti, fv)]
            rows.append(f"| {name} | {shape} | {' | '.join(cells)} | {' | '.join(ratios)} |")
            print(rows[-1], flush=True)
    return rows


def in_process(runs: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import bundled_names, load_spec

    rows = ["| spec | layers | analyze(spec) at its input | at 4x the side | analyze(name) incl. YAML load |", "|---|---:|---:|---:|---:|"]  # fmt: skip
    for name in bundled_names():
        spec = load_spec(name)
        rep = analyze(spec)
        big = (rep.input[0], *(4 * d for d in rep.input[1:]))

        def med(fn: object) -> float:
            ts = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn()  # type: ignore[operator]
                ts.append(time.perf_counter() - t0)
            return statistics.median(ts) * 1000

        try:
            at_big = f"{med(lambda: analyze(spec, big)):.1f} ms"  # noqa: B023
        except Exception as err:  # some specs refuse other sizes (fixed classifier inputs)
            at_big = f"refused ({type(err).__name__})"
        rows.append(
            f"| {name} | {len(rep.layers)} | {med(lambda: analyze(spec)):.1f} ms | {at_big} | "  # noqa: B023
            f"{med(lambda: analyze(name)):.1f} ms |"  # noqa: B023
        )
    return rows


def misc(runs: int) -> list[str]:
    py = sys.executable
    rows = ["| command | median wall |", "|---|---:|"]
    for label, argv in [
        ("archcalc --help (start-up)", [py, "-m", "archcalc", "--help"]),
        ("python -c pass (interpreter alone)", [py, "-c", "pass"]),
        ("archcalc table resnet152 --format csv", [py, "-m", "archcalc", "table", "resnet152", "-f", "csv"]),
        (
            "archcalc sweep resnet50, 1,000 sizes 32..32000",
            [py, "-m", "archcalc", "sweep", "resnet50", "--input", "32:32000:32", "-f", "csv"],
        ),
    ]:
        t = timed(argv, runs)
        rows.append(f"| `{label}` | {t:.3f} s |" if t is not None else f"| `{label}` | failed |")
    return rows


STARTUP = [
    ("archcalc --help", ["--help"]),
    ("archcalc table resnet152", ["table", "resnet152"]),
    ("archcalc table densenet201 -f json", ["table", "densenet201", "-f", "json"]),
    ("archcalc sweep resnet50, 1,000 sizes", ["sweep", "resnet50", "--input", "32:32000:32", "-f", "csv"]),
    ("archcalc sweep densenet121, 1,000 sizes", ["sweep", "densenet121", "--input", "32:32000:32", "-f", "csv"]),
]


def one_run(root: Path, args: list[str]) -> float:
    """Wall seconds of ``python -m archcalc ARGS`` run from ``root``, whose archcalc package it then imports."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "archcalc", *args], cwd=root, env=env, capture_output=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed in {root}: archcalc {' '.join(args)}\n{proc.stderr.decode()[-400:]}")
    return elapsed


def revision(root: Path) -> str:
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "archcalc"], capture_output=True, text=True).stdout
    return f"{head or '?'}{' + uncommitted changes in archcalc/' if dirty.strip() else ''}"


def startup_against(old: Path, runs: int) -> list[str]:
    """The STARTUP commands on the old tree and this one, alternating run by run so that drift hits both."""
    rows = [
        f"before: {old} at {revision(old)}; after: {ROOT} at {revision(ROOT)}",
        "",
        "| command | before, median (min) | after, median (min) | after / before |",
        "|---|---:|---:|---:|",
    ]
    for label, args in STARTUP:
        before: list[float] = []
        after: list[float] = []
        for root in (old, ROOT):  # warm the file cache and .pyc files of both
            one_run(root, args)
        for _ in range(runs):
            before.append(one_run(old, args))
            after.append(one_run(ROOT, args))
        b, a = statistics.median(before), statistics.median(after)
        rows.append(f"| `{label}` | {b:.3f} s ({min(before):.3f}) | {a:.3f} s ({min(after):.3f}) | {a / b:.2f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fvcore-runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--against", type=Path, help="another archcalc checkout: time its start-up against this one")
    ap.add_argument("--startup-only", action="store_true", help="skip the torchinfo/fvcore and analyze() tables")
    args = ap.parse_args()
    parts = [f"Machine: {machine()}", ""]
    if args.against:
        parts += [f"Start-up before and after, {args.runs} alternating runs each:", ""]
        parts += [*startup_against(args.against.resolve(), args.runs), ""]
    if not args.startup_only:
        parts += [f"Whole processes, median of {args.runs} (fvcore {args.fvcore_runs}):", ""]
        parts += cli_table(args.runs, args.fvcore_runs)
    parts += ["", f"Start-up and sweep, median of {args.runs}:", "", *misc(args.runs)]
    if not args.startup_only:
        parts += ["", "In-process analyze(), median of 21:", "", *in_process(21)]
    text = "\n".join(parts) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
