"""cocotb tests of ``hdl/mul_reg.sv`` (registered multiplier) against Python integers.

Stimulus: seeded random operands mixed with corners (0, +-1, the extremes of each operand's
range) under a randomly toggling ``en_i``; a cycle-accurate model (input registers, then the
product register, both advancing only on enabled edges) gives ``p_o`` after every edge,
so both the products and the fixed latency of 2 enabled edges are checked, and that
nothing moves while ``en_i`` is low. The builds cover the widths the RTL uses (9 x 8
signed: conv MACs; 18 x 18 and 7 x 6 unsigned: requant partial products) and mixed
signedness ones, with the DSP block (UseDsp = 1) and in logic (UseDsp = 0); products of at
most 17 bits are also checked for every operand pair.

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from tb.bench.axis_tb import start_clock
from tb.bench.hdl import hdl_param
from tb.bench.seeds import seeded
from tb.runner import hdl_sources, run_sim

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

LATENCY = 2  # enabled clock edges, documented in hdl/mul_reg.sv


class Operand:
    """Range, corners and bit encoding of one operand of ``width`` bits."""

    def __init__(self, width: int, signed: bool):
        self.width, self.signed = width, signed
        self.lo, self.hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        self.corners = sorted({0, 1, self.hi, self.lo, self.hi - 1, self.lo + 1}
                              | ({-1, self.lo // 2} if signed else {self.hi >> 1, (self.hi >> 1) + 1}))

    def draw(self, rng: random.Random) -> int:
        return rng.choice(self.corners) if rng.random() < 0.4 else rng.randint(self.lo, self.hi)

    def bits(self, v: int) -> int:
        return v & ((1 << self.width) - 1)


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.a = Operand(hdl_param("AWidth"), bool(hdl_param("ASigned")))
        self.b = Operand(hdl_param("BWidth"), bool(hdl_param("BSigned")))
        self.pwidth = self.a.width + self.b.width
        self.psigned = self.a.signed or self.b.signed
        assert len(dut.p_o) == self.pwidth
        start_clock(dut)
        dut.en_i.value = 0
        dut.a_i.value = 0
        dut.b_i.value = 0

    def product(self) -> int:
        raw = int(self.dut.p_o.value)
        if self.psigned and raw >> (self.pwidth - 1):
            raw -= 1 << self.pwidth
        return raw


async def stream(tb: TB, ops: list[tuple[int, int]], rng: random.Random, p_en: float) -> None:
    """Cycle-accurate check: after each clock edge ``p_o`` equals the product of the operands
    taken LATENCY enabled edges before; a disabled edge changes nothing."""
    d = tb.dut
    taken: list[tuple[int, int]] = []   # operands sampled at each enabled edge, in order
    pending = None                      # (a, b, en) driven for the coming edge
    i = 0
    checked = 0
    while checked < len(ops):
        await RisingEdge(d.clk_i)
        if pending is not None and pending[2]:
            taken.append(pending[:2])
        en = rng.random() < p_en
        a, b = ops[i] if i < len(ops) else (0, 0)
        if en and i < len(ops):
            i += 1
        d.a_i.value, d.b_i.value, d.en_i.value = tb.a.bits(a), tb.b.bits(b), int(en)
        pending = (a, b, en)
        await ReadOnly()
        if len(taken) >= LATENCY:
            ea, eb = taken[-LATENCY]
            got = tb.product()
            assert got == ea * eb, (f"p_o = {got}, expected {ea} * {eb} = {ea * eb} "
                                    f"(operands of enabled edge {len(taken) - LATENCY}, {len(taken)} so far)")
            if len(taken) - LATENCY == checked:
                checked += 1


@cocotb.test()
async def test_products(dut):
    """Random and corner operands: full rate, then with en_i low 40% of the cycles."""
    _, rng = seeded()
    tb = TB(dut)
    corners = [(x, y) for x in tb.a.corners for y in tb.b.corners]
    ops = corners + [(tb.a.draw(rng), tb.b.draw(rng)) for _ in range(3000)]
    await stream(tb, ops, rng, 1.0)
    await stream(tb, ops, rng, 0.6)
    # every corner pair once more, in a random order, under rare enables
    rng.shuffle(corners)
    await stream(tb, corners, rng, 0.2)
    dut._log.info("%d x %d (%s x %s): %d products match", tb.a.width, tb.b.width,
                  "signed" if tb.a.signed else "unsigned", "signed" if tb.b.signed else "unsigned",
                  2 * len(ops) + len(corners))


@cocotb.test()
async def test_exhaustive(dut):
    """Every operand pair, for products of at most 17 bits (the 9 x 8 MAC shape: 131,072)."""
    _, rng = seeded()
    tb = TB(dut)
    if tb.pwidth > 17:
        dut._log.info("%d x %d: too wide to enumerate; covered by test_products", tb.a.width, tb.b.width)
        return
    ops = [(x, y) for x in range(tb.a.lo, tb.a.hi + 1) for y in range(tb.b.lo, tb.b.hi + 1)]
    await stream(tb, ops, rng, 1.0)
    dut._log.info("%d x %d: all %d products match", tb.a.width, tb.b.width, len(ops))


@cocotb.test()
async def test_latency(dut):
    """A lone operand pair: p_o shows its product right after the second enabled edge,
    whatever number of disabled edges lies between, and holds it while en_i is low."""
    _, rng = seeded()
    tb = TB(dut)
    x, y = tb.a.hi, (tb.b.lo if tb.b.signed else tb.b.hi)
    for gap in (0, 1, 3):
        dut.en_i.value, dut.a_i.value, dut.b_i.value = 1, 0, 0
        await ClockCycles(dut.clk_i, 3)      # both registers hold zeros
        dut.a_i.value, dut.b_i.value = tb.a.bits(x), tb.b.bits(y)
        await RisingEdge(dut.clk_i)          # enabled edge 1: x, y into the input registers
        dut.a_i.value, dut.b_i.value, dut.en_i.value = 0, 0, int(gap == 0)
        await ReadOnly()
        assert tb.product() == 0, f"gap {gap}: product out after one enabled edge"
        for g in range(gap):
            await RisingEdge(dut.clk_i)      # disabled
            dut.en_i.value = int(g == gap - 1)
            await ReadOnly()
            assert tb.product() == 0, f"gap {gap}: p_o moved on a disabled edge"
        await RisingEdge(dut.clk_i)          # enabled edge 2: the product register
        dut.en_i.value = 0
        await ReadOnly()
        assert tb.product() == x * y, f"gap {gap}: p_o = {tb.product()}, expected {x} * {y} = {x * y}"
        for _ in range(rng.randint(1, 4)):
            await RisingEdge(dut.clk_i)      # disabled: the product stays
            await ReadOnly()
            assert tb.product() == x * y, f"gap {gap}: p_o changed while en_i was low"
        await RisingEdge(dut.clk_i)


# --------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("widths", [(9, 8, 1, 1, 1), (18, 18, 0, 0, 1), (7, 6, 0, 0, 1), (18, 17, 1, 0, 1),
                                    (9, 8, 1, 1, 0), (7, 6, 0, 0, 0), (18, 17, 1, 0, 0), (5, 3, 0, 1, 0),
                                    (6, 2, 1, 1, 0)],
                         ids=["9x8_ss", "18x18_uu", "7x6_uu", "18x17_su",
                              "9x8_ss_lut", "7x6_uu_lut", "18x17_su_lut", "5x3_us_lut", "6x2_ss_lut"])
def test_mul_reg(widths):
    """The MAC shape, the requant partial products and mixed signedness, in DSP blocks
    (UseDsp = 1) and in logic (UseDsp = 0)."""
    aw, bw, asg, bsg, dsp = widths
    run_sim("mul_reg", hdl_sources("mul_reg.sv"), module="tb.test_mul_reg",
            parameters={"AWidth": aw, "BWidth": bw, "ASigned": asg, "BSigned": bsg, "UseDsp": dsp})
