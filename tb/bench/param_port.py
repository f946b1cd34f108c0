"""Driver of the blocks' parameter write port (conv3x3_relu_pool, fc_engine).

Port: ``param_we_i``, ``param_sel_i`` (the region's code, ``model.network.REGION``),
``param_addr_i`` (word index in the region), ``param_wdata_i`` (the word,
``model.params.param_words``) and, on fc_engine, ``param_layer_i`` (0 fc1, 1 fc2, 2 fc3).
One word is written per clock cycle while ``param_we_i`` is high. A block takes a word a fixed
number of cycles later (its write decode is pipelined), at the latest
``model.network.PARAM_WRITE_LATENCY`` clock edges after the port sampled it, so :meth:`idle`
waits that many cycles by default.
"""
from __future__ import annotations

import random

from cocotb.triggers import ClockCycles, RisingEdge

from model.network import PARAM_WRITE_LATENCY, REGION, REGION_NAMES
from model.params import param_words
from model.reference import LayerParams


class ParamPort:
    """Writes words or whole layers through ``dut``'s parameter port (clock ``dut.clk_i``)."""

    def __init__(self, dut):
        self.dut = dut
        self.has_layer = hasattr(dut, "param_layer_i")
        dut.param_we_i.value = 0
        dut.param_sel_i.value = 0
        dut.param_addr_i.value = 0
        dut.param_wdata_i.value = 0
        if self.has_layer:
            dut.param_layer_i.value = 0

    async def put(self, sel: int, addr: int, data: int, we: int = 1, layer: int = 0) -> None:
        """Drive one word (``layer`` only on a port that has ``param_layer_i``) for one cycle."""
        dut = self.dut
        dut.param_we_i.value = we
        dut.param_sel_i.value = sel
        dut.param_addr_i.value = addr
        dut.param_wdata_i.value = data & 0xFFFFFFFF
        if self.has_layer:
            dut.param_layer_i.value = layer
        await RisingEdge(dut.clk_i)

    async def idle(self, cycles: int = PARAM_WRITE_LATENCY) -> None:
        """``param_we_i`` low, then ``cycles`` cycles (the last word has been written)."""
        self.dut.param_we_i.value = 0
        await ClockCycles(self.dut.clk_i, cycles)

    async def write(self, p: LayerParams, layer: int = 0, rng: random.Random | None = None,
                    regions: tuple[str, ...] = REGION_NAMES) -> None:
        """Every word of ``p``'s ``regions`` (in region order), then :meth:`idle`; the weights
        in an address order shuffled by ``rng`` when given (the port decodes by address)."""
        words = param_words(p)
        for region in regions:
            order = list(range(len(words[region])))
            if rng is not None and region == "weight":
                rng.shuffle(order)
            for addr in order:
                await self.put(REGION[region].code, addr, words[region][addr], layer=layer)
        await self.idle()
