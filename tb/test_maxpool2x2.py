"""cocotb tests of ``hdl/conv/maxpool2x2.sv`` against ``model.reference.maxpool2x2``.

Channels == 1 streams real Fashion-MNIST test images; other channel counts stream
seeded random frames (plus a constant frame). Several frames go back to back, with and
without source idles and sink backpressure; each received frame must end exactly at
its tlast (checked by the frame length, as the sink splits frames at tlast).

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import os
import random

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from model.reference import maxpool2x2
from tb.stream import (
    HANDSHAKE_NAMES,
    PATTERNS,
    handshake_variants,
    set_pauses,
    variant_name,
)

FRAMES = int(os.environ.get("MAXPOOL_FRAMES", "4"))
_TEST_SPLIT = None  # Fashion-MNIST test split, loaded once per simulation


def real_images(offset: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    global _TEST_SPLIT
    if _TEST_SPLIT is None:
        from model.data import load_images
        _TEST_SPLIT = load_images(train=False)
    images, labels = _TEST_SPLIT
    return images[offset:offset + count], labels[offset:offset + count]


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.log = dut._log
        self.channels = len(dut.s_axis_tdata) // 8
        # frame geometry is only visible through the HDL parameters: pass them in env
        self.width = int(os.environ["MAXPOOL_WIDTH"])
        self.height = int(os.environ["MAXPOOL_HEIGHT"])
        cocotb.start_soon(Clock(dut.clk_i, 10, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk_i,
                                      dut.rst_ni, reset_active_level=False)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk_i,
                                  dut.rst_ni, reset_active_level=False)

    def set_pauses(self, idle: bool, backpressure: bool, rng: random.Random, pattern: str = "random"):
        """``tb.stream`` pause pattern ``pattern`` on the input (idle; random: probability 0.3)
        and/or the output (backpressure; random: 0.5)."""
        set_pauses(self.source, self.sink, idle, backpressure, pattern, rng, 0.3, 0.5, log=self.log)

    async def reset(self):
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await RisingEdge(self.dut.clk_i)

    def frames(self, gen: torch.Generator, n: int) -> torch.Tensor:
        """``n`` frames int64 ``[n, C, H, W]``: real images for C == 1, else random."""
        c, h, w = self.channels, self.height, self.width
        if c == 1 and (h, w) == (28, 28):
            offset = int(torch.randint(0, 10_000 - n, (1,), generator=gen))
            images, labels = real_images(offset, n)
            self.log.info("Fashion-MNIST test images %d..%d (labels %s)", offset,
                          offset + n - 1, labels.tolist())
            return images.to(torch.int64).reshape(n, 1, 28, 28)
        x = torch.randint(0, 256, (n, c, h, w), generator=gen)
        if n > 2:
            x[1] = int(torch.randint(0, 256, (1,), generator=gen))  # constant frame: ties everywhere
            x[2] = x[2] & 0x0F  # narrow range: many equal values inside a window
        return x

    @staticmethod
    def to_beats(x: torch.Tensor) -> bytes:
        """[C, H, W] -> raster-order beats, channel c in byte lane c."""
        return bytes(x.permute(1, 2, 0).flatten().to(torch.uint8).tolist())

    async def run(self, x: torch.Tensor, what: str, full_rate: bool = False):
        """Stream frames ``x`` [n, C, H, W] and check every pooled pixel and tlast.

        full_rate: also require one input beat per clock (no pauses configured).
        """
        n, c, h, w = x.shape
        exp = maxpool2x2(x)  # [n, c, h/2, w/2]
        t0 = get_sim_time("ns")
        for i in range(n):
            await self.source.send(AxiStreamFrame(self.to_beats(x[i])))
        for i in range(n):
            frame = await with_timeout(self.sink.recv(), 2, "ms")
            got = torch.tensor(list(frame.tdata), dtype=torch.int64)
            want = (h // 2) * (w // 2) * c
            assert got.numel() == want, (
                f"{what} frame {i}: tlast after {got.numel() // c} pooled pixels, "
                f"expected after {want // c}")
            got = got.reshape(h // 2, w // 2, c).permute(2, 0, 1)
            bad = (got != exp[i]).nonzero().tolist()
            if bad:
                ch, r, col = bad[0]
                e, a = int(exp[i, ch, r, col]), int(got[ch, r, col])
                raise AssertionError(
                    f"{what} frame {i}: {len(bad)} mismatches, first at channel {ch} row {r} "
                    f"col {col}: expected {e}, actual {a}, diff {a - e}")
        cycles = (get_sim_time("ns") - t0) / 10
        if full_rate:
            assert cycles <= n * h * w + 8, f"{what}: {n * h * w} beats took {cycles:.0f} cycles"
        await ClockCycles(self.dut.clk_i, 20)
        assert self.sink.empty(), f"{what}: extra output after the last frame"
        assert int(self.dut.m_axis_tvalid.value) == 0, f"{what}: m_axis_tvalid stuck high"
        self.log.info("%s: %d frames of %dx%dx%d match", what, n, c, h, w)


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, handshake_variants((*PATTERNS, "burst"))))
async def test_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Frames back to back in every handshake variant of ``tb.stream`` (fixed 3-of-4, random
    and burst patterns); without stalls also one input beat per clock."""
    seed = cocotb.RANDOM_SEED
    gen = torch.Generator().manual_seed(seed % (1 << 63))
    tb = TB(dut)
    tb.log.info("per-test seed %d", seed)
    tb.set_pauses(idle, backpressure, random.Random(seed), pattern)
    await tb.reset()
    await tb.run(tb.frames(gen, FRAMES), variant_name(idle, backpressure, pattern),
                 full_rate=not idle and not backpressure)


@cocotb.test()
async def test_reset_mid_frame(dut):
    """A reset in the middle of a frame restarts at pixel (0, 0)."""
    gen = torch.Generator().manual_seed(cocotb.RANDOM_SEED % (1 << 63))
    tb = TB(dut)
    await tb.reset()
    x = tb.frames(gen, 2)
    await tb.source.send(AxiStreamFrame(tb.to_beats(x[0])[: tb.channels * (tb.width * 3 + 5)]))
    await with_timeout(tb.source.wait(), 100, "us")  # the partial frame accepted
    await ClockCycles(dut.clk_i, 5)
    await tb.reset()
    tb.sink.clear()
    await tb.run(x[1:], "after reset")


# --------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("channels,width,height", [(1, 28, 28), (6, 28, 28), (16, 12, 12)])
def test_maxpool2x2(channels, width, height):
    from tb.runner import hdl_sources, run_sim

    run_sim("maxpool2x2", hdl_sources("conv/maxpool2x2.sv"), module="tb.test_maxpool2x2",
            parameters={"Channels": channels, "Width": width, "Height": height},
            extra_env={"MAXPOOL_WIDTH": width, "MAXPOOL_HEIGHT": height})
