"""fc_engine: cocotb tests and their pytest runners.

The DUT streams a pool2 ofmap in (one beat per pixel, all channels), runs fc1 (ReLU),
fc2 (ReLU), fc3 and argmax, and streams 1 + Fc3Out bytes out (class, fc3 codes).
Expected values come only from ``model.reference`` (``linear_acc``,
``LayerParams.requantize``, ``argmax_first``; ``forward`` for real pool2 inputs).

Runners:
* ``test_fc_engine_small``: small sizes, Lanes 1 and 4 (partial last groups), random
  parameters written through the parameter port (seeded, shuffled address order);
* ``test_fc_engine_small_inputs_par``: the same with InputsPar (K) 2 and 4 activations per
  step (fc2 / fc3 tail steps with missing inputs);
* ``test_fc_engine_real``: the real sizes, Lanes 18 (the top's default) and 8, parameters
  preloaded via ParamDir from a folder written by ``model.params.write_params`` (random,
  seeded), then, when the trained export exists, the same build on the real export with
  the real pool2 activations of Fashion-MNIST test images;
* ``test_fc_engine_real_inputs_par``: the same at (Lanes, InputsPar) pairs with K > 1; the
  fast-path rate check is exact against ``model.network.Folding.stage_cycles``.

The input buffer has two banks: back to back (no stalls), the next image must be taken in
while fc1 still reads the current one (``run_images``' rate check), and with the output
blocked exactly two images wait in the banks (``double_buffer_full``, small builds).

Replay a run with ``SEED=<seed printed by the runner / cocotb>``. The cocotb side reads the
build's sizes and ParamDir (the preloaded folder, empty if none) from its HDL parameters
(``tb.bench.hdl``); environment: FC_VARIANT (random|export), FC_IMAGES, FC_IMAGE_OFFSET
(first Fashion-MNIST test image for the export variant).
"""
from __future__ import annotations

import itertools
import logging
import os
import random
import shutil
import warnings

import cocotb
import pytest
import torch
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamFrame

from model.network import (DEFAULT_FOLDING, LAYER, LAYERS, NUM_CLASSES, REGION, REGION_NAMES,
                           SMALL_FOLDING, Folding, fc_layer_cycles)
from model.params import load_params, param_words, write_params
from model.reference import LayerParams, argmax_first, forward, linear_acc, random_layer_params
from tb.bench.axis_tb import CLK_NS, StreamTB
from tb.bench.hdl import hdl_param
from tb.bench.param_port import ParamPort
from tb.bench.paramsets import load_test_images
from tb.runner import DEFAULT_PARAMS, SIM_BUILD, hdl_sources, run_sim
from tb.bench.stream import HANDSHAKE_NAMES, HANDSHAKE_VARIANTS, variant_name

pytestmark = pytest.mark.seeded  # random stimulus from $SEED: SEEDS=N repeats it

FC = tuple(layer.name for layer in LAYERS if layer.kind == "fc")
CONVS = tuple(layer.name for layer in LAYERS if layer.kind == "conv")
SIZES = ("InChannels", "InPixels", "Fc1Out", "Fc2Out", "Fc3Out")  # fc_engine's size parameters
SMALL = {"InChannels": 4, "InPixels": 5, "Fc1Out": 13, "Fc2Out": 7, "Fc3Out": NUM_CLASSES}
REAL = {"InChannels": LAYER["conv2"].out_channels, "InPixels": LAYER["conv2"].pooled_size ** 2,
        **{f"Fc{k}Out": LAYER[name].out_channels for k, name in enumerate(FC, 1)}}
# requant latency + lane/feeder pipeline + control per layer, generous
DRAIN_CYCLES = 40


# =========================================================================== model side

class Dims:
    """HDL sizes of an fc_engine build: ``{"Lanes": ..., "InChannels": ..., ...}``."""

    def __init__(self, hdl: dict):
        self.lanes = int(hdl["Lanes"])
        self.inputs_par = int(hdl.get("InputsPar", 1))  # K: activations per step
        self.cin = int(hdl["InChannels"])
        self.pix = int(hdl["InPixels"])
        self.outs = (int(hdl["Fc1Out"]), int(hdl["Fc2Out"]), int(hdl["Fc3Out"]))
        self.ins = (self.cin * self.pix, self.outs[0], self.outs[1])

    @classmethod
    def of_build(cls) -> "Dims":
        """The sizes of the build being simulated (its HDL parameters)."""
        return cls({**{name: hdl_param(name) for name in ("Lanes", *SIZES)},
                    "InputsPar": hdl_param("InputsPar", 1)})

    def steps(self, k: int) -> int:
        """Steps per group of layer k: fc1 InPixels * InChannels / K, else ceil(In / K)."""
        if k == 0:
            return self.pix * (self.cin // self.inputs_par)
        return -(-self.ins[k] // self.inputs_par)

    def mac_cycles(self) -> int:
        """MAC cycles of one image: ceil(Out / Lanes) groups of Steps cycles per layer."""
        return sum(self.layer_cycles(k)[0] for k in range(3))

    def layer_cycles(self, k: int) -> tuple[int, int]:
        """(MAC cycles, all cycles) of layer k (0 fc1, 1 fc2, 2 fc3) of one image
        (``model.network.fc_layer_cycles``)."""
        return fc_layer_cycles(self.outs[k], self.steps(k), self.lanes, self.inputs_par)

    def image_cycles(self) -> int:
        """Cycles per image back to back (``model.network.Folding.stage_cycles``' fc model):
        per layer its MAC cycles, the last group's requant feed and the drain, plus 1."""
        return 1 + sum(self.layer_cycles(k)[1] for k in range(3))

    def shapes(self) -> dict[str, tuple[int, int]]:
        return {name: (o, i) for name, o, i in zip(FC, self.outs, self.ins)}


def expected(params: dict[str, LayerParams], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """fc1/fc2/fc3 codes and class of int64 activations ``x`` [N, In] (flatten order)."""
    out = {}
    a = x
    for name in FC:
        p = params[name]
        a = p.requantize(linear_acc(a, p.weight, p.zp_in), channel_dim=1)
        out[name] = a
    out["class"] = argmax_first(out["fc3"])
    return out


def random_fc_params(dims: Dims, gen: torch.Generator) -> dict[str, LayerParams]:
    return {name: random_layer_params(name, shape, relu=name != "fc3", gen=gen)
            for name, shape in dims.shapes().items()}


def corner_params(dims: Dims, fill: int, zp_in: int, xval: int) -> dict[str, LayerParams]:
    """All weights ``fill`` (127 / -128), every layer's zp_in ``zp_in``, and biases that
    cancel the accumulator of the all-``xval`` image except for 2*(o % 41), so that
    the outputs zp_out + o % 41 (scale 1/2, zp_out 100, above the ReLU clamp)
    expose every bit of the accumulator."""
    params = {}
    a = torch.full((1, dims.ins[0]), xval, dtype=torch.int64)
    for name, (out, inn) in dims.shapes().items():
        w = torch.full((out, inn), fill, dtype=torch.int64)
        acc = linear_acc(a, w, zp_in)[0]
        spread = torch.arange(out, dtype=torch.int64) % 41
        p = LayerParams(name=name, weight=w, bias_q=-acc + 2 * spread,
                        m24=torch.full((out,), 1 << 23, dtype=torch.int64),
                        shift=torch.full((out,), 24, dtype=torch.int64),
                        zp_in=zp_in, zp_out=100, relu=name != "fc3")
        a = p.requantize(linear_acc(a, w, zp_in), channel_dim=1)
        params[name] = p
    return params


def tie_fc3(dims: Dims, codes: list[int]) -> LayerParams:
    """fc3 with zero weights and biases 2*code: fc3 outputs clamp(code) for any input."""
    n, inn = dims.outs[2], dims.ins[2]
    codes = (codes * n)[:n]
    return LayerParams(name="fc3", weight=torch.zeros((n, inn), dtype=torch.int64),
                       bias_q=2 * torch.tensor(codes, dtype=torch.int64),
                       m24=torch.full((n,), 1 << 23, dtype=torch.int64),
                       shift=torch.full((n,), 24, dtype=torch.int64),
                       zp_in=int(codes[0]) & 0xFF, zp_out=0, relu=False)


# =========================================================================== cocotb side

class TB(StreamTB):
    """fc_engine between an AxiStreamSource and an AxiStreamSink, its parameter port, a
    monitor of the input, the build's sizes and this test's seed."""

    P_IDLE, P_BACKPRESSURE = 0.4, 0.5

    def __init__(self, dut):
        log = logging.getLogger("cocotb.tb")
        log.setLevel(logging.INFO)
        super().__init__(dut, log=log)
        self.dims = Dims.of_build()
        self.param_dir = hdl_param("ParamDir", "")
        self.variant = os.environ.get("FC_VARIANT", "random")
        # cocotb derives a per-test seed from the regression seed (COCOTB_RANDOM_SEED,
        # replay with SEED=N) and the test name; torch seeds must fit in 64 bits.
        self.seed = cocotb.RANDOM_SEED % (1 << 63)
        self.port = ParamPort(dut)
        self.in_done_ns: list[float] = []
        cocotb.start_soon(self._monitor_input())

    async def _monitor_input(self):
        """Time of every image's last input beat (for latency / throughput figures)."""
        beats = 0
        while True:
            await RisingEdge(self.dut.clk_i)
            if self.dut.s_axis_tvalid.value == 1 and self.dut.s_axis_tready.value == 1:
                beats += 1
                if beats % self.dims.pix == 0:
                    self.in_done_ns.append(get_sim_time("ns"))

    async def reset(self, cycles: int = 5, settle: int = 2):
        await super().reset(cycles, settle)

    # ------------------------------------------------------------ parameters
    async def write_layer(self, k: int, p: LayerParams, rng: random.Random | None = None,
                          weights: bool = True):
        """Write layer ``k``'s memories (0 fc1 .. 2 fc3) through the parameter port (weights
        in a shuffled address order when ``rng`` is given: the port must decode o*In + i by
        address); ``weights`` False: all but the weights."""
        regions = tuple(r for r in REGION_NAMES if weights or r != "weight")
        await self.port.write(p, layer=k, rng=rng, regions=regions)

    async def write_params(self, params: dict[str, LayerParams], rng: random.Random | None = None,
                           weights: bool = True):
        """:meth:`write_layer` for fc1, fc2, fc3."""
        for k, name in enumerate(FC):
            await self.write_layer(k, params[name], rng, weights)

    # ------------------------------------------------------------ images
    def frame(self, x: torch.Tensor) -> AxiStreamFrame:
        """One image, ``x`` int64 [InChannels*InPixels] in flatten order c*InPixels + p:
        beat p carries channel c in byte c."""
        beats = x.view(self.dims.cin, self.dims.pix).T.contiguous().flatten()
        return AxiStreamFrame(bytes(beats.tolist()))

    async def run_images(self, params: dict[str, LayerParams], x: torch.Tensor, label: str,
                         check_rate: bool = False, send: bool = True) -> list[float]:
        """Stream images ``x`` [N, In] back to back and compare every output byte
        (``send`` False: the caller has queued the frames already).

        Returns:
            the sim time (ns) at which each result frame was complete.
        """
        exp = expected(params, x)
        n_img = x.shape[0]
        nout = self.dims.outs[2]
        for n in range(n_img if send else 0):
            await self.source.send(self.frame(x[n]))
        # per frame: a whole image's MAC cycles, slowed down by pauses, plus slack
        timeout_ns = (3 * self.dims.mac_cycles() + 3 * DRAIN_CYCLES + 200) * CLK_NS
        t_out = []
        for n in range(n_img):
            frame = await with_timeout(self.sink.recv(), timeout_ns, "ns")
            t_out.append(get_sim_time("ns"))
            got = list(frame.tdata)
            assert len(got) == 1 + nout, (
                f"{label} image {n}: output frame has {len(got)} beats, expected {1 + nout} "
                f"(tlast misplaced)")
            errors = []
            e_cls = int(exp["class"][n])
            for k in range(nout):
                e, a = int(exp["fc3"][n, k]), got[1 + k]
                if e != a:
                    errors.append(f"{label} image {n} layer fc3 neuron {k}: expected {e}, "
                                  f"actual {a}, difference {a - e}")
            if got[0] != e_cls:
                errors.append(f"{label} image {n} layer argmax: expected class {e_cls}, actual "
                              f"{got[0]}, difference {got[0] - e_cls} "
                              f"(expected fc3 {exp['fc3'][n].tolist()}, actual {got[1:]})")
            assert not errors, "\n".join(errors[:12])
        await ClockCycles(self.dut.clk_i, 20)
        assert self.sink.empty(), f"{label}: unexpected output beats after {n_img} images"
        if check_rate and n_img >= 3:
            steps = [round((b - a) / CLK_NS) for a, b in zip(t_out[1:], t_out[2:])]
            lat = round((t_out[0] - self.in_done_ns[-n_img]) / CLK_NS)
            bound = self.dims.mac_cycles() + 3 * DRAIN_CYCLES
            self.log.info("%s: steady-state %s cycles/image (MAC cycles %d), latency %d cycles "
                          "from the last input beat to the last output beat",
                          label, steps, self.dims.mac_cycles(), lat)
            assert max(steps) <= bound, (
                f"{label}: throughput {max(steps)} cycles/image exceeds {bound}")
            if self.dims.inputs_par > 1:
                assert set(steps) == {self.dims.image_cycles()}, (
                    f"{label}: {steps} cycles/image, the cycle model says "
                    f"{self.dims.image_cycles()}")
            # double buffer: image 1 fills the second bank while fc1 reads image 0
            gap = round((self.in_done_ns[-n_img + 1] - self.in_done_ns[-n_img]) / CLK_NS)
            fc1 = self.dims.layer_cycles(0)[0]
            assert gap < fc1, (
                f"{label}: image 1 was taken in {gap} cycles after image 0, fc1 takes {fc1}: "
                f"the input is not double-buffered (conv2 would wait for fc1)")
        return t_out


def _random_inputs(dims: Dims, n: int, gen: torch.Generator) -> torch.Tensor:
    x = torch.randint(0, 256, (n, dims.ins[0]), generator=gen)
    x[0] = 0          # directed: all-zero and all-255 images first
    if n > 1:
        x[1] = 255
    return x


@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def run_stream(dut, idle: bool, backpressure: bool, pattern: str):
    """Back-to-back images with random (or preloaded / real export) parameters, in every
    handshake variant of ``tb.bench.stream`` (fixed 3-of-4 and random idle/backpressure)."""
    tb = TB(dut)
    variant_no = HANDSHAKE_VARIANTS.index((idle, backpressure, pattern))
    seed = tb.seed
    tb.log.info("torch seed %d (cocotb's per-test RANDOM_SEED mod 2**63), variant %s, "
                "handshakes %s", seed, tb.variant, variant_name(idle, backpressure, pattern))
    gen = torch.Generator().manual_seed(seed)
    tb.set_pauses(idle, backpressure, random.Random(seed), pattern)
    await tb.reset()

    # real sizes: 4.8k (Lanes 18) to 10k (Lanes 8) cycles per image: 3 images per stalled variant
    default_n = 8 if tb.dims.ins[0] < 100 else (3 if idle or backpressure else 4)
    n_img = int(os.environ.get("FC_IMAGES", default_n))
    if tb.variant == "export":
        params = load_params(tb.param_dir)
        offset = int(os.environ.get("FC_IMAGE_OFFSET", 0)) + 64 * variant_no
        n_img = n_img if (idle or backpressure) else 4 * n_img
        images, labels, _ = load_test_images(offset, n_img)
        ref = forward(params, images)
        x = ref["pool2"].flatten(1)
        label = f"export images {offset}..{offset + n_img - 1}"
        tb.log.info("%s: labels %s, reference classes %s", label, labels.tolist(),
                    ref["class"].tolist())
    else:
        if tb.param_dir:
            params = load_params(tb.param_dir)   # preloaded by the HDL via ParamDir
            label = "preloaded random params"
        else:
            params = random_fc_params(tb.dims, gen)
            await tb.write_params(params, random.Random(seed))
            label = "port-written random params"
        x = _random_inputs(tb.dims, n_img, gen)
    label += f", {variant_name(idle, backpressure, pattern)}"
    await tb.run_images(params, x, label, check_rate=not (idle or backpressure))


@cocotb.test()
async def run_corners(dut):
    """Directed corners through the parameter port: weights all 127 / all -128 with
    inputs all 0 / 255 (largest accumulators), then argmax ties in fc3."""
    tb = TB(dut)
    seed = tb.seed
    tb.log.info("torch seed %d (cocotb's per-test RANDOM_SEED mod 2**63)", seed)
    gen = torch.Generator().manual_seed(seed)
    tb.set_pauses(True, True, random.Random(seed))
    await tb.reset()
    d = tb.dims
    prev_fill = None
    for fill, zp_in, xval in ((127, 0, 255), (127, 255, 0), (-128, 0, 255), (-128, 255, 0)):
        params = corner_params(d, fill, zp_in, xval)
        await tb.write_params(params, weights=fill != prev_fill)  # the port is slow at real sizes
        prev_fill = fill
        x = torch.stack([torch.full((d.ins[0],), xval, dtype=torch.int64),
                         torch.full((d.ins[0],), 255 - xval, dtype=torch.int64),
                         torch.randint(0, 256, (d.ins[0],), generator=gen)])
        await tb.run_images(params, x, f"corner w={fill} zp_in={zp_in} x={xval}")

    params = random_fc_params(d, gen)
    for k in (0, 1):
        await tb.write_layer(k, params[FC[k]])
    first = True
    for codes in ([77], [3, 250, 7, 250, 1, 250], [0] * 9 + [255], [10, 20, 999, 30, 999],
                  [-5], [0, 1]):
        params["fc3"] = tie_fc3(d, codes)
        await tb.write_layer(2, params["fc3"], weights=first)
        first = False
        x = torch.randint(0, 256, (2, d.ins[0]), generator=gen)
        await tb.run_images(params, x, f"argmax ties fc3 codes {codes}")


@cocotb.skipif(hdl_param("InChannels", None) != SMALL["InChannels"],
               reason="tens of thousands of cycles at the real sizes: small builds only")
@cocotb.test()
async def double_buffer_full(dut):
    """The output blocked (sink paused): image 0's result waits on m_axis, image 1 stops
    before fc3 (the result registers are busy), images 2 and 3 fill the two input banks as
    fc1 releases them, and the input then stalls: exactly 4 of 6 images taken in. Released,
    all 6 results arrive in order, bit-exact."""
    tb = TB(dut)
    gen = torch.Generator().manual_seed(tb.seed)
    await tb.reset()
    params = random_fc_params(tb.dims, gen)
    await tb.write_params(params, random.Random(tb.seed))
    x = torch.randint(0, 256, (6, tb.dims.ins[0]), generator=gen)
    tb.sink.pause = True
    accepted0 = len(tb.in_done_ns)
    for n in range(x.shape[0]):
        await tb.source.send(tb.frame(x[n]))
    await ClockCycles(dut.clk_i, 3 * tb.dims.mac_cycles() + 6 * DRAIN_CYCLES)
    taken = len(tb.in_done_ns) - accepted0
    assert taken == 4, (f"output blocked: {taken} images taken in, expected 4 (2 computed up to "
                        f"the result registers, 2 waiting in the input banks)")
    assert dut.s_axis_tready.value == 0, "s_axis_tready high with both input banks full"
    assert dut.m_axis_tvalid.value == 1, "image 0's result not offered on m_axis"
    tb.sink.pause = False
    await tb.run_images(params, x, "output blocked, then released", send=False)


@cocotb.skipif(hdl_param("InChannels", None) != SMALL["InChannels"],
               reason="writes every word three times: small builds only (test_fc_engine_small)")
@cocotb.test()
async def param_port(dut):
    """Parameter port: writes with ``param_layer_i = 3`` (no such layer), past the end of every
    memory and with ``param_we_i`` low change nothing; every word first written all ones and
    all zeros, then its value (the last write wins); then the images match the reference."""
    tb = TB(dut)
    gen = torch.Generator().manual_seed(tb.seed)
    rng = random.Random(tb.seed)
    await tb.reset()
    params = random_fc_params(tb.dims, gen)
    put = tb.port.put
    for pattern in (0xFFFFFFFF, 0x00000000):
        for k, name in enumerate(FC):
            for region, words in param_words(params[name]).items():
                for addr in range(len(words)):
                    await put(REGION[region].code, addr, pattern, layer=k)
    await tb.write_params(params)
    for k, name in enumerate(FC):
        for region, words in param_words(params[name]).items():
            sel, n = REGION[region].code, len(words)
            for addr in sorted({n, n + 1, n + rng.randrange(1, 64), (1 << 17) - 1}):
                await put(sel, addr, rng.getrandbits(32), layer=k)  # past the end: ignored
            await put(sel, rng.randrange(n), rng.getrandbits(32), we=0, layer=k)  # no write enable
            await put(sel, rng.randrange(n), rng.getrandbits(32), layer=3)  # layer 3 does not exist
    await tb.port.idle()
    x = _random_inputs(tb.dims, 3, gen)
    await tb.run_images(params, x, "after all-ones/zeros, out-of-range, layer-3 and we=0 writes")


# =========================================================================== pytest runners

FC_SOURCES = ("mul_reg.sv", "requant.sv", "fc/fc_lane.sv", "fc/fc_param_decode.sv", "fc/fc_sequencer.sv",
              "fc/fc_requant_feeder.sv", "fc/fc_result_tx.sv", "fc/fc_engine.sv")


def _fresh_seed() -> int:
    env = os.environ.get("SEED")
    return int(env) if env else random.SystemRandom().randrange(1 << 31)


@pytest.mark.parametrize("lanes", [1, 4])
def test_fc_engine_small(lanes):
    """Small sizes; 1 lane and 4 lanes (partial last groups), parameters through the port."""
    run_sim("fc_engine", hdl_sources(*FC_SOURCES), module="tb.test_fc_engine",
            parameters={**SMALL, "Lanes": lanes}, extra_env={"FC_VARIANT": "random"})


@pytest.mark.parametrize("lanes,inputs_par", [(1, 4), (3, 2), (4, 4)])
def test_fc_engine_small_inputs_par(lanes, inputs_par):
    """Small sizes with K activations per step: fc1 reads K of the 4 channels per step, fc2
    (In 13) and fc3 (In 7) end in tail steps with missing inputs; parameters through the port."""
    run_sim("fc_engine", hdl_sources(*FC_SOURCES), module="tb.test_fc_engine",
            parameters={**SMALL, "Lanes": lanes, "InputsPar": inputs_par},
            extra_env={"FC_VARIANT": "random"})


def _run_real(lanes: int, inputs_par: int = 1):
    """Real sizes, parameters preloaded via ParamDir: random, then the trained export."""
    seed = _fresh_seed()
    print(f"real sizes Lanes {lanes} InputsPar {inputs_par}: seed {seed} (replay with SEED={seed})")
    # One fixed folder so both phases share one Verilator build ($readmemh runs at t=0).
    param_dir = SIM_BUILD / (f"fc_engine_params_{lanes}" if inputs_par == 1 else
                             f"fc_engine_params_{lanes}_k{inputs_par}")
    if param_dir.exists():
        shutil.rmtree(param_dir)
    gen = torch.Generator().manual_seed(seed)
    rand = {name: random_layer_params(name, LAYER[name].weight_shape, relu=True, padding=LAYER[name].padding,
                                      gen=gen) for name in CONVS}
    par = {} if inputs_par == 1 else {"InputsPar": inputs_par}
    dims = Dims({**REAL, "Lanes": lanes, **par})
    rand.update(random_fc_params(dims, gen))
    write_params(rand, param_dir)
    hdl = {**REAL, "Lanes": lanes, **par, "ParamDir": str(param_dir)}
    run_sim("fc_engine", hdl_sources(*FC_SOURCES), module="tb.test_fc_engine", parameters=hdl,
            extra_env={"FC_VARIANT": "random"}, seed=seed)

    if not (DEFAULT_PARAMS / "manifest.json").is_file():
        warnings.warn(f"{DEFAULT_PARAMS} has no export yet: real-parameter phase not run")
        return
    shutil.rmtree(param_dir)
    param_dir.mkdir(parents=True)
    for f in itertools.chain(DEFAULT_PARAMS.glob("*.mem"), [DEFAULT_PARAMS / "manifest.json"]):
        shutil.copy(f, param_dir / f.name)
    run_sim("fc_engine", hdl_sources(*FC_SOURCES), module="tb.test_fc_engine", parameters=hdl,
            extra_env={"FC_VARIANT": "export"}, testcase="run_stream", seed=seed)


@pytest.mark.parametrize("folding", [DEFAULT_FOLDING, SMALL_FOLDING], ids=["default", "small"])
def test_fc_engine_real(folding):
    """Real sizes, parameters preloaded via ParamDir: random, then the trained export, at the
    top's default and small foldings (``model.network``)."""
    _run_real(folding.lanes, folding.fc_inputs_par)


REAL_INPUTS_PAR = [(6, 16), (5, 16), (15, 8), (7, 4)]  # (12, 8) is the default folding's


@pytest.mark.parametrize("lanes,inputs_par", REAL_INPUTS_PAR)
def test_fc_engine_real_inputs_par(lanes, inputs_par):
    """Real sizes with K activations per step (fc2 In 120 and fc3 In 84 end in tail steps at
    K = 16 and 8; fc2 groups shorter than the requant feed at K = 16): as test_fc_engine_real;
    run_corners writes random fc1 / fc2 parameters through the port. The bench's cycle model
    is the one of ``model.network.Folding.stage_cycles``."""
    dims = Dims({**REAL, "Lanes": lanes, "InputsPar": inputs_par})
    model = Folding(lanes, DEFAULT_FOLDING.conv2_par, inputs_par).stage_cycles()["fc"]
    assert dims.image_cycles() == model, (dims.image_cycles(), model)
    _run_real(lanes, inputs_par)
