"""Tests of ``scripts/mutate.py`` (``make mutate``): the parsing helpers on fixed text, and a
small real run (Yosys lists 8 mutants, stage 1 only) that must classify every mutant, kill
some, leave the unmutated netlist passing, and write the report."""
from __future__ import annotations

import csv
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

from scripts import mutate

LIST = """mutate -mode none
mutate -mode inv -module top -cell $procmux$949 -port Y -portbit 0 -wire u_a.s1_exp -wirebit 3 -src /x/hdl/requant.sv:61.16 -src /x/hdl/requant.sv:73.22-73.42
mutate -mode cnot1 -module top -cell $2380 -port A -portbit 4 -ctrlbit 2 -src /x/hdl/requant.sv:132.39-132.51
"""
RTLIL = """  cell $neg $2380
    parameter \\Y_WIDTH 6
    connect \\Y $2380y
    connect \\A \\u_fc.u_requant.s3_rshift_q [5:0]
  end
"""


def test_parse_mutations():
    ms = mutate.parse_mutations(LIST)
    assert [m.id for m in ms] == [1, 2], "mode none is not a mutant; ids count from 1"
    assert ms[0].mode == "inv" and ms[0].target == "u_a.s1_exp[3]" and ms[0].location == "hdl/requant.sv:73"
    assert ms[1].target == "$2380.A[4]" and ms[1].block == "requant"
    assert ms[1].key == "cnot1 $2380.A[4] @ hdl/requant.sv:132"
    assert mutate.cell_context(RTLIL) == {"$2380": "A=u_fc.u_requant.s3_rshift_q"}


def test_review_file_is_well_formed():
    """Every review line has a key, the verdict ``equivalent``, ``unreachable`` or ``out-of-contract``, and a reason."""
    assert mutate.REVIEW_FILE.is_file(), f"{mutate.REVIEW_FILE} missing"
    for n, line in enumerate(mutate.REVIEW_FILE.read_text().splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            parts = [p.strip() for p in line.split("|")]
            assert len(parts) == 3 and parts[1] in mutate.VERDICTS and parts[2], \
                f"{mutate.REVIEW_FILE}:{n}: expected '<mode> <target> @ <file:line> | equivalent|unreachable|out-of-contract | <reason>'"


def test_mutate_small_run(tmp_path):
    """8 mutants through Yosys, the plain Verilator harness and stage 1's checks."""
    out = tmp_path / "report"
    status = mutate.main(["--mutants", "8", "--seed", "3", "--stage1-only", "--goal", "0",
                          "--jobs", "2", "--out", str(out), "--work", str(tmp_path / "work")])
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "mutants.csv") as f:
        rows = list(csv.DictReader(f))
    assert summary["mutants"] == len(rows) == 8
    assert summary["killed"] + summary["survived"] == 8
    assert summary["killed"] >= 1, "no mutant killed: the checks are not looking"
    assert all(r["result"] in ("killed", "survived") for r in rows)
    assert all(r["killed_by"].startswith("stage1 ") for r in rows if r["result"] == "killed")
    assert (out / "survivors.md").read_text().startswith("# Mutation survivors")
