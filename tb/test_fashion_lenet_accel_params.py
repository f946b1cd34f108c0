"""cocotb tests + pytest runners for the parameter path of the accelerator top
``fashion_lenet_accel`` over AXI4-Lite (the check bodies: ``tb/bench/top_params.py``; the bench:
``tb/bench/top.py``).

Tests (cocotb runs them in this order in one simulation):

* ``test_axil_params``: conv1, conv2 and fc3 entirely overwritten through AXI4-Lite with
  seeded random parameters (``tb.bench.paramsets.random_network``), then ``$PARAM_IMAGES`` (3)
  images from ``$OFFSET + 100`` checked stage by stage against the reference of the modified
  set; the preloaded values are restored after.
* ``test_param_reload``: parameter sets swapped over AXI4-Lite between images (P0 = preload,
  P1 = random conv1/conv2/fc2/fc3 and fc1 biases, requant, zero points and the weights of
  ``$RELOAD_FC1_ROWS`` (8; ``all``) neurons); ``$RELOAD_IMAGES`` (3) images from
  ``$OFFSET + 300`` alternate P0, P1, P0, ..., each against the reference of the set it ran with.

Foldings (``tb.bench.top.TOP_FOLDINGS``): every test at the HDL defaults (18, 3),
``SMALL_FOLDING_TESTS`` at (8, 6), every test at (3, 2) (slow). Replay a run with
``SEED=<seed printed by cocotb>`` (the random parameter sets are drawn from cocotb's seed).
"""
from __future__ import annotations

import cocotb
import pytest

from model.network import SMALL_FOLDING
from tb.bench import top_params as checks
from tb.bench.top import PARAMS_MODULE, TB, TOP_FOLDINGS, run_top


@cocotb.test()
async def test_axil_params(dut):
    """conv1, conv2, fc3 overwritten through AXI4-Lite with random values; images vs reference."""
    await checks.check_axil_params(TB(dut))


@cocotb.test()
async def test_param_reload(dut):
    """Parameter sets swapped over AXI4-Lite between images, each image against the reference of
    the set it ran with; the preload restored at the end."""
    await checks.check_param_reload(TB(dut))


# ------------------------------------------------------------------ pytest runners

# the small folding runs the AXI4-Lite parameter path
SMALL_FOLDING_TESTS = "test_axil_params$"


@pytest.mark.parametrize("folding", TOP_FOLDINGS)
def test_fashion_lenet_accel_params(folding):
    """Every cocotb test above at the HDL default folding and the slow one; a subset
    (``SMALL_FOLDING_TESTS``) at the small folding (Lanes 8, conv2 unfolded)."""
    run_top(PARAMS_MODULE, folding, testcase=SMALL_FOLDING_TESTS if folding == SMALL_FOLDING else None)


@pytest.mark.slow
def test_top_param_reload_full():
    """``test_param_reload`` with every fc1 weight rewritten too (81,435 writes per swap, about
    25 s of wall time each) and 5 images: P0, P1, P0, P1, P0."""
    run_top(PARAMS_MODULE, testcase="test_param_reload$", extra_env={"RELOAD_FC1_ROWS": "all", "RELOAD_IMAGES": "5"})


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
