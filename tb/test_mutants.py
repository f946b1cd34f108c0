"""cocotb module for stage 2 of the mutation run (``scripts/mutate.py``, ``make mutate``).

The toplevel is Yosys's flattened netlist of ``fashion_lenet_accel`` that carries every mutant,
selected by its extra input ``mutsel`` (0 = the design as written). The netlist has no
parameter preload, so ``load_parameters`` first writes the whole parameter set of
``$MUTANT_PARAM_WRITES`` over AXI4-Lite (``$PARAMS_DIR`` names that set for the reference).
Then, for every mutant in ``$MUTANTS`` (comma separated), each check of ``$MUTANT_CHECKS``
runs: the checks of the top's cocotb tests (``tb/bench/top_csr.py``, ``top_images.py``,
``top_params.py``: ``test_csr``, ``test_images``, ...; a parametrized one in every variant,
``test_handshakes[True/False/fixed3of4]``), one cocotb test per (mutant, check) so that cocotb
cancels each check's clock and drivers before the next. Every check first runs with
``mutsel`` = 0 (calibration): one that fails on the design as written stops the run. The first
failing check kills a mutant and its remaining checks are skipped. After every mutant,
``test_images`` runs with ``mutsel`` = 0: if it fails, the mutant changed state that outlives
it (the parameter memories), and the parameters are written again.

Results go to ``$MUTANT_RESULTS``: one JSON object per line, ``{"mutant": k, "check": name,
"passed": bool, "message": first line of the failure}``; golden runs have ``mutant`` 0.
Every check runs under a simulated-time limit (``CHECK_LIMIT_US``): a mutant that hangs the
design fails its check with a timeout instead of stalling the run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.triggers import with_timeout

from tb.bench import top_csr, top_images, top_params
from tb.bench.top import TB

MUTANTS = [int(v) for v in os.environ.get("MUTANTS", "").split(",") if v.strip()]
CHECKS = [c for c in os.environ.get(
    "MUTANT_CHECKS", "test_csr,test_csr_bounds,test_csr_handshakes,test_stages,test_images,test_images_stalls,"
    "test_handshakes,test_malformed_frames,test_reset_mid_image,test_param_reload").split(",") if c]
CHECK_LIMIT_US = 20_000  # 2M cycles; the longest check needs ~0.2M
GOLDEN = "golden"

TOP_CHECKS = {c.name: c for c in (*top_csr.CHECKS, *top_images.CHECKS, *top_params.CHECKS)}
_unknown = [c for c in CHECKS if c not in TOP_CHECKS]
if _unknown:
    raise ValueError(f"MUTANT_CHECKS: no check named {', '.join(_unknown)} (known: {', '.join(TOP_CHECKS)})")
# every variant of every check: label -> (check, its parameters)
_CHECKS = {label: (TOP_CHECKS[name], kw) for name in CHECKS for label, kw in TOP_CHECKS[name].variants()}

_killed: set[int] = set()
_state = {"needs_load": True, "broken": None}


def _record(entry: dict) -> None:
    with open(os.environ["MUTANT_RESULTS"], "a") as f:
        f.write(json.dumps(entry) + "\n")


async def _load(dut) -> None:
    dut.mutsel.value = 0
    tb = TB(dut)
    await tb.reset()
    await tb.apply_param_writes(Path(os.environ["MUTANT_PARAM_WRITES"]))
    _state["needs_load"] = False


async def _check(dut, label: str, mutant: int) -> str | None:
    """Run check ``label`` (a key of ``_CHECKS``, or a plain check's name) on a new TB with
    ``mutsel`` = ``mutant``; the failure's first line, or None."""
    check, kwargs = _CHECKS.get(label) or (TOP_CHECKS[label], {})
    dut.mutsel.value = mutant
    try:
        await with_timeout(check.run(TB(dut), **kwargs), CHECK_LIMIT_US, "us")
    except Exception as exc:  # the check failed (the calibration shows it passes unmutated)  # noqa: BLE001
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
    return None


@cocotb.test()
async def load_parameters(dut):
    """The parameter set of ``$MUTANT_PARAM_WRITES`` written over AXI4-Lite with ``mutsel`` = 0."""
    await _load(dut)


# calibration first: every check must pass with mutsel = 0, else a failure would say nothing
_RUNS = [(0, c) for c in _CHECKS] + [(m, c) for m in MUTANTS for c in [*_CHECKS, GOLDEN]]


@cocotb.test()
@cocotb.parametrize((("mutant", "check"), _RUNS))
async def mutant_check(dut, mutant: int, check: str):
    """One check of one mutant (``golden``: ``test_images`` unmutated, reloading the parameters
    first when an earlier golden run failed)."""
    if _state["broken"]:
        return  # a calibration check failed: nothing after it means anything
    if check == GOLDEN:
        if _state["needs_load"]:
            await _load(dut)
        message = await _check(dut, "test_images", 0)
        if message is not None:  # the mutant left corrupted parameters behind: write them again
            await _load(dut)
            message = await _check(dut, "test_images", 0)
            assert message is None, f"unmutated design fails after reloading the parameters: {message}"
        _record({"mutant": 0, "after": mutant, "check": GOLDEN, "passed": message is None, "message": message})
        return
    if mutant in _killed:
        return
    message = await _check(dut, check, mutant)
    if mutant == 0:
        _record({"mutant": 0, "check": check, "passed": message is None, "message": message})
        if message is not None:
            _state["broken"] = check
        assert message is None, f"{check} fails on the unmutated netlist: {message}"
        return
    if message is not None:
        _killed.add(mutant)
    _record({"mutant": mutant, "check": check, "passed": message is None, "message": message})
    dut.mutsel.value = 0
