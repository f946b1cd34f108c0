"""cocotb tests + pytest runner for ``axil_regs`` (AXI4-Lite CSR block and parameter decoder).

The parameter write port is monitored every cycle; each test compares the captured writes
(layer, select, element index, data) with the writes the address map of ``model.network``
(``param_address``, the regions' ``param_sel_i`` codes and sizes) implies.
"""
from __future__ import annotations

import logging
import random

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiProt, AxiResp

from model.network import CSR, ID_VALUE, LAYER, LAYER_NAMES, REGION, REGION_NAMES, param_address
from tb.runner import hdl_sources, run_sim

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

CLOCK_NS = 10


class TB:
    """Clock, reset and AXI4-Lite master around ``axil_regs``; drives the status inputs and
    records every parameter write (``writes``) and FRAME_ERRORS clear pulse (``clears``)."""

    def __init__(self, dut):
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.log.setLevel(logging.INFO)
        cocotb.start_soon(Clock(dut.clk_i, CLOCK_NS, unit="ns").start())
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)
        self.axil.write_if.log.setLevel(logging.WARNING)
        self.axil.read_if.log.setLevel(logging.WARNING)
        self.writes: list[tuple[str, int, int, int]] = []  # (layer, sel, index, data)
        dut.busy_i.value = 0
        dut.images_done_i.value = 0
        dut.last_cycles_i.value = 0
        dut.cycle_count_i.value = 0
        dut.frame_errors_i.value = 0
        self.clears = 0  # frame_errors_clear_o pulses
        cocotb.start_soon(self._param_monitor())

    async def _param_monitor(self):
        while True:
            await RisingEdge(self.dut.clk_i)
            we = int(self.dut.param_we_o.value)
            if we:
                assert we & (we - 1) == 0, f"param_we_o=0b{we:05b} is not one-hot"
                self.writes.append((LAYER_NAMES[we.bit_length() - 1], int(self.dut.param_sel_o.value),
                                    int(self.dut.param_addr_o.value), int(self.dut.param_wdata_o.value)))
            self.clears += int(self.dut.frame_errors_clear_o.value)

    async def reset(self):
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await ClockCycles(self.dut.clk_i, 2)

    async def write(self, addr: int, value: int, nbytes: int = 4,
                    prot: AxiProt = AxiProt.NONSECURE) -> AxiResp:
        resp = await with_timeout(
            self.axil.write(addr, value.to_bytes(4, "little")[:nbytes], prot=prot), 10, "us")
        return resp.resp

    async def read(self, addr: int, nbytes: int = 4,
                   prot: AxiProt = AxiProt.NONSECURE) -> tuple[int, AxiResp]:
        resp = await with_timeout(self.axil.read(addr, nbytes, prot=prot), 10, "us")
        return int.from_bytes(resp.data, "little"), resp.resp

    async def settle(self):
        await ClockCycles(self.dut.clk_i, 3)


@cocotb.test()
async def test_csr(dut):
    """ID/CTRL/status CSRs read back; read-only CSRs and unmapped writes get SLVERR."""
    tb = TB(dut)
    await tb.reset()
    val, resp = await tb.read(CSR["ID"])
    assert (val, resp) == (ID_VALUE, AxiResp.OKAY), f"ID read 0x{val:08x} resp {resp}"

    # CTRL is a scratch register with byte strobes
    assert await tb.write(CSR["CTRL"], 0xDEADBEEF) == AxiResp.OKAY
    assert (await tb.read(CSR["CTRL"]))[0] == 0xDEADBEEF
    assert await tb.write(CSR["CTRL"] + 1, 0x55, nbytes=1) == AxiResp.OKAY  # byte lane 1
    assert (await tb.read(CSR["CTRL"]))[0] == 0xDEAD55EF

    # status inputs are visible
    dut.busy_i.value = 1
    dut.images_done_i.value = 0x12345678
    dut.last_cycles_i.value = 0x0BADF00D
    dut.cycle_count_i.value = 0xCAFEBABE
    dut.frame_errors_i.value = 3
    await tb.settle()
    for name, exp in (("STATUS", 0b11), ("IMAGES_DONE", 0x12345678), ("LAST_CYCLES", 0x0BADF00D),
                      ("CYCLE_COUNT", 0xCAFEBABE), ("FRAME_ERRORS", 3)):
        val, resp = await tb.read(CSR[name])
        assert (val, resp) == (exp, AxiResp.OKAY), f"{name}: read 0x{val:08x} ({resp}), expected 0x{exp:08x}"

    dut.busy_i.value = 0
    dut.frame_errors_i.value = 0
    await tb.settle()
    assert await tb.read(CSR["STATUS"]) == (0, AxiResp.OKAY), "STATUS bit 1 without frame errors"

    # FRAME_ERRORS: a full-word write clears (one pulse of frame_errors_clear_o), a narrow one is refused
    assert tb.clears == 0
    assert await tb.write(CSR["FRAME_ERRORS"], 0x1234) == AxiResp.OKAY
    await tb.settle()
    assert tb.clears == 1, f"{tb.clears} frame_errors_clear_o pulses for one write"
    assert await tb.write(CSR["FRAME_ERRORS"], 0, nbytes=1) == AxiResp.SLVERR
    await tb.settle()
    assert tb.clears == 1, "a narrow FRAME_ERRORS write cleared the counter"

    # writes to read-only CSRs and to unmapped addresses: SLVERR, no effect
    for addr in (CSR["ID"], CSR["STATUS"], CSR["CYCLE_COUNT"], 0x01C, 0x100, 0x0FFFFC,
                 0x600000, 0xFFFFFC):
        assert await tb.write(addr, 0xFFFFFFFF) == AxiResp.SLVERR, f"write 0x{addr:06x}: no SLVERR"
    assert (await tb.read(CSR["ID"]))[0] == ID_VALUE
    assert (await tb.read(CSR["CTRL"]))[0] == 0xDEAD55EF
    # unmapped reads: SLVERR and 0; parameter reads: OKAY and 0
    for addr in (0x01C, 0x600000, 0xF00000):
        assert await tb.read(addr) == (0, AxiResp.SLVERR), f"read 0x{addr:06x}"
    assert tb.clears == 1, "a refused write cleared FRAME_ERRORS"
    assert await tb.read(param_address("fc1", "weight", 5)) == (0, AxiResp.OKAY)
    await tb.settle()
    assert tb.writes == [], f"unexpected parameter writes {tb.writes}"


@cocotb.test()
async def test_param_decode(dut):
    """Every region's first and last element decode; the element past the end gets SLVERR."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(cocotb.RANDOM_SEED)
    expected = []
    for layer in LAYER_NAMES:
        for region in REGION_NAMES:
            n = LAYER[layer].region_size(region)
            for index in sorted({0, n // 2, n - 1}):
                data = rng.getrandbits(32)
                assert await tb.write(param_address(layer, region, index), data) == AxiResp.OKAY, \
                    f"{layer} {region}[{index}]: write refused"
                expected.append((layer, REGION[region].code, index, data))
            assert await tb.write(param_address(layer, region, n), 1) == AxiResp.SLVERR, \
                f"{layer} {region}[{n}] (one past the end): no SLVERR"
        # partial strobes are refused for parameters
        assert await tb.write(param_address(layer, "weight", 0), 0x12, nbytes=1) == AxiResp.SLVERR
    await tb.settle()
    assert tb.writes == expected, "parameter writes differ:\n" + "\n".join(
        f"  #{i}: expected {e} actual {a}" for i, (e, a) in enumerate(zip(expected, tb.writes)) if e != a
    ) + f"\n  counts: expected {len(expected)} actual {len(tb.writes)}"


@cocotb.test()
async def test_param_stream(dut):
    """Many pipelined random writes (legal and unmapped) with B-channel backpressure."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    tb.axil.write_if.b_channel.set_pause_generator(iter(lambda: rng.random() < 0.3, None))
    expected, tasks = [], []
    for _ in range(400):
        layer = rng.choice(LAYER_NAMES)
        region = rng.choice(REGION_NAMES)
        n = LAYER[layer].region_size(region)
        legal = rng.random() < 0.85
        index = rng.randrange(n) if legal else n + rng.randrange(64)
        data = rng.getrandbits(32)
        addr = param_address(layer, region, index)
        tasks.append((legal, addr, cocotb.start_soon(tb.axil.write(addr, data.to_bytes(4, "little")))))
        if legal:
            expected.append((layer, REGION[region].code, index, data))
    for i, (legal, addr, task) in enumerate(tasks):
        resp = (await with_timeout(task, 100, "us")).resp
        exp = AxiResp.OKAY if legal else AxiResp.SLVERR
        assert resp == exp, f"write #{i} at 0x{addr:06x}: resp {resp}, expected {exp}"
    await tb.settle()
    assert tb.writes == expected, f"{len(tb.writes)} writes captured, {len(expected)} expected; first diff " + str(
        next(((i, e, a) for i, (e, a) in enumerate(zip(expected, tb.writes)) if e != a), None))


@cocotb.test()
async def test_bit_patterns(dut):
    """Every bit of CTRL and of the status CSRs reads back set and cleared (walking ones and
    zeros); unaligned and narrow accesses; every AWPROT/ARPROT value; reads at random
    offsets of every parameter region return 0 with OKAY and write nothing."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(cocotb.RANDOM_SEED + 2)
    status = {"IMAGES_DONE": dut.images_done_i, "LAST_CYCLES": dut.last_cycles_i,
              "CYCLE_COUNT": dut.cycle_count_i, "FRAME_ERRORS": dut.frame_errors_i}
    for bit in range(32):
        for value in (1 << bit, 0xFFFFFFFF ^ (1 << bit)):
            prot = AxiProt(rng.randrange(8))
            assert await tb.write(CSR["CTRL"], value, prot=prot) == AxiResp.OKAY
            assert await tb.read(CSR["CTRL"], prot=prot) == (value, AxiResp.OKAY), \
                f"CTRL bit {bit}: wrote 0x{value:08x}"
            for sig in status.values():
                sig.value = value
            dut.busy_i.value = value & 1
            await tb.settle()
            for name in status:
                got = await tb.read(CSR[name])
                assert got == (value, AxiResp.OKAY), f"{name} bit {bit}: 0x{got[0]:08x}, expected 0x{value:08x}"
            assert await tb.read(CSR["STATUS"]) == (value & 1 | 2, AxiResp.OKAY)  # errors != 0
    # byte offsets: the address's low two bits select nothing (word access), strobes do
    assert await tb.write(CSR["CTRL"], 0) == AxiResp.OKAY
    for offset in range(4):
        value = 0xA5 + offset
        assert await tb.write(CSR["CTRL"] + offset, value, nbytes=1, prot=AxiProt(7)) == AxiResp.OKAY
        got, resp = await tb.read(CSR["CTRL"] + offset, nbytes=1, prot=AxiProt(7 - offset))
        assert (got, resp) == (value, AxiResp.OKAY), f"CTRL byte {offset}: 0x{got:02x} ({resp})"
    assert (await tb.read(CSR["CTRL"]))[0] == 0xA8A7A6A5
    # parameter regions read as 0/OKAY anywhere inside, SLVERR just past them
    for layer in LAYER_NAMES:
        for region in REGION_NAMES:
            n = LAYER[layer].region_size(region)
            for index in {0, n - 1, rng.randrange(n), rng.randrange(n)}:
                addr = param_address(layer, region, index)
                assert await tb.read(addr) == (0, AxiResp.OKAY), f"read {layer} {region}[{index}]"
            assert await tb.read(param_address(layer, region, n)) == (0, AxiResp.SLVERR)
    for addr in (0x0FFFFC, 0x0AAAA8, 0x055554, 0x00001C):  # CSR page, past the 7 CSRs
        assert await tb.read(addr) == (0, AxiResp.SLVERR), f"read 0x{addr:06x}"
    await tb.settle()
    assert tb.writes == [], f"unexpected parameter writes {tb.writes}"


# ------------------------------------------------------------------ pytest runner

def test_axil_regs():
    run_sim("axil_regs", hdl_sources("top/axil_regs.sv"), module="tb.test_axil_regs")


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
