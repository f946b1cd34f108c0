"""cocotb test bench of ``line_buffer`` (hdl/conv/line_buffer.sv), the 3x3 window generator.

The DUT gets already padded Height x Width frames (raster order, Channels codes per beat)
and must emit one window per valid 3x3 position. Expected windows come from
``torch.Tensor.unfold`` of the same frame: pure data movement, no arithmetic.

Window beat layout: byte ``(ky*3 + kx)*Channels + c`` = pixel (row+ky, col+kx), channel c.
"""
from __future__ import annotations

import os
import random

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from tb.runner import hdl_sources, run_sim
from tb.bench.stream import HANDSHAKE_NAMES, HANDSHAKE_VARIANTS, set_pauses

CHANNELS = int(os.environ.get("CHANNELS", "1"))
WIDTH = int(os.environ.get("WIDTH", "30"))
HEIGHT = int(os.environ.get("HEIGHT", "30"))


class TB:
    """Clock, reset and the two AXI4-Stream drivers around ``line_buffer``."""

    def __init__(self, dut):
        self.dut = dut
        self.log = dut._log
        cocotb.start_soon(Clock(dut.clk_i, 10, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk_i, dut.rst_ni,
                                      reset_active_level=False)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)

    async def reset(self):
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await RisingEdge(self.dut.clk_i)

    def set_pauses(self, idle: bool, backpressure: bool, rng: random.Random, pattern: str = "random"):
        """Stalls on the input (idle) and/or the output (backpressure): ``tb.stream`` pattern
        ``pattern`` (``random``: pause probability 0.4 from ``rng``)."""
        set_pauses(self.source, self.sink, idle, backpressure, pattern, rng, 0.4, 0.4, log=self.log)


def frame_bytes(frame: torch.Tensor) -> bytes:
    """[C, H, W] uint8 codes -> raster-order beats, channel c at byte c of a beat."""
    return bytes(frame.permute(1, 2, 0).flatten().to(torch.uint8).tolist())


def expected_windows(frame: torch.Tensor) -> torch.Tensor:
    """[C, H, W] -> [H-2, W-2, 3(ky), 3(kx), C] windows via unfold."""
    return frame.unfold(1, 3, 1).unfold(2, 3, 1).permute(1, 2, 3, 4, 0)


def check_windows(tb: TB, index: int, frame: torch.Tensor, got: bytes) -> None:
    exp = expected_windows(frame)
    ho, wo = exp.shape[:2]
    n = ho * wo * 9 * CHANNELS
    assert len(got) == n, f"frame {index}: {len(got)} bytes = {len(got) / (9 * CHANNELS):.1f} windows, " \
                          f"expected {ho * wo} windows (tlast misplaced, lost or duplicated windows)"
    act = torch.tensor(list(got), dtype=torch.int64).reshape(ho, wo, 3, 3, CHANNELS)
    bad = (act != exp).nonzero().tolist()
    if bad:
        msgs = [f"frame {index} window row {r} col {c} ky {ky} kx {kx} channel {ch}: "
                f"expected {int(exp[r, c, ky, kx, ch])}, actual {int(act[r, c, ky, kx, ch])}, "
                f"difference {int(act[r, c, ky, kx, ch] - exp[r, c, ky, kx, ch])}"
                for r, c, ky, kx, ch in bad[:8]]
        raise AssertionError(f"{len(bad)} mismatching window elements:\n" + "\n".join(msgs))


async def run_frames(tb: TB, frames: list[torch.Tensor]) -> None:
    """Send all frames back to back and compare every window (a lost or duplicated window
    changes a frame's length, a lost frame times out, an extra one stays in the sink)."""
    for f in frames:
        await tb.source.send(AxiStreamFrame(frame_bytes(f)))
    for i, f in enumerate(frames):
        rx = await with_timeout(tb.sink.recv(), 2, "ms")
        check_windows(tb, i, f, bytes(rx.tdata))
    await ClockCycles(tb.dut.clk_i, 20)
    assert tb.sink.empty(), f"output beyond the {len(frames)} frames sent (duplicated windows or frames)"


def seeded() -> tuple[torch.Generator, random.Random]:
    """Generators seeded from cocotb's per-test seed (derived from COCOTB_RANDOM_SEED and the
    test name, so ``SEED=<printed global seed>`` replays every test)."""
    seed = cocotb.RANDOM_SEED % (1 << 63)
    cocotb.log.info("stimulus seed %d", seed)
    return torch.Generator().manual_seed(seed), random.Random(seed)


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def random_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Seeded random frames back to back, in every handshake variant of ``tb.stream``
    (idle / backpressure, fixed 3-of-4 and random patterns)."""
    gen, rng = seeded()
    tb = TB(dut)
    tb.set_pauses(idle, backpressure, rng, pattern)
    await tb.reset()
    frames = [torch.randint(0, 256, (CHANNELS, HEIGHT, WIDTH), generator=gen) for _ in range(4)]
    await run_frames(tb, frames)


@cocotb.skipif((CHANNELS, HEIGHT, WIDTH) != (1, 30, 30), reason="real images need a 1-channel 30x30 build")
@cocotb.test()
async def real_image_padded(dut):
    """Real Fashion-MNIST test images, zero-padded like conv1 (only for a 1-channel 30x30 build)."""
    from model.data import load_images
    images, _ = load_images(train=False, offset=0, count=3)
    frames = [torch.nn.functional.pad(img.to(torch.int64)[None], (1, 1, 1, 1), value=zp)
              for img, zp in zip(images, (0, 17, 255))]
    _, rng = seeded()
    tb = TB(dut)
    tb.set_pauses(True, True, rng)
    await tb.reset()
    await run_frames(tb, frames)


@cocotb.test()
async def reset_mid_frame(dut):
    """A reset in the middle of a frame restarts the frame counters."""
    gen, _ = seeded()
    tb = TB(dut)
    await tb.reset()
    junk = torch.randint(0, 256, (CHANNELS, HEIGHT, WIDTH), generator=gen)
    tb.source.send_nowait(AxiStreamFrame(frame_bytes(junk)))
    await ClockCycles(dut.clk_i, WIDTH * 2 + 3)  # some windows out, frame unfinished
    # the reset flushes the source's unfinished frame and the sink's partial frame
    await tb.reset()
    tb.sink.clear()
    frames = [torch.randint(0, 256, (CHANNELS, HEIGHT, WIDTH), generator=gen) for _ in range(2)]
    await run_frames(tb, frames)


# ----------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("channels,width,height", [(1, 30, 30), (3, 7, 5)])
def test_line_buffer(channels, width, height):
    run_sim(
        toplevel="line_buffer",
        sources=hdl_sources("conv/line_buffer.sv"),
        module="tb.test_line_buffer",
        parameters={"Channels": channels, "Width": width, "Height": height},
        extra_env={"CHANNELS": channels, "WIDTH": width, "HEIGHT": height},
    )
