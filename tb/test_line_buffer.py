"""cocotb test bench of ``line_buffer`` (hdl/conv/line_buffer.sv), the 3x3 window generator.

The DUT gets already padded Height x Width frames (raster order, Channels codes per beat)
and must emit one window per valid 3x3 position. Expected windows come from
``torch.Tensor.unfold`` of the same frame: pure data movement, no arithmetic.

Window beat layout: byte ``(ky*3 + kx)*Channels + c`` = pixel (row+ky, col+kx), channel c.
"""
from __future__ import annotations

import cocotb
import pytest
import torch
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiStreamFrame

from model.network import IMAGE_SIZE, LAYER
from tb.bench.axis_tb import StreamTB, frame_bytes
from tb.bench.hdl import hdl_param
from tb.bench.paramsets import load_test_images
from tb.bench.seeds import seeded
from tb.runner import hdl_sources, run_sim
from tb.bench.stream import HANDSHAKE_NAMES, HANDSHAKE_VARIANTS

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

CONV1_PADDED = IMAGE_SIZE + 2 * LAYER["conv1"].padding  # conv1's padded frame: 30 x 30


class TB(StreamTB):
    """``line_buffer`` between an AxiStreamSource and an AxiStreamSink; its frame geometry."""

    P_IDLE = P_BACKPRESSURE = 0.4

    def __init__(self, dut):
        super().__init__(dut)
        self.channels = hdl_param("Channels")
        self.width = hdl_param("Width")
        self.height = hdl_param("Height")

    def random_frame(self, gen: torch.Generator) -> torch.Tensor:
        """A random padded frame, int64 ``[Channels, Height, Width]`` in 0..255."""
        return torch.randint(0, 256, (self.channels, self.height, self.width), generator=gen)

    def check_windows(self, index: int, frame: torch.Tensor, got: bytes) -> None:
        """The received windows of ``frame`` [C, H, W] against :func:`expected_windows`."""
        exp = expected_windows(frame)
        ho, wo = exp.shape[:2]
        c = self.channels
        n = ho * wo * 9 * c
        assert len(got) == n, f"frame {index}: {len(got)} bytes = {len(got) / (9 * c):.1f} windows, " \
                              f"expected {ho * wo} windows (tlast misplaced, lost or duplicated windows)"
        act = torch.tensor(list(got), dtype=torch.int64).reshape(ho, wo, 3, 3, c)
        bad = (act != exp).nonzero().tolist()
        if bad:
            msgs = [f"frame {index} window row {r} col {col} ky {ky} kx {kx} channel {ch}: "
                    f"expected {int(exp[r, col, ky, kx, ch])}, actual {int(act[r, col, ky, kx, ch])}, "
                    f"difference {int(act[r, col, ky, kx, ch] - exp[r, col, ky, kx, ch])}"
                    for r, col, ky, kx, ch in bad[:8]]
            raise AssertionError(f"{len(bad)} mismatching window elements:\n" + "\n".join(msgs))

    async def run_frames(self, frames: list[torch.Tensor]) -> None:
        """Send all frames back to back and compare every window (a lost or duplicated window
        changes a frame's length, a lost frame times out, an extra one stays in the sink)."""
        for f in frames:
            await self.source.send(AxiStreamFrame(frame_bytes(f)))
        for i, f in enumerate(frames):
            rx = await with_timeout(self.sink.recv(), 2, "ms")
            self.check_windows(i, f, bytes(rx.tdata))
        await ClockCycles(self.dut.clk_i, 20)
        assert self.sink.empty(), f"output beyond the {len(frames)} frames sent (duplicated windows or frames)"


def expected_windows(frame: torch.Tensor) -> torch.Tensor:
    """[C, H, W] -> [H-2, W-2, 3(ky), 3(kx), C] windows via unfold."""
    return frame.unfold(1, 3, 1).unfold(2, 3, 1).permute(1, 2, 3, 4, 0)


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def random_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Seeded random frames back to back, in every handshake variant of ``tb.bench.stream``
    (idle / backpressure, fixed 3-of-4 and random patterns)."""
    gen, rng = seeded()
    tb = TB(dut)
    tb.set_pauses(idle, backpressure, rng, pattern)
    await tb.reset()
    await tb.run_frames([tb.random_frame(gen) for _ in range(4)])


@cocotb.skipif((hdl_param("Channels", 0), hdl_param("Height", 0), hdl_param("Width", 0))
               != (1, CONV1_PADDED, CONV1_PADDED), reason="real images need conv1's 1-channel 30x30 build")
@cocotb.test()
async def real_image_padded(dut):
    """Real Fashion-MNIST test images, padded like conv1 (only for conv1's 1-channel 30x30
    build), with zero points 0, 17 and 255 as the padding value."""
    images, _, _ = load_test_images(0, 3)
    pad = LAYER["conv1"].padding
    frames = [torch.nn.functional.pad(img.to(torch.int64)[None], (pad,) * 4, value=zp)
              for img, zp in zip(images, (0, 17, 255))]
    _, rng = seeded()
    tb = TB(dut)
    tb.set_pauses(True, True, rng)
    await tb.reset()
    await tb.run_frames(frames)


@cocotb.test()
async def reset_mid_frame(dut):
    """A reset in the middle of a frame restarts the frame counters."""
    gen, _ = seeded()
    tb = TB(dut)
    await tb.reset()
    tb.source.send_nowait(AxiStreamFrame(frame_bytes(tb.random_frame(gen))))
    await ClockCycles(dut.clk_i, tb.width * 2 + 3)  # some windows out, frame unfinished
    # the reset flushes the source's unfinished frame and the sink's partial frame
    await tb.reset()
    tb.sink.clear()
    await tb.run_frames([tb.random_frame(gen) for _ in range(2)])


# ----------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("channels,width,height", [(1, CONV1_PADDED, CONV1_PADDED), (3, 7, 5)])
def test_line_buffer(channels, width, height):
    """conv1's padded frames and a small odd multi-channel shape."""
    run_sim("line_buffer", hdl_sources("conv/line_buffer.sv"), module="tb.test_line_buffer",
            parameters={"Channels": channels, "Width": width, "Height": height})
