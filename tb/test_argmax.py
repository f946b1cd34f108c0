"""cocotb tests of the combinational ``hdl/fc/argmax.sv`` against
``model.reference.argmax_first`` (ties -> lowest index).

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import itertools

import cocotb
import pytest
import torch
from cocotb.triggers import Timer

from model.network import NUM_CLASSES
from model.reference import argmax_first
from tb.bench.hdl import hdl_param
from tb.bench.seeds import seeded
from tb.runner import hdl_sources, run_sim

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it


class TB:
    """Drives ``values_i`` (N values of Width bits, value i at bits [Width*i +: Width]) and
    reads ``index_o``."""

    def __init__(self, dut):
        self.dut = dut
        self.log = dut._log
        self.n = hdl_param("N")
        self.width = hdl_param("Width")
        assert len(dut.values_i) == self.n * self.width
        self.vmax = (1 << self.width) - 1

    async def check(self, vectors: torch.Tensor, what: str):
        """Apply each row of int64 ``[K, N]`` and compare index_o with the reference."""
        exp = argmax_first(vectors)
        for k, (row, e) in enumerate(zip(vectors.tolist(), exp.tolist())):
            packed = 0
            for i, v in enumerate(row):
                packed |= v << (self.width * i)
            self.dut.values_i.value = packed
            await Timer(1, "ns")
            got = int(self.dut.index_o.value)
            assert got == e, (f"{what} vector {k} {row}: expected index {e} (value {row[e]}), "
                              f"actual {got} (value {row[got] if got < self.n else '-'})")
        self.log.info("%s: %d vectors match", what, len(vectors))


@cocotb.test()
async def test_random(dut):
    """Uniform random vectors, and narrow-range ones (frequent ties)."""
    tb = TB(dut)
    gen, _ = seeded()
    await tb.check(torch.randint(0, tb.vmax + 1, (3000, tb.n), generator=gen), "uniform")
    await tb.check(torch.randint(0, 4, (2000, tb.n), generator=gen), "values 0..3")
    hi = torch.randint(tb.vmax - 2, tb.vmax + 1, (1000, tb.n), generator=gen)
    await tb.check(hi, "values near max")


@cocotb.test()
async def test_ties(dut):
    """All equal, the maximum at each position, and every pair of tied maxima."""
    tb = TB(dut)
    gen, _ = seeded()
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

@pytest.mark.parametrize("n,width", [(NUM_CLASSES, 8), (5, 3)])
def test_argmax(n, width):
    """The fc3 argmax (10 int8 codes) and a narrow odd one."""
    run_sim("argmax", hdl_sources("fc/argmax.sv"), module="tb.test_argmax",
            parameters={"N": n, "Width": width})
