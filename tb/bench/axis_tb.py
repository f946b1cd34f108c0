"""The unit benches' common TB: clock, active-low reset, cocotbext-axi AXI4-Stream drivers
with the handshake pauses of ``tb.bench.stream``, and the beat layout of a feature map.

A bench's own TB class derives from :class:`StreamTB` and adds what its DUT needs (monitors,
parameter port, expected values).
"""
from __future__ import annotations

import logging
import random

import cocotb
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

from tb.bench.stream import set_pauses

CLK_NS = 10  # clk_i period of every unit bench


def start_clock(dut, period_ns: int = CLK_NS) -> None:
    """Start ``dut.clk_i``."""
    cocotb.start_soon(Clock(dut.clk_i, period_ns, unit="ns").start())


async def reset(dut, cycles: int = 3, settle: int = 1) -> None:
    """``dut.rst_ni`` low for ``cycles`` clock cycles, then high for ``settle`` cycles."""
    dut.rst_ni.value = 0
    await ClockCycles(dut.clk_i, cycles)
    dut.rst_ni.value = 1
    await ClockCycles(dut.clk_i, settle)


def frame_bytes(frame: torch.Tensor) -> bytes:
    """Codes ``[C, H, W]`` (0..255) -> raster-order beats of C bytes, channel c at byte c."""
    return bytes(frame.permute(1, 2, 0).flatten().to(torch.uint8).tolist())


def frame_codes(data: bytes, channels: int, height: int, width: int) -> torch.Tensor:
    """Received beats -> int64 codes ``[C, H, W]`` (the inverse of :func:`frame_bytes`).

    Raises:
        RuntimeError: ``len(data) != channels * height * width``.
    """
    return torch.tensor(list(data), dtype=torch.int64).reshape(height, width, channels).permute(2, 0, 1)


class StreamTB:
    """Clock ``clk_i``, reset ``rst_ni`` (active low), an ``AxiStreamSource`` on the input and
    an ``AxiStreamSink`` on the output of ``dut``.

    Args:
        in_bus, out_bus: cocotbext-axi buses; default the ``s_axis_*`` / ``m_axis_*`` ports.
        log: default ``dut._log``.

    Subclasses set :attr:`P_IDLE` / :attr:`P_BACKPRESSURE`, the pause probabilities of the
    ``random`` pattern.
    """

    P_IDLE = 0.5
    P_BACKPRESSURE = 0.5

    def __init__(self, dut, in_bus: AxiStreamBus | None = None, out_bus: AxiStreamBus | None = None,
                 log: logging.Logger | None = None):
        self.dut = dut
        self.log = log or dut._log
        start_clock(dut)
        self.source = AxiStreamSource(in_bus or AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk_i,
                                      dut.rst_ni, reset_active_level=False)
        self.sink = AxiStreamSink(out_bus or AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk_i,
                                  dut.rst_ni, reset_active_level=False)

    async def reset(self, cycles: int = 3, settle: int = 1) -> None:
        """:func:`reset` (the drivers drop what they were sending or receiving)."""
        await reset(self.dut, cycles, settle)

    def set_pauses(self, idle: bool, backpressure: bool, rng: random.Random | None = None,
                   pattern: str = "random", p: float | None = None) -> None:
        """``tb.bench.stream`` pause pattern ``pattern`` on the input (``idle``) and/or the output
        (``backpressure``); ``random``: probabilities :attr:`P_IDLE` / :attr:`P_BACKPRESSURE`
        (both ``p`` when given) from ``rng``."""
        p_idle, p_bp = (p, p) if p is not None else (self.P_IDLE, self.P_BACKPRESSURE)
        set_pauses(self.source, self.sink, idle, backpressure, pattern, rng, p_idle, p_bp, log=self.log)
