"""frame_guard (hdl/top/frame_guard.sv): cocotb tests and their pytest runner.

The guard turns any pixel stream into frames of exactly FramePixels beats (README, "Malformed
input frames"): a frame whose tlast comes early is completed with FillValue pixels while the
input is held off, a frame without tlast on its last beat ends there by count, and ``bad_o``
flags both on the frame's last output beat. The expected output is computed by
:func:`expected_frames` from the beats sent (this block moves bytes; it does no arithmetic).

Stimulus: seeded random sequences of good frames, short frames, over-long frames and frames
of exactly FramePixels beats without tlast, driven and received by cocotbext-axi's
AxiStreamSource/Sink with the pause patterns of ``tb.bench.stream`` (every handshake variant: input
idle, output backpressure, both; fixed 3-of-4 and seeded random; cocotb's seed, printed at
start; replay with ``SEED=N``).
"""
from __future__ import annotations

import logging
import random
from typing import ClassVar

import cocotb
import pytest
from cocotb.triggers import ClockCycles, SimTimeoutError, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame

from model.network import PIXELS
from tb.bench.axis_tb import CLK_NS, StreamTB
from tb.bench.hdl import hdl_param
from tb.runner import hdl_sources, run_sim
from tb.bench.stream import HANDSHAKE_NAMES, HANDSHAKE_VARIANTS, variant_name

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

FILL_DEFAULT = 0  # frame_guard's FillValue when the build does not set it (as in the top)


def expected_frames(beats: list[tuple[int, bool]], n: int, fill: int) -> list[tuple[list[int], bool]]:
    """The frames of ``n`` pixels the guard emits for input ``beats`` ``(data, tlast)``:
    ``(pixels, bad)``, a short frame completed with ``fill``.

    Raises:
        ValueError: the beats end inside a frame (the test always closes its last frame).
    """
    frames, cur = [], []
    for data, last in beats:
        cur.append(data)
        if len(cur) == n:
            frames.append((cur, not last))
            cur = []
        elif last:
            frames.append((cur + [fill] * (n - len(cur)), True))
            cur = []
    if cur:
        raise ValueError(f"stimulus ends inside a frame ({len(cur)} beats)")
    return frames


def stimulus(rng: random.Random, n: int, count: int) -> list[tuple[int, bool]]:
    """``count`` sent frames of every kind, the last one good (so no frame is left open)."""
    beats = []
    kinds = ["good", "good", "short", "long", "no_tlast", "one"]
    for k in range(count):
        kind = rng.choice(kinds) if k < count - 1 else "good"
        length = {"good": n, "no_tlast": n, "one": 1, "short": rng.randrange(1, n),
                  "long": rng.randrange(n + 1, 2 * n + 3)}[kind]
        data = [rng.randrange(256) for _ in range(length)]
        beats += [(d, i == length - 1 and kind != "no_tlast") for i, d in enumerate(data)]
    return beats


class GuardInBus(AxiStreamBus):
    """frame_guard's input port under AXI4-Stream names (cocotbext-axi binds by these)."""
    _signals: ClassVar[dict[str, str]] = {"tdata": "s_tdata_i"}
    _optional_signals: ClassVar[dict[str, str]] = {"tvalid": "s_tvalid_i", "tready": "s_tready_o", "tlast": "s_tlast_i"}


class GuardOutBus(AxiStreamBus):
    """frame_guard's output port; ``bad_o`` (valid on a frame's last beat) rides as tuser."""
    _signals: ClassVar[dict[str, str]] = {"tdata": "m_tdata_o"}
    _optional_signals: ClassVar[dict[str, str]] = {"tvalid": "m_tvalid_o", "tready": "m_tready_i", "tlast": "m_tlast_o",
                         "tuser": "bad_o"}


class TB(StreamTB):
    """frame_guard between a cocotbext-axi source and sink (pause probability 0.3 each)."""

    P_IDLE = P_BACKPRESSURE = 0.3

    def __init__(self, dut):
        super().__init__(dut, GuardInBus(dut), GuardOutBus(dut), log=logging.getLogger("cocotb.tb"))
        self.n = hdl_param("FramePixels")
        self.fill = hdl_param("FillValue", FILL_DEFAULT)
        for drv in (self.source, self.sink):
            drv.log.setLevel(logging.WARNING)

    async def send(self, beats: list[tuple[int, bool]]) -> None:
        """Queue ``beats`` ``(data, tlast)`` as AxiStreamFrames split after every tlast (a
        tlast-less frame and the beats after it travel in one frame, tlast where the stimulus
        has it; the stimulus always ends with a tlast)."""
        cur = []
        for data, last in beats:
            cur.append(data)
            if last:
                await self.source.send(AxiStreamFrame(bytes(cur)))
                cur = []
        assert not cur, "stimulus must end with tlast"


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def random_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Random mix of good, short, over-long, one-pixel and tlast-less frames, in every handshake
    variant of ``tb.bench.stream``: every output frame has FramePixels beats (tlast on its last only),
    the pixels and bad flag of expected_frames, none lost, duplicated or reordered, nothing
    left in the sink."""
    tb = TB(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    variant = variant_name(idle, backpressure, pattern)
    tb.set_pauses(idle, backpressure, random.Random(rng.random()), pattern)
    await tb.reset()
    stalled = idle or backpressure
    beats = stimulus(rng, tb.n, 20 if stalled and tb.n > 100 else 60)
    exp = expected_frames(beats, tb.n, tb.fill)
    await tb.send(beats)
    frame_us = (4 * tb.n + 100) * CLK_NS / 1000 * 5  # a frame at a quarter rate, five times over
    for f, (pixels, bad) in enumerate(exp):
        try:
            rx = await with_timeout(tb.sink.recv(), frame_us, "us")
        except SimTimeoutError as exc:
            raise SimTimeoutError(f"{variant}: output frame {f} of {len(exp)} not received within "
                                  f"{frame_us:.0f} us (frames lost)") from exc
        data = list(rx.tdata)
        assert len(data) == tb.n, (f"{variant} frame {f}: tlast after {len(data)} output beats, "
                                   f"expected after {tb.n}")
        if data != pixels:
            i = next(i for i, (a, e) in enumerate(zip(data, pixels)) if a != e)
            raise AssertionError(f"{variant} frame {f}: first differing beat {i}: actual {data[i]}, "
                                 f"expected {pixels[i]} (difference {data[i] - pixels[i]}); "
                                 f"{sum(a != e for a, e in zip(data, pixels))} beats differ")
        got_bad = bool(rx.tuser[-1] if isinstance(rx.tuser, list) else rx.tuser)
        assert got_bad == bad, f"{variant} frame {f}: bad_o {got_bad} on its last beat, expected {bad}"
    await ClockCycles(dut.clk_i, 4 * tb.n + 100)
    assert tb.sink.empty(), f"{variant}: output beyond the {len(exp)} expected frames (duplicated frames)"
    assert tb.source.idle(), f"{variant}: input beats left unsent"
    tb.log.info("%s: %d frames (%d malformed) from %d input beats", variant, len(exp),
                sum(b for _, b in exp), len(beats))


# ------------------------------------------------------------------ pytest runner

@pytest.mark.parametrize("pixels", [5, PIXELS])
def test_frame_guard(pixels):
    """A 5-pixel frame (many frames quickly) and the top's 28x28 image."""
    run_sim("frame_guard", hdl_sources("top/frame_guard.sv"), module="tb.test_frame_guard",
            parameters={"FramePixels": pixels})
