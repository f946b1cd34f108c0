"""The regression harness ``tb/hdl/regress_harness.sv`` from Python: its build, its input
files, its plusargs, and runs of its plain binary.

The harness holds clock, reset, an image ROM, the s_axis driver (LFSR idle cycles), the
m_axis sink (LFSR backpressure, an optional hold), optional AXI4-Lite parameter writes,
per-image cycle stamps, requant event counters and the results file
(:mod:`tb.bench.records`). It is built two ways by :func:`build_harness`, both with
:func:`tb.runner.build_verilator`:

* as a cocotb bench (``plain=False``) for the regression shards (:mod:`tb.bench.regress`):
  cocotb only waits for its ``done`` and checks the results file;
* as a plain binary (``plain=True``, ``verilator --binary``: no cocotb, no Python in the
  simulator, a run costs the simulation alone) where many short runs are needed: the probe
  networks of ``tb/test_regress_probes.py``, stage 1 of ``make mutate`` (on Yosys's mutant
  netlist), ``make bench``. :func:`make_run` writes a run's files, :func:`run_records` runs
  it with the checks of the shards (:func:`tb.bench.records.check_records`) plus every
  image's class and fc3 codes against ``model.reference.forward``, every AXI4-Lite write
  answered OKAY, no watchdog.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock

from model.network import DEFAULT_FOLDING, IMAGE_SIZE, PIXELS, Folding
from model.params import load_params
from model.reference import forward
from model.settings import TEST_IMAGES
from tb import runner
from tb.bench.paramsets import param_set_writes
from tb.bench.records import HarnessFormatError, HarnessRecord, check_records, parse_results

TOPLEVEL = "regress_harness"
HARNESS_SV = runner.REPO / "tb" / "hdl" / "regress_harness.sv"
REQUANT_MONITOR_SV = runner.REPO / "tb" / "hdl" / "requant_monitor.sv"
CLOCK_NS = 10                 # the harness's clock period
CYCLES_PER_IMAGE = 50_000     # watchdog budget: ~4.8k needed back to back, 10.2k at Lanes 8
FILL_CYCLES = 100_000         # watchdog budget for reset and the pipeline's fill and drain
CYCLES_PER_WRITE = 4          # watchdog budget per AXI4-Lite write
RUN_TIMEOUT_S = 120           # wall-clock guard of a plain run (one needs well under a second)


# ------------------------------------------------------------------ build

def harness_sources(dut_sources: Sequence[Path] | None = None) -> list[Path]:
    """The harness around ``dut_sources`` (default the RTL, :func:`tb.runner.rtl_sources`),
    the SystemVerilog packages first."""
    dut = list(dut_sources) if dut_sources is not None else runner.rtl_sources()
    return list(dict.fromkeys([*runner.hdl_packages(), *map(Path, dut), REQUANT_MONITOR_SV, HARNESS_SV]))


def harness_parameters(param_dir: Path | None = None, max_images: int = TEST_IMAGES,
                       folding: Folding = DEFAULT_FOLDING) -> dict[str, int | str]:
    """The harness's HDL parameters: the top's folding (``Lanes``, ``Conv2InChannelsPar``),
    ``ParamDir`` (``""``: no preload) and ``MaxImages``; see :func:`build_harness`."""
    return {**folding.hdl_parameters(), "ParamDir": str(param_dir or ""), "MaxImages": max_images}


def build_harness(*, plain: bool = False, dut_sources: Sequence[Path] | None = None,
                  defines: Sequence[str] = (), param_dir: Path | None = None,
                  max_images: int = TEST_IMAGES, folding: Folding = DEFAULT_FOLDING,
                  out: Path | None = None) -> Path:
    """Build the harness once: a file lock (pytest-xdist workers share the build) and a stamp
    of the sources and options (nothing changed: no build).

    Args:
        plain: a plain binary (``verilator --binary``) instead of a cocotb bench.
        dut_sources: the DUT's files (default the RTL); with ``defines=("MUTATION",)`` Yosys's
            mutant netlist of ``fashion_lenet_accel`` (``mutsel`` input, see the harness).
        param_dir: the export folder the parameter memories are preloaded from (HDL parameter
            ``ParamDir``); None: no preload, the memories start at zero (``--x-initial 0``).
        max_images: images the ROM holds (``MaxImages``).
        folding: the top's folding (``Lanes``, ``Conv2InChannelsPar``).
        out: build folder (default ``sim_build/regress_<key>``, plain ``sim_build/plain_harness_<key>``,
            key: a hash of the options).

    Environment: ``REGRESS_OPT`` the C++ optimization (default ``-O2``; the wheel's default is
    -Os); ``REGRESS_PUBLIC=1`` keeps cocotb's ``--public-flat-rw`` (every signal visible, slower;
    the harness marks what cocotb reads public itself). ``COVERAGE=1`` adds code coverage to the
    cocotb build (:func:`tb.runner.coverage_enabled`; the plain binary has none).

    Returns:
        the executable.

    Raises:
        tb.runner.BuildError: the build failed.
    """
    sources = harness_sources(dut_sources)
    options = {"cocotb": not plain, "defines": list(defines), "timing": True,
               "parameters": harness_parameters(param_dir, max_images, folding),
               "public": os.environ.get("REGRESS_PUBLIC", "0") == "1", "opt": os.environ.get("REGRESS_OPT", "-O2"),
               "coverage": runner.coverage_enabled() and not plain}
    digest = hashlib.sha1(json.dumps(options, sort_keys=True).encode())
    out = Path(out or runner.SIM_BUILD / f"{'plain_harness' if plain else 'regress'}_{digest.hexdigest()[:8]}")
    out = out.resolve()
    for src in sources:
        digest.update(str(src).encode())
        digest.update(src.read_bytes())
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = out / "harness.stamp"
    executable = out / (f"V{TOPLEVEL}" if plain else TOPLEVEL)
    with FileLock(str(out) + ".lock"):
        if stamp.is_file() and stamp.read_text() == digest.hexdigest() and executable.is_file():
            return executable
        stamp.unlink(missing_ok=True)
        executable = runner.build_verilator(TOPLEVEL, sources, out, **options)
        stamp.write_text(digest.hexdigest())
    return executable


# ------------------------------------------------------------------ files and plusargs

def write_images_file(path: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    """The harness's image ROM: one pixel byte per line (hex), 784 per image, row-major.

    Args:
        images: uint8 [N, 28, 28].
        labels: int64 [N] (-1 for a synthetic image), written to ``<path>.labels`` (for the
            accuracy figure and the label coverage bins only).
    """
    table = [f"{b:02x}\n" for b in range(256)]
    path.write_text("".join(map(table.__getitem__, images.numpy().tobytes())))
    path.with_suffix(".labels").write_text(" ".join(str(v) for v in labels.tolist()) + "\n")


def read_images_file(path: Path, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images [count, 28, 28], int64 labels [count]) from a :func:`write_images_file` ROM.

    Raises:
        ValueError: the file does not hold ``count`` images.
    """
    data = bytes.fromhex(path.read_text().replace("\n", ""))
    if len(data) != count * PIXELS:
        raise ValueError(f"{path}: {len(data)} pixels, expected {count} images x {PIXELS}")
    images = torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(count, IMAGE_SIZE, IMAGE_SIZE)
    labels = torch.tensor([int(v) for v in path.with_suffix(".labels").read_text().split()], dtype=torch.int64)
    return images, labels


def write_writes_file(path: Path, writes: list[tuple[int, int]]) -> None:
    """AXI4-Lite writes for the harness (``+PARAM_WRITES``) and the top's bench
    (``PARAM_WRITES``): one 64-bit hex word ``address << 32 | data`` per line."""
    path.write_text("".join(f"{(a << 32) | (d & 0xFFFFFFFF):016x}\n" for a, d in writes))


def max_cycles(count: int, writes: int = 0, sink_hold: int = 0) -> int:
    """The harness watchdog (``+MAX_CYCLES``) of a run of ``count`` images after ``writes``
    AXI4-Lite writes, each image's first result beat held ``sink_hold`` cycles."""
    return count * (CYCLES_PER_IMAGE + sink_hold) + FILL_CYCLES + CYCLES_PER_WRITE * writes


def plusargs(images_file: Path, count: int, results_file: Path, *, writes_file: Path | None = None,
             writes: int = 0, idle: int = 0, backpressure: int = 0, seed: int = 1, sink_hold: int = 0,
             finish: bool = False) -> list[str]:
    """The harness's plusargs.

    Args:
        images_file, count: the ROM (:func:`write_images_file`) and its images.
        results_file: where the harness writes its records.
        writes_file, writes: AXI4-Lite writes before the first image (:func:`write_writes_file`); none when 0.
        idle, backpressure: percent of input cycles idle / output cycles stalled (0..99, LFSRs).
        seed: the LFSRs' seed.
        sink_hold: cycles each image's first result beat waits (0: none).
        finish: ``$finish`` after ``done`` (a plain binary; cocotb ends the simulation itself).
    """
    args = [f"+IMAGES_FILE={images_file}", f"+NUM_IMAGES={count}", f"+RESULTS_FILE={results_file}",
            f"+SEED={seed}", f"+IDLE_PCT={idle}", f"+BP_PCT={backpressure}",
            f"+MAX_CYCLES={max_cycles(count, writes, sink_hold)}"]
    if sink_hold:
        args.append(f"+SINK_HOLD={sink_hold}")
    if writes:
        args += [f"+PARAM_WRITES={writes_file}", f"+NUM_WRITES={writes}"]
    if finish:
        args.append("+FINISH")
    return args


# ------------------------------------------------------------------ plain binary runs

@dataclass
class HarnessRun:
    """One run of the plain binary: a parameter set written over AXI4-Lite, then images.

    Attributes:
        name: names the run in messages and file names.
        images_file, writes_file: its ROM and AXI4-Lite writes (:func:`make_run`).
        count: images.
        writes: AXI4-Lite writes (0: none, a preloaded build).
        expected: per image, class then fc3[0..9] (``model.reference.forward``).
        idle, backpressure: percent of input cycles idle / output cycles stalled.
        seed: the harness LFSRs' seed.
        sink_hold: cycles each image's first result beat waits (``+SINK_HOLD``).
    """
    name: str
    images_file: Path
    writes_file: Path
    count: int
    writes: int
    expected: list[list[int]]
    idle: int = 0
    backpressure: int = 0
    seed: int = 7
    sink_hold: int = 0

    def plusargs(self, results: Path) -> list[str]:
        """The harness's plusargs of this run (:func:`plusargs`), ``$finish`` at the end."""
        return plusargs(self.images_file, self.count, results, writes_file=self.writes_file, writes=self.writes,
                        idle=self.idle, backpressure=self.backpressure, seed=self.seed,
                        sink_hold=self.sink_hold, finish=True)


def make_run(name: str, params_dir: Path, images: torch.Tensor, labels: torch.Tensor, work: Path,
             idle: int = 0, backpressure: int = 0, sparse: bool = False, preload: bool = False,
             sink_hold: int = 0, reverse_writes: bool = False) -> HarnessRun:
    """Write the image ROM and the AXI4-Lite writes of ``params_dir`` into ``work``; expected
    outputs from ``model.reference.forward``.

    Args:
        images, labels: uint8 [N, 28, 28], int64 [N].
        idle, backpressure: percent of input cycles idle / output cycles stalled.
        sparse: leave out the writes of zeros, for a DUT whose parameter memories start at
            zero (built without preload; Verilator ``--x-initial 0``): a mostly-zero probe
            network then loads in a few hundred writes instead of 81,435.
        preload: no writes at all, for a harness built with ``param_dir`` = ``params_dir``.
        sink_hold: cycles each image's first result beat waits.
        reverse_writes: the writes in descending address order (a write that also hits
            another address shows when that one came first).
    """
    work.mkdir(parents=True, exist_ok=True)
    images_file, writes_file = work / f"{name}.hex", work / f"{name}_writes.hex"
    write_images_file(images_file, images, labels)
    writes = [] if preload else param_set_writes(params_dir)
    if sparse:
        writes = [(addr, data) for addr, data in writes if data != 0]
    if reverse_writes:
        writes = writes[::-1]
    write_writes_file(writes_file, writes)
    ref = forward(load_params(params_dir), images)
    expected = [[int(ref["class"][n])] + ref["fc3"][n].tolist() for n in range(len(images))]
    return HarnessRun(name, images_file, writes_file, len(images), len(writes), expected, idle, backpressure,
                      sink_hold=sink_hold)


def run(binary: Path, hrun: HarnessRun, work: Path, extra: tuple[str, ...] = ()) -> str | None:
    """One run; the first error (prefixed with the run's name), or None when every check holds."""
    return run_records(binary, hrun, work, extra)[0]


def run_records(binary: Path, hrun: HarnessRun, work: Path, extra: tuple[str, ...] = (),
                timeout_s: float = RUN_TIMEOUT_S) -> tuple[str | None, list[HarnessRecord], float]:
    """One run of the plain binary.

    Args:
        extra: more plusargs (``+MUTSEL=<n>``).
        timeout_s: wall-clock limit.

    Returns:
        ``(first error or None, the records, wall seconds of the binary)``.
    """
    tag = "_".join(extra).replace("+", "").replace("=", "")
    results = work / f"res_{hrun.name}_{os.getpid()}_{tag}.txt"
    results.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        r = subprocess.run([str(binary), *extra, *hrun.plusargs(results)], capture_output=True, text=True,
                           timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"{hrun.name}: no end after {timeout_s} s", [], timeout_s
    wall = time.perf_counter() - t0
    errors = [line for line in r.stdout.splitlines() if "ERROR" in line][:1]
    if r.returncode != 0:
        errors.append(f"exit status {r.returncode}")
    try:
        records = parse_results(results)
    except HarnessFormatError as exc:
        records = []
        errors.append(str(exc))
    results.unlink(missing_ok=True)
    errors += check_records(records, hrun.count, 0)
    for n, rec in enumerate(records[:hrun.count]):
        if rec.result != hrun.expected[n]:
            errors.append(f"image {n}: class+fc3 {rec.result}, expected {hrun.expected[n]}")
            break
    return (f"{hrun.name}: {errors[0]}"[:300] if errors else None), records, wall
