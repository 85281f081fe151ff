"""`archcalc table <module target>` against torchinfo's summary() on the same torchvision model, in one run.

Each measurement is a fresh `python` process (imports, model construction, capture or forward pass, output
to a pipe), timed by wall clock; the median of N runs is reported. Both construct torchvision's resnet50 on
the meta device (archcalc does so itself; torchinfo is given device="meta", its fastest setting).

    python benchmarks/import_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCHINFO = """
import sys, torch, torchinfo
sys.path.insert(0, "benchmarks")
from tvfactory import tv
with torch.device("meta"):
    model = tv.models.resnet50()
print(torchinfo.summary(model, input_size=(1, 3, 224, 224), device="meta", verbose=0))
"""
ARCHCALC = ["-m", "archcalc", "table", "benchmarks/tvfactory.py:resnet50", "--input", "3x224x224"]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True, stdout=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    # bytecode, as `pip install` compiles it (torch's is there already; an editable checkout under
    # PYTHONDONTWRITEBYTECODE would compile archcalc's ~40 modules from source in every process)
    compileall.compile_dir(ROOT / "archcalc", quiet=1)
    compileall.compile_file(ROOT / "benchmarks" / "tvfactory.py", quiet=1)
    compileall.compile_file(ROOT / "tests" / "tvshim.py", quiet=1)
    ours, theirs = [], []
    for _ in range(runs):  # interleaved, so a busy machine slows both alike
        ours.append(timed(ARCHCALC))
        theirs.append(timed(["-c", TORCHINFO]))
    a, t = statistics.median(ours), statistics.median(theirs)
    print(f"resnet50, median of {runs} fresh processes")
    print(f"  archcalc table benchmarks/tvfactory.py:resnet50 --input 3x224x224   {a:6.2f} s")
    print(f"  torchinfo.summary(resnet50 on meta, (1, 3, 224, 224))              {t:6.2f} s")
    print(f"  ratio archcalc / torchinfo                                         {a / t:6.2f}")


if __name__ == "__main__":
    main()
