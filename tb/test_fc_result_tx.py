"""cocotb tests of ``hdl/fc/fc_result_tx.sv``: the running argmax of the fc3 codes against
``model.reference.argmax_first`` (ties -> lowest index), whatever the order the codes are
written in, and the result stream (class, then the codes, tlast on the last) under random
backpressure.

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import itertools

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from model.network import NUM_CLASSES
from model.reference import argmax_first
from tb.bench.hdl import hdl_param
from tb.bench.seeds import seeded
from tb.runner import hdl_sources, run_sim

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it


class TB:
    """Owns the clock, the fc3 write port (``wr_i``, ``wr_idx_i``, ``wr_code_i``), ``res_i``
    (code k at bits [8k +: 8]), ``start_i`` and the ``m_axis`` sink (random ``m_axis_tready``)."""

    def __init__(self, dut):
        self.dut = dut
        self.log = dut._log
        self.n = hdl_param("Fc3Out")
        assert len(dut.res_i) == self.n * 8
        self.vmax = 255
        self.gen, self.rng = seeded()
        cocotb.start_soon(Clock(dut.clk_i, 10, "ns").start())

    async def reset(self):
        d = self.dut
        d.rst_ni.value = 0
        for sig in (d.wr_i, d.wr_idx_i, d.wr_code_i, d.start_i, d.res_i, d.m_axis_tready):
            sig.value = 0
        await ClockCycles(d.clk_i, 3)
        d.rst_ni.value = 1
        await RisingEdge(d.clk_i)

    async def run_vector(self, row: list[int]) -> tuple[int, list[int]]:
        """Write the codes of ``row`` in a random order (with idle cycles), start, and
        receive the stream: (class, codes)."""
        d = self.dut
        packed = 0
        for i, v in enumerate(row):
            packed |= v << (8 * i)
        order = list(range(self.n))
        self.rng.shuffle(order)
        for i in order:
            d.wr_i.value, d.wr_idx_i.value, d.wr_code_i.value = 1, i, row[i]
            await RisingEdge(d.clk_i)
            if self.rng.random() < 0.2:
                d.wr_i.value = 0
                await RisingEdge(d.clk_i)
        d.wr_i.value = 0
        d.res_i.value = packed
        d.start_i.value = 1
        await RisingEdge(d.clk_i)
        d.start_i.value = 0
        beats = []
        while True:
            d.m_axis_tready.value = int(self.rng.random() < 0.7)
            await RisingEdge(d.clk_i)
            if d.m_axis_tvalid.value and d.m_axis_tready.value:
                beats.append(int(d.m_axis_tdata.value))
                last = bool(d.m_axis_tlast.value)
                assert last == (len(beats) == self.n + 1), \
                    f"tlast {int(last)} on beat {len(beats) - 1} of {self.n + 1}"
                if last:
                    break
        d.m_axis_tready.value = 0
        return beats[0], beats[1:]

    async def check(self, vectors: torch.Tensor, what: str):
        """Run each row of int64 ``[K, N]``; compare the class with the reference and the codes
        with the row."""
        exp = argmax_first(vectors)
        for k, (row, e) in enumerate(zip(vectors.tolist(), exp.tolist())):
            got, codes = await with_timeout(self.run_vector(row), 10 * (self.n + 2) * 20, "ns")
            assert got == e, (f"{what} vector {k} {row}: expected class {e} (code {row[e]}), "
                              f"actual {got} (code {row[got] if got < self.n else '-'})")
            assert codes == row, f"{what} vector {k}: codes sent {codes}, written {row}"
        self.log.info("%s: %d vectors match", what, len(vectors))


@cocotb.test()
async def test_random(dut):
    """Uniform random vectors, and narrow-range ones (frequent ties)."""
    tb = TB(dut)
    await tb.reset()
    gen = tb.gen
    await tb.check(torch.randint(0, tb.vmax + 1, (1500, tb.n), generator=gen), "uniform")
    await tb.check(torch.randint(0, 4, (1000, tb.n), generator=gen), "values 0..3")
    hi = torch.randint(tb.vmax - 2, tb.vmax + 1, (500, tb.n), generator=gen)
    await tb.check(hi, "values near max")


@cocotb.test()
async def test_ties(dut):
    """All equal, the maximum at each position, and every pair of tied maxima."""
    tb = TB(dut)
    await tb.reset()
    gen = tb.gen
    n, vmax = tb.n, tb.vmax
    vecs = [[v] * n for v in (0, 1, vmax // 2, vmax)]
    for pos in range(n):
        for top in (1, vmax):
            row = torch.randint(0, top, (n,), generator=gen).tolist()
            row[pos] = top
            vecs.append(row)
    for i, j in itertools.combinations(range(n), 2):
        for top in (1, vmax // 2 + 1, vmax):
            row = torch.randint(0, top, (n,), generator=gen).tolist()
            row[i] = row[j] = top
            vecs.append(row)
    # three-way ties and a tie at the very end
    for i, j, k in itertools.combinations(range(n), 3):
        row = [0] * n
        row[i] = row[j] = row[k] = vmax
        vecs.append(row)
    # strictly increasing / decreasing (first vs last wins)
    vecs.append([min(vmax, i) for i in range(n)])
    vecs.append([max(0, vmax - i) for i in range(n)])
    await tb.check(torch.tensor(vecs, dtype=torch.int64), "ties")


# --------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("fc3_out", [NUM_CLASSES, 5])
def test_fc_result_tx(fc3_out):
    """The network's 10 classes and a narrower odd count."""
    run_sim("fc_result_tx", hdl_sources("fc/fc_result_tx.sv"), module="tb.test_fc_result_tx",
            parameters={"Fc3Out": fc3_out}, build_name=f"fc_result_tx_{fc3_out}")
