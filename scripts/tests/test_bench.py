"""scripts/bench.py (``make bench``): its figures come from the right places.

No timing is asserted here (benchmarks are scripts, not timed tests): these check the
cycle counts it reads (deterministic), the MAC bookkeeping against numbers counted by hand,
which multipliers it counts, and its accelerator line and Fmax lookup on synthetic figures.
"""
from __future__ import annotations

import json
import re
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
    mults = bench.DEFAULT_FOLDING.stage_multipliers()
    ut = bench.utilization(hw, mults)
    assert ut["multipliers"] == bench.DEFAULT_FOLDING.multipliers() == sum(mults.values())
    assert abs(ut["utilization"] * ut["multipliers"] * hw["throughput_cycles"] - 246_792) < 1e-6
    assert all(0 < s["utilization"] <= 1 for s in ut["stages"].values()), ut


def _cpu_run(threads: int, ips: dict[tuple[str, int], float]) -> dict:
    """A ``bench_cpu.bench_cpu`` result with the given images/s per (model, batch)."""
    return {"threads": threads, "results": [
        {"model": m, "batch": b, "us_per_image": {"median": 1e6 / v, "images_per_s": v}} for (m, b), v in ips.items()]}


LINE = re.compile(r"accelerator: (?P<n>[\d,]+) images/s at (?P<f>[\d.]+) MHz \(nextpnr-ecp5, LFE5U-85F\); "
                  r"(?P<r>[\d.]+)x the fastest CPU configuration in this run \((?P<which>[^)]+)\)$")


def test_accelerator_line():
    """N = F / cycles per image; R = N / the fastest CPU configuration's images/s, named."""
    cpu = [_cpu_run(1, {("float32", 1): 7_000.0, ("float32", 256): 21_000.0, ("int8_qnnpack", 1): 7_200.0,
                        ("int8_qnnpack", 256): 29_000.0}),
           _cpu_run(2, {("float32", 1): 11_000.0, ("float32", 256): 44_000.0, ("int8_qnnpack", 1): 6_800.0,
                        ("int8_qnnpack", 256): 29_500.0})]
    line = bench.accelerator_line(4_820.0, {"mhz": 48.2, "source": "x"}, cpu)
    m = LINE.match(line)
    assert m, line
    assert m["n"] == "10,000" and m["f"] == "48.2" and m["r"] == "0.23", line  # 10,000 / 44,000
    assert m["which"] == "float32, batch 256, 2 threads", line
    # a faster accelerator: R above 1, the int8 configuration the fastest
    cpu[1]["results"][3]["us_per_image"]["images_per_s"] = 50_000.0
    m = LINE.match(bench.accelerator_line(2_000.0, {"mhz": 125.0}, cpu))
    assert (m["n"], m["r"], m["which"]) == ("62,500", "1.25", "int8 qnnpack, batch 256, 2 threads")
    assert bench.cpu_configurations(cpu[:1])[0] == (7_000.0, "float32, batch 1, 1 thread")


def test_accelerator_line_without_fmax():
    line = bench.accelerator_line(4_820.0, None, [], "no synthesis report x")
    assert line.startswith("accelerator: Fmax missing (no synthesis report x)"), line
    assert "`make synth PNR=1`" in line and "4,820.0 cycles per image" in line, line


def test_pnr_fmax(tmp_path):
    """The Fmax only from a place and route report of the same hdl/ sources and folding."""
    report = tmp_path / "synth.json"
    params = {k: str(v) for k, v in bench.DEFAULT_FOLDING.hdl_parameters().items()}
    top = {"block": "top", "target": "ecp5", "params": params, "fmax_mhz": 61.3, "pnr_device": "LFE5U-85F-6-CABGA381",
           "pnr_seed": 1, "pnr_critical_path": {"from": "a.Q", "to": "b.D"}}

    def write(**meta):
        report.write_text(json.dumps(dict(meta, results=meta.pop("results", [top]))))

    assert bench.pnr_fmax(report, "abc")[0] is None and "no synthesis report" in bench.pnr_fmax(report, "abc")[1]
    write(hdl_sha256="abc")
    fmax, why = bench.pnr_fmax(report, "abc")
    assert why == "" and fmax["mhz"] == 61.3 and fmax["critical_path"] == {"from": "a.Q", "to": "b.D"}, (fmax, why)
    fmax, why = bench.pnr_fmax(report, "other")
    assert fmax is None and "other hdl/ sources" in why
    write(hdl_sha256="abc", results=[dict(top, fmax_mhz=None)])
    assert "no place and route" in bench.pnr_fmax(report, "abc")[1]
    write(hdl_sha256="abc", results=[dict(top, params=dict(params, Lanes="8"))])
    assert "another folding" in bench.pnr_fmax(report, "abc")[1]
    # the hash is the one scripts/synth.py stores: stable for unchanged sources
    assert bench.synth.hdl_hash() == bench.synth.hdl_hash() and len(bench.synth.hdl_hash()) == 64
