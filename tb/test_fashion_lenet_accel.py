"""cocotb tests + pytest runners for the accelerator top ``fashion_lenet_accel`` on real
Fashion-MNIST test images (the check bodies: ``tb/bench/top_images.py``; the bench:
``tb/bench/top.py``).

Tests (cocotb runs them in this order in one simulation):

* ``test_images``: ``$IMAGES`` (10) real test images from ``$OFFSET`` back to back; the 11
  result beats of every image (class, fc3 codes 0..9) vs ``model.reference.forward`` and
  PyTorch's quantized model; IMAGES_DONE, LAST_CYCLES, STATUS cross-checked; the cycles per
  image vs the slowest stage of the folding (``model.network.Folding.stage_cycles``).
  ``$RESULTS`` (optional): JSON file receiving per-image results (used by scripts/sim.py).
* ``test_images_stalls``: a few images with random input idles and output backpressure;
  LAST_CYCLES of every image equals the first-pixel -> last-result distance the bench saw,
  and STATUS.busy is set mid-image.
* ``test_stages``: ``$STAGE_IMAGES`` (2) images from ``$STAGE_OFFSET`` with the inter-stage
  streams monitored (conv1 and conv2 before pooling, pool1, pool2) and the fc requant output;
  a mismatch names image, layer, channel, row, column. ``$PARAM_WRITES`` (optional):
  AXI4-Lite writes applied first (one 64-bit hex word ``address << 32 | data`` per line, the
  regression harness's format); ``$STAGE_REPORT`` (optional): JSON file receiving the first
  difference of every failing image (used by tb/bench/localize.py).
* ``test_handshakes``: ``$HANDSHAKE_IMAGES`` (2) images back to back in every handshake variant
  of ``tb/bench/stream.py`` (no stall; input idle, output backpressure, both; fixed 3-of-4 and
  seeded random patterns): bit-exact, none lost/duplicated/reordered, sink empty, IMAGES_DONE.
* ``test_stress_images``: ``$STRESS_IMAGES`` (4 here; 1,000 in the slow ``test_top_stress``)
  images from ``$STRESS_OFFSET`` back to back under seeded random idle and backpressure.
* ``test_dut_stops_answering``: m_axis_tvalid or s_axis_tready forced to 0 (cocotb Force):
  the bench's result wait raises SimTimeoutError after 50 us naming the image and the stream
  states; released and reset, the image is bit-exact.

Foldings (HDL parameters ``Lanes``, ``Conv2InChannelsPar``, ``tb.bench.top.TOP_FOLDINGS``):
every test at the HDL defaults (18, 3), ``SMALL_FOLDING_TESTS`` at (8, 6), every test at
(3, 2) (slow).

Replay a run with ``SEED=<seed printed by cocotb>``; run one cocotb test with
``COCOTB_TEST_FILTER=test_stages`` (env: IMAGES, OFFSET, STAGE_IMAGES, STAGE_OFFSET, ...).
"""
from __future__ import annotations

import os

import cocotb
import pytest

from model.network import SMALL_FOLDING
from tb.bench import top_images as checks
from tb.bench.top import IMAGES_MODULE, TB, TOP_FOLDINGS, run_top


@cocotb.test()
async def test_images(dut):
    """Real test images back to back, every image's class and fc3 codes vs the reference."""
    await checks.check_images(TB(dut))


@cocotb.test()
async def test_images_stalls(dut):
    """Random input idles and output backpressure: results unchanged; LAST_CYCLES and
    STATUS.busy agree with the handshakes seen by the test bench."""
    await checks.check_images_stalls(TB(dut))


@cocotb.test()
async def test_stages(dut):
    """Every intermediate layer (conv1, pool1, conv2, pool2, fc1, fc2, fc3) of a few images vs
    the reference: a mismatch names its layer, channel/neuron and position."""
    await checks.check_stages(TB(dut))


@cocotb.test()
@cocotb.parametrize(*checks.HANDSHAKE_OPTIONS)
async def test_handshakes(dut, idle: bool, backpressure: bool, pattern: str):
    """Real images back to back in one handshake variant: every result bit-exact, none lost,
    duplicated or reordered, nothing left in the sink, IMAGES_DONE."""
    await checks.check_handshakes(TB(dut), idle, backpressure, pattern)


@cocotb.test()
async def test_stress_images(dut):
    """Real test images back to back under seeded random idle and backpressure: every result
    bit-exact, in order, none lost, nothing left in the sink, IMAGES_DONE."""
    await checks.check_stress_images(TB(dut))


@cocotb.test()
@cocotb.parametrize(*checks.STUCK_OPTIONS)
async def test_dut_stops_answering(dut, stuck: str):
    """An output forced to 0: the result wait times out with a message naming the image and
    the stream states; released and reset, the image is bit-exact."""
    await checks.check_dut_stops_answering(TB(dut), stuck)


# ------------------------------------------------------------------ pytest runners

# the small folding runs a subset: images (cycles checked), stalls with LAST_CYCLES, stage monitors
SMALL_FOLDING_TESTS = "test_images$|test_images_stalls$|test_stages$"


@pytest.mark.parametrize("folding", TOP_FOLDINGS)
def test_fashion_lenet_accel(folding):
    """Every cocotb test above at the HDL default folding and the slow one; a subset
    (``SMALL_FOLDING_TESTS``) at the small folding (Lanes 8, conv2 unfolded)."""
    run_top(IMAGES_MODULE, folding, testcase=SMALL_FOLDING_TESTS if folding == SMALL_FOLDING else None)


@pytest.mark.slow
def test_top_regression():
    """The whole Fashion-MNIST test split (10,000 images, ~2 h of simulation)."""
    run_top(IMAGES_MODULE, testcase="test_images$",
            extra_env={"IMAGES": os.environ.get("IMAGES", "10000"), "OFFSET": os.environ.get("OFFSET", "0")})


@pytest.mark.slow
def test_top_stress():
    """``test_stress_images`` on ``$STRESS_IMAGES`` (default 1,000) real test images under
    random idle and backpressure (about 1 image/s: ~20 min). Own build folder, so that the
    shared one stays free for the other runs meanwhile."""
    run_top(IMAGES_MODULE, testcase="test_stress_images$", build_name="fashion_lenet_accel_stress",
            extra_env={"STRESS_IMAGES": os.environ.get("STRESS_IMAGES", "1000"),
                       "STRESS_OFFSET": os.environ.get("STRESS_OFFSET", "0")})


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
