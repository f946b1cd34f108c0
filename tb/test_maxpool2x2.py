"""cocotb tests of ``hdl/conv/maxpool2x2.sv`` against ``model.reference.maxpool2x2``.

Channels == 1 streams real Fashion-MNIST test images; other channel counts stream
seeded random frames (plus a constant frame). Several frames go back to back, with and
without source idles and sink backpressure; each received frame must end exactly at
its tlast (checked by the frame length, as the sink splits frames at tlast).

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import os

import cocotb
import pytest
import torch
from cocotb.triggers import ClockCycles, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamFrame

from model.data import TEST_IMAGES
from model.network import IMAGE_SIZE, LAYER
from model.reference import maxpool2x2
from tb.bench.axis_tb import CLK_NS, StreamTB, frame_bytes, frame_codes
from tb.bench.hdl import hdl_param
from tb.bench.paramsets import load_test_images
from tb.bench.seeds import seeded
from tb.runner import hdl_sources, run_sim
from tb.bench.stream import HANDSHAKE_NAMES, PATTERNS, handshake_variants, variant_name

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

FRAMES = int(os.environ.get("MAXPOOL_FRAMES", "4"))


class TB(StreamTB):
    """maxpool2x2 between an AxiStreamSource and an AxiStreamSink; its frame geometry."""

    P_IDLE, P_BACKPRESSURE = 0.3, 0.5

    def __init__(self, dut):
        super().__init__(dut)
        self.channels = hdl_param("Channels")
        self.width = hdl_param("Width")
        self.height = hdl_param("Height")

    def frames(self, gen: torch.Generator, n: int) -> torch.Tensor:
        """``n`` frames int64 ``[n, C, H, W]``: real images for a 1-channel 28x28 build, else random."""
        c, h, w = self.channels, self.height, self.width
        if c == 1 and (h, w) == (IMAGE_SIZE, IMAGE_SIZE):
            offset = int(torch.randint(0, TEST_IMAGES - n, (1,), generator=gen))
            images, labels, _ = load_test_images(offset, n)
            self.log.info("Fashion-MNIST test images %d..%d (labels %s)", offset,
                          offset + n - 1, labels.tolist())
            return images.to(torch.int64).reshape(n, 1, h, w)
        x = torch.randint(0, 256, (n, c, h, w), generator=gen)
        if n > 2:
            x[1] = int(torch.randint(0, 256, (1,), generator=gen))  # constant frame: ties everywhere
            x[2] = x[2] & 0x0F  # narrow range: many equal values inside a window
        return x

    async def run(self, x: torch.Tensor, what: str, full_rate: bool = False):
        """Stream frames ``x`` [n, C, H, W] and check every pooled pixel and tlast.

        full_rate: also require one input beat per clock (no pauses configured).
        """
        n, c, h, w = x.shape
        exp = maxpool2x2(x)  # [n, c, h/2, w/2]
        t0 = get_sim_time("ns")
        for i in range(n):
            await self.source.send(AxiStreamFrame(frame_bytes(x[i])))
        for i in range(n):
            frame = await with_timeout(self.sink.recv(), 2, "ms")
            want = (h // 2) * (w // 2) * c
            assert len(frame.tdata) == want, (
                f"{what} frame {i}: tlast after {len(frame.tdata) // c} pooled pixels, "
                f"expected after {want // c}")
            got = frame_codes(bytes(frame.tdata), c, h // 2, w // 2)
            bad = (got != exp[i]).nonzero().tolist()
            if bad:
                ch, r, col = bad[0]
                e, a = int(exp[i, ch, r, col]), int(got[ch, r, col])
                raise AssertionError(
                    f"{what} frame {i}: {len(bad)} mismatches, first at channel {ch} row {r} "
                    f"col {col}: expected {e}, actual {a}, diff {a - e}")
        cycles = (get_sim_time("ns") - t0) / CLK_NS
        if full_rate:
            assert cycles <= n * h * w + 8, f"{what}: {n * h * w} beats took {cycles:.0f} cycles"
        await ClockCycles(self.dut.clk_i, 20)
        assert self.sink.empty(), f"{what}: extra output after the last frame"
        assert int(self.dut.m_axis_tvalid.value) == 0, f"{what}: m_axis_tvalid stuck high"
        self.log.info("%s: %d frames of %dx%dx%d match", what, n, c, h, w)


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, handshake_variants((*PATTERNS, "burst"))))
async def test_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Frames back to back in every handshake variant of ``tb.bench.stream`` (fixed 3-of-4, random
    and burst patterns); without stalls also one input beat per clock."""
    gen, rng = seeded()
    tb = TB(dut)
    tb.set_pauses(idle, backpressure, rng, pattern)
    await tb.reset()
    await tb.run(tb.frames(gen, FRAMES), variant_name(idle, backpressure, pattern),
                 full_rate=not idle and not backpressure)


@cocotb.test()
async def test_reset_mid_frame(dut):
    """A reset in the middle of a frame restarts at pixel (0, 0)."""
    gen, _ = seeded()
    tb = TB(dut)
    await tb.reset()
    x = tb.frames(gen, 2)
    await tb.source.send(AxiStreamFrame(frame_bytes(x[0])[: tb.channels * (tb.width * 3 + 5)]))
    await with_timeout(tb.source.wait(), 100, "us")  # the partial frame accepted
    await ClockCycles(dut.clk_i, 5)
    await tb.reset()
    tb.sink.clear()
    await tb.run(x[1:], "after reset")


# --------------------------------------------------------------------------- pytest runner

CONV1, CONV2 = LAYER["conv1"], LAYER["conv2"]


@pytest.mark.parametrize("channels,width,height", [
    (1, IMAGE_SIZE, IMAGE_SIZE),                           # real images
    (CONV1.out_channels, CONV1.out_size, CONV1.out_size),  # pool1: 6 x 28 x 28
    (CONV2.out_channels, CONV2.out_size, CONV2.out_size),  # pool2: 16 x 12 x 12
])
def test_maxpool2x2(channels, width, height):
    run_sim("maxpool2x2", hdl_sources("conv/maxpool2x2.sv"), module="tb.test_maxpool2x2",
            parameters={"Channels": channels, "Width": width, "Height": height})
