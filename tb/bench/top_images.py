"""Checks of the top on real Fashion-MNIST test images: results end to end (vs
``model.reference.forward`` and PyTorch's quantized model), the cycles per image, every
intermediate stage, stalls and every handshake variant, a long stress run, a DUT that stops
answering (run by ``tb/test_fashion_lenet_accel.py`` and the mutation run, ``tb/test_mutants.py``).
Each takes a :class:`tb.bench.top.TB`, resets the DUT first and raises AssertionError naming the
image, layer, channel/neuron and position that differed.

Settings (environment): ``IMAGES``/``OFFSET`` (check_images), ``RESULTS`` (a JSON file receiving
check_images's per-image results, for ``scripts/sim.py``), ``STAGE_IMAGES``/``STAGE_OFFSET``,
``PARAM_WRITES`` and ``STAGE_REPORT`` (check_stages, for ``tb/bench/localize.py``),
``HANDSHAKE_IMAGES``, ``STRESS_IMAGES``/``STRESS_OFFSET``.
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.handle import Force, Release
from cocotb.triggers import ClockCycles, SimTimeoutError
from cocotbext.axi import AxiResp

from model.network import CSR, MACS_PER_IMAGE
from model.reference import forward
from model.settings import env_int
from tb.bench.checks import (check_frames, compare_results, describe_diff, expected_results, fail_report,
                             torch_quantized_outputs)
from tb.bench.paramsets import load_test_images
from tb.bench.monitors import FrameTimer, run_stages
from tb.bench.stream import HANDSHAKE_NAMES, HANDSHAKE_VARIANTS, sequence_errors, stream_rng, variant_name
from tb.bench.top import CLOCK_NS, IMAGES_MODULE, TB, Check, folding_id, hdl_folding

HANDSHAKE_OPTIONS = ((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS),)  # cocotb.parametrize of check_handshakes
HANG_TIMEOUT_US = 50  # 5,000 cycles: the bench gives up after this much silence in check_dut_stops_answering
STUCK_SIGNALS = {"tvalid_out": "m_axis_tvalid", "tready_in": "s_axis_tready"}  # parameter value: DUT output
STUCK_OPTIONS = (("stuck", tuple(STUCK_SIGNALS)),)  # cocotb.parametrize of check_dut_stops_answering


async def check_images(tb: TB) -> None:
    """``$IMAGES`` (10) real test images from ``$OFFSET`` back to back: every image's class and
    fc3 codes vs the reference and vs torch's quantized model (when the parameter folder has
    one); IMAGES_DONE, STATUS, LAST_CYCLES cross-checked; the cycles per image vs the folding
    (:func:`check_rate`). A mismatch reruns the first failing image with the stage monitors.
    ``$RESULTS``: per-image results and a summary, JSON."""
    await tb.reset()
    offset, count = env_int("OFFSET", 0), env_int("IMAGES", 10)
    images, labels, classes = load_test_images(offset, count)
    tb.log.info("images %d..%d from %s", offset, offset + count - 1, tb.params_dir)
    ref = forward(tb.params, images)
    torch_ref = torch_quantized_outputs(tb.params_dir, images)
    results = []

    def record(n, beats, rec):
        rtl_cls = beats[0] if beats else -1
        exp = [int(ref["class"][n])] + ref["fc3"][n].tolist()
        torch_match = None
        if torch_ref is not None:
            torch_match = beats == [int(torch_ref["class"][n])] + torch_ref["fc3"][n].tolist()
        lab = int(labels[n])
        results.append({"index": offset + n, "label": lab, "label_name": classes[lab],
                        "predicted": rtl_cls, "ref_class": exp[0], "match": beats == exp,
                        "torch_match": torch_match, "fc3": beats[1:], "ref_fc3": exp[1:],
                        "latency_cycles": rec["latency"], "interval_cycles": rec["interval"]})
        tb.log.info("image %d label %d (%s) predicted %d rtl==ref %s rtl==torch %s (LAST_CYCLES %s)",
                    offset + n, lab, classes[lab], rtl_cls, "yes" if beats == exp else "no",
                    {None: "n/a", True: "yes", False: "no"}[torch_match], rec["latency"])

    def summarize(error: str | None = None) -> dict:
        """Summary over the images received so far; written to $RESULTS for scripts/sim.py."""
        lat = [r["latency_cycles"] for r in results if r["latency_cycles"] is not None]
        summary = {"images": len(results), "requested": count, "offset": offset,
                   "params": str(tb.params_dir), "error": error,
                   "matches": sum(r["match"] for r in results),
                   "torch_matches": None if torch_ref is None else sum(bool(r["torch_match"]) for r in results),
                   "correct": sum(r["predicted"] == r["label"] for r in results),
                   "first_latency_cycles": results[0]["latency_cycles"] if results else None,
                   "mean_latency_cycles": sum(lat) / len(lat) if lat else None,
                   # back-to-back throughput: spacing of consecutive results (needs >= 2 images)
                   "mean_interval_cycles": sum(r["interval_cycles"] for r in results[1:]) / (len(results) - 1)
                   if len(results) > 1 else None}
        if os.environ.get("RESULTS"):
            Path(os.environ["RESULTS"]).write_text(json.dumps({"summary": summary, "images": results}, indent=1))
        return summary

    try:
        frames, info = await tb.run_images(images, on_frame=record)
    except Exception as exc:  # e.g. a result timeout: keep the images that did complete
        summarize(f"{type(exc).__name__}: {exc}")
        raise
    errors = compare_results(ref, frames, offset)
    summary = summarize()
    tb.log.info("summary: %s", summary)
    rate_error = check_rate(tb, results)

    # CSR cross-checks
    done, _ = await tb.read(CSR["IMAGES_DONE"])
    status, _ = await tb.read(CSR["STATUS"])

    if errors:
        # localize: rerun the first failing image with the inter-stage streams monitored
        bad = next(n for n, r in enumerate(results) if not r["match"]) if not all(
            r["match"] for r in results) else 0
        stage_errors = await run_stages(tb, tb.params, images[bad:bad + 1], offset + bad)
        raise AssertionError(
            fail_report(errors) + f"\nrerun of image {offset + bad} with stage monitors:\n  " +
            ("\n  ".join(stage_errors[:12]) if stage_errors else "all stages and outputs match on the rerun")
            + f"\n(replay one image: COCOTB_TEST_FILTER=test_stages STAGE_OFFSET={offset + bad} "
              f"STAGE_IMAGES=1 pytest {IMAGES_MODULE.replace('.', '/')}.py)")
    if torch_ref is not None:
        # the chain's other end: PyTorch's own quantized kernels (qnnpack)
        torch_errors = compare_results(torch_ref, frames, offset)
        assert not torch_errors, fail_report(torch_errors, "vs torch's quantized model")
    assert done == count, f"IMAGES_DONE {done}, expected {count}"
    assert status & 1 == 0, "STATUS.busy still set after the last result"
    assert all(r["latency_cycles"] is not None for r in results), \
        "LAST_CYCLES could not be attributed to every image"
    assert rate_error is None, rate_error


def check_rate(tb: TB, results: list[dict]) -> str | None:
    """Cycles per image back to back vs the slowest stage of the folding (its HDL parameters,
    :func:`tb.bench.top.hdl_folding`; without them, e.g. on the mutation netlist, and with fewer
    than 3 images, no check). Logs stages, multipliers and MAC utilization.

    Returns:
        an error message, or None.
    """
    folding = hdl_folding()
    if folding is None or len(results) < 3:
        return None
    stages = folding.stage_cycles()
    steady = [r["interval_cycles"] for r in results[2:]]  # after the pipeline has filled
    mults = folding.multipliers()
    worst = max(steady)
    tb.log.info("folding %s: %d cycles per image back to back (stages alone: %s), latency %s, "
                "%d multipliers, MAC utilization %d / (%d x %d) = %.1f%%", folding_id(folding), worst,
                ", ".join(f"{k} {v}" for k, v in stages.items()), results[0]["latency_cycles"], mults,
                MACS_PER_IMAGE, mults, worst, 100.0 * MACS_PER_IMAGE / (mults * worst))
    bound = max(stages.values()) + 16
    if worst > bound:
        return (f"folding {folding_id(folding)}: {worst} cycles per image back to back, "
                f"expected at most {bound} (slowest stage alone: {stages}); intervals {steady}")
    return None


async def check_images_stalls(tb: TB) -> None:
    """Random input idles and output backpressure: results unchanged; LAST_CYCLES of every
    image equals the first-pixel -> last-result distance the bench saw, and STATUS.busy is set
    mid-image."""
    await tb.reset()
    dut = tb.dut
    rng = random.Random(cocotb.RANDOM_SEED)
    tb.set_pauses(idle=True, backpressure=True, rng=rng)
    offset = env_int("OFFSET", 0) + 50
    images, _, _ = load_test_images(offset, 3)
    timer = FrameTimer(dut)

    async def status_mid_image():
        await ClockCycles(dut.clk_i, 2000)
        return (await tb.read(CSR["STATUS"]))[0]

    mid = cocotb.start_soon(status_mid_image())
    frames, info = await tb.run_images(images)
    timer.stop()
    assert (await mid) & 1 == 1, "STATUS.busy clear while an image was in flight"
    errors = check_frames(tb.params, images, frames, offset)
    tb.set_pauses(False, False, rng)
    assert not errors, fail_report(errors)
    expected = [round((e - s) / CLOCK_NS) for s, e in zip(timer.starts, timer.ends)]
    actual = [rec["latency"] for rec in info]
    assert expected == actual, f"LAST_CYCLES per image {actual}, test bench measured {expected}"
    assert (await tb.read(CSR["STATUS"]))[0] & 1 == 0, "STATUS.busy set while idle"


async def check_stages(tb: TB) -> None:
    """Every intermediate layer (conv1, pool1, conv2, pool2, fc1, fc2, fc3) of ``$STAGE_IMAGES``
    (2) images from ``$STAGE_OFFSET`` (``$OFFSET``) vs the reference: a mismatch names its
    layer, channel/neuron and position. ``$PARAM_WRITES``: AXI4-Lite writes applied first
    (:meth:`TB.apply_param_writes`); ``$STAGE_REPORT``: JSON file receiving the first
    difference of every failing image (``tb/bench/localize.py``)."""
    await tb.reset()
    offset = env_int("STAGE_OFFSET", env_int("OFFSET", 0))
    count = env_int("STAGE_IMAGES", 2)
    images, _, _ = load_test_images(offset, count)
    if os.environ.get("PARAM_WRITES"):
        await tb.apply_param_writes(Path(os.environ["PARAM_WRITES"]))
    first_bad = {}
    errors = await run_stages(tb, tb.params, images, offset, first_bad)
    if os.environ.get("STAGE_REPORT"):
        Path(os.environ["STAGE_REPORT"]).write_text(json.dumps(
            {str(offset + n): {**d, "summary": describe_diff(d)} for n, d in first_bad.items()}, indent=1))
    assert not errors, fail_report(errors)


async def check_handshakes(tb: TB, idle: bool, backpressure: bool, pattern: str) -> None:
    """``$HANDSHAKE_IMAGES`` (2) real images back to back in one handshake variant
    (``tb.bench.stream``: no stall, input idle, output backpressure, both; fixed 3-of-4 and
    seeded random patterns): every result bit-exact, none lost, duplicated or reordered,
    nothing left in the sink, IMAGES_DONE."""
    await tb.reset()
    variant = variant_name(idle, backpressure, pattern)
    tb.set_pauses(idle, backpressure, stream_rng(tb.log), pattern, p=0.5)
    offset = env_int("OFFSET", 0) + 20
    count = env_int("HANDSHAKE_IMAGES", 2)
    images, _, _ = load_test_images(offset, count)
    ref = forward(tb.params, images)
    frames, _ = await tb.run_images(images, read_csrs=False)
    await ClockCycles(tb.dut.clk_i, 100)  # a duplicated or extra result would arrive by now
    expected = [[int(ref["class"][n])] + ref["fc3"][n].tolist() for n in range(count)]
    errors = sequence_errors(expected, frames, "image") + compare_results(ref, frames, offset)
    assert not errors, fail_report([f"{variant}: {e}" for e in errors])
    assert tb.sink.empty(), f"{variant}: result beats beyond the {count} images' results"
    done = await tb.read(CSR["IMAGES_DONE"])
    assert done == (count, AxiResp.OKAY), f"{variant}: IMAGES_DONE {done[0]}, expected {count}"


async def check_stress_images(tb: TB) -> None:
    """``$STRESS_IMAGES`` (4) real test images from ``$STRESS_OFFSET`` (0) back to back under
    seeded random input idle and output backpressure: every result bit-exact vs
    ``model.reference.forward``, the count and the order of the results, nothing left in the
    sink, IMAGES_DONE."""
    await tb.reset()
    count = env_int("STRESS_IMAGES", 4)
    offset = env_int("STRESS_OFFSET", 0)
    images, _, _ = load_test_images(offset, count)
    tb.set_pauses(True, True, stream_rng(tb.log), "random", p=0.5)
    expected = expected_results(tb.params, images)
    wall0 = time.monotonic()
    matches = []

    def progress(n, beats, rec):
        matches.append(beats == expected[n])
        if (n + 1) % 100 == 0 or n + 1 == count:
            wall = time.monotonic() - wall0
            tb.log.info("stress: %d / %d images, %d bit-exact, %.0f s wall, %.2f images/s", n + 1, count,
                        sum(matches), wall, (n + 1) / wall)

    frames, _ = await tb.run_images(images, read_csrs=False, on_frame=progress)
    await ClockCycles(tb.dut.clk_i, 200)
    errors = sequence_errors(expected, frames, "image")
    tb.log.info("stress summary: images %d..%d, %d results, %d bit-exact vs model.reference.forward, "
                "%.0f s wall", offset, offset + count - 1, len(frames), sum(matches), time.monotonic() - wall0)
    assert not errors, fail_report([f"stress (images from {offset}): {e}" for e in errors])
    assert tb.sink.empty(), "stress: result beats beyond the last image's"
    done = await tb.read(CSR["IMAGES_DONE"])
    assert done == (count, AxiResp.OKAY), f"stress: IMAGES_DONE {done[0]}, expected {count}"


async def check_dut_stops_answering(tb: TB, stuck: str) -> None:
    """A DUT that stops answering (``STUCK_SIGNALS[stuck]`` forced to 0 with cocotb's Force: no
    result beat, or no input beat accepted) makes the bench's result wait raise SimTimeoutError
    after ``HANG_TIMEOUT_US`` of simulated silence, with a message naming the image and the
    stream states; released and reset, the accelerator then runs the image bit-exact."""
    await tb.reset()
    offset = env_int("OFFSET", 0)
    images, _, _ = load_test_images(offset, 1)
    signal = STUCK_SIGNALS[stuck]
    handle = getattr(tb.dut, signal)
    handle.value = Force(0)
    try:
        await tb.run_images(images, read_csrs=False, timeout_us=HANG_TIMEOUT_US)
    except SimTimeoutError as exc:
        msg = str(exc)
    else:
        raise AssertionError(f"{signal} forced low: the result wait returned instead of raising SimTimeoutError")
    finally:
        handle.value = Release()
    tb.log.info("%s forced low: %s", signal, msg)
    for part in ("image 0 of 1: no result frame on m_axis within", "stopped answering", f"{signal}=0"):
        assert part in msg, f"{signal} forced low: timeout message {msg!r} lacks {part!r}"
    await tb.reset()
    tb.source.clear()
    tb.sink.clear()
    frames, _ = await tb.run_images(images, read_csrs=False)
    errors = sequence_errors(expected_results(tb.params, images), frames, "image")
    assert not errors, fail_report([f"after releasing {signal}: {e}" for e in errors])


CHECKS = (
    Check("test_images", check_images),
    Check("test_images_stalls", check_images_stalls),
    Check("test_stages", check_stages),
    Check("test_handshakes", check_handshakes, HANDSHAKE_OPTIONS),
    Check("test_stress_images", check_stress_images),
    Check("test_dut_stops_answering", check_dut_stops_answering, STUCK_OPTIONS),
)
