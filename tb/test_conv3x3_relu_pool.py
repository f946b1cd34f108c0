"""cocotb test bench of ``conv3x3_relu_pool`` (hdl/conv/): padding, line buffer, MACs,
requantization with ReLU, 2x2 max pool.

Expected values come only from ``model.reference`` (``conv3x3_acc``, ``LayerParams.requantize``,
``maxpool2x2``, ``forward``, ``load_params``, ``read_mem``). Parameters are written through the
DUT's parameter port (or preloaded with ``ParamDir`` in the preload build).

Stream format: input beat = InChannels codes of a pixel, output beat = OutChannels codes of a
pooled pixel (channel c at byte c), raster order, tlast on the last pixel of a frame.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from model.network import REGION_NAMES
from model.params import param_words
from model.params import read_mem
from model.reference import conv3x3_acc, LayerParams, maxpool2x2, random_layer_params
from tb.runner import DEFAULT_PARAMS, SIM_BUILD, hdl_sources, run_sim
from tb.stream import HANDSHAKE_NAMES, HANDSHAKE_VARIANTS, set_pauses, variant_name

IN_CH = int(os.environ.get("IN_CH", "1"))
IN_CH_PAR = int(os.environ.get("IN_CH_PAR", str(IN_CH)))  # InChannelsPar: input channels per cycle
PASSES = IN_CH // IN_CH_PAR  # MAC cycles per output channel
OUT_CH = int(os.environ.get("OUT_CH", "6"))
WIDTH = int(os.environ.get("WIDTH", "28"))
HEIGHT = int(os.environ.get("HEIGHT", "28"))
PADDING = int(os.environ.get("PADDING", "1"))
LAYER = os.environ.get("LAYER", "conv1")
PRELOAD_DIR = os.environ.get("PRELOAD_DIR", "")
EXPORT_DIR = Path(os.environ.get("EXPORT_DIR", DEFAULT_PARAMS))

CONV_H, CONV_W = HEIGHT + 2 * PADDING - 2, WIDTH + 2 * PADDING - 2
POOL_H, POOL_W = CONV_H // 2, CONV_W // 2
WEIGHT_SHAPE = (OUT_CH, IN_CH, 3, 3)
# the two real network configurations
REAL_CONFIG = {"conv1": (1, 6, 28, 28, 1), "conv2": (6, 16, 14, 14, 0)}
IS_REAL_LAYER = REAL_CONFIG.get(LAYER) == (IN_CH, OUT_CH, WIDTH, HEIGHT, PADDING)


# ----------------------------------------------------------------------------- helpers

def seeded() -> tuple[torch.Generator, random.Random]:
    """Generators seeded from cocotb's per-test seed (derived from COCOTB_RANDOM_SEED and the
    test name, so ``SEED=<printed global seed>`` replays every test)."""
    seed = cocotb.RANDOM_SEED % (1 << 63)
    cocotb.log.info("stimulus seed %d", seed)
    return torch.Generator().manual_seed(seed), random.Random(seed)


def layer_params(gen: torch.Generator, zp_in: int | None = None) -> LayerParams:
    p = random_layer_params(LAYER, WEIGHT_SHAPE, relu=True, padding=PADDING, gen=gen, zp_in=zp_in)
    cocotb.log.info("random %s params: zp_in %d zp_out %d shift %s", LAYER, p.zp_in, p.zp_out,
                    p.shift.tolist())
    return p


def reference(p: LayerParams, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(conv codes [N,Cout,Ho,Wo], pooled codes [N,Cout,Ho/2,Wo/2]) for ifmaps x [N,Cin,H,W]."""
    conv = p.requantize(conv3x3_acc(x, p.weight, p.zp_in, p.padding))
    return conv, maxpool2x2(conv)


def frame_bytes(frame: torch.Tensor) -> bytes:
    """[C, H, W] codes -> raster-order beats, channel c at byte c of a beat."""
    return bytes(frame.permute(1, 2, 0).flatten().to(torch.uint8).tolist())


def real_frames(gen: torch.Generator, count: int) -> tuple[torch.Tensor, int]:
    """``count`` Fashion-MNIST test images at a seeded offset: uint8 [count, 28, 28]."""
    from model.data import TEST_IMAGES, load_images
    offset = int(torch.randint(0, TEST_IMAGES - count, (1,), generator=gen))
    images, _ = load_images(train=False, offset=offset, count=count)
    cocotb.log.info("real test images %d..%d", offset, offset + count - 1)
    return images.to(torch.int64), offset


def random_network(gen: torch.Generator) -> dict[str, LayerParams]:
    """Random legal parameters for the whole network (to get real-looking pool1 maps)."""
    c1 = random_layer_params("conv1", (6, 1, 3, 3), relu=True, padding=1, gen=gen, zp_in=0)
    c2 = random_layer_params("conv2", (16, 6, 3, 3), relu=True, gen=gen, zp_in=c1.zp_out)
    f1 = random_layer_params("fc1", (120, 576), relu=True, gen=gen, zp_in=c2.zp_out)
    f2 = random_layer_params("fc2", (84, 120), relu=True, gen=gen, zp_in=f1.zp_out)
    f3 = random_layer_params("fc3", (10, 84), relu=False, gen=gen, zp_in=f2.zp_out)
    return {"conv1": c1, "conv2": c2, "fc1": f1, "fc2": f2, "fc3": f3}


def real_like_input(gen: torch.Generator, count: int) -> tuple[torch.Tensor, str, int | None]:
    """Ifmaps [count, Cin, H, W] made of real data: test images for conv1, the reference
    pool1 output of test images for conv2, crops of test images for other shapes.

    Returns (ifmaps, description, zero point of the ifmap or None)."""
    from model.reference import forward
    if LAYER == "conv1" and IS_REAL_LAYER:
        imgs, off = real_frames(gen, count)
        return imgs[:, None], f"test images {off}..", 0
    if LAYER == "conv2" and IS_REAL_LAYER:
        imgs, off = real_frames(gen, count)
        net = random_network(gen)
        return forward(net, imgs)["pool1"], f"pool1 (random conv1) of test images {off}..", net["conv1"].zp_out
    imgs, off = real_frames(gen, count * IN_CH)
    y0 = int(torch.randint(0, 28 - HEIGHT + 1, (1,), generator=gen))
    x0 = int(torch.randint(0, 28 - WIDTH + 1, (1,), generator=gen))
    crops = imgs[:, y0:y0 + HEIGHT, x0:x0 + WIDTH].reshape(count, IN_CH, HEIGHT, WIDTH)
    return crops, f"crops at ({y0},{x0}) of test images {off}..", None


# ----------------------------------------------------------------------------- TB

class TB:
    """Clock, reset, AXI4-Stream drivers and the parameter port of ``conv3x3_relu_pool``."""

    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk_i, 10, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk_i, dut.rst_ni,
                                      reset_active_level=False)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)
        dut.param_we_i.value = 0
        dut.param_sel_i.value = 0
        dut.param_addr_i.value = 0
        dut.param_wdata_i.value = 0
        self.conv_frames: list[bytes] = []
        cocotb.start_soon(self._conv_monitor())

    async def _conv_monitor(self):
        """White-box: the un-pooled conv codes on the gather -> maxpool link (pool_* nets)."""
        dut, beat, width = self.dut, bytearray(), OUT_CH
        while True:
            await RisingEdge(dut.clk_i)
            if dut.rst_ni.value == 0:
                beat.clear()
                continue
            if dut.pool_tvalid.value == 1 and dut.pool_tready.value == 1:
                beat += int(dut.pool_tdata.value).to_bytes(width, "little")
                if dut.pool_tlast.value == 1:
                    self.conv_frames.append(bytes(beat))
                    beat.clear()

    async def reset(self):
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await RisingEdge(self.dut.clk_i)
        self.conv_frames.clear()

    def set_pauses(self, idle: bool, backpressure: bool, rng: random.Random, ratio: float = 0.4,
                   pattern: str = "random"):
        """Stalls on the input (idle source) and/or the output (backpressure): ``tb.stream``
        pattern ``pattern`` (``random``: pause probability ``ratio`` from ``rng``)."""
        set_pauses(self.source, self.sink, idle, backpressure, pattern, rng, ratio, ratio)

    async def write_params(self, p: LayerParams):
        """Every element through the parameter port (sel 0 weight, 1 bias, 2 requant, 3 zp)."""
        words = [(REGION_NAMES.index(region), i, w) for region, ws in param_words(p).items()
                 for i, w in enumerate(ws)]
        dut = self.dut
        for sel, addr, data in words:
            await RisingEdge(dut.clk_i)
            dut.param_we_i.value = 1
            dut.param_sel_i.value = sel
            dut.param_addr_i.value = addr
            dut.param_wdata_i.value = data
        await RisingEdge(dut.clk_i)
        dut.param_we_i.value = 0

    async def run_frames(self, p: LayerParams, x: torch.Tensor, what: str,
                         expected: torch.Tensor | None = None) -> int:
        """Send ifmaps x [N,Cin,H,W] back to back, compare every pooled code.

        Returns the number of clock cycles from the first send to the last frame received."""
        conv, pool = reference(p, x)
        if expected is not None:  # e.g. forward()'s pool output: must agree with the layer call
            assert torch.equal(pool, expected), "reference self-check failed"
        start = get_sim_time("ns")
        for f in x:
            await self.source.send(AxiStreamFrame(frame_bytes(f)))
        acc = conv3x3_acc(x, p.weight, p.zp_in, p.padding)
        for i in range(x.shape[0]):
            rx = await with_timeout(self.sink.recv(), 4, "ms")
            check_conv(i, what, conv[i], acc[i], self.conv_frames.pop(0))
            check_frame(i, what, pool[i], conv[i], bytes(rx.tdata))
        cycles = int((get_sim_time("ns") - start) // 10)
        await ClockCycles(self.dut.clk_i, 50)  # a duplicated frame or beat would arrive by now
        assert self.sink.empty(), f"{what}: output beyond the {x.shape[0]} frames sent"
        assert not self.conv_frames, f"{what}: {len(self.conv_frames)} extra conv frames before the pool"
        return cycles


def check_conv(index: int, what: str, exp: torch.Tensor, acc: torch.Tensor, got: bytes) -> None:
    """Un-pooled conv codes exp [Cout, Ho, Wo] vs the monitored beats; acc for the message."""
    n = OUT_CH * CONV_H * CONV_W
    assert len(got) == n, (f"frame {index} ({what}), layer {LAYER}: {len(got)} conv bytes, expected {n}")
    act = torch.tensor(list(got), dtype=torch.int64).reshape(CONV_H, CONV_W, OUT_CH).permute(2, 0, 1)
    bad = (act != exp).nonzero().tolist()
    if bad:
        msgs = [f"frame {index} ({what}) layer {LAYER} conv channel {c} row {r} col {col}: "
                f"expected {int(exp[c, r, col])}, actual {int(act[c, r, col])}, "
                f"difference {int(act[c, r, col] - exp[c, r, col])} (acc {int(acc[c, r, col])})"
                for c, r, col in bad[:8]]
        raise AssertionError(f"{len(bad)} of {n} conv codes differ:\n" + "\n".join(msgs))


def check_frame(index: int, what: str, exp: torch.Tensor, conv: torch.Tensor, got: bytes) -> None:
    """exp [Cout, Ph, Pw] pooled codes vs the received beats; conv [Cout, Ho, Wo] for the message."""
    n = OUT_CH * POOL_H * POOL_W
    assert len(got) == n, (f"frame {index} ({what}), layer {LAYER}: {len(got)} bytes, expected {n} "
                           f"({POOL_H}x{POOL_W} beats of {OUT_CH}): tlast misplaced or beats lost/duplicated")
    act = torch.tensor(list(got), dtype=torch.int64).reshape(POOL_H, POOL_W, OUT_CH).permute(2, 0, 1)
    bad = (act != exp).nonzero().tolist()
    if bad:
        msgs = []
        for c, r, col in bad[:8]:
            e, a = int(exp[c, r, col]), int(act[c, r, col])
            quad = conv[c, 2 * r:2 * r + 2, 2 * col:2 * col + 2].flatten().tolist()
            msgs.append(f"frame {index} ({what}) layer {LAYER} pool channel {c} row {r} col {col}: "
                        f"expected {e}, actual {a}, difference {a - e} (conv codes of the 2x2: {quad})")
        raise AssertionError(f"{len(bad)} of {n} pooled codes differ:\n" + "\n".join(msgs))


def frame_cycles() -> int:
    """Ideal cycles per frame: OutChannels * Passes per window, 1 per other padded pixel."""
    padded = (HEIGHT + 2 * PADDING) * (WIDTH + 2 * PADDING)
    return CONV_H * CONV_W * OUT_CH * PASSES + padded - CONV_H * CONV_W


# ----------------------------------------------------------------------------- tests
# cocotb runs the tests in this order; `preload` must come before any parameter write.

@cocotb.skipif(not PRELOAD_DIR, reason="only in the ParamDir preload build")
@cocotb.test()
async def preload(dut):
    """Parameters preloaded by $readmemh from ParamDir (no parameter writes)."""
    d = Path(PRELOAD_DIR)
    gen, _ = seeded()
    rq = read_mem(d / f"{LAYER}_requant.mem", 32, OUT_CH, False)
    zp = int(read_mem(d / f"{LAYER}_zp.mem", 16, 1, False)[0])
    p = LayerParams(name=LAYER, weight=read_mem(d / f"{LAYER}_weight.mem", 8, OUT_CH * IN_CH * 9, True)
                    .reshape(WEIGHT_SHAPE), bias_q=read_mem(d / f"{LAYER}_bias.mem", 32, OUT_CH, True),
                    m24=rq & 0xFFFFFF, shift=rq >> 24, zp_in=zp & 0xFF, zp_out=zp >> 8, relu=True,
                    padding=PADDING)
    tb = TB(dut)
    await tb.reset()
    x = torch.randint(0, 256, (3, IN_CH, HEIGHT, WIDTH), generator=gen)
    await tb.run_frames(p, x, f"preload from {d}")


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def real_data(dut, idle: bool, backpressure: bool, pattern: str):
    """Real Fashion-MNIST derived ifmaps, random parameters, frames back to back, in every
    handshake variant of ``tb.stream`` (fixed 3-of-4 and random idle/backpressure)."""
    gen, rng = seeded()
    count = 3 if (idle or backpressure) else 5
    x, what, zp = real_like_input(gen, count)
    what += f", {variant_name(idle, backpressure, pattern)}"
    p = layer_params(gen, zp_in=zp)
    tb = TB(dut)
    tb.set_pauses(idle, backpressure, rng, pattern=pattern)
    await tb.reset()
    await tb.write_params(p)
    cycles = await tb.run_frames(p, x, what)
    if not (idle or backpressure):
        ideal = frame_cycles()
        cocotb.log.info("%d frames in %d cycles: %.1f cycles/frame (ideal %d: InChannelsPar %d, "
                        "%d passes)", count, cycles, cycles / count, ideal, IN_CH_PAR, PASSES)
        # back to back: only the pipeline fill/drain of one frame on top of the ideal
        assert cycles <= count * ideal + 200, f"throughput: {cycles} cycles for {count} frames"


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def random_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Seeded random ifmaps and random parameters, frames back to back, in every handshake
    variant of ``tb.stream``."""
    gen, rng = seeded()
    p = layer_params(gen)
    tb = TB(dut)
    tb.set_pauses(idle, backpressure, rng, ratio=0.6 if backpressure else 0.3, pattern=pattern)
    await tb.reset()
    await tb.write_params(p)
    x = torch.randint(0, 256, (3, IN_CH, HEIGHT, WIDTH), generator=gen)
    await tb.run_frames(p, x, f"random, {variant_name(idle, backpressure, pattern)}")


@cocotb.test()
async def corners(dut):
    """All-0 / all-255 frames x weights all -128 / all 127, several zero points."""
    gen, rng = seeded()
    tb = TB(dut)
    tb.set_pauses(False, True, rng, ratio=0.2)
    await tb.reset()
    zeros = torch.zeros(1, IN_CH, HEIGHT, WIDTH, dtype=torch.int64)
    frames = torch.cat([zeros, zeros + 255, torch.randint(0, 256, zeros.shape, generator=gen)])
    for wval in (-128, 127):
        for zp_in in (0, 255, int(torch.randint(1, 255, (1,), generator=gen))):
            p = layer_params(gen, zp_in=zp_in)
            p.weight = torch.full(WEIGHT_SHAPE, wval, dtype=torch.int64)
            await tb.write_params(p)
            await tb.run_frames(p, frames, f"corner w={wval} zp_in={zp_in}")
    # accumulators near the extremes with a mixed-sign kernel: +127 on one half, -128 on the other
    p = layer_params(gen, zp_in=0)
    p.weight = torch.where(torch.rand(WEIGHT_SHAPE, generator=gen) < 0.5, 127, -128).to(torch.int64)
    await tb.write_params(p)
    await tb.run_frames(p, frames, "corner w=+-extreme")


@cocotb.test()
async def reset_mid_frame(dut):
    """A reset while a frame is in flight restarts cleanly (parameters survive the reset)."""
    gen, _ = seeded()
    p = layer_params(gen)
    tb = TB(dut)
    await tb.reset()
    await tb.write_params(p)
    x = torch.randint(0, 256, (3, IN_CH, HEIGHT, WIDTH), generator=gen)
    tb.source.send_nowait(AxiStreamFrame(frame_bytes(x[0])))
    await ClockCycles(dut.clk_i, frame_cycles() // 2)
    await tb.reset()  # flushes the source's unfinished frame and the sink's partial frame
    tb.sink.clear()
    await tb.run_frames(p, x[1:], "after reset")


@cocotb.test()
async def param_port(dut):
    """Parameter port: every word first written all ones, then all zeros, then its real value
    (the last write wins, every stored bit can be set and cleared); writes past the end of
    each memory (and with param_we_i low) change nothing; the frames then match the reference."""
    gen, rng = seeded()
    p = layer_params(gen)
    tb = TB(dut)
    await tb.reset()
    dut = tb.dut
    sizes = [len(ws) for ws in param_words(p).values()]  # weight, bias, requant, zp

    async def put(sel: int, addr: int, data: int, we: int = 1):
        await RisingEdge(dut.clk_i)
        dut.param_we_i.value = we
        dut.param_sel_i.value = sel
        dut.param_addr_i.value = addr
        dut.param_wdata_i.value = data

    for pattern in (0xFFFFFFFF, 0x00000000):
        for sel, n in enumerate(sizes):
            for addr in range(n):
                await put(sel, addr, pattern)
    await tb.write_params(p)
    for sel, n in enumerate(sizes):
        for addr in sorted({n, n + 1, n + rng.randrange(1, 64), (1 << 17) - 1}):
            await put(sel, addr, rng.getrandbits(32))  # past the end: ignored
        await put(sel, 0, rng.getrandbits(32), we=0)  # no write enable: ignored
    await RisingEdge(dut.clk_i)
    dut.param_we_i.value = 0
    x = torch.randint(0, 256, (2, IN_CH, HEIGHT, WIDTH), generator=gen)
    await tb.run_frames(p, x, "after all-ones/zeros and out-of-range writes")


@cocotb.skipif(not IS_REAL_LAYER, reason="the trained parameters fit only the conv1/conv2 builds")
@cocotb.test()
@cocotb.parametrize(backpressure=[False, True])
async def trained_params(dut, backpressure: bool):
    """The trained export (load_params) through the parameter port; real test images; the
    expected pool1/pool2 also equal model.reference.forward's."""
    from model.params import load_params
    from model.reference import forward
    gen, rng = seeded()
    params = load_params(EXPORT_DIR)
    p = params[LAYER]
    cocotb.log.info("trained %s from %s: zp_in %d zp_out %d", LAYER, EXPORT_DIR, p.zp_in, p.zp_out)
    imgs, off = real_frames(gen, 4 if backpressure else 8)
    ref = forward(params, imgs)
    x, expected = (ref["input"], ref["pool1"]) if LAYER == "conv1" else (ref["pool1"], ref["pool2"])
    tb = TB(dut)
    tb.set_pauses(backpressure, backpressure, rng)
    await tb.reset()
    await tb.write_params(p)
    await tb.run_frames(p, x, f"trained, test images {off}..", expected=expected)


# ----------------------------------------------------------------------------- pytest runner

CONFIGS = {
    # name: (LayerName, InChannels, InChannelsPar, OutChannels, Width, Height, Padding, preload)
    "conv1": ("conv1", 1, 1, 6, 28, 28, 1, False),
    "conv2": ("conv2", 6, 6, 16, 14, 14, 0, False),
    "conv2_par3": ("conv2", 6, 3, 16, 14, 14, 0, False),  # the top's default folding: 2 passes
    "odd_preload": ("convx", 2, 2, 3, 8, 6, 1, True),
    "odd_par1": ("convx", 4, 1, 3, 8, 6, 1, False),       # one channel per cycle: 4 passes
}
CONV_SOURCES = ("requant.sv", "conv/conv_padder.sv", "conv/line_buffer.sv", "conv/maxpool2x2.sv",
                "conv/conv3x3_relu_pool.sv")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_conv3x3_relu_pool(config):
    layer, cin, cpar, cout, width, height, padding, preload = CONFIGS[config]
    params = {"InChannels": cin, "InChannelsPar": cpar, "OutChannels": cout, "Width": width,
              "Height": height, "Padding": padding, "LayerName": layer}
    env = {"LAYER": layer, "IN_CH": cin, "IN_CH_PAR": cpar, "OUT_CH": cout, "WIDTH": width,
           "HEIGHT": height, "PADDING": padding,
           "EXPORT_DIR": os.environ.get("EXPORT_DIR", DEFAULT_PARAMS)}
    if preload:
        # Fixed folder (the path is a build parameter); the files are rewritten before every
        # run and only read by $readmemh at simulation start.
        from model.params import write_layer
        pdir = SIM_BUILD / f"conv_preload_{config}"
        p = random_layer_params(layer, (cout, cin, 3, 3), relu=True, padding=padding,
                                gen=torch.Generator().manual_seed(int(os.environ.get("SEED", "1"))))
        write_layer(p, pdir)
        params["ParamDir"] = str(pdir)
        env["PRELOAD_DIR"] = str(pdir)
    run_sim(
        toplevel="conv3x3_relu_pool",
        sources=hdl_sources(*CONV_SOURCES),
        module="tb.test_conv3x3_relu_pool",
        parameters=params,
        extra_env=env,
    )


@pytest.mark.parametrize("cpar", [0, 4, 7])
def test_conv_bad_folding(cpar):
    """An InChannelsPar that does not divide InChannels (6) stops the elaboration with a message
    naming both (Verilator lint, warnings fatal as in ``make lint``)."""
    import subprocess
    from tb.runner import verilator_env
    verilator_env()
    res = subprocess.run(["verilator", "--lint-only", "--top-module", "conv3x3_relu_pool",
                          "-GInChannels=6", f"-GInChannelsPar={cpar}", *hdl_sources(*CONV_SOURCES)],
                         capture_output=True, text=True, check=False)
    assert res.returncode != 0, f"InChannelsPar={cpar} with InChannels=6 was accepted"
    assert f"InChannelsPar = {cpar} does not divide InChannels = 6" in res.stderr, res.stderr
