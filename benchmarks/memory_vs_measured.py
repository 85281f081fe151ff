"""archcalc's inference memory estimate against the peak measured on the CPU, one fresh process per spec.

Run: python3 benchmarks/memory_vs_measured.py [--batch 8] [spec ...]

Measurement: Linux max RSS. Each spec runs in its own subprocess (a fresh heap): build the model (float32,
eval), run one warm-up forward, then reset the kernel's RSS high-water mark (write 5 to
/proc/self/clear_refs), read the current RSS, run one forward under torch.inference_mode(), and read the
high-water mark again: resource.getrusage(RUSAGE_SELF).ru_maxrss (kB), which the reset also clears.
forward delta = high-water mark - RSS before the forward. tracemalloc is useless here (torch allocates in
C++), and torch 2.13 exposes no CPU allocator statistics, so RSS is what we have. The child runs with
MALLOC_MMAP_THRESHOLD_=65536 so that freed tensors leave the RSS (see measure()).

Two runs per spec:
* "as built": archcalc.torch's containers keep every output in env.values until the forward ends (so that
  'from' can read any earlier layer); compare with archcalc's saved-activations figure (all allocations);
* "freeing": env.values replaced by a dict that keeps only the outputs a later 'from' reads (what a
  hand-written torch model does); compare with the liveness peak (archcalc memory's peak activations).
Ratio = measured / estimated. Not a test: numbers depend on the allocator, threads and oneDNN workspaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import gc, json, resource, sys
sys.path.insert(0, sys.argv[4])
import torch
from archcalc.torch import build

spec, batch, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(1)
model = build(spec).eval()
if mode == "freeing":
    needed = set()
    def walk(m):
        for step in getattr(m, "steps", ()):
            needed.update(step.sources)
        for c in m.children():
            walk(c)
    walk(model)
    class Keep(dict):
        def __setitem__(self, k, v):
            if k in needed or k.removesuffix("@in") + "@in" in needed:
                super().__setitem__(k, v)
    model.env.values = Keep()
from archcalc.analysis.records import analyze
x = torch.randn(batch, *analyze(spec).input)
with torch.inference_mode():
    model(x)
gc.collect()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS:")
with torch.inference_mode():
    model(x)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"before": before, "peak": peak, "hwm": status("VmHWM:")}))
"""


def measure(spec: str, batch: int, mode: str) -> dict[str, int]:
    # fixed mmap threshold: glibc then serves every tensor above 64 KiB with its own mmap and returns it to the
    # kernel on free, so RSS follows the live tensors (the default dynamic threshold keeps freed blocks)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, spec, str(batch), mode, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str]) -> None:
    from archcalc.analysis.memory import model_memory
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import bundled_names

    batch = 8
    if argv[:1] == ["--batch"]:
        batch, argv = int(argv[1]), argv[2:]
    specs = argv or bundled_names()
    mib = 2**20
    print(f"batch {batch}, float32; MiB = 2**20 bytes")
    print(
        f"{'spec':20s} {'est. peak':>10s} {'freeing':>10s} {'ratio':>6s} {'est. all':>10s} {'as built':>10s} {'ratio':>6s}"
    )
    for spec in specs:
        mem = model_memory(spec, analyze(spec), "float32", batch)
        est_peak = mem.peak_activation_bytes
        est_all = mem.saved_activation_bytes - mem.input_bytes
        free = measure(spec, batch, "freeing")
        built = measure(spec, batch, "as built")
        d_free = free["peak"] - free["before"]
        d_built = built["peak"] - built["before"]
        print(
            f"{spec:20s} {est_peak / mib:10.1f} {d_free / mib:10.1f} {d_free / est_peak:6.2f} "
            f"{est_all / mib:10.1f} {d_built / mib:10.1f} {d_built / est_all:6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
