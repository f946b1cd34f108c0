"""cocotb tests + pytest runners for the register interface and control of the accelerator top
``fashion_lenet_accel`` (the check bodies: ``tb/bench/top_csr.py``; the bench: ``tb/bench/top.py``).

Tests (cocotb runs them in this order in one simulation):

* ``test_csr``: ID, CTRL scratch, idle STATUS; SLVERR for unmapped and read-only writes.
* ``test_csr_bounds``: every word just outside a mapped range (each region's end and its
  power-of-two aliases, CSR aliases, layer slots 6..15) answers SLVERR to writes and reads and
  the refused writes change nothing (CSRs, then an image bit-exact).
* ``test_csr_handshakes``: CTRL bit patterns and byte lanes, CYCLE_COUNT from reset, partial
  FRAME_ERRORS writes, reads of unmapped and parameter words, with every AXI4-Lite channel
  stalled in turn (fixed 3-of-4 and random pause patterns).
* ``test_malformed_frames``: frames with tlast early, mid-row or missing at pixel 784 are
  dropped and counted in FRAME_ERRORS; the good image after each is bit-exact; only a full
  FRAME_ERRORS write clears the count.
* ``test_reset_mid_image``: reset asserted mid-image, mid-convolution and mid-FC; no result of
  the aborted image appears and the next image is bit-exact.

Foldings (``tb.bench.top.TOP_FOLDINGS``): every test at the HDL defaults (18, 3),
``SMALL_FOLDING_TESTS`` at (8, 6), every test at (3, 2) (slow). Replay a run with
``SEED=<seed printed by cocotb>``; env: OFFSET.
"""
from __future__ import annotations

import cocotb
import pytest

from model.network import SMALL_FOLDING
from tb.bench import top_csr as checks
from tb.bench.top import CSR_MODULE, TB, TOP_FOLDINGS, run_top


@cocotb.test()
async def test_csr(dut):
    """ID/CTRL/STATUS read back; unmapped and read-only writes get SLVERR and change nothing."""
    await checks.check_csr(TB(dut))


@cocotb.test()
async def test_csr_bounds(dut):
    """Every word just outside a mapped range answers SLVERR to a write and to a read (data 0),
    and the refused writes change nothing."""
    await checks.check_csr_bounds(TB(dut))


@cocotb.test()
async def test_csr_handshakes(dut):
    """CSR accesses with every AXI4-Lite channel stalled in turn: CTRL patterns and byte lanes,
    CYCLE_COUNT, partial FRAME_ERRORS writes, unmapped and parameter reads."""
    await checks.check_csr_handshakes(TB(dut))


@cocotb.test()
async def test_malformed_frames(dut):
    """Frames with tlast early, mid-row or missing are dropped and counted in FRAME_ERRORS; the
    good image after each is bit-exact; only a full FRAME_ERRORS write clears the count."""
    await checks.check_malformed_frames(TB(dut))


@cocotb.test()
async def test_reset_mid_image(dut):
    """Reset mid-image, mid-convolution and mid-FC: no stale result, CSRs cleared, the next
    image bit-exact."""
    await checks.check_reset_mid_image(TB(dut))


# ------------------------------------------------------------------ pytest runner

# the small folding runs the resets mid-image/-convolution/-FC (its stage timing differs)
SMALL_FOLDING_TESTS = "test_reset_mid_image$"


@pytest.mark.parametrize("folding", TOP_FOLDINGS)
def test_fashion_lenet_accel_csr(folding):
    """Every cocotb test above at the HDL default folding and the slow one; a subset
    (``SMALL_FOLDING_TESTS``) at the small folding (Lanes 8, conv2 unfolded)."""
    run_top(CSR_MODULE, folding, testcase=SMALL_FOLDING_TESTS if folding == SMALL_FOLDING else None)


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
