"""cocotb test bench of ``conv3x3_relu_pool`` (hdl/conv/): padding, line buffer, MACs,
requantization with ReLU, 2x2 max pool.

Expected values come only from ``model.reference`` (``conv3x3_acc``, ``LayerParams.requantize``,
``maxpool2x2``, ``forward``) and ``model.params`` (``load_params``, ``read_mem``). Parameters
are written through the DUT's parameter port (or preloaded with ``ParamDir`` in the preload
build). The bench reads the build's geometry from its HDL parameters (``tb.bench.hdl``).

Stream format: input beat = InChannels codes of a pixel, output beat = OutChannels codes of a
pooled pixel (channel c at byte c), raster order, tlast on the last pixel of a frame.

Environment: ``EXPORT_DIR``, the trained export of ``trained_params`` (default
``model/artifacts/export``). Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cocotb
import pytest
import torch
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamFrame

from model.data import TEST_IMAGES
from model.network import KERNEL, LAYER, REGION, REQUANT_SHIFT_LSB, ZP_OUT_LSB, Layer
from model.params import load_params, param_words, read_mem, write_layer
from model.reference import LayerParams, conv3x3_acc, forward, maxpool2x2, random_layer_params
from tb.bench.axis_tb import CLK_NS, StreamTB, frame_bytes, frame_codes
from tb.bench.hdl import hdl_param
from tb.bench.param_port import ParamPort
from tb.bench.paramsets import load_test_images, random_network
from tb.bench.seeds import seeded
from tb.runner import DEFAULT_PARAMS, SIM_BUILD, hdl_sources, run_sim, verilator_env
from tb.bench.stream import HANDSHAKE_NAMES, HANDSHAKE_VARIANTS, variant_name

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

EXPORT_DIR = Path(os.environ.get("EXPORT_DIR", DEFAULT_PARAMS))


def network_layer() -> Layer | None:
    """The network's conv layer this build is (its LayerName with its real shape), else None."""
    layer = LAYER.get(hdl_param("LayerName", ""))
    if layer is None or layer.kind != "conv":
        return None
    real = (layer.in_channels, layer.out_channels, layer.in_size, layer.in_size, layer.padding)
    build = tuple(hdl_param(n, -1) for n in ("InChannels", "OutChannels", "Width", "Height", "Padding"))
    return layer if build == real else None


def reference(p: LayerParams, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(conv codes [N,Cout,Ho,Wo], pooled codes [N,Cout,Ho/2,Wo/2]) for ifmaps x [N,Cin,H,W]."""
    conv = p.requantize(conv3x3_acc(x, p.weight, p.zp_in, p.padding))
    return conv, maxpool2x2(conv)


def real_images(gen: torch.Generator, count: int) -> tuple[torch.Tensor, int]:
    """``count`` Fashion-MNIST test images at a seeded offset: int64 [count, 28, 28], offset."""
    offset = int(torch.randint(0, TEST_IMAGES - count, (1,), generator=gen))
    images, _, _ = load_test_images(offset, count)
    cocotb.log.info("real test images %d..%d", offset, offset + count - 1)
    return images.to(torch.int64), offset


# ----------------------------------------------------------------------------- TB

class TB(StreamTB):
    """``conv3x3_relu_pool`` between an AxiStreamSource and an AxiStreamSink, its parameter
    port, a monitor of the un-pooled conv codes, and the build's geometry."""

    P_IDLE = P_BACKPRESSURE = 0.4

    def __init__(self, dut):
        super().__init__(dut)
        self.layer = hdl_param("LayerName")
        self.cin, self.cout = hdl_param("InChannels"), hdl_param("OutChannels")
        self.cpar = hdl_param("InChannelsPar", self.cin)  # input channels per cycle
        self.passes = self.cin // self.cpar               # MAC cycles per channel group
        self.opar = hdl_param("OutChannelsPar", 1)         # output channels per cycle
        self.groups = self.cout // self.opar
        self.width, self.height, self.padding = hdl_param("Width"), hdl_param("Height"), hdl_param("Padding")
        self.conv_h = self.height + 2 * self.padding - KERNEL + 1
        self.conv_w = self.width + 2 * self.padding - KERNEL + 1
        self.pool_h, self.pool_w = self.conv_h // 2, self.conv_w // 2
        self.weight_shape = (self.cout, self.cin, KERNEL, KERNEL)
        self.port = ParamPort(dut)
        self.conv_frames: list[bytes] = []
        cocotb.start_soon(self._conv_monitor())

    async def _conv_monitor(self):
        """White-box: the un-pooled conv codes on the gather -> maxpool link (pool_* nets)."""
        dut, beat = self.dut, bytearray()
        while True:
            await RisingEdge(dut.clk_i)
            if dut.rst_ni.value == 0:
                beat.clear()
                continue
            if dut.pool_tvalid.value == 1 and dut.pool_tready.value == 1:
                beat += int(dut.pool_tdata.value).to_bytes(self.cout, "little")
                if dut.pool_tlast.value == 1:
                    self.conv_frames.append(bytes(beat))
                    beat.clear()

    async def reset(self, cycles: int = 3, settle: int = 1):
        await super().reset(cycles, settle)
        self.conv_frames.clear()

    def random_frames(self, gen: torch.Generator, n: int) -> torch.Tensor:
        """``n`` random ifmaps int64 [n, Cin, H, W] in 0..255."""
        return torch.randint(0, 256, (n, self.cin, self.height, self.width), generator=gen)

    def random_params(self, gen: torch.Generator, zp_in: int | None = None) -> LayerParams:
        """Random legal parameters of this build's layer (``zp_in`` random unless given)."""
        p = random_layer_params(self.layer, self.weight_shape, relu=True, padding=self.padding, gen=gen,
                                zp_in=zp_in)
        cocotb.log.info("random %s params: zp_in %d zp_out %d shift %s", self.layer, p.zp_in, p.zp_out,
                        p.shift.tolist())
        return p

    def real_like_input(self, gen: torch.Generator, count: int) -> tuple[torch.Tensor, str, int | None]:
        """Ifmaps [count, Cin, H, W] made of real data: test images for conv1, the reference
        pool1 output of test images for conv2, crops of test images for other shapes.

        Returns (ifmaps, description, zero point of the ifmap or None)."""
        real = network_layer()
        if real is not None and real.name == "conv1":
            imgs, off = real_images(gen, count)
            return imgs[:, None], f"test images {off}..", 0
        if real is not None and real.name == "conv2":
            imgs, off = real_images(gen, count)
            net = random_network(gen)
            return forward(net, imgs)["pool1"], f"pool1 (random conv1) of test images {off}..", net["conv1"].zp_out
        h, w = self.height, self.width
        imgs, off = real_images(gen, count * self.cin)
        y0 = int(torch.randint(0, imgs.shape[1] - h + 1, (1,), generator=gen))
        x0 = int(torch.randint(0, imgs.shape[2] - w + 1, (1,), generator=gen))
        crops = imgs[:, y0:y0 + h, x0:x0 + w].reshape(count, self.cin, h, w)
        return crops, f"crops at ({y0},{x0}) of test images {off}..", None

    def frame_cycles(self) -> int:
        """Ideal cycles per frame back to back: a window occupies the MACs n = Groups * Passes
        cycles, and the k padded pixels between two windows enter meanwhile, so consecutive
        windows are max(n, k + 1) cycles apart (k = 0 within a row, 2 between rows, two padded
        rows + 2 between frames)."""
        n = self.groups * self.passes
        pad_w = self.width + 2 * self.padding
        return (self.conv_h * (self.conv_w - 1) * n + (self.conv_h - 1) * max(n, 3)
                + max(n, 2 * pad_w + 3))

    async def run_frames(self, p: LayerParams, x: torch.Tensor, what: str,
                         expected: torch.Tensor | None = None) -> int:
        """Send ifmaps x [N,Cin,H,W] back to back, compare every conv and pooled code.

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
            self.check_conv(i, what, conv[i], acc[i], self.conv_frames.pop(0))
            self.check_frame(i, what, pool[i], conv[i], bytes(rx.tdata))
        cycles = int((get_sim_time("ns") - start) // CLK_NS)
        await ClockCycles(self.dut.clk_i, 50)  # a duplicated frame or beat would arrive by now
        assert self.sink.empty(), f"{what}: output beyond the {x.shape[0]} frames sent"
        assert not self.conv_frames, f"{what}: {len(self.conv_frames)} extra conv frames before the pool"
        return cycles

    def check_conv(self, index: int, what: str, exp: torch.Tensor, acc: torch.Tensor, got: bytes) -> None:
        """Un-pooled conv codes exp [Cout, Ho, Wo] vs the monitored beats; acc for the message."""
        n = self.cout * self.conv_h * self.conv_w
        assert len(got) == n, (f"frame {index} ({what}), layer {self.layer}: {len(got)} conv bytes, expected {n}")
        act = frame_codes(got, self.cout, self.conv_h, self.conv_w)
        bad = (act != exp).nonzero().tolist()
        if bad:
            msgs = [f"frame {index} ({what}) layer {self.layer} conv channel {c} row {r} col {col}: "
                    f"expected {int(exp[c, r, col])}, actual {int(act[c, r, col])}, "
                    f"difference {int(act[c, r, col] - exp[c, r, col])} (acc {int(acc[c, r, col])})"
                    for c, r, col in bad[:8]]
            raise AssertionError(f"{len(bad)} of {n} conv codes differ:\n" + "\n".join(msgs))

    def check_frame(self, index: int, what: str, exp: torch.Tensor, conv: torch.Tensor, got: bytes) -> None:
        """exp [Cout, Ph, Pw] pooled codes vs the received beats; conv [Cout, Ho, Wo] for the message."""
        n = self.cout * self.pool_h * self.pool_w
        assert len(got) == n, (f"frame {index} ({what}), layer {self.layer}: {len(got)} bytes, expected {n} "
                               f"({self.pool_h}x{self.pool_w} beats of {self.cout}): tlast misplaced or "
                               f"beats lost/duplicated")
        act = frame_codes(got, self.cout, self.pool_h, self.pool_w)
        bad = (act != exp).nonzero().tolist()
        if bad:
            msgs = []
            for c, r, col in bad[:8]:
                e, a = int(exp[c, r, col]), int(act[c, r, col])
                quad = conv[c, 2 * r:2 * r + 2, 2 * col:2 * col + 2].flatten().tolist()
                msgs.append(f"frame {index} ({what}) layer {self.layer} pool channel {c} row {r} col {col}: "
                            f"expected {e}, actual {a}, difference {a - e} (conv codes of the 2x2: {quad})")
            raise AssertionError(f"{len(bad)} of {n} pooled codes differ:\n" + "\n".join(msgs))


def read_layer(tb: TB, d: Path) -> LayerParams:
    """The layer ``tb`` is built for, read from the ``.mem`` files of ``d`` (``model.params.write_layer``)."""
    def mem(region: str, count: int, signed: bool) -> torch.Tensor:
        return read_mem(d / f"{tb.layer}_{region}.mem", 4 * REGION[region].digits, count, signed)
    rq, zp = mem("requant", tb.cout, False), int(mem("zp", 1, False)[0])
    return LayerParams(name=tb.layer, weight=mem("weight", tb.cout * tb.cin * KERNEL * KERNEL, True)
                       .reshape(tb.weight_shape), bias_q=mem("bias", tb.cout, True),
                       m24=rq & ((1 << REQUANT_SHIFT_LSB) - 1), shift=rq >> REQUANT_SHIFT_LSB,
                       zp_in=zp & ((1 << ZP_OUT_LSB) - 1), zp_out=zp >> ZP_OUT_LSB, relu=True,
                       padding=tb.padding)


# ----------------------------------------------------------------------------- tests
# cocotb runs the tests in this order; `preload` must come before any parameter write.

@cocotb.skipif(not hdl_param("ParamDir", ""), reason="only in the ParamDir preload build")
@cocotb.test()
async def preload(dut):
    """Parameters preloaded by $readmemh from ParamDir (no parameter writes)."""
    d = Path(hdl_param("ParamDir"))
    gen, _ = seeded()
    tb = TB(dut)
    p = read_layer(tb, d)
    await tb.reset()
    await tb.run_frames(p, tb.random_frames(gen, 3), f"preload from {d}")


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def real_data(dut, idle: bool, backpressure: bool, pattern: str):
    """Real Fashion-MNIST derived ifmaps, random parameters, frames back to back, in every
    handshake variant of ``tb.bench.stream`` (fixed 3-of-4 and random idle/backpressure)."""
    gen, rng = seeded()
    tb = TB(dut)
    count = 3 if (idle or backpressure) else 5
    x, what, zp = tb.real_like_input(gen, count)
    what += f", {variant_name(idle, backpressure, pattern)}"
    p = tb.random_params(gen, zp_in=zp)
    tb.set_pauses(idle, backpressure, rng, pattern=pattern)
    await tb.reset()
    await tb.port.write(p)
    cycles = await tb.run_frames(p, x, what)
    if not (idle or backpressure):
        ideal = tb.frame_cycles()
        cocotb.log.info("%d frames in %d cycles: %.1f cycles/frame (ideal %d: InChannelsPar %d, "
                        "%d passes, OutChannelsPar %d, %d groups)", count, cycles, cycles / count, ideal,
                        tb.cpar, tb.passes, tb.opar, tb.groups)
        # back to back: only the pipeline fill/drain of one frame on top of the ideal
        assert cycles <= count * ideal + 200, f"throughput: {cycles} cycles for {count} frames"


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def random_frames(dut, idle: bool, backpressure: bool, pattern: str):
    """Seeded random ifmaps and random parameters, frames back to back, in every handshake
    variant of ``tb.bench.stream``."""
    gen, rng = seeded()
    tb = TB(dut)
    p = tb.random_params(gen)
    tb.set_pauses(idle, backpressure, rng, p=0.6 if backpressure else 0.3, pattern=pattern)
    await tb.reset()
    await tb.port.write(p)
    await tb.run_frames(p, tb.random_frames(gen, 3), f"random, {variant_name(idle, backpressure, pattern)}")


@cocotb.test()
async def corners(dut):
    """All-0 / all-255 frames x weights all -128 / all 127, several zero points."""
    gen, rng = seeded()
    tb = TB(dut)
    tb.set_pauses(False, True, rng, p=0.2)
    await tb.reset()
    zeros = torch.zeros(1, tb.cin, tb.height, tb.width, dtype=torch.int64)
    frames = torch.cat([zeros, zeros + 255, torch.randint(0, 256, zeros.shape, generator=gen)])
    for wval in (-128, 127):
        for zp_in in (0, 255, int(torch.randint(1, 255, (1,), generator=gen))):
            p = tb.random_params(gen, zp_in=zp_in)
            p.weight = torch.full(tb.weight_shape, wval, dtype=torch.int64)
            await tb.port.write(p)
            await tb.run_frames(p, frames, f"corner w={wval} zp_in={zp_in}")
    # accumulators near the extremes with a mixed-sign kernel: +127 on one half, -128 on the other
    p = tb.random_params(gen, zp_in=0)
    p.weight = torch.where(torch.rand(tb.weight_shape, generator=gen) < 0.5, 127, -128).to(torch.int64)
    await tb.port.write(p)
    await tb.run_frames(p, frames, "corner w=+-extreme")


@cocotb.test()
async def reset_mid_frame(dut):
    """A reset while a frame is in flight restarts cleanly (parameters survive the reset)."""
    gen, _ = seeded()
    tb = TB(dut)
    p = tb.random_params(gen)
    await tb.reset()
    await tb.port.write(p)
    x = tb.random_frames(gen, 3)
    tb.source.send_nowait(AxiStreamFrame(frame_bytes(x[0])))
    await ClockCycles(dut.clk_i, tb.frame_cycles() // 2)
    await tb.reset()  # flushes the source's unfinished frame and the sink's partial frame
    tb.sink.clear()
    await tb.run_frames(p, x[1:], "after reset")


@cocotb.test()
async def param_port(dut):
    """Parameter port: every word first written all ones, then all zeros, then its real value
    (the last write wins, every stored bit can be set and cleared); writes past the end of
    each memory (and with param_we_i low) change nothing; the frames then match the reference."""
    gen, rng = seeded()
    tb = TB(dut)
    p = tb.random_params(gen)
    await tb.reset()
    sizes = {REGION[region].code: len(ws) for region, ws in param_words(p).items()}
    for pattern in (0xFFFFFFFF, 0x00000000):
        for sel, n in sizes.items():
            for addr in range(n):
                await tb.port.put(sel, addr, pattern)
    await tb.port.write(p)
    for sel, n in sizes.items():
        for addr in sorted({n, n + 1, n + rng.randrange(1, 64), (1 << 17) - 1}):
            await tb.port.put(sel, addr, rng.getrandbits(32))  # past the end: ignored
        await tb.port.put(sel, 0, rng.getrandbits(32), we=0)  # no write enable: ignored
    await tb.port.idle()
    await tb.run_frames(p, tb.random_frames(gen, 2), "after all-ones/zeros and out-of-range writes")


@cocotb.skipif(network_layer() is None, reason="the trained parameters fit only the conv1/conv2 builds")
@cocotb.test()
@cocotb.parametrize(backpressure=[False, True])
async def trained_params(dut, backpressure: bool):
    """The trained export (load_params) through the parameter port; real test images; the
    expected pool1/pool2 also equal model.reference.forward's."""
    gen, rng = seeded()
    tb = TB(dut)
    params = load_params(EXPORT_DIR)
    p = params[tb.layer]
    cocotb.log.info("trained %s from %s: zp_in %d zp_out %d", tb.layer, EXPORT_DIR, p.zp_in, p.zp_out)
    imgs, off = real_images(gen, 4 if backpressure else 8)
    ref = forward(params, imgs)
    x, expected = (ref["input"], ref["pool1"]) if tb.layer == "conv1" else (ref["pool1"], ref["pool2"])
    tb.set_pauses(backpressure, backpressure, rng)
    await tb.reset()
    await tb.port.write(p)
    await tb.run_frames(p, x, f"trained, test images {off}..", expected=expected)


# ----------------------------------------------------------------------------- pytest runner

CONV1, CONV2 = LAYER["conv1"], LAYER["conv2"]


def _conv(layer: str, cin: int, cpar: int, cout: int, width: int, height: int, padding: int,
          opar: int = 1, use_dsp: int = 1, preload: bool = False) -> tuple[dict, bool]:
    """(HDL parameters, preload) of a build; OutChannelsPar / UseDsp only when not the default."""
    params = {"InChannels": cin, "InChannelsPar": cpar, "OutChannels": cout, "Width": width,
              "Height": height, "Padding": padding, "LayerName": layer}
    if opar != 1:
        params["OutChannelsPar"] = opar
    if not use_dsp:
        params["UseDsp"] = 0
    return params, preload


def _conv2(cpar: int, opar: int = 1, use_dsp: int = 1) -> tuple[dict, bool]:
    return _conv("conv2", CONV2.in_channels, cpar, CONV2.out_channels, CONV2.in_size, CONV2.in_size,
                 CONV2.padding, opar, use_dsp)


CONFIGS = {
    # name: (HDL parameters, preload)
    "conv1": _conv("conv1", 1, 1, CONV1.out_channels, CONV1.in_size, CONV1.in_size, CONV1.padding),
    "conv2": _conv2(CONV2.in_channels),
    # the small folding's conv2: 3 channels per cycle, 2 passes
    "conv2_par3": _conv2(3),
    "odd_preload": _conv("convx", 2, 2, 3, 8, 6, 1, preload=True),
    "odd_par1": _conv("convx", 4, 1, 3, 8, 6, 1),  # one channel per cycle: 4 passes
    # output-channel parallelism: conv1 a window per cycle; conv2 at several foldings, some
    # with the multipliers in logic
    "conv1_opar6": _conv("conv1", 1, 1, CONV1.out_channels, CONV1.in_size, CONV1.in_size, CONV1.padding,
                         opar=6),
    "conv2_opar2_lut": _conv2(6, opar=2, use_dsp=0),  # the default folding's conv2
    "conv2_par3_opar4_lut": _conv2(3, opar=4, use_dsp=0),
    "conv2_par2_opar8": _conv2(2, opar=8),
    "conv2_par1_opar16_lut": _conv2(1, opar=16, use_dsp=0),
    # 2 groups of 3 (not a power of two), 2 passes, preloaded: the row layout of both paths
    "odd_opar3_preload": _conv("convx", 4, 2, 6, 8, 6, 1, opar=3, preload=True),
}
CONV_SOURCES = ("mul_reg.sv", "requant.sv", "conv/conv_padder.sv", "conv/line_buffer.sv",
                "conv/maxpool2x2.sv", "conv/conv3x3_relu_pool.sv")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_conv3x3_relu_pool(config):
    params, preload = CONFIGS[config]
    params = dict(params)
    if preload:
        # Fixed folder (the path is a build parameter); the files are rewritten before every
        # run and only read by $readmemh at simulation start.
        pdir = SIM_BUILD / f"conv_preload_{config}"
        shape = (params["OutChannels"], params["InChannels"], KERNEL, KERNEL)
        p = random_layer_params(params["LayerName"], shape, relu=True, padding=params["Padding"],
                                gen=torch.Generator().manual_seed(int(os.environ.get("SEED", "1"))))
        write_layer(p, pdir)
        params["ParamDir"] = str(pdir)
    run_sim("conv3x3_relu_pool", hdl_sources(*CONV_SOURCES), module="tb.test_conv3x3_relu_pool",
            parameters=params, extra_env={"EXPORT_DIR": os.environ.get("EXPORT_DIR", DEFAULT_PARAMS)})


@pytest.mark.parametrize("name,value", [("InChannelsPar", 0), ("InChannelsPar", 4), ("InChannelsPar", 7),
                                        ("OutChannelsPar", 0), ("OutChannelsPar", 3), ("OutChannelsPar", 32)])
def test_conv_bad_folding(name, value):
    """An InChannelsPar that does not divide conv2's InChannels (6), or an OutChannelsPar that
    does not divide its OutChannels (16), stops the elaboration with a message naming both
    (Verilator lint, warnings fatal as in ``make lint``)."""
    total = {"InChannelsPar": ("InChannels", CONV2.in_channels),
             "OutChannelsPar": ("OutChannels", CONV2.out_channels)}[name]
    verilator_env()
    res = subprocess.run(["verilator", "--lint-only", "--top-module", "conv3x3_relu_pool",
                          f"-GInChannels={CONV2.in_channels}", f"-GOutChannels={CONV2.out_channels}",
                          f"-G{name}={value}", *hdl_sources(*CONV_SOURCES)],
                         capture_output=True, text=True, check=False)
    assert res.returncode != 0, f"{name}={value} with {total[0]}={total[1]} was accepted"
    assert f"{name} = {value} does not divide {total[0]} = {total[1]}" in res.stderr, res.stderr
