"""frame_guard (hdl/top/frame_guard.sv): cocotb tests and their pytest runner.

The guard turns any pixel stream into frames of exactly FramePixels beats (README, "Malformed
input frames"): a frame whose tlast comes early is completed with FillValue pixels while the
input is held off, a frame without tlast on its last beat ends there by count, and ``bad_o``
flags both on the frame's last output beat. The expected output is computed by
:func:`expected_frames` from the beats sent (this block moves bytes; it does no arithmetic).

Stimulus: seeded random sequences of good frames, short frames, over-long frames and frames
of exactly FramePixels beats without tlast, with random input idles and output backpressure
(cocotb's seed, printed at start; replay with ``SEED=N``).
"""
from __future__ import annotations

import logging
import os
import random

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout

FILL = 0


def expected_frames(beats: list[tuple[int, bool]], n: int) -> list[tuple[list[int], bool]]:
    """The frames the guard emits for input ``beats`` ``(data, tlast)``: ``(pixels, bad)``.

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
            frames.append((cur + [FILL] * (n - len(cur)), True))
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


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.n = int(os.environ["GUARD_PIXELS"])
        cocotb.start_soon(Clock(dut.clk_i, 10, unit="ns").start())
        dut.s_tvalid_i.value = 0
        dut.s_tdata_i.value = 0
        dut.s_tlast_i.value = 0
        dut.m_tready_i.value = 0
        self.out: list[tuple[int, bool, bool]] = []  # (data, tlast, bad) per output beat

    async def reset(self):
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await ClockCycles(self.dut.clk_i, 1)

    # Inputs change right after a rising edge; the handshake is sampled at the falling edge in
    # between (every signal settled), and takes place at the next rising edge.
    async def drive(self, beats, rng: random.Random, idle: float):
        dut = self.dut
        for data, last in beats:
            while rng.random() < idle:
                dut.s_tvalid_i.value = 0
                await RisingEdge(dut.clk_i)
            dut.s_tvalid_i.value = 1
            dut.s_tdata_i.value = data
            dut.s_tlast_i.value = int(last)
            while True:
                await FallingEdge(dut.clk_i)
                accepted = int(dut.s_tready_o.value)
                await RisingEdge(dut.clk_i)
                if accepted:
                    break
        dut.s_tvalid_i.value = 0

    async def sink(self, rng: random.Random, backpressure: float):
        dut = self.dut
        while True:
            dut.m_tready_i.value = int(rng.random() >= backpressure)
            await FallingEdge(dut.clk_i)
            if int(dut.m_tvalid_o.value) and int(dut.m_tready_i.value):
                last = bool(int(dut.m_tlast_o.value))
                self.out.append((int(dut.m_tdata_o.value), last, bool(int(dut.bad_o.value)) if last else False))
            await RisingEdge(dut.clk_i)


@cocotb.test()
@cocotb.parametrize((("idle", "backpressure"), [(0.0, 0.0), (0.3, 0.0), (0.0, 0.3), (0.3, 0.3)]))
async def random_frames(dut, idle: float, backpressure: float):
    """Random mix of good, short, over-long, one-pixel and tlast-less frames: every output frame
    has FramePixels beats, tlast only on its last, the pixels and bad flag of expected_frames."""
    tb = TB(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    await tb.reset()
    beats = stimulus(rng, tb.n, 60)
    exp = expected_frames(beats, tb.n)
    cocotb.start_soon(tb.sink(random.Random(rng.random()), backpressure))
    await with_timeout(tb.drive(beats, rng, idle), 100 * len(beats) + 1000, "us")
    total = len(exp) * tb.n
    for _ in range(20 * total + 100):
        if len(tb.out) >= total:
            break
        await RisingEdge(dut.clk_i)
    assert len(tb.out) == total, f"{len(tb.out)} output beats, expected {total} ({len(exp)} frames)"
    for f, (pixels, bad) in enumerate(exp):
        got = tb.out[f * tb.n:(f + 1) * tb.n]
        lasts = [i for i, (_, last, _) in enumerate(got) if last]
        assert lasts == [tb.n - 1], f"frame {f}: tlast on output beats {lasts}, expected [{tb.n - 1}]"
        data = [d for d, _, _ in got]
        assert data == pixels, (f"frame {f}: first differing beat "
                                f"{next(i for i, (a, e) in enumerate(zip(data, pixels)) if a != e)}: "
                                f"got {data}, expected {pixels}")
        assert got[-1][2] == bad, f"frame {f}: bad_o {got[-1][2]}, expected {bad}"
    tb.log.info("%d frames (%d malformed) from %d input beats", len(exp), sum(b for _, b in exp), len(beats))


# ------------------------------------------------------------------ pytest runner

@pytest.mark.parametrize("pixels", [5, 784])
def test_frame_guard(pixels):
    from tb.runner import hdl_sources, run_sim
    run_sim("frame_guard", hdl_sources("top/frame_guard.sv"), module="tb.test_frame_guard",
            parameters={"FramePixels": pixels}, extra_env={"GUARD_PIXELS": pixels})
