"""cocotb tests of ``hdl/requant.sv`` against ``model.reference.requantize``.

Stimulus: seeded random vectors (>= 20,000) streamed back to back under random output
backpressure and input idles, plus directed corners (rounding ties at each of the three
rounding steps, carries into a new bit, |x| near 2**31 and 2**32, saturation, ReLU
clamp, zero points 0/255, shift 24/62, m24 = 2**23 and 2**24-1). Every result is
checked in order, with its tag, against the reference; AXI-style stability of a
stalled output beat is checked as well.

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import os
import random

import cocotb
import pytest
import torch
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout

from model.network import REQUANT_LATENCY
from model.reference import round_significand
from tb.bench.axis_tb import reset, start_clock
from tb.bench.hdl import hdl_param
from tb.bench.requant_vectors import Vec, directed_vectors, expected_codes, random_vectors
from tb.bench.seeds import seeded
from tb.runner import hdl_sources, run_sim

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

LATENCY = REQUANT_LATENCY  # through an empty unit (its users do not depend on it: valid/ready)
M32 = 0xFFFFFFFF


class TB:
    """Clock, reset, and a cycle-accurate driver/monitor for the valid/ready ports."""

    def __init__(self, dut):
        self.dut = dut
        self.log = dut._log
        self.tag_width = hdl_param("TagWidth")
        assert len(dut.tag_i) == self.tag_width
        self.tag_mask = (1 << self.tag_width) - 1
        start_clock(dut)
        dut.in_valid_i.value = 0
        dut.out_ready_i.value = 0
        self._drive_data(Vec(0, 0, 1 << 23, 24, 0, False), 0)

    async def reset(self):
        await reset(self.dut)

    def _drive_data(self, v: Vec, tag: int):
        d = self.dut
        d.acc_i.value = v.acc & M32
        d.bias_i.value = v.bias & M32
        d.m24_i.value = v.m24
        d.shift_i.value = v.shift
        d.zp_out_i.value = v.zp
        d.relu_i.value = int(v.relu)
        d.tag_i.value = tag & self.tag_mask

    async def stream(self, vecs: list[Vec], idle: float = 0.0, stall: float = 0.0,
                     rng: random.Random | None = None) -> list[tuple[int, int]]:
        """Send ``vecs`` (tag = index) and collect every output beat.

        idle: probability of not offering a new beat in a cycle (in_valid low);
        stall: probability of out_ready low in a cycle.

        Returns:
            received ``[(code, tag)]``; ``self.acc_cycles``/``self.out_cycles`` hold the
            cycle of each input/output handshake.
        """
        d = self.dut
        rng = rng or random.Random(0)
        received: list[tuple[int, int]] = []
        out_cycles: list[int] = []
        acc_cycles: list[int] = []
        n = len(vecs)
        nxt = 0
        pending = False  # in_valid is high with vecs[nxt] and must stay until accepted
        held = None       # (code, tag) of a stalled output beat: must not change
        cycle = 0
        limit = 20 * n + 200
        while len(received) < n:
            await RisingEdge(d.clk_i)
            cycle += 1
            assert cycle < limit, f"timeout: {len(received)}/{n} results after {cycle} cycles"
            if not pending and nxt < n and rng.random() >= idle:
                self._drive_data(vecs[nxt], nxt)
                pending = True
            d.in_valid_i.value = int(pending)
            ready = rng.random() >= stall
            d.out_ready_i.value = int(ready)
            await ReadOnly()
            if pending and int(d.in_ready_o.value):
                acc_cycles.append(cycle)
                nxt += 1
                pending = False
            if int(d.out_valid_o.value):
                beat = (int(d.out_o.value), int(d.tag_o.value))
                if held is not None:
                    assert beat == held, f"stalled output beat changed: {held} -> {beat}"
                if ready:
                    received.append(beat)
                    out_cycles.append(cycle)
                    held = None
                else:
                    held = beat
            else:
                assert held is None, "out_valid dropped while the beat was stalled"
        # Nothing more may come out: no duplicated or phantom beats.
        await RisingEdge(d.clk_i)
        d.in_valid_i.value = 0
        d.out_ready_i.value = 1
        for _ in range(LATENCY + 2):
            await ReadOnly()
            assert not int(d.out_valid_o.value), "extra output beat after the last result"
            await RisingEdge(d.clk_i)
        self.acc_cycles, self.out_cycles = acc_cycles, out_cycles
        return received

    def check(self, vecs: list[Vec], received: list[tuple[int, int]], what: str):
        exp = expected_codes(vecs)
        assert len(received) == len(vecs), f"{what}: {len(received)} results for {len(vecs)} inputs"
        bad = []
        for i, ((code, tag), e) in enumerate(zip(received, exp)):
            if tag != (i & self.tag_mask):
                bad.append(f"beat {i}: tag {tag}, expected {i & self.tag_mask} (order/loss)")
            elif code != e:
                v = vecs[i]
                bad.append(f"beat {i} {v.note}: acc={v.acc} bias={v.bias} m24={v.m24:#x} "
                           f"shift={v.shift} zp={v.zp} relu={int(v.relu)}: expected {e}, "
                           f"actual {code}, diff {code - e}")
        assert not bad, f"{what}: {len(bad)} mismatches, first: " + "; ".join(bad[:8])
        self.log.info("%s: %d results match the reference", what, len(vecs))


# --------------------------------------------------------------------------- tests

@cocotb.test()
async def test_directed(dut):
    """Directed corners, back to back, no stalls then with stalls."""
    gen, rng = seeded()
    tb = TB(dut)
    await tb.reset()
    vecs = directed_vectors(gen)
    # sanity of the corner construction: the x ties really are ties
    xs = torch.tensor([v.acc + v.bias for v in vecs if v.note.startswith("x-tie e")])
    assert (round_significand(xs) != xs).all()
    tb.log.info("%d directed vectors", len(vecs))
    tb.check(vecs, await with_timeout(tb.stream(vecs), 5, "ms"), "directed, full rate")
    tb.check(vecs, await with_timeout(tb.stream(vecs, idle=0.3, stall=0.4, rng=rng), 10, "ms"),
             "directed, idle+backpressure")


@cocotb.test()
async def test_random(dut):
    """>= 20,000 seeded random vectors under random output backpressure."""
    gen, rng = seeded()
    n = int(os.environ.get("REQUANT_VECTORS", "20000"))
    tb = TB(dut)
    await tb.reset()
    vecs = random_vectors(gen, n)
    tb.log.info("%d random vectors", n)
    # back-to-back input, 30% backpressure
    tb.check(vecs, await with_timeout(tb.stream(vecs, stall=0.3, rng=rng), 50, "ms"),
             "random, backpressure")
    # burst-y: long stalls and idles on a slice
    part = vecs[: n // 10]
    tb.check(part, await with_timeout(tb.stream(part, idle=0.5, stall=0.7, rng=rng), 20, "ms"),
             "random, heavy idle+backpressure")


@cocotb.test()
async def test_throughput_latency(dut):
    """No stalls: fixed latency LATENCY and one result per cycle."""
    gen, _ = seeded()
    tb = TB(dut)
    await tb.reset()
    assert int(dut.out_valid_o.value) == 0, "out_valid after reset"
    vecs = random_vectors(gen, 200)
    rx = await with_timeout(tb.stream(vecs), 1, "ms")
    tb.check(vecs, rx, "full rate")
    lat = [o - a for a, o in zip(tb.acc_cycles, tb.out_cycles)]
    assert set(lat) == {LATENCY}, f"latencies {sorted(set(lat))}, expected {LATENCY}"
    span = tb.out_cycles[-1] - tb.out_cycles[0] + 1
    assert span == len(vecs), f"{len(vecs)} results took {span} cycles"
    # reset in the middle of a stream flushes the pipeline
    dut.in_valid_i.value = 1
    dut.out_ready_i.value = 0
    await ClockCycles(dut.clk_i, 3)
    dut.in_valid_i.value = 0
    await tb.reset()
    await ReadOnly()
    assert int(dut.out_valid_o.value) == 0, "out_valid after a reset mid-stream"


@cocotb.test()
async def test_ready_registered(dut):
    """in_ready_o is a register: out_ready_i rising does not raise it in the same cycle. The
    unit accepts beats with the output stalled until its FIFO is sure to be full (at least
    LATENCY + 1 beats, what full throughput needs), then every one comes out in order."""
    gen, _ = seeded()
    tb = TB(dut)
    await tb.reset()
    d = dut
    vecs = random_vectors(gen, 64)
    accepted = 0
    d.out_ready_i.value = 0
    for _ in range(4 * LATENCY + 16):  # fill with the output stalled
        tb._drive_data(vecs[accepted], accepted)
        d.in_valid_i.value = 1
        await ReadOnly()
        ready = int(d.in_ready_o.value)
        await RisingEdge(d.clk_i)
        accepted += ready
    d.in_valid_i.value = 0
    await ReadOnly()
    assert not int(d.in_ready_o.value), "in_ready still high with the output stalled for long"
    assert accepted >= LATENCY + 1, f"only {accepted} beats accepted with the output stalled"
    await RisingEdge(d.clk_i)
    d.out_ready_i.value = 1
    await ReadOnly()
    assert not int(d.in_ready_o.value), "in_ready follows out_ready combinationally"
    received = []
    for _ in range(accepted + 4):
        if int(d.out_valid_o.value):
            received.append((int(d.out_o.value), int(d.tag_o.value)))
        await RisingEdge(d.clk_i)
        await ReadOnly()
    tb.check(vecs[:accepted], received, "stalled fill, then drained")


# --------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("tag_width", [1, 16])
def test_requant(tag_width):
    """A 1-bit tag and a 16-bit one (every tag bit carried through the pipeline)."""
    run_sim("requant", hdl_sources("mul_reg.sv", "requant.sv"), module="tb.test_requant",
            parameters={"TagWidth": tag_width})
