"""cocotb tests of ``hdl/stream_fifo.sv`` (the pool1 FIFO between conv1 and conv2).

Seeded random frames of random lengths go through the FIFO back to back in every handshake
variant of ``tb.bench.stream``; every frame must come out unchanged, in order, ending at its tlast.
Without stalls the FIFO passes one beat per cycle (Depth 1: every other cycle); with the
output blocked it takes exactly Depth beats and then holds s_axis_tready low.

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamFrame

from model.network import LAYER
from tb.bench.axis_tb import CLK_NS, StreamTB
from tb.bench.hdl import hdl_param
from tb.runner import hdl_sources, run_sim
from tb.bench.stream import HANDSHAKE_NAMES, PATTERNS, handshake_variants, variant_name

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

POOL1_FIFO_DEPTH = 32  # Pool1FifoDepth of hdl/top/fashion_lenet_accel.sv


class TB(StreamTB):
    """The FIFO between an AxiStreamSource and an AxiStreamSink, and a count of the input
    beats it took."""

    P_IDLE, P_BACKPRESSURE = 0.4, 0.5

    def __init__(self, dut):
        super().__init__(dut)
        self.width_bytes = hdl_param("Width") // 8
        self.depth = hdl_param("Depth")
        self.accepted = 0  # input beats taken since the last reset
        cocotb.start_soon(self._count_input())

    async def _count_input(self):
        while True:
            await RisingEdge(self.dut.clk_i)
            if self.dut.rst_ni.value == 0:
                self.accepted = 0
            elif self.dut.s_axis_tvalid.value == 1 and self.dut.s_axis_tready.value == 1:
                self.accepted += 1

    def frames(self, rng: random.Random, n: int) -> list[bytes]:
        """``n`` random frames of 1 .. 3*Depth beats (1-beat frames: tlast on every beat)."""
        return [rng.randbytes(self.width_bytes * rng.randint(1, 3 * self.depth)) for _ in range(n)]

    async def run(self, frames: list[bytes], what: str, full_rate: bool = False, send: bool = True):
        """Send ``frames`` back to back (unless ``send`` is False: already queued), receive and
        compare them; ``full_rate``: also one beat per cycle."""
        t0 = get_sim_time("ns")
        for f in frames if send else []:
            await self.source.send(AxiStreamFrame(f))
        for i, f in enumerate(frames):
            rx = await with_timeout(self.sink.recv(), 200, "us")
            got = bytes(rx.tdata)
            assert got == f, (f"{what} frame {i}: {len(got) // self.width_bytes} beats received, "
                              f"{len(f) // self.width_bytes} sent; first differing byte "
                              f"{next((k for k, (a, b) in enumerate(zip(got, f)) if a != b), min(len(got), len(f)))}")
        beats = sum(len(f) for f in frames) // self.width_bytes
        cycles = round((get_sim_time("ns") - t0) / CLK_NS)
        if full_rate:  # Depth 1 takes a beat every other cycle (ready = not full)
            per_beat = 2 if self.depth == 1 else 1
            assert cycles <= per_beat * beats + 4, f"{what}: {beats} beats took {cycles} cycles"
        await ClockCycles(self.dut.clk_i, 10)
        assert self.sink.empty(), f"{what}: output beyond the {len(frames)} frames"
        assert self.dut.m_axis_tvalid.value == 0, f"{what}: m_axis_tvalid high with the FIFO empty"
        self.log.info("%s: %d frames, %d beats in %d cycles", what, len(frames), beats, cycles)


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, handshake_variants((*PATTERNS, "burst"))))
async def test_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Random frames back to back in every handshake variant; without stalls one beat per cycle
    (Depth 1: every other one)."""
    rng = random.Random(cocotb.RANDOM_SEED)
    tb = TB(dut)
    tb.set_pauses(idle, backpressure, random.Random(cocotb.RANDOM_SEED + 1), pattern)
    await tb.reset()
    await tb.run(tb.frames(rng, 12), variant_name(idle, backpressure, pattern),
                 full_rate=not idle and not backpressure)


@cocotb.test()
async def test_full(dut):
    """Output blocked: exactly Depth beats are taken, then s_axis_tready stays low; released,
    everything comes out in order. Repeated so the pointers wrap at every offset."""
    rng = random.Random(cocotb.RANDOM_SEED)
    tb = TB(dut)
    await tb.reset()
    for rnd in range(3):
        frames = [rng.randbytes(tb.width_bytes * (tb.depth + 3))]
        tb.sink.pause = True
        start = tb.accepted
        await tb.source.send(AxiStreamFrame(frames[0]))
        await ClockCycles(dut.clk_i, tb.depth + 20)
        assert tb.accepted - start == tb.depth, \
            f"round {rnd}: {tb.accepted - start} beats taken with the output blocked, Depth is {tb.depth}"
        assert dut.s_axis_tready.value == 0, f"round {rnd}: s_axis_tready high while full"
        tb.sink.pause = False
        await tb.run(frames, f"full, round {rnd}", send=False)
        await tb.run([rng.randbytes(tb.width_bytes * rng.randint(1, tb.depth))], f"offset, round {rnd}")


@cocotb.test()
async def test_reset_mid_stream(dut):
    """A reset with beats inside empties the FIFO: nothing of them comes out afterwards."""
    rng = random.Random(cocotb.RANDOM_SEED)
    tb = TB(dut)
    await tb.reset()
    tb.sink.pause = True
    tb.source.send_nowait(AxiStreamFrame(rng.randbytes(tb.width_bytes * (tb.depth + 2))))
    await ClockCycles(dut.clk_i, tb.depth + 5)
    await tb.reset()
    tb.source.clear()
    tb.sink.clear()
    tb.sink.pause = False
    await ClockCycles(dut.clk_i, 5)
    assert dut.m_axis_tvalid.value == 0, "m_axis_tvalid high after reset"
    await tb.run(tb.frames(rng, 3), "after reset")


# --------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("width,depth", [(8, 1), (16, 5), (8 * LAYER["conv1"].out_channels, POOL1_FIFO_DEPTH)])
def test_stream_fifo(width, depth):
    """Depth 1 (no wrap), an odd depth and the pool1 FIFO of the top (6 channels, 32)."""
    run_sim("stream_fifo", hdl_sources("stream_fifo.sv"), module="tb.test_stream_fifo",
            parameters={"Width": width, "Depth": depth})
