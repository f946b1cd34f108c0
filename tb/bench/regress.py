"""Regression shards: real or synthetic images through the whole RTL in the cocotb build of
the harness (:mod:`tb.bench.harness`), no per-cycle Python.

pytest side: :func:`run_shard` builds the harness once (shared by every shard and
pytest-xdist worker), writes the shard's image ROM and AXI4-Lite writes, and runs the cocotb
test module ``tb.test_regress`` on it in its own folder ``sim_build/<runs_dir>/<name>``. When
the shard fails, the first failing images are re-run through the top's bench with per-layer
monitors and an FST trace (:mod:`tb.bench.localize`); :class:`RegressionFailure` names the first
differing layer, channel and position with expected and actual values, the waveform and the
command that reproduces it.

Simulator side, the parts of the cocotb test: :class:`Shard` (what run_shard asked for, from
the environment), :class:`ExpectedOutputs` (the model: ``model.reference.forward`` and
PyTorch's quantized model of the ROM's images, computed in a thread while the RTL runs),
:func:`wait_for_harness` (the monitor: one wait for the harness's ``done``), and
:func:`check_shard` (the checker: every image's class and fc3 codes vs both models, the
harness-level checks, functional coverage, the shard's output files).

Shard folder: ``checked.csv`` (:data:`tb.bench.records.CHECKED_COLUMNS`), ``summary.json``,
``fcov.yml`` + ``fcov_events.json``, the harness's ``results.txt``, ``sim.log``, cocotb's
results file; ``scripts/regress_report.py`` turns them into ``reports/``.

Environment (pytest side): ``SEED`` the LFSR seed (default random, printed); ``IDLE_PCT`` /
``BP_PCT`` stall percentages of a shard with stalls (default 30 / 30); ``LOCALIZE`` failing
images localized (default 1; 0: none); ``PARAMS`` the export folder
(:func:`tb.bench.paramsets.resolve_params_dir`); the harness build's ``REGRESS_OPT``,
``REGRESS_PUBLIC``, ``COVERAGE`` (:func:`tb.bench.harness.build_harness`).
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import torch
from cocotb.triggers import RisingEdge, with_timeout
from cocotb.utils import get_sim_time

from model.data import load_images
from model.network import LAYER_NAMES
from model.params import load_params
from model.reference import forward
from model.settings import SettingError, check_image_range, env_int
from tb import runner
from tb.bench import fcov
from tb.bench.harness import (CLOCK_NS, FILL_CYCLES, TOPLEVEL, build_harness, harness_parameters, max_cycles,
                              plusargs, read_images_file, write_images_file, write_writes_file)
from tb.bench.paramsets import resolve_params_dir
from tb.bench.records import CHECKED_COLUMNS, HarnessRecord, check_records, parse_results
from tb.bench.checks import compare_results, torch_quantized_outputs
from tb.bench.localize import format_report, localize

COCOTB_MODULE = "tb.test_regress"  # the cocotb test a shard runs
ENV_PREFIX = "REGRESS_"


class RegressionFailure(AssertionError):
    """A shard failed.

    Attributes:
        localized: the :func:`tb.bench.localize.localize` reports of the first failing images.
        summary: the shard's summary (``summary.json``; only ``process_wall_s`` when the
            simulation ended before the checks).
    """

    def __init__(self, message: str, localized: list[dict], summary: dict):
        super().__init__(message)
        self.localized, self.summary = localized, summary


# ------------------------------------------------------------------ the shard's settings

@dataclass(frozen=True)
class Shard:
    """What :func:`run_shard` asks the cocotb test to check (passed as ``REGRESS_<FIELD>``).

    Attributes:
        offset: test-set index of image 0 (numbers the images in messages).
        count: images.
        images: the harness's image ROM (:func:`tb.bench.harness.write_images_file`).
        results: the harness's results file.
        summary: where the test writes ``summary.json``.
        params: the export folder the expected outputs are computed with.
        label: the ``params`` column of checked.csv (``trained`` counts for accuracy figures).
        max_cycles: the harness's watchdog (``+MAX_CYCLES``).
    """
    offset: int
    count: int
    images: Path
    results: Path
    summary: Path
    params: Path
    label: str
    max_cycles: int

    def env(self) -> dict[str, str]:
        """The environment of the simulation that carries this shard."""
        return {ENV_PREFIX + k.upper(): str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_env(cls) -> Shard:
        """The shard of this simulation.

        Raises:
            RuntimeError: not run by :func:`run_shard` (a setting missing).
        """
        values = {}
        for name, kind in cls.__annotations__.items():
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is None:
                raise RuntimeError(f"{ENV_PREFIX + name.upper()} not set (run the shards through "
                                   "tb.bench.regress.run_shard)")
            values[name] = int(raw) if kind == "int" else Path(raw) if kind == "Path" else raw
        return cls(**values)


# ------------------------------------------------------------------ simulator side

class ExpectedOutputs:
    """The reference outputs of a shard's images (exactly the ROM the RTL is fed): class and
    fc3 codes of ``model.reference.forward`` and of PyTorch's quantized model.

    They are computed by a plain Python thread while the simulation runs: the GIL is released
    whenever control is back in the simulator, so the reference overlaps the RTL run. The
    thread never touches cocotb or the simulator.
    """

    def __init__(self, shard: Shard):
        self.shard = shard
        self.out: dict = {}
        self._thread = threading.Thread(target=self._compute, name="expected", daemon=True)

    def start(self) -> ExpectedOutputs:
        """Start the thread (before the simulation runs); returns ``self``."""
        self._thread.start()
        return self

    def result(self) -> dict:
        """Wait for the thread: ``{"ref", "torch" (None without a quantized model), "labels",
        "steps", "wall_s", "join_s"}``; ``ref``/``torch`` hold ``class`` int64 [N] and ``fc3``
        int64 [N, 10].

        Raises:
            Exception: whatever the computation raised.
        """
        t0 = time.perf_counter()
        self._thread.join()
        self.out["join_s"] = time.perf_counter() - t0
        if "error" in self.out:
            raise self.out["error"]
        return self.out

    def _compute(self) -> None:
        try:
            t0 = time.perf_counter()
            steps = {}
            torch.set_num_threads(1)  # shards run side by side on the cores
            images, labels = read_images_file(self.shard.images, self.shard.count)
            params = load_params(self.shard.params)
            steps["load"] = time.perf_counter() - t0
            ref = {"class": [], "fc3": []}
            for i in range(0, self.shard.count, 500):  # bounded memory (int64 feature maps)
                res = forward(params, images[i:i + 500])
                ref["class"].append(res["class"])
                ref["fc3"].append(res["fc3"])
            self.out["ref"] = {k: torch.cat(v) for k, v in ref.items()}
            steps["forward"] = time.perf_counter() - t0 - sum(steps.values())
            self.out["torch"] = torch_quantized_outputs(self.shard.params, images)
            steps["torch"] = time.perf_counter() - t0 - sum(steps.values())
            self.out.update(labels=labels, steps=steps, wall_s=time.perf_counter() - t0)
        except Exception as exc:  # re-raised by result()
            self.out["error"] = exc


@dataclass
class HarnessOutcome:
    """What the harness holds at ``done``.

    Attributes:
        records: its results file (:func:`tb.bench.records.parse_results`).
        cycles: cycles since reset.
        timed_out: its watchdog fired (``+MAX_CYCLES``).
        param_errors: AXI4-Lite parameter writes not answered OKAY.
        rq_images: images each requant monitor counted (conv1, conv2, fc1, fc2, fc3).
        sim_wall_s: wall seconds of the wait (the simulation).
        t_wait: wall-clock time the wait began (``time.time()``).
    """
    records: list[HarnessRecord]
    cycles: int
    timed_out: bool
    param_errors: int
    rq_images: list[int]
    sim_wall_s: float
    t_wait: float


async def wait_for_harness(dut, shard: Shard) -> HarnessOutcome:
    """Wait for the harness's ``done`` (one trigger for the whole run), with a timeout past the
    harness's own watchdog; then read its counters and results file.

    Raises:
        cocotb.triggers.SimTimeoutError: ``done`` never rose (the harness's watchdog is broken).
    """
    t_wait, wall0 = time.time(), time.perf_counter()
    await with_timeout(RisingEdge(dut.done), (shard.max_cycles + FILL_CYCLES) * CLOCK_NS, "ns")
    sim_wall = time.perf_counter() - wall0
    return HarnessOutcome(records=parse_results(shard.results), cycles=int(dut.cycles.value),
                          timed_out=bool(int(dut.timeout.value)), param_errors=int(dut.param_errors.value),
                          rq_images=[int(dut.rq_images[i].value) for i in range(len(LAYER_NAMES))],
                          sim_wall_s=sim_wall, t_wait=t_wait)


@dataclass
class ShardVerdict:
    """The checks of a shard: messages naming image, layer, neuron, expected and actual value.

    Attributes:
        stream: harness-level problems (records, beats, stamps, writes, monitors).
        ref: differences from ``model.reference.forward``.
        torch: differences from PyTorch's quantized model (empty without one).
        summary: the shard's summary (also written to ``summary.json``).
    """
    stream: list[str]
    ref: list[str]
    torch: list[str]
    summary: dict


def check_shard(shard: Shard, outcome: HarnessOutcome, expected: dict, t_import: float,
                t_test: float) -> ShardVerdict:
    """Compare every image with both models, run the harness-level checks, sample the
    functional coverage and write the shard's files (checked.csv, fcov, summary.json).

    Args:
        expected: :meth:`ExpectedOutputs.result`.
        t_import, t_test: wall-clock times the test module was imported and the test began
            (the simulator process's profile in summary.json).
    """
    records = outcome.records
    ref, torch_ref, labels = expected["ref"], expected["torch"], expected["labels"]
    errors = check_records(records, shard.count, shard.offset)
    if outcome.param_errors:
        errors.append(f"{outcome.param_errors} parameter writes (+PARAM_WRITES) not answered OKAY")
    # every requant unit saw exactly its beats of every image (keeps the coverage per image honest)
    if not outcome.timed_out and outcome.rq_images != [len(records)] * len(LAYER_NAMES):
        errors.append(f"requant monitors counted images {outcome.rq_images} in {', '.join(LAYER_NAMES)}; "
                      f"expected {len(records)} each")
    bad_images = write_outputs(records, ref, torch_ref, labels, shard.offset, shard.results.parent, shard.label)
    frames = [rec.result for rec in records]
    ref_errors = compare_results(ref, frames, shard.offset)
    torch_errors = compare_results(torch_ref, frames, shard.offset) if torch_ref is not None else []
    latencies = [rec.latency for rec in records]
    intervals = [b.out_last - a.out_last for a, b in zip(records, records[1:])]
    sim_wall = outcome.sim_wall_s
    summary = {
        "offset": shard.offset, "count": shard.count, "completed": len(records), "watchdog": outcome.timed_out,
        "cycles": outcome.cycles, "sim_wall_s": round(sim_wall, 3), "ref_wall_s": round(expected["wall_s"], 3),
        "ref_wait_after_done_s": round(expected["join_s"], 3),
        "images_per_s": round(len(records) / sim_wall, 2) if sim_wall else None,
        "cycles_per_s": round(outcome.cycles / sim_wall) if sim_wall else None,
        "params": shard.label, "mismatched_images": bad_images[:100],
        "ref_matches": len(records) - len({e.split(":")[0] for e in ref_errors}),
        "torch_matches": None if torch_ref is None else len(records) - len({e.split(":")[0] for e in torch_errors}),
        "label_correct": sum(rec.prediction == int(labels[rec.index]) for rec in records if rec.index < shard.count),
        "first_latency_cycles": latencies[0] if latencies else None,
        "mean_interval_cycles": round(sum(intervals) / len(intervals), 1) if intervals else None,
        "sim_time_ns": get_sim_time("ns"),
        "t_import": t_import, "t_test": t_test, "t_wait": outcome.t_wait, "t_end": time.time(),
    }
    shard.summary.write_text(json.dumps(summary, indent=1))
    return ShardVerdict(errors, ref_errors, torch_errors, summary)


def _expected_beats(res: dict | None, k: int) -> list[int] | None:
    return None if res is None else [int(res["class"][k])] + [int(v) for v in res["fc3"][k].tolist()]


def write_outputs(records: list[HarnessRecord], ref: dict, torch_ref: dict | None, labels: torch.Tensor,
                  offset: int, out_dir: Path, params_label: str) -> list[int]:
    """``checked.csv`` + functional coverage (``fcov.yml``, ``fcov_events.json``) of a shard.

    Returns:
        test-set indices of the images whose result beats differ from the reference or torch.
    """
    rows, bad, images = [",".join(CHECKED_COLUMNS)], [], []
    prev = None
    for rec in records:
        k = rec.index
        if not 0 <= k < len(labels):
            continue
        beats = rec.result
        exp_ref, exp_torch = _expected_beats(ref, k), _expected_beats(torch_ref, k)
        m_ref = beats == exp_ref
        m_torch = None if exp_torch is None else beats == exp_torch
        if not m_ref or m_torch is False:
            bad.append(offset + k)
        interval = "" if prev is None else rec.out_last - prev.out_last
        rows.append(f"{offset + k},{int(labels[k])},{beats[0]},{exp_ref[0]},"
                    f"{'' if exp_torch is None else exp_torch[0]},{int(m_ref)},"
                    f"{'' if m_torch is None else int(m_torch)},"
                    f"{rec.latency},{interval},{params_label}")
        img = {"label": int(labels[k]), "prediction": rec.prediction,
               # two images in flight: this one entered before the previous one's result left
               "back_to_back": prev is not None and rec.in_first < prev.out_last,
               "input_gaps": rec.in_gaps, "output_stalls": rec.out_stalls, "events": rec.events}
        fcov.sample(img)
        images.append(img)
        prev = rec
    (out_dir / "checked.csv").write_text("\n".join(rows) + "\n")
    fcov.export(out_dir / "fcov.yml")
    (out_dir / "fcov_events.json").write_text(json.dumps(fcov.event_totals(images), indent=1))
    return bad


# ------------------------------------------------------------------ pytest side

def run_shard(name: str, offset: int, count: int, stalls: bool, params_dir: Path | None = None,
              writes: list[tuple[int, int]] | None = None, label: str = "trained",
              runs_dir: str = "regress_runs", images: tuple[torch.Tensor, torch.Tensor] | None = None,
              stall_pcts: tuple[int, int] | None = None, sink_hold: int = 0) -> dict:
    """Run ``count`` test images from ``offset`` on the shared harness build in
    ``sim_build/<runs_dir>/<name>``.

    Args:
        stalls: random input idles and output backpressure (``$IDLE_PCT``/``$BP_PCT``, default 30%).
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
        model.params.ParamsError: ``$PARAMS`` is not a valid export (before anything is built).
        RegressionFailure: the shard failed; its message carries the localization of the first
            ``$LOCALIZE`` (default 1) failing images.
    """
    preload = resolve_params_dir()  # checked before the build: the harness's $readmemh would only warn
    params_dir = Path(params_dir).resolve() if params_dir else preload
    executable = build_harness(param_dir=preload)
    test_dir = (runner.SIM_BUILD / runs_dir / name).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    shard = Shard(offset, count, test_dir / "images.hex", test_dir / "results.txt", test_dir / "summary.json",
                  params_dir, label, max_cycles(count, len(writes or []), sink_hold))
    writes_file = test_dir / "param_writes.hex" if writes else None
    for f in (shard.results, shard.summary, test_dir / "checked.csv", test_dir / "fcov.yml"):
        f.unlink(missing_ok=True)
    write_images_file(shard.images, *(images or load_images(train=False, offset=offset, count=count)))
    if writes:
        write_writes_file(writes_file, writes)
    seed = int(os.environ["SEED"]) if os.environ.get("SEED") else random.randrange(1, 1 << 31)
    idle, bp = (int(os.environ.get("IDLE_PCT", "30")), int(os.environ.get("BP_PCT", "30"))) if stalls else (0, 0)
    if stall_pcts is not None:
        idle, bp = stall_pcts
    print(f"{name}: images {offset}..{offset + count - 1}, parameters {label} ({params_dir}"
          f"{f', {len(writes)} AXI4-Lite writes' if writes else ''}), idle {idle}%, backpressure {bp}%, "
          f"seed {seed} (replay: SEED={seed})")
    args = plusargs(shard.images, count, shard.results, writes_file=writes_file, writes=len(writes or []),
                    idle=idle, backpressure=bp, seed=seed, sink_hold=sink_hold)
    if runner.coverage_enabled():
        args += runner.coverage_plusargs(f"regress_{runs_dir}_{name}")
    env = {**shard.env(), "OMP_NUM_THREADS": "1"}
    env.update({k: os.environ[k] for k in ("PYTHONPROFILEIMPORTTIME",) if k in os.environ})
    t0, t_start = time.perf_counter(), time.time()
    failed = False
    try:
        runner.run_cocotb(executable.parent, TOPLEVEL, COCOTB_MODULE, work_dir=test_dir, plus_args=args,
                          parameters=harness_parameters(preload), extra_env=env, seed=seed,
                          log_file=test_dir / "sim.log")
    except SystemExit:  # cocotb-test's report of a failed cocotb test
        failed = True
    summary = json.loads(shard.summary.read_text()) if shard.summary.is_file() else {}
    summary["process_wall_s"] = round(time.perf_counter() - t0, 2)
    if "t_import" in summary:  # where the simulator process spent its wall time
        summary["profile_s"] = {
            "start_to_import": round(summary["t_import"] - t_start, 2),
            "import_to_test": round(summary["t_test"] - summary["t_import"], 2),
            "test_to_wait": round(summary["t_wait"] - summary["t_test"], 2),
            "sim": summary["sim_wall_s"], "expected_thread": summary["ref_wall_s"],
            "expected_wait_after_done": summary["ref_wait_after_done_s"],
            "end_to_exit": round(t_start + summary["process_wall_s"] - summary["t_end"], 2)}
    shard.summary.write_text(json.dumps(summary, indent=1))
    print(f"{name}: {json.dumps(summary)}")
    if failed:
        raise _failure(name, test_dir, summary, params_dir, writes_file, seed)
    return summary


def _failure(name: str, test_dir: Path, summary: dict, params_dir: Path, writes_file: Path | None,
             seed: int) -> RegressionFailure:
    """Localize the first failing images and build the failure."""
    bad = summary.get("mismatched_images") or []
    lines = [f"{name}: regression shard failed (log: {test_dir / 'sim.log'}; replay the shard with SEED={seed})"]
    if "t_import" not in summary:
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


def shard_ranges(total_offset: int, total: int, shards: int) -> list[tuple[int, int]]:
    """``(offset, count)`` of ``shards`` near-equal shards of images ``total_offset..+total-1``."""
    bounds = [total_offset + total * k // shards for k in range(shards + 1)]
    return [(a, b - a) for a, b in zip(bounds, bounds[1:]) if b > a]


def shard_stalls(shard: int) -> bool:
    """Whether shard ``shard`` runs with stalls: ``$STALLS`` 1 every shard, 0 none; default the odd ones."""
    mode = os.environ.get("STALLS")
    return shard % 2 == 1 if mode is None else mode == "1"


def env_count(name: str, default: int) -> int:
    """Integer setting ``name`` (``IMAGES``, ``STRESS_IMAGES``, ...), or ``pytest.fail`` with one
    line (no traceback) when it is not an integer; called before the harness is built."""
    try:
        return env_int(name, default)
    except SettingError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


def require_images(label: str, offset: int, count: int) -> None:
    """``pytest.fail`` with one line (no traceback) when images ``offset..offset+count-1`` are not
    all in the test split; called before the harness is built."""
    try:
        check_image_range(offset, count, label)
        return
    except SettingError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)
