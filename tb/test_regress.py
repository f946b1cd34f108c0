"""Fast end-to-end regression: real Fashion-MNIST images through the whole RTL, no per-cycle Python.

``tb/hdl/regress_harness.sv`` drives the accelerator from an image ROM and takes its results
into a file, all in HDL (:mod:`tb.bench.harness`); the cocotb test below only waits for the
harness's ``done`` (one trigger for the whole run), then compares every image's class and 10
fc3 codes with ``model.reference.forward`` and with PyTorch's quantized model, samples the
functional coverage (tb/bench/fcov.py) and writes the shard's files (:mod:`tb.bench.regress`).
The pytest tests run shards of it: the harness is built once, every shard runs that build
in its own folder ``sim_build/<runs>/<shard>`` on its own images and parameters.

Environment:
    IMAGES   images per shard (default 50)          OFFSET  first test-set index (default 0)
    SHARDS   number of shards (default 2)           STALLS  1: every shard with idle/backpressure,
                                                            0: none; default: odd shards only
    IDLE_PCT / BP_PCT  stall percentages when stalls are on (default 30 / 30)
    SEED     LFSR seed (default: random, printed)   PARAMS  export folder (default model/artifacts/export)
    FULL_SHARDS  shards of the slow 10,000-image run (default 2)
    STRESS_IMAGES  images of the stress shard (default 20)
    LOCALIZE  failing images re-run with stage monitors + waves (default 1; 0: none)
    REGRESS_PUBLIC=1  build with cocotb's --public-flat-rw (every signal visible, slower)
    REGRESS_OPT  C++ optimization of the harness build (default -O2)

Run: ``pytest tb/test_regress.py -n 2 --dist load`` (``--dist load``: the shards of this one file
go to different workers; ``--dist loadfile`` would run them one after another).
Full test set: ``pytest tb/test_regress.py -m slow -n 2 --dist load`` (10,000 images, 2 shards).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import pytest

from model.network import param_address
from model.params import ParamsError, load_params
from model.settings import TEST_IMAGES
from tb.bench.paramsets import param_set_writes, resolve_params_dir, stress_params_dir
from tb.bench.probes import (HELD_SINK_IMAGES, RANDOM_NETWORK_SEEDS, SINK_HOLDS, SLOW_SINK_PCTS, extreme_images,
                             extreme_params_dir, held_sink_offset, random_network_dir)
from tb.bench.regress import (ExpectedOutputs, RegressionFailure, Shard, check_shard, env_count, require_images,
                              run_shard, shard_ranges, shard_stalls, wait_for_harness)
from tb.bench.checks import fail_report

_T_IMPORT = time.time()  # wall-clock profile of a shard's simulator process (summary.json)
SHARDS = int(os.environ.get("SHARDS", "2"))
FULL_SHARDS = int(os.environ.get("FULL_SHARDS", "2"))
# conv2 weight [5][2][1][1] of the trained export, sign flipped: a fault in conv2, channel 5
FAULT_LAYER, FAULT_CHANNEL, FAULT_INDEX = "conv2", 5, ((5 * 6 + 2) * 3 + 1) * 3 + 1


# ------------------------------------------------------------------ cocotb side

@cocotb.test()
async def test_regress(dut):
    """Wait for the harness's ``done``; then every image's class + fc3 codes vs reference and torch."""
    t_test = time.time()
    shard = Shard.from_env()
    expected = ExpectedOutputs(shard).start()  # overlaps the simulation
    dut._log.info("waiting for %d images (%d..%d), harness watchdog %d cycles", shard.count, shard.offset,
                  shard.offset + shard.count - 1, shard.max_cycles)
    outcome = await wait_for_harness(dut, shard)
    exp = expected.result()
    dut._log.info("expected values in %.1f s (thread, overlapping the simulation; waited %.1f s after done): %s",
                  exp["wall_s"], exp["join_s"], {k: round(v, 2) for k, v in exp["steps"].items()})
    verdict = check_shard(shard, outcome, exp, _T_IMPORT, t_test)
    dut._log.info("summary: %s", json.dumps(verdict.summary))

    assert not outcome.timed_out, \
        f"harness watchdog: {len(outcome.records)} of {shard.count} images after {outcome.cycles} cycles"
    assert not verdict.stream, fail_report(verdict.stream, "in the result stream")
    assert not verdict.ref, fail_report(verdict.ref, "RTL vs integer reference")
    assert not verdict.torch, fail_report(verdict.torch, "RTL vs torch's quantized model")


# ------------------------------------------------------------------ shards

@pytest.mark.parametrize("shard", range(SHARDS))
def test_regress_shard(shard):
    """Shard ``shard``: ``$IMAGES`` images from ``$OFFSET + shard * $IMAGES`` (CI: 2 x 50)."""
    per_shard, first = env_count("IMAGES", 50), env_count("OFFSET", 0)
    offset = first + shard * per_shard
    require_images(f"OFFSET={first} IMAGES={per_shard} (shard {shard} of {SHARDS})", offset, per_shard)
    run_shard(f"shard{shard}_{offset}_{per_shard}", offset, per_shard, shard_stalls(shard))


def test_regress_stress():
    """$STRESS_IMAGES (default 20) real images through a stress parameter set loaded entirely over
    AXI4-Lite by the harness (~82k writes): saturation, |x| >= 2^24 and ties in every layer."""
    count = env_count("STRESS_IMAGES", 20)
    require_images(f"STRESS_IMAGES={count} (images from 200)", 200, count)
    params_dir = stress_params_dir()
    run_shard(f"stress_{count}", 200, count, stalls=True, params_dir=params_dir,
              writes=param_set_writes(params_dir), label="stress")


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(FULL_SHARDS))
def test_regress_full(shard):
    """The whole test split (10,000 images) in ``$FULL_SHARDS`` shards (run with -n FULL_SHARDS)."""
    offset, count = shard_ranges(0, TEST_IMAGES, FULL_SHARDS)[shard]
    run_shard(f"full{shard}_{offset}_{count}", offset, count, shard_stalls(shard))


# ------------------------------------------------------------------ corner sets

@pytest.mark.parametrize("params", ["trained", "extreme"])
def test_regress_extremes(params):
    """Extreme images (all 0, all 255, checkerboards, single hot and cold pixels) and 4 real
    ones, with the trained parameters (vs reference and torch) and with the extreme parameter
    set of :func:`tb.bench.probes.extreme_params_dir` loaded over AXI4-Lite (vs reference): bit-exact."""
    images = extreme_images()
    if params == "trained":
        run_shard("extremes_trained", 0, len(images[0]), stalls=True, images=images,
                  label="extreme_images", runs_dir="extreme_runs")
    else:
        params_dir = extreme_params_dir()
        run_shard("extremes_params", 0, len(images[0]), stalls=True, params_dir=params_dir,
                  writes=param_set_writes(params_dir), images=images, label="extreme_params",
                  runs_dir="extreme_runs")


@pytest.mark.parametrize("seed", RANDOM_NETWORK_SEEDS)
def test_regress_random_network(seed):
    """A whole random network (:func:`tb.bench.probes.random_network_dir`) written over AXI4-Lite
    by the harness, then 4 real images (test images 400..403) under idle and backpressure: every
    image's class and fc3 codes equal the reference of that network."""
    params_dir = random_network_dir(seed)
    run_shard(f"random_{seed}", 400, 4, stalls=True, params_dir=params_dir,
              writes=param_set_writes(params_dir), label=f"random_network_{seed}", runs_dir="random_runs")


def test_regress_slow_sink():
    """4 real images (test images 100..103) back to back into a sink that takes one beat in a
    hundred cycles: the next image's fc1 and fc2 run while a result is still being sent, and
    every result stays bit-exact (the result registers are written only by fc3)."""
    run_shard("slow_sink", 100, 4, stalls=True, stall_pcts=SLOW_SINK_PCTS)


@pytest.mark.parametrize("params", ["trained", "stress"])
@pytest.mark.parametrize("hold", SINK_HOLDS)
def test_regress_held_sink(hold, params):
    """6 consecutive real images (chosen by :func:`tb.bench.probes.held_sink_offset`) into a sink
    that holds each image's first result beat for ``hold`` cycles: while image N waits, N+1 runs
    fc1 and fc2 and waits for fc3, N+2 and N+3 fill the fc input banks and the conv stages stall;
    every result stays bit-exact and in order. With the trained parameters and with the stress
    set (large accumulators in every layer, written over AXI4-Lite)."""
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
    run_shard("reversed_writes", 200, 4, stalls=False, writes=param_set_writes(resolve_params_dir())[::-1])


# ------------------------------------------------------------------ failure localization

@pytest.mark.cocotb_failure_expected("a conv2 weight is corrupted on purpose")
def test_fault_localized():
    """Fault injection: one conv2 weight corrupted over AXI4-Lite in the harness. The shard must
    fail, and its localization must name conv2, channel 5, with a waveform and a command."""
    params_dir = resolve_params_dir()
    w = int(load_params(params_dir)[FAULT_LAYER].weight.flatten()[FAULT_INDEX])
    bad = (127 if w < 0 else -128) & 0xFF  # the far end of the int8 range
    addr = param_address(FAULT_LAYER, "weight", FAULT_INDEX)
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


# ------------------------------------------------------------------ settings checked before the build
# (the no_build fixture replaces every build with a failure: these need no Verilator)

@pytest.mark.parametrize("env,shard,message", [
    ({"OFFSET": "9990"}, 0, "OFFSET=9990 IMAGES=50 (shard 0 of 2): images 9990..10039 are outside the test set (0..9999)"),
    ({"OFFSET": "9900", "IMAGES": "60"}, 1,
     "OFFSET=9900 IMAGES=60 (shard 1 of 2): images 9960..10019 are outside the test set (0..9999)"),
    ({"IMAGES": "0"}, 0, "OFFSET=0 IMAGES=0 (shard 0 of 2): at least 1 image needed"),
    ({"IMAGES": "fifty"}, 0, "IMAGES='fifty' is not an integer"),
    ({"OFFSET": "-1"}, 0, "OFFSET=-1 IMAGES=50 (shard 0 of 2): images -1..48 are outside the test set (0..9999)"),
])
def test_regress_image_ranges_before_build(no_build, monkeypatch, tmp_path, failed_message, env, shard, message):
    monkeypatch.setitem(globals(), "SHARDS", 2)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert failed_message(lambda: test_regress_shard(shard)) == message
    assert not (tmp_path / "sim_build").exists(), "a shard folder was created"


def test_regress_stress_images_before_build(no_build, monkeypatch, tmp_path, failed_message):
    monkeypatch.setenv("STRESS_IMAGES", "9801")
    assert failed_message(test_regress_stress) == \
        "STRESS_IMAGES=9801 (images from 200): images 200..10000 are outside the test set (0..9999)"
    assert not (tmp_path / "sim_build").exists()


def test_regress_bad_params_before_build(no_build, monkeypatch, tmp_path, truncated_export):
    """`make regress PARAMS=<damaged export>`: the harness build (whose $readmemh would only warn)
    never starts."""
    folder, message = truncated_export
    monkeypatch.setenv("PARAMS", str(folder))
    with pytest.raises(ParamsError) as info:
        test_regress_shard(0)
    assert str(info.value) == message
    assert not (tmp_path / "sim_build").exists()
