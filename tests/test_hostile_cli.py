"""Hostile inputs at the output step and in options (issue 13, classes 3, 5, 6 and 7), on the real CLI.

Every case runs ``python -m archcalc`` in a fresh process. A bad input gives exit code 2, exactly one line
``archcalc: error: ...`` on stderr, no traceback and nothing on stdout, except where the command had
already computed its table when the output step failed: then stdout holds exactly that table (compared with
the same command without the failing option) and stderr the one line. Missing optional packages are tested
in tests/test_optional_deps.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from archcalc.analysis.sweep import MAX_POINTS, parse_range
from archcalc.errors import ArchcalcError

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "examples/images/shapes.png"
UNPOOL = "tests/bad/unpool-convention.yaml"


def archcalc(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh process; stderr is always captured."""
    cmd = [sys.executable, "-m", "archcalc", *args]
    return subprocess.run(cmd, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)


def one_error(proc: subprocess.CompletedProcess[str], stdout: str = "") -> str:
    """Exit 2, one 'archcalc: error:' line and no traceback; stdout exactly ``stdout``. Returns the line."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("archcalc: error: "), proc.stderr
    assert proc.stdout == stdout, "stdout is not exactly what the command computed before the failure"
    return lines[0]


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


# ---------------------------------------------------------------- class 3: --plot at the output step


def test_plot_creates_missing_folders(tmp_path: Path) -> None:
    ok(archcalc("table", "lenet5", "--plot", str(tmp_path / "a" / "b" / "t.png"), "-f", "csv"))
    ok(archcalc("sweep", "lenet5", "--input", "32:64:32", "--plot", str(tmp_path / "c" / "s.svg"), "-f", "csv"))
    assert (tmp_path / "a" / "b" / "t.png").stat().st_size > 0
    assert (tmp_path / "c" / "s.svg").stat().st_size > 0


@pytest.mark.parametrize("where", ["under-a-file", "is-a-folder"])
@pytest.mark.parametrize("command", ["table", "sweep"])
def test_plot_that_cannot_be_written_leaves_the_table(tmp_path: Path, where: str, command: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder.png").mkdir()
    target = tmp_path / ("file.txt/p.png" if where == "under-a-file" else "folder.png")
    args = ["table", "lenet5"] if command == "table" else ["sweep", "lenet5", "--input", "28:36:4"]
    table = ok(archcalc(*args, "-f", "csv"))
    line = one_error(archcalc(*args, "-f", "csv", "--plot", str(target)), stdout=table)
    assert line.startswith(f"archcalc: error: {target}: cannot write the plot: ")


def test_mathtext_in_a_spec_name_is_drawn_as_text(tmp_path: Path) -> None:
    spec = tmp_path / "math.yaml"
    spec.write_text("name: '$\\frac{$ a_1^2 $'\ntitle: '$\\frac{$'\ninput: [1, 8, 8]\nlayers:\n"
                    "  - {name: c, op: conv2d, out: 2, kernel: 3}\n")  # fmt: skip
    ok(archcalc("table", str(spec), "-f", "csv", "--plot", str(tmp_path / "t.png")))
    ok(archcalc("sweep", str(spec), "--input", "4:8", "-f", "csv", "--plot", str(tmp_path / "s.pdf")))
    assert (tmp_path / "t.png").exists() and (tmp_path / "s.pdf").exists()


def test_sweep_plot_of_a_network_without_macs_warns_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "relu.yaml"
    spec.write_text("name: r\ninput: [1, 8, 8]\nlayers:\n  - {name: a, op: relu}\n")
    ok(archcalc("sweep", str(spec), "--input", "4:8", "-f", "csv", "--plot", str(tmp_path / "s.png")))


# ---------------------------------------------------------------- class 3: stdout itself fails


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_on_stdout_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        proc = archcalc("table", "lenet5", "-f", "csv", stdout=full)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["archcalc: error: cannot write the output: No space left on device"]


def test_closed_pipe_on_stdout_is_quiet() -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        proc = archcalc("table", "densenet201", "-f", "json", stdout=write)
    finally:
        os.close(write)
    assert proc.returncode == 1 and proc.stderr == ""


# ---------------------------------------------------------------- class 3: maps and deconv


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: PIL's bomb check reads only the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.fixture
def hostile_files(tmp_path: Path) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    files = {
        "text": tmp_path / "notes.txt",
        "bomb": tmp_path / "bomb.png",
        "warned-bomb": tmp_path / "warned.png",
        "cut-image": tmp_path / "cut.png",
        "int-keys": tmp_path / "int-keys.pt",
        "not-tensors": tmp_path / "not-tensors.pt",
        "one-tensor": tmp_path / "tensor.pt",
        "empty": tmp_path / "empty.pt",
    }
    files["text"].write_text("not a checkpoint, not an image\n")
    files["bomb"].write_bytes(_png_header(20_000, 20_000))  # > 2 x MAX_IMAGE_PIXELS: PIL's error
    files["warned-bomb"].write_bytes(_png_header(10_000, 10_000))  # > MAX_IMAGE_PIXELS: PIL only warns
    files["cut-image"].write_bytes((ROOT / IMAGE).read_bytes()[:300])
    torch.save({1: torch.zeros(1)}, files["int-keys"])
    torch.save({"conv.weight": 3}, files["not-tensors"])
    torch.save(torch.zeros(2), files["one-tensor"])
    files["empty"].write_bytes(b"")
    if hasattr(os, "mkfifo"):
        files["fifo"] = tmp_path / "fifo"
        os.mkfifo(files["fifo"])
    if Path("/dev/zero").exists():
        files["zero"] = Path("/dev/zero")
    return files


WEIGHTS = {
    "text": "not a torch checkpoint of tensors: ",
    "int-keys": "state_dict keys must be parameter names (text), got 1",
    "not-tensors": "state_dict entry 'conv.weight' is 3, not a tensor",
    "one-tensor": "expected a state_dict (parameter names to tensors), got a single tensor",
    "empty": "not a torch checkpoint of tensors: the file is empty or cut short",
    "fifo": "not a regular file (a pipe)",
    "zero": "not a regular file (a character device)",
}


# deconv reads --weights and --image through the same functions as maps: two cases each are enough
DECONV_CASES = {"int-keys", "zero", "bomb", "fifo"}


@pytest.mark.parametrize("command", ["maps", "deconv"])
def test_hostile_weights_are_one_line(hostile_files: dict[str, Path], tmp_path: Path, command: str) -> None:
    for name, message in WEIGHTS.items():
        if name not in hostile_files or (command == "deconv" and name not in DECONV_CASES):
            continue
        path = hostile_files[name]
        args = [command, "edge-filters", "--image", IMAGE, "--out", str(tmp_path / "o"), "--weights", str(path)]
        assert one_error(archcalc(*args)).startswith(f"archcalc: error: {path}: {message}"), name
    assert not (tmp_path / "o").exists()


IMAGES = {
    "bomb": "image has more than 89,478,485 pixels (a decompression bomb?)",
    "warned-bomb": "image has more than 89,478,485 pixels (a decompression bomb?)",
    "text": "not an image file Pillow can read (PNG, JPEG, BMP, ...)",
    "cut-image": "cannot read image: ",
    "fifo": "not a regular file (a pipe)",
    "zero": "not a regular file (a character device)",
}


@pytest.mark.parametrize("command", ["maps", "deconv"])
def test_hostile_images_are_one_line(hostile_files: dict[str, Path], tmp_path: Path, command: str) -> None:
    for name, message in IMAGES.items():
        if name not in hostile_files or (command == "deconv" and name not in DECONV_CASES):
            continue
        path = hostile_files[name]
        proc = archcalc(command, "edge-filters", "--image", str(path), "--out", str(tmp_path / "o"))
        assert one_error(proc).startswith(f"archcalc: error: {path}: {message}"), name


@pytest.mark.parametrize("command", ["maps", "deconv"])
def test_input_too_large_to_allocate_is_refused_first(tmp_path: Path, command: str) -> None:
    pytest.importorskip("torch")
    args = [command, "edge-filters", "--image", IMAGE, "--out", str(tmp_path / "o"), "--input", "1x100000x100000"]
    line = one_error(archcalc(*args))
    assert "needs about" in line and "the limit is 8.0 GiB" in line


@pytest.mark.parametrize("command", ["maps", "deconv"])
def test_output_folder_under_a_file_is_one_line(tmp_path: Path, command: str) -> None:
    pytest.importorskip("torch")
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "file.txt" / "o"
    line = one_error(archcalc(command, "edge-filters", "--image", IMAGE, "--out", str(out)))
    assert line == f"archcalc: error: {out}: cannot create the output folder: Not a directory"


def test_maps_lists_what_it_wrote_before_a_failing_file(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    spec = tmp_path / "long.yaml"
    long = "a" * 300  # a file name longer than any file system allows
    spec.write_text(f"name: n\ninput: [1, 16, 16]\nlayers:\n  - {{name: c, op: conv2d, out: 2, kernel: 3}}\n"
                    f"  - {{name: {long}, op: relu}}\n")  # fmt: skip
    out = tmp_path / "o"
    line = one_error(
        archcalc("maps", str(spec), "--image", IMAGE, "--out", str(out)), stdout=f"wrote {out}/000_c.png\n"
    )
    assert line.startswith(f"archcalc: error: {out}/001_{long}.png: cannot write the picture: ")


# ---------------------------------------------------------------- class 5: flops with a convention that cannot run


def test_flops_marks_fvcore_not_applicable() -> None:
    rows = list(csv.reader(io.StringIO(ok(archcalc("flops", UNPOOL, "-f", "csv")))))
    row = next(r for r in rows if r[0] == "fvcore")
    assert row[1:4] == ["n/a", "n/a", "MACs"]
    assert row[4].startswith("not applicable: fvcore cannot count max_unpool2d (layer 'up', line 5): torch.jit")
    data = json.loads(ok(archcalc("flops", UNPOOL, "-f", "json")))
    want = {"macs": 0, "flops": 0, "fvcore": None, "torchinfo": 0, "connections": 80, "train": 0, "train_fcm": 0}
    assert data["totals"] == want
    assert set(data["not_applicable"]) == {"fvcore"} and "torch.jit.trace" in data["not_applicable"]["fvcore"]
    assert [c["total"] for c in data["conventions"]] == list(data["totals"].values())
    assert {f["convention"]: f["value"] for f in data["famous"]}["fvcore"] is None
    assert json.loads(ok(archcalc("flops", "lenet5", "-f", "json")))["not_applicable"] == {}


# ---------------------------------------------------------------- class 6: options accepted but wrong


def test_sweep_points_are_capped() -> None:
    assert len(parse_range(f"1:{MAX_POINTS}")) == MAX_POINTS
    with pytest.raises(ArchcalcError, match="the limit is 10,000"):
        parse_range(f"1:{MAX_POINTS + 1}")
    with pytest.raises(ArchcalcError, match="larger than the limit 2,147,483,647"):
        parse_range(f"{2**31}")
    for bad in ("+28:32", "28:3_2", "٢٨:٣٠", " 28:32", "28:32:", "1:2:3:4", "9" * 31):
        with pytest.raises(ArchcalcError, match="must look like START:STOP:STEP"):
            parse_range(bad)


@pytest.mark.parametrize(
    "args",
    [
        ["deconv", "zfnet", "--layer", ""],
        ["table", "lenet5", "--input", ""],
        ["maps", "edge-filters", "--image", "", "--out", "o"],
        ["maps", "edge-filters", "--image", IMAGE, "--out", "o", "--layers", "conv,,pool"],
        ["maps", "edge-filters", "--image", IMAGE, "--out", "o", "--weights", ""],
    ],
)
def test_empty_values_are_refused(args: list[str]) -> None:
    assert "empty" in one_error(archcalc(*args))


# ---------------------------------------------------------------- class 7: click's messages escape the terminal


@pytest.mark.parametrize(
    "args",
    [
        ["table", "lenet5", "x\x1b[31m"],  # an extra argument
        ["x\x1b[31m"],  # no such command
        ["table", "lenet5", "--format", "x\x1b[31m"],  # not one of the choices
        ["table", "lenet5", "--x\x1b[31m"],  # no such option
        ["table", "lenet5", "--depth", "\x1b"],  # not a whole number
        ["table", "lenet5", "--convention", "\x1b[2J"],  # unknown convention (an ArchcalcError)
    ],
)
def test_usage_errors_never_echo_control_characters(args: list[str]) -> None:
    line = one_error(archcalc(*args))
    assert "\x1b" not in line and "\\x1b" in line
