"""scripts/bench.py (``make bench``): its figures come from the right places.

No timing is asserted here (benchmarks are scripts, not timed tests): these check the
cycle counts it reads (deterministic), the MAC bookkeeping against numbers counted by hand, and
which multipliers it counts.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

from scripts import bench


def test_stage_macs():
    """246,792 MACs per image: conv1 42,336; conv2 124,416; fc1 + fc2 + fc3 69,120 + 10,080 + 840."""
    assert bench.STAGE_MACS == {"conv1": 42_336, "conv2": 124_416, "fc": 69_120 + 10_080 + 840}
    assert bench.TOTAL_MACS == 246_792


def test_mac_multipliers():
    """Activation x weight products (9 x 8 bits) count; the requant mantissa product and the
    address and count products do not (widths as Yosys reports them for this RTL)."""
    assert bench.mac_multipliers({"9x8->17": 30, "9x8->20": 24, "25x24->48": 1}) == 54
    assert bench.mac_multipliers({"10x8->14": 1, "11x10->14": 1, "9x8->16": 8, "25x24->48": 1}) == 8
    assert bench.mac_multipliers({"32x32->18": 2, "25x24->48": 3}) == 0


def test_hardware_cycles(tmp_path):
    """6 real images through the plain harness (preloaded export): latency from LAST_CYCLES equals
    the harness's own stamps, the back-to-back interval is shorter than the latency (the
    images overlap in the pipeline), and the utilization follows from it."""
    hw = bench.hardware_cycles(6, tmp_path)
    print(hw)
    assert hw["latency_cycles"] == hw["latency_tb_cycles"] > 0
    assert hw["interval_min"] <= hw["throughput_cycles"] <= hw["interval_max"]
    assert 0 < hw["throughput_cycles"] < hw["latency_cycles"]
    ut = bench.utilization(hw, {"conv1": 9, "conv2": 9 * bench.CONV2_PAR, "fc": bench.LANES})
    assert ut["multipliers"] == 9 + 9 * bench.CONV2_PAR + bench.LANES
    assert abs(ut["utilization"] * ut["multipliers"] * hw["throughput_cycles"] - 246_792) < 1e-6
    assert all(0 < s["utilization"] <= 1 for s in ut["stages"].values()), ut
