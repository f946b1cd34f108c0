"""cocotb tests + pytest runner for the accelerator top ``fashion_lenet_accel``.

The top is built with ``ParamDir`` = the export folder (``$PARAMS``, default
``model/artifacts/export``; until that exists a chained random parameter set written by
``model.params.write_params`` into ``sim_build/random_export``), so every memory is preloaded
and no test needs the ~81k AXI4-Lite writes of a full parameter load.

Tests (cocotb runs them in this order in one simulation):

* ``test_csr``: ID, CTRL scratch, idle STATUS; SLVERR for unmapped and read-only writes.
* ``test_csr_bounds``: every word just outside a mapped range (each region's end and its
  power-of-two aliases, CSR aliases, layer slots 6..15) answers SLVERR to writes and reads and
  the refused writes change nothing (CSRs, then an image bit-exact).
* ``test_csr_handshakes``: CTRL bit patterns and byte lanes, CYCLE_COUNT from reset, partial
  FRAME_ERRORS writes, reads of unmapped and parameter words, with every AXI4-Lite channel
  stalled in turn (fixed 3-of-4 and random pause patterns).
* ``test_images``: ``$IMAGES`` real Fashion-MNIST test images from ``$OFFSET``, streamed back to
  back; the 11 result beats of every image (class, fc3 codes 0..9) are compared with
  ``model.reference.forward``. The CSRs IMAGES_DONE, LAST_CYCLES, STATUS are cross-checked.
  ``$RESULTS`` (optional): JSON file receiving per-image results (used by scripts/sim.py).
* ``test_images_stalls``: a few images with random input idles and output backpressure; LAST_CYCLES
  of every image equals the first-pixel -> last-result distance seen by the test bench, and
  STATUS.busy is set mid-image.
* ``test_reset_mid_image``: reset asserted mid-image, mid-convolution and mid-FC; no result of
  the aborted image appears and the next image is bit-exact.
* ``test_malformed_frames``: frames with tlast early, mid-row or missing at pixel 784 are
  dropped and counted in FRAME_ERRORS; the good image after each is bit-exact.
* ``test_stages``: a few images with the inter-stage streams monitored (conv1 and conv2 before
  pooling, pool1, pool2) and the fc requant output; a mismatch names image, layer, channel,
  row, column. ``$PARAM_WRITES`` (optional): AXI4-Lite writes applied first (one 64-bit hex
  word ``address << 32 | data`` per line, the regression harness's format);
  ``$STAGE_REPORT`` (optional): JSON file receiving the first difference of every failing
  image (used by tb/localize.py).
* ``test_axil_params``: conv1, conv2 and fc3 entirely overwritten through AXI4-Lite with
  seeded random parameters (``model.reference.random_layer_params``), then images checked
  against the reference of the modified set; the preloaded values are restored after.
* ``test_handshakes``: ``$HANDSHAKE_IMAGES`` (2) images back to back in every handshake variant
  of ``tb/stream.py`` (no stall; input idle, output backpressure, both; fixed 3-of-4 and seeded
  random patterns): bit-exact, none lost/duplicated/reordered, sink empty, IMAGES_DONE.
* ``test_stress_images``: ``$STRESS_IMAGES`` (4 here; 1,000 in the slow ``test_top_stress``)
  images from ``$STRESS_OFFSET`` back to back under seeded random idle and backpressure: every
  result bit-exact, the count and order of the results, sink empty, IMAGES_DONE.
* ``test_param_reload``: parameter sets swapped over AXI4-Lite between images (P0 = preload,
  P1 = random conv1/conv2/fc2/fc3 and fc1 biases, requant, zero points and the weights of
  ``$RELOAD_FC1_ROWS`` (8; ``all``) neurons); ``$RELOAD_IMAGES`` (3) images alternate P0, P1,
  P0, ..., each against the reference of the set it ran with.
* ``test_dut_stops_answering``: m_axis_tvalid or s_axis_tready forced to 0 (cocotb Force):
  the bench's result wait raises SimTimeoutError after 50 us naming the image and the stream
  states; released and reset, the image is bit-exact.

Foldings (HDL parameters ``Lanes``, ``Conv2InChannelsPar``): ``test_top`` runs every test at the
HDL defaults (18, 3) and a subset at the earlier folding (8, 6); (3, 2) is a slow variant.
``run_top`` passes the folding to the cocotb side (``LANES``, ``CONV2_PAR``), where
``test_images`` checks the cycles per image against :func:`stage_cycles`.

Replay a run with ``SEED=<seed printed by cocotb>``; run one cocotb test with
``COCOTB_TEST_FILTER=test_stages`` (env: IMAGES, OFFSET, STAGE_IMAGES, STAGE_OFFSET, PARAM_IMAGES).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import random
import time
from pathlib import Path

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.handle import Force, Release
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from model.network import LAYER_BASE, REGION_OFFSET
from model.params import axil_writes, write_params
from tb.bench.paramsets import (cached_params, load_test_images, random_network, random_params_dir,
                                resolve_params_dir)
from tb.bench.checks import compare_results, fail_report, torch_quantized_outputs
from tb.bench.stream import (HANDSHAKE_NAMES, HANDSHAKE_VARIANTS, pause_generator, sequence_errors,
                       set_pause, stream_rng, variant_name)
from tb.bench.stream import set_pauses as stream_set_pauses
from model.network import LAYER_NAMES
from model.params import load_params
from model.reference import forward, LayerParams, random_layer_params

CLOCK_NS = 10
ID_VALUE = 0x464C4E54
CSR = {"ID": 0x000, "CTRL": 0x004, "STATUS": 0x008, "IMAGES_DONE": 0x00C,
       "LAST_CYCLES": 0x010, "CYCLE_COUNT": 0x014, "FRAME_ERRORS": 0x018}
FRAME_TIMEOUT_US = 2000  # per result frame (an image needs ~0.2 ms at 100 MHz)
# FashionLeNet layer shapes: weight shape, ReLU, padding
SHAPES = {"conv1": ((6, 1, 3, 3), True, 1), "conv2": ((16, 6, 3, 3), True, 0),
          "fc1": ((120, 576), True, 0), "fc2": ((84, 120), True, 0), "fc3": ((10, 84), False, 0)}
# The top's foldings: (Lanes, Conv2InChannelsPar). DEFAULT_FOLDING = the HDL defaults.
DEFAULT_FOLDING = (18, 3)
UNFOLDED = (8, 6)   # the earlier folding: conv2 unfolded, 8 fc lanes
MACS_PER_IMAGE = (6 * 1 * 9 * 28 * 28 + 16 * 6 * 9 * 12 * 12     # conv1 42,336, conv2 124,416
                  + 576 * 120 + 120 * 84 + 84 * 10)                # fc1 69,120, fc2 10,080, fc3 840


def stage_cycles(lanes: int, conv2_par: int) -> dict[str, int]:
    """Cycles per image of each stage running alone, back to back, from the architecture.

    conv: a window takes OutChannels * InChannels / InChannelsPar cycles, every other padded
    pixel one. fc: per layer ceil(Out / Lanes) groups of In cycles, then the last group's sums
    pass the one requant unit serially (one cycle each) and ~8 cycles of pipeline drain; one
    more cycle per image to restart (measured by tb/test_fc_engine.py: 10,167 at Lanes 8,
    5,459 at 16, 4,775 at 18, each exactly this)."""
    conv1 = 28 * 28 * 6 + (30 * 30 - 28 * 28)
    conv2 = 12 * 12 * 16 * (6 // conv2_par) + (14 * 14 - 12 * 12)
    fc = 1
    for out, inn in ((120, 576), (84, 120), (10, 84)):
        groups = -(-out // lanes)
        fc += groups * inn + (out - (groups - 1) * lanes) + 8
    return {"conv1": conv1, "conv2": conv2, "fc": fc}


def multipliers(lanes: int, conv2_par: int) -> int:
    """Multipliers instantiated: conv1 9 (one input channel), conv2 9 per parallel input
    channel, one per fc lane."""
    return 9 + 9 * conv2_par + lanes


# Inter-stage streams, keyed by model.reference.forward output: (instance, signal prefix, [C, H, W])
STAGES = {
    "conv1": ("u_conv1", "pool", (6, 28, 28)),   # conv1 requantized, before its max pool
    "pool1": ("", "pool1_axis", (6, 14, 14)),
    "conv2": ("u_conv2", "pool", (16, 12, 12)),
    "pool2": ("", "pool2_axis", (16, 6, 6)),
}


# ------------------------------------------------------------------ parameter sets



# ------------------------------------------------------------------ comparison

def compare_stage(layer: str, ref: torch.Tensor, beats: list[int], image: int, offset: int,
                  max_msgs: int = 8, first: dict | None = None) -> list[str]:
    """Compare the beats of one image on an inter-stage stream with reference ``[C, H, W]``.

    ``first`` (optional) receives the earliest differing element in stream order (row, column,
    then channel): ``layer``, ``channel``, ``row``, ``col``, ``expected``, ``actual``.
    """
    c, h, w = ref.shape
    tag = f"image {image} (test set index {offset + image}) layer {layer}"
    if len(beats) != h * w:
        if first is not None:
            first.update(layer=layer, detail=f"{len(beats)} beats, expected {h * w}")
        return [f"{tag}: {len(beats)} beats, expected {h * w}"]
    got = torch.tensor([[(b >> (8 * ch)) & 0xFF for ch in range(c)] for b in beats],
                       dtype=torch.int64).T.reshape(c, h, w)
    diff = (got != ref).nonzero().tolist()
    if diff and first is not None:
        ch, y, x = min(diff, key=lambda d: (d[1], d[2], d[0]))
        first.update(layer=layer, channel=ch, row=y, col=x, expected=int(ref[ch, y, x]),
                     actual=int(got[ch, y, x]), differing=len(diff))
    errors = []
    for ch, y, x in diff:
        e, a = int(ref[ch, y, x]), int(got[ch, y, x])
        errors.append(f"{tag} channel {ch} position (row {y}, col {x}): expected {e} actual {a} "
                      f"(diff {a - e:+d})")
    if len(errors) > max_msgs:
        errors = errors[:max_msgs] + [f"{tag}: ... {len(errors) - max_msgs} more mismatches"]
    return errors


# ------------------------------------------------------------------ test bench

def dut_signal(dut, path: str):
    """The DUT's signal at dotted ``path`` (``"u_fc.rq_out"``). In Yosys's flattened netlist of
    the top (``scripts/mutate.py``) the hierarchy is gone and the same signal is the escaped
    top-level name ``\\u_fc.rq_out``; that is looked up when the hierarchical path is missing.

    Raises:
        AttributeError: neither exists.
    """
    handle = dut
    try:
        for part in path.split("."):
            handle = getattr(handle, part)
        return handle
    except AttributeError:
        if "." not in path:
            raise
        try:
            return dut._id(f"\\{path} ", extended=False)
        except (AttributeError, KeyError) as exc:
            raise AttributeError(f"{dut._name} has no signal {path}") from exc


class StreamProbe:
    """Records tdata of every handshake (tvalid && tready) on an internal stream."""

    def __init__(self, clk, data, valid, ready):
        self.clk, self.data, self.valid, self.ready = clk, data, valid, ready
        self.beats: list[int] = []
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            if int(self.valid.value) and int(self.ready.value):
                self.beats.append(int(self.data.value))

    def stop(self):
        self._task.cancel()


class FcProbe:
    """Records every requantized neuron inside ``fc_engine`` (white box: its requant output
    ``rq_out_valid``/``rq_out``, neuron ``rq_tag``, running layer ``layer_q``)."""

    LAYER_NAMES = ("fc1", "fc2", "fc3")

    def __init__(self, dut):
        self.clk, self.valid, self.layer, self.tag, self.data = (
            dut.clk_i, *(dut_signal(dut, f"u_fc.{n}") for n in ("rq_out_valid", "layer_q", "rq_tag", "rq_out")))
        self.outputs: dict[str, list[tuple[int, int]]] = {name: [] for name in self.LAYER_NAMES}
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            if int(self.valid.value):
                self.outputs[self.LAYER_NAMES[int(self.layer.value)]].append(
                    (int(self.tag.value), int(self.data.value)))

    def stop(self):
        self._task.cancel()

    def compare(self, ref: dict, count: int, offset: int, first_bad: dict, max_msgs: int = 8) -> list[str]:
        """Messages for every fc neuron that differs from ``ref`` (``forward`` output);
        ``first_bad[n]`` gets the first difference of image n unless an earlier stage has one."""
        errors = []
        for layer in self.LAYER_NAMES:
            n_out = ref[layer].shape[1]
            recs = self.outputs[layer]
            if len(recs) != count * n_out:
                errors.append(f"layer {layer}: {len(recs)} neurons for {count} images, expected {n_out} each")
                continue
            for n in range(count):
                tag = f"image {n} (test set index {offset + n}) layer {layer}"
                got = dict(recs[n * n_out:(n + 1) * n_out])
                if sorted(got) != list(range(n_out)):
                    errors.append(f"{tag}: neurons {sorted(got)[:5]}... instead of 0..{n_out - 1} once each")
                    first_bad.setdefault(n, {"layer": layer, "detail": "neurons missing or repeated"})
                    continue
                bad = [(j, int(ref[layer][n][j]), got[j]) for j in range(n_out) if got[j] != ref[layer][n][j]]
                if bad:
                    j, e, a = bad[0]
                    first_bad.setdefault(n, {"layer": layer, "neuron": j, "expected": e, "actual": a,
                                             "differing": len(bad)})
                errors += [f"{tag} neuron {j}: expected {e} actual {a} (diff {a - e:+d})" for j, e, a in bad[:max_msgs]]
                if len(bad) > max_msgs:
                    errors.append(f"{tag}: ... {len(bad) - max_msgs} more mismatches")
        return errors


class TB:
    """Clock, reset, AXI4-Stream source/sink and AXI4-Lite master around the top."""

    def __init__(self, dut):
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.log.setLevel(logging.INFO)
        cocotb.start_soon(Clock(dut.clk_i, CLOCK_NS, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk_i, dut.rst_ni,
                                      reset_active_level=False)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False)
        for drv in (self.source, self.sink, self.axil.write_if, self.axil.read_if):
            drv.log.setLevel(logging.WARNING)
        self.params_dir = Path(os.environ["PARAMS_DIR"]) if os.environ.get("PARAMS_DIR") else resolve_params_dir()
        self.params = cached_params(str(self.params_dir))
        self.log.info("parameters: %s", self.params_dir)

    async def reset(self):
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await ClockCycles(self.dut.clk_i, 2)

    def set_pauses(self, idle: bool, backpressure: bool, rng: random.Random, pattern: str = "random",
                   p: float = 0.3):
        """Input idles / output backpressure (``tb.stream.pause_generator``: ``pattern``
        ``random`` with pause probability ``p`` from ``rng``, or ``fixed3of4``)."""
        stream_set_pauses(self.source, self.sink, idle, backpressure, pattern, rng, p, p, log=self.log)

    async def read(self, addr: int) -> tuple[int, AxiResp]:
        try:
            resp = await with_timeout(self.axil.read(addr, 4), 10, "us")
        except SimTimeoutError as exc:
            raise SimTimeoutError(f"AXI4-Lite read 0x{addr:06x}: no response within 10 us "
                                  f"({self.axil_state()})") from exc
        return int.from_bytes(resp.data, "little"), resp.resp

    def axil_state(self) -> str:
        """The AXI4-Lite handshake signals now, for timeout messages."""
        d = self.dut
        names = ("awvalid", "awready", "wvalid", "wready", "bvalid", "bready", "arvalid", "arready",
                 "rvalid", "rready")
        return " ".join(f"{n}={int(getattr(d, 's_axil_' + n).value)}" for n in names)

    async def write(self, addr: int, value: int, nbytes: int = 4) -> AxiResp:
        try:
            resp = await with_timeout(self.axil.write(addr, value.to_bytes(4, "little")[:nbytes]), 10, "us")
        except SimTimeoutError as exc:
            raise SimTimeoutError(f"AXI4-Lite write 0x{addr:06x}: no response within 10 us "
                                  f"({self.axil_state()})") from exc
        return resp.resp

    async def write_all(self, writes: list[tuple[int, int]], what: str) -> None:
        """AXI4-Lite ``(address, data)`` writes, pipelined; every response must be OKAY."""
        tasks = [(addr, cocotb.start_soon(self.axil.write(addr, (data & 0xFFFFFFFF).to_bytes(4, "little"))))
                 for addr, data in writes]
        for addr, task in tasks:
            resp = (await with_timeout(task, 1000, "us")).resp
            assert resp == AxiResp.OKAY, f"{what}: parameter write at 0x{addr:06x} answered {resp}"
        # The last write reaches its memory a few cycles after its B response (axil_regs'
        # param_we_q, then the block's registered port): a reset right away (the next cocotb
        # test's) would drop it.
        await ClockCycles(self.dut.clk_i, 8)

    async def load_layer(self, p: LayerParams):
        """Write every parameter of layer ``p`` through AXI4-Lite (pipelined), check OKAY."""
        await self.write_all(axil_writes(p), p.name)

    async def apply_param_writes(self, path: Path) -> int:
        """AXI4-Lite writes from ``path`` (``address << 32 | data`` per line, hex); returns the count."""
        words = [int(line, 16) for line in Path(path).read_text().split()]
        await self.write_all([(w >> 32, w) for w in words], str(path))
        self.log.info("%d parameter writes applied from %s", len(words), path)
        return len(words)

    async def run_images(self, images: torch.Tensor, read_csrs: bool = True, on_frame=None,
                         timeout_us: float = FRAME_TIMEOUT_US):
        """Stream ``images`` back to back; returns (result frames, per-image info).

        info[n]: ``done_ns`` (sim time of the last result beat), ``latency`` (LAST_CYCLES read
        right after the frame arrived, None if another image completed meanwhile),
        ``interval`` (cycles since the previous result, or since the start for the first).
        ``on_frame(n, beats, info_n)`` is called as each result frame arrives.

        Raises:
            SimTimeoutError: no result frame within ``timeout_us`` of the previous one; the
                message names the image and how far the input got.
        """
        done0, _ = await self.read(CSR["IMAGES_DONE"])

        async def send_all():
            for img in images:
                await self.source.send(AxiStreamFrame(bytes(img.flatten().tolist())))

        cocotb.start_soon(send_all())
        start_ns = get_sim_time("ns")
        frames, info = [], []
        for n in range(len(images)):
            try:
                frame = await with_timeout(self.sink.recv(), timeout_us, "us")
            except SimTimeoutError as exc:
                raise SimTimeoutError(
                    f"image {n} of {len(images)}: no result frame on m_axis within {timeout_us} us "
                    f"({n} results received; s_axis source {'idle' if self.source.idle() else 'still sending'}, "
                    f"{self.source.queue_occupancy_frames} frames queued; s_axis_tready={self.dut.s_axis_tready.value}, "
                    f"m_axis_tvalid={self.dut.m_axis_tvalid.value}): the accelerator stopped answering"
                ) from exc
            now = get_sim_time("ns")
            rec = {"done_ns": now, "latency": None,
                   "interval": round((now - (info[-1]["done_ns"] if info else start_ns)) / CLOCK_NS)}
            if read_csrs:
                done, _ = await self.read(CSR["IMAGES_DONE"])
                last, _ = await self.read(CSR["LAST_CYCLES"])
                if done == (done0 + n + 1) & 0xFFFFFFFF:
                    rec["latency"] = last
            frames.append(list(frame.tdata))
            info.append(rec)
            if on_frame:
                on_frame(n, frames[-1], rec)
        return frames, info


def image_range(default_count: int) -> tuple[int, int]:
    return int(os.environ.get("OFFSET", "0")), int(os.environ.get("IMAGES", str(default_count)))


def check_image_env(env: dict, testcase: str | None = None) -> None:
    """The test images a run's cocotb tests read lie in the test set: ``OFFSET``/``IMAGES``
    (test_images, default 10), ``STAGE_OFFSET``/``STAGE_IMAGES`` (test_stages) and, for a run
    of every test, ``OFFSET + 100``/``PARAM_IMAGES`` (test_axil_params, the furthest of the fixed
    offsets). Checked in the pytest process, before the build.

    Raises:
        model.settings.SettingError: one line naming the settings and the range.
    """
    from model.settings import check_image_range, env_int
    offset, count = env_int("OFFSET", 0, env), env_int("IMAGES", 10, env)
    check_image_range(offset, count)
    if testcase is None or "test_stages" in testcase:
        so, sc = env_int("STAGE_OFFSET", offset, env), env_int("STAGE_IMAGES", 2, env)
        check_image_range(so, sc, f"STAGE_OFFSET={so} STAGE_IMAGES={sc}")
    if testcase is None:
        pc = env_int("PARAM_IMAGES", 3, env)
        check_image_range(offset + 100, pc, f"OFFSET={offset} PARAM_IMAGES={pc} (test_axil_params reads "
                                            "PARAM_IMAGES images from OFFSET+100)")


def check_frames(tb: TB, params, images, frames, offset) -> list[str]:
    ref = forward(params, images)
    return compare_results(ref, frames, offset)


# ------------------------------------------------------------------ tests

@cocotb.test()
async def test_csr(dut):
    """ID/CTRL/STATUS read back; unmapped and read-only writes get SLVERR and change nothing."""
    tb = TB(dut)
    await tb.reset()
    assert await tb.read(CSR["ID"]) == (ID_VALUE, AxiResp.OKAY), "ID register"
    assert await tb.read(CSR["STATUS"]) == (0, AxiResp.OKAY), "STATUS not idle after reset"
    assert await tb.read(CSR["IMAGES_DONE"]) == (0, AxiResp.OKAY), "IMAGES_DONE not 0 after reset"
    c0, _ = await tb.read(CSR["CYCLE_COUNT"])
    c1, _ = await tb.read(CSR["CYCLE_COUNT"])
    assert c1 > c0, f"CYCLE_COUNT not counting ({c0} -> {c1})"
    assert await tb.write(CSR["CTRL"], 0xA5A5_0F0F) == AxiResp.OKAY
    assert (await tb.read(CSR["CTRL"]))[0] == 0xA5A5_0F0F, "CTRL scratch"
    for addr in (CSR["ID"], CSR["IMAGES_DONE"], 0x00001C, 0x0FFFFC, 0x600000, 0xFFFFFC,
                 LAYER_BASE["conv1"] + REGION_OFFSET["weight"] + 4 * 54,   # past conv1's 54 weights
                 LAYER_BASE["fc3"] + REGION_OFFSET["zp"] + 4):             # zp has one word
        resp = await tb.write(addr, 0xFFFF_FFFF)
        assert resp == AxiResp.SLVERR, f"write to unmapped/read-only 0x{addr:06x}: bresp {resp}, expected SLVERR"
    assert (await tb.read(CSR["ID"]))[0] == ID_VALUE, "ID changed by a refused write"
    assert (await tb.read(CSR["IMAGES_DONE"]))[0] == 0, "IMAGES_DONE changed by a refused write"
    assert await tb.read(0x600000) == (0, AxiResp.SLVERR), "unmapped read must answer SLVERR"
    await tb.write(CSR["CTRL"], 0)


def unmapped_words() -> list[int]:
    """Byte addresses just outside every mapped range: each region's first word past its
    element count and every power-of-two index above it, the CSR block's word 7 and its
    aliases (address bits 5..19), and the layer slots 6..15."""
    addrs = [0x00001C] + [1 << b for b in range(5, 20)] + [n << 20 for n in range(6, 16)]
    region_words = {"weight": 0x20000, "bias": 0x10000, "requant": 0xC000, "zp": 0x4000}
    for name, (wshape, _, _) in SHAPES.items():
        counts = {"weight": int(torch.Size(wshape).numel()), "bias": wshape[0], "requant": wshape[0], "zp": 1}
        for region, count in counts.items():
            top_word = region_words[region]
            indices = {count, count + 1, top_word - 1} | {1 << k for k in range(17) if count <= 1 << k < top_word}
            addrs += [LAYER_BASE[name] + REGION_OFFSET[region] + 4 * i for i in sorted(indices)]
    return addrs


@cocotb.test()
async def test_csr_bounds(dut):
    """Every word just outside a mapped range (:func:`unmapped_words`) answers SLVERR to a
    write and to a read (data 0), and the refused writes change nothing: the CSRs keep their
    values and an image afterwards is bit-exact."""
    tb = TB(dut)
    await tb.reset()
    addrs = unmapped_words()
    await tb.write(CSR["CTRL"], 0x5A5A_A5A5)
    for addr in addrs:
        resp = await tb.write(addr, 0xFFFF_FFFF)
        assert resp == AxiResp.SLVERR, f"write to unmapped 0x{addr:06x}: bresp {resp}, expected SLVERR"
        got = await tb.read(addr)
        assert got == (0, AxiResp.SLVERR), f"read of unmapped 0x{addr:06x}: {got}, expected (0, SLVERR)"
    assert (await tb.read(CSR["CTRL"]))[0] == 0x5A5A_A5A5, "CTRL changed by refused writes"
    assert (await tb.read(CSR["FRAME_ERRORS"]))[0] == 0, "FRAME_ERRORS changed by refused writes"
    await tb.write(CSR["CTRL"], 0)
    offset = int(os.environ.get("OFFSET", "0")) + 7
    images, _, _ = load_test_images(offset, 1)
    frames, _ = await tb.run_images(images)
    errors = check_frames(tb, tb.params, images, frames, offset)
    assert not errors, f"after {len(addrs)} refused writes: " + fail_report(errors)


@cocotb.test()
async def test_csr_handshakes(dut):
    """AXI4-Lite under every channel stalled (AW, W, B, AR, R in turn and together, fixed 3-of-4
    and seeded random patterns): CTRL takes walking ones, zeros and random words and each
    byte lane alone (wstrb); CYCLE_COUNT counts from reset, one per clock; FRAME_ERRORS
    refuses a partial write (SLVERR) and keeps its value; reads of unmapped words answer
    SLVERR with data 0, reads of parameter words OKAY with data 0."""
    tb = TB(dut)
    await tb.reset()
    # CYCLE_COUNT: 0 at reset release, then one per clock (the read itself takes a few cycles)
    c0, _ = await tb.read(CSR["CYCLE_COUNT"])
    assert c0 < 16, f"CYCLE_COUNT {c0} just after reset, expected a count from 0"
    await ClockCycles(dut.clk_i, 1000)
    c1, _ = await tb.read(CSR["CYCLE_COUNT"])
    assert 1000 <= c1 - c0 <= 1016, f"CYCLE_COUNT advanced {c1 - c0} in 1000 cycles + one read"
    rng = stream_rng(tb.log)
    channels = {"aw": tb.axil.write_if.aw_channel, "w": tb.axil.write_if.w_channel,
                "b": tb.axil.write_if.b_channel, "ar": tb.axil.read_if.ar_channel,
                "r": tb.axil.read_if.r_channel}
    words = [1 << k for k in range(32)] + [0, 0xFFFF_FFFF] + [rng.getrandbits(32) for _ in range(4)]
    for kind in ("none", "fixed3of4", "random"):
        for stalled in (["aw"], ["w"], ["b"], ["ar"], ["r"], list(channels)) if kind != "none" else [[]]:
            for name, ch in channels.items():
                set_pause(ch, pause_generator(kind, rng) if name in stalled else None)
            tag = f"pattern {kind}, stalled {'+'.join(stalled) or 'none'}"
            tb.log.info("AXI4-Lite CSR checks, %s", tag)
            for value in (words if kind == "none" else rng.sample(words, 6)):
                assert await tb.write(CSR["CTRL"], value) == AxiResp.OKAY, f"{tag}: CTRL write"
                got, resp = await tb.read(CSR["CTRL"])
                assert (got, resp) == (value, AxiResp.OKAY), \
                    f"{tag}: CTRL wrote 0x{value:08x} read 0x{got:08x} ({resp})"
            for lane in range(4):  # one byte lane: wstrb = 1 << lane, the others keep their value
                before = (await tb.read(CSR["CTRL"]))[0]
                byte = rng.getrandbits(8)
                resp = await with_timeout(tb.axil.write(CSR["CTRL"] + lane, bytes([byte])), 10, "us")
                assert resp.resp == AxiResp.OKAY, f"{tag}: CTRL byte {lane} write {resp.resp}"
                expected = (before & ~(0xFF << 8 * lane)) | (byte << 8 * lane)
                got = (await tb.read(CSR["CTRL"]))[0]
                assert got == expected, f"{tag}: CTRL byte lane {lane}: 0x{got:08x}, expected 0x{expected:08x}"
            errors, _ = await tb.read(CSR["FRAME_ERRORS"])
            resp = await with_timeout(tb.axil.write(CSR["FRAME_ERRORS"], b"\0\0"), 10, "us")
            assert resp.resp == AxiResp.SLVERR, f"{tag}: partial FRAME_ERRORS write answered {resp.resp}"
            assert (await tb.read(CSR["FRAME_ERRORS"]))[0] == errors, f"{tag}: FRAME_ERRORS changed"
            for addr in (0x00001C, 0x000020, 0x0FFFFC, 0x600000, 0xFFFFFC,
                         LAYER_BASE["conv1"] + REGION_OFFSET["weight"] + 4 * 54):
                assert await tb.read(addr) == (0, AxiResp.SLVERR), f"{tag}: read of unmapped 0x{addr:06x}"
            for layer in LAYER_BASE:
                for region in REGION_OFFSET:
                    addr = LAYER_BASE[layer] + REGION_OFFSET[region]
                    assert await tb.read(addr) == (0, AxiResp.OKAY), \
                        f"{tag}: read of {layer} {region} word 0 (0x{addr:06x}), expected OKAY with 0"
            assert (await tb.read(CSR["ID"]))[0] == ID_VALUE, f"{tag}: ID"
    for ch in channels.values():
        set_pause(ch, None)
    await tb.write(CSR["CTRL"], 0)


@cocotb.test()
async def test_images(dut):
    """Real test images back to back, every image's class and fc3 codes vs the reference."""
    tb = TB(dut)
    await tb.reset()
    offset, count = image_range(10)
    images, labels, classes = load_test_images(offset, count)
    tb.log.info("images %d..%d from %s", offset, offset + count - 1, tb.params_dir)
    ref = forward(tb.params, images)
    torch_ref = torch_quantized_outputs(tb.params_dir, images)
    results = []

    def record(n, beats, rec):
        rtl_cls = beats[0] if beats else -1
        exp = [int(ref["class"][n])] + ref["fc3"][n].tolist()
        torch_match = None
        if torch_ref is not None:
            torch_match = beats == [int(torch_ref["class"][n])] + torch_ref["fc3"][n].tolist()
        lab = int(labels[n])
        results.append({"index": offset + n, "label": lab, "label_name": classes[lab],
                        "predicted": rtl_cls, "ref_class": exp[0], "match": beats == exp,
                        "torch_match": torch_match, "fc3": beats[1:], "ref_fc3": exp[1:],
                        "latency_cycles": rec["latency"], "interval_cycles": rec["interval"]})
        tb.log.info("image %d label %d (%s) predicted %d rtl==ref %s rtl==torch %s (LAST_CYCLES %s)",
                    offset + n, lab, classes[lab], rtl_cls, "yes" if beats == exp else "no",
                    {None: "n/a", True: "yes", False: "no"}[torch_match], rec["latency"])

    def summarize(error: str | None = None) -> dict:
        """Summary over the images received so far; written to $RESULTS for scripts/sim.py."""
        lat = [r["latency_cycles"] for r in results if r["latency_cycles"] is not None]
        summary = {"images": len(results), "requested": count, "offset": offset,
                   "params": str(tb.params_dir), "error": error,
                   "matches": sum(r["match"] for r in results),
                   "torch_matches": None if torch_ref is None else sum(bool(r["torch_match"]) for r in results),
                   "correct": sum(r["predicted"] == r["label"] for r in results),
                   "first_latency_cycles": results[0]["latency_cycles"] if results else None,
                   "mean_latency_cycles": sum(lat) / len(lat) if lat else None,
                   # back-to-back throughput: spacing of consecutive results (needs >= 2 images)
                   "mean_interval_cycles": sum(r["interval_cycles"] for r in results[1:]) / (len(results) - 1)
                   if len(results) > 1 else None}
        if os.environ.get("RESULTS"):
            Path(os.environ["RESULTS"]).write_text(json.dumps({"summary": summary, "images": results}, indent=1))
        return summary

    try:
        frames, info = await tb.run_images(images, on_frame=record)
    except Exception as exc:  # e.g. a result timeout: keep the images that did complete
        summarize(f"{type(exc).__name__}: {exc}")
        raise
    errors = compare_results(ref, frames, offset)
    summary = summarize()
    tb.log.info("summary: %s", summary)
    rate_error = check_rate(tb, results)

    # CSR cross-checks
    done, _ = await tb.read(CSR["IMAGES_DONE"])
    status, _ = await tb.read(CSR["STATUS"])

    if errors:
        # localize: rerun the first failing image with the inter-stage streams monitored
        bad = next(n for n, r in enumerate(results) if not r["match"]) if not all(
            r["match"] for r in results) else 0
        stage_errors = await run_stages(tb, tb.params, images[bad:bad + 1], offset + bad)
        raise AssertionError(
            fail_report(errors) + f"\nrerun of image {offset + bad} with stage monitors:\n  " +
            ("\n  ".join(stage_errors[:12]) if stage_errors else "all stages and outputs match on the rerun")
            + f"\n(replay one image: COCOTB_TEST_FILTER=test_stages STAGE_OFFSET={offset + bad} "
              "STAGE_IMAGES=1 pytest tb/test_top.py)")
    if torch_ref is not None:
        # the chain's other end: PyTorch's own quantized kernels (qnnpack)
        torch_errors = compare_results(torch_ref, frames, offset)
        assert not torch_errors, fail_report(torch_errors, "vs torch's quantized model")
    assert done == count, f"IMAGES_DONE {done}, expected {count}"
    assert status & 1 == 0, "STATUS.busy still set after the last result"
    assert all(r["latency_cycles"] is not None for r in results), \
        "LAST_CYCLES could not be attributed to every image"
    assert rate_error is None, rate_error


def check_rate(tb: TB, results: list[dict]) -> str | None:
    """Cycles per image back to back vs the slowest stage of the folding (``LANES`` and
    ``CONV2_PAR``, set by :func:`run_top`; without them, e.g. on the mutation netlist, no
    check). Logs stages, multipliers and MAC utilization; returns an error message or None."""
    if not (os.environ.get("LANES") and os.environ.get("CONV2_PAR")) or len(results) < 3:
        return None
    lanes, par = int(os.environ["LANES"]), int(os.environ["CONV2_PAR"])
    stages = stage_cycles(lanes, par)
    steady = [r["interval_cycles"] for r in results[2:]]  # after the pipeline has filled
    mults = multipliers(lanes, par)
    worst = max(steady)
    tb.log.info("folding Lanes=%d Conv2InChannelsPar=%d: %d cycles per image back to back (stages alone: "
                "%s), latency %s, %d multipliers, MAC utilization %d / (%d x %d) = %.1f%%", lanes, par, worst,
                ", ".join(f"{k} {v}" for k, v in stages.items()), results[0]["latency_cycles"], mults,
                MACS_PER_IMAGE, mults, worst, 100.0 * MACS_PER_IMAGE / (mults * worst))
    bound = max(stages.values()) + 16
    if worst > bound:
        return (f"Lanes={lanes} Conv2InChannelsPar={par}: {worst} cycles per image back to back, "
                f"expected at most {bound} (slowest stage alone: {stages}); intervals {steady}")
    return None


class FrameTimer:
    """Sim times of every image's first accepted pixel and last accepted result beat."""

    def __init__(self, dut):
        self.dut = dut
        self.starts: list[int] = []
        self.ends: list[int] = []
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        d, first = self.dut, True
        while True:
            await RisingEdge(d.clk_i)
            if int(d.s_axis_tvalid.value) and int(d.s_axis_tready.value):
                if first:
                    self.starts.append(get_sim_time("ns"))
                first = bool(int(d.s_axis_tlast.value))
            if int(d.m_axis_tvalid.value) and int(d.m_axis_tready.value) and int(d.m_axis_tlast.value):
                self.ends.append(get_sim_time("ns"))

    def stop(self):
        self._task.cancel()


@cocotb.test()
async def test_images_stalls(dut):
    """Random input idles and output backpressure: results unchanged; LAST_CYCLES and
    STATUS.busy agree with the handshakes seen by the test bench."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(cocotb.RANDOM_SEED)
    tb.set_pauses(idle=True, backpressure=True, rng=rng)
    offset = int(os.environ.get("OFFSET", "0")) + 50
    images, _, _ = load_test_images(offset, 3)
    timer = FrameTimer(dut)

    async def status_mid_image():
        await ClockCycles(dut.clk_i, 2000)
        return (await tb.read(CSR["STATUS"]))[0]

    mid = cocotb.start_soon(status_mid_image())
    frames, info = await tb.run_images(images)
    timer.stop()
    assert (await mid) & 1 == 1, "STATUS.busy clear while an image was in flight"
    errors = check_frames(tb, tb.params, images, frames, offset)
    tb.set_pauses(False, False, rng)
    assert not errors, fail_report(errors)
    expected = [round((e - s) / CLOCK_NS) for s, e in zip(timer.starts, timer.ends)]
    actual = [rec["latency"] for rec in info]
    assert expected == actual, f"LAST_CYCLES per image {actual}, test bench measured {expected}"
    assert (await tb.read(CSR["STATUS"]))[0] & 1 == 0, "STATUS.busy set while idle"


async def run_stages(tb: TB, params, images: torch.Tensor, offset: int,
                     first_bad: dict | None = None) -> list[str]:
    """Stream ``images`` with every inter-stage stream monitored; compare with ``forward``.

    Returns the mismatch messages (empty = bit exact at every stage and at the output);
    ``first_bad`` (optional) receives ``{image n: first difference}`` in pipeline order
    (conv1, pool1, conv2, pool2, fc1, fc2, fc3, output) with layer, channel/neuron, position,
    expected and actual.
    """
    probes = {}
    for layer, (inst, prefix, _) in STAGES.items():
        try:
            sig = {s: dut_signal(tb.dut, f"{inst + '.' if inst else ''}{prefix}_t{s}")
                   for s in ("data", "valid", "ready")}
        except AttributeError as exc:
            raise AssertionError(f"stream {inst or 'top'}.{prefix}_t* for {layer} not found: {exc}") from exc
        probes[layer] = StreamProbe(tb.dut.clk_i, sig["data"], sig["valid"], sig["ready"])
    fc_probe = FcProbe(tb.dut)
    frames, _ = await tb.run_images(images, read_csrs=False)
    for p in (*probes.values(), fc_probe):
        p.stop()
    ref = forward(params, images)
    errors = []
    first_bad = {} if first_bad is None else first_bad
    for layer, (_, _, (c, h, w)) in STAGES.items():
        beats = probes[layer].beats
        if len(beats) != len(images) * h * w:
            errors.append(f"layer {layer}: {len(beats)} beats for {len(images)} images, expected {h * w} each")
            for n in range(len(images)):
                first_bad.setdefault(n, {"layer": layer, "detail": f"{len(beats)} beats in all"})
            continue
        for n in range(len(images)):
            first = {}
            errors += compare_stage(layer, ref[layer][n], beats[n * h * w:(n + 1) * h * w], n, offset,
                                    first=first)
            if first:
                first_bad.setdefault(n, first)
    errors += fc_probe.compare(ref, len(images), offset, first_bad)
    out_errors = compare_results(ref, frames, offset)
    for n, beats in enumerate(frames):
        if n not in first_bad and beats != [int(ref["class"][n])] + ref["fc3"][n].tolist():
            first_bad[n] = {"layer": "output", "detail": "result stream differs, every stage matched"}
    if first_bad:  # the first differing stage localizes the fault
        errors.insert(0, "first differing stage: " + ", ".join(
            f"image {n} (index {offset + n}) {describe_diff(d)}" for n, d in sorted(first_bad.items())))
    return errors + out_errors


# Where test_reset_mid_image resets: (name, stream, handshakes to wait for, cycles after them).
# An image takes ~1,000 cycles to enter, conv1 ~4,800, conv2 ~2,400 (unfolded) to ~4,700 and
# fc1 ~4,000 (18 lanes) to ~8,600 (8 lanes): 2,000 cycles after pool2 is always mid-fc1.
RESET_POINTS = (
    ("mid-image", "s_axis", 392, 0),             # half of the pixels accepted
    ("mid-convolution", "pool1_axis", 98, 0),    # conv2 has half of its input, conv1 is still running
    ("mid-FC", "pool2_axis", 36, 2000),          # the whole pool2 ofmap in fc_engine, fc1 2,000 cycles in
)


async def wait_handshakes(clk, prefix_scope, prefix: str, count: int) -> None:
    """Return after ``count`` handshakes (tvalid && tready) on the stream ``<prefix>_t*``."""
    valid, ready = getattr(prefix_scope, f"{prefix}_tvalid"), getattr(prefix_scope, f"{prefix}_tready")
    seen = 0
    while seen < count:
        await RisingEdge(clk)
        seen += int(valid.value) & int(ready.value)


@cocotb.test()
async def test_reset_mid_image(dut):
    """Reset asserted mid-image, mid-convolution and mid-FC (RESET_POINTS): afterwards no result
    of the aborted image appears, STATUS.busy and IMAGES_DONE read 0, and the next real image
    is bit-exact against the reference (the parameter memories keep their contents)."""
    tb = TB(dut)
    await tb.reset()
    offset = int(os.environ.get("OFFSET", "0"))
    images, _, _ = load_test_images(offset, len(RESET_POINTS) + 1)
    ref = forward(tb.params, images)
    quiet_cycles = 25_000  # longer than one image's latency (~15,300 cycles)
    for k, (name, stream, count, after) in enumerate(RESET_POINTS):
        await tb.source.send(AxiStreamFrame(bytes(images[0].flatten().tolist())))
        await with_timeout(wait_handshakes(dut.clk_i, dut, stream, count), FRAME_TIMEOUT_US, "us")
        await ClockCycles(dut.clk_i, after)
        assert tb.sink.empty(), f"reset {name}: a result appeared before the reset point"
        assert (await tb.read(CSR["STATUS"]))[0] & 1, f"reset {name}: STATUS.busy clear mid-image"
        await tb.reset()
        tb.source.clear()  # the rest of the aborted frame, if the source still holds it
        await ClockCycles(dut.clk_i, quiet_cycles)
        assert tb.sink.empty(), f"reset {name}: result beats of the aborted image appeared after reset"
        assert await tb.read(CSR["STATUS"]) == (0, AxiResp.OKAY), f"reset {name}: STATUS.busy set after reset"
        assert await tb.read(CSR["IMAGES_DONE"]) == (0, AxiResp.OKAY), f"reset {name}: IMAGES_DONE not 0"
        n = k + 1
        frames, _ = await tb.run_images(images[n:n + 1], read_csrs=False)
        sub = {key: ref[key][n:n + 1] for key in ("class", "fc3")}
        errors = compare_results(sub, frames, offset + n)
        assert not errors, fail_report([f"after reset {name}: {e}" for e in errors])
        tb.log.info("reset %s: no stale output, image %d bit-exact afterwards", name, offset + n)


def describe_diff(d: dict) -> str:
    """One line for a first difference from :func:`run_stages`."""
    where = ""
    if "channel" in d:
        where = f" channel {d['channel']} position (row {d['row']}, col {d['col']})"
    elif "neuron" in d:
        where = f" neuron {d['neuron']}"
    vals = (f": expected {d['expected']} actual {d['actual']} (diff {d['actual'] - d['expected']:+d}; "
            f"{d['differing']} elements differ in this layer)") if "expected" in d else ""
    return f"layer {d['layer']}{where}{vals}{(' ' + d['detail']) if 'detail' in d else ''}"


# Malformed frames (README, "Malformed input frames"): (name, pixels sent, errors it counts).
# An over-long frame is cut at 784 beats (no tlast there: malformed) and its tail becomes a
# short frame (tlast early: malformed), so it counts twice.
MALFORMED = (
    ("tlast before pixel 784 (500 pixels)", 500, 1),
    ("tlast in the middle of row 0 (14 pixels)", 14, 1),
    ("no tlast at pixel 784 (tlast at pixel 800)", 800, 2),
    ("tlast on the first pixel", 1, 1),
)


@cocotb.test()
async def test_malformed_frames(dut):
    """Frames whose tlast is early, in the middle of a row or missing at pixel 784 are dropped:
    no result, FRAME_ERRORS counts them, STATUS bit 1 is set; each is followed by a good real
    image whose result is bit-exact. Only a full write to FRAME_ERRORS clears it and STATUS bit 1:
    CTRL, parameter, unmapped and partial FRAME_ERRORS writes leave it alone."""
    tb = TB(dut)
    await tb.reset()
    offset = int(os.environ.get("OFFSET", "0"))
    images, _, _ = load_test_images(offset, len(MALFORMED) + 1)
    ref = forward(tb.params, images)
    pixels = images.flatten(1)
    errors_expected = 0
    for k, (name, count, errors) in enumerate(MALFORMED):
        junk = pixels[k].repeat(2)[:count]  # real pixels, the wrong number of them
        await tb.source.send(AxiStreamFrame(bytes(junk.tolist())))
        n = k + 1
        frames, _ = await tb.run_images(images[n:n + 1], read_csrs=False)
        sub = {key: ref[key][n:n + 1] for key in ("class", "fc3")}
        msgs = compare_results(sub, frames, offset + n)
        assert not msgs, fail_report([f"after the malformed frame '{name}': {m}" for m in msgs])
        await ClockCycles(dut.clk_i, 50)
        assert tb.sink.empty(), f"'{name}': result beats beyond the good image's (the malformed frame's?)"
        errors_expected += errors
        got = await tb.read(CSR["FRAME_ERRORS"])
        assert got == (errors_expected, AxiResp.OKAY), \
            f"'{name}': FRAME_ERRORS {got[0]} ({got[1]}), expected {errors_expected}"
        assert await tb.read(CSR["STATUS"]) == (0b10, AxiResp.OKAY), f"'{name}': STATUS frame-error bit"
        assert await tb.read(CSR["IMAGES_DONE"]) == (n, AxiResp.OKAY), \
            f"'{name}': IMAGES_DONE must count only the {n} good images"
        tb.log.info("malformed frame '%s': dropped, %d frame errors, image %d bit-exact after it",
                    name, errors_expected, offset + n)
    bias0 = int(tb.params["conv1"].bias_q[0]) & 0xFFFF_FFFF  # rewritten with its own value
    ctrl, _ = await tb.read(CSR["CTRL"])
    others = (("CTRL", CSR["CTRL"], ctrl, 4, AxiResp.OKAY),
              ("conv1 bias 0", LAYER_BASE["conv1"] + REGION_OFFSET["bias"], bias0, 4, AxiResp.OKAY),
              ("unmapped 0x00001C", 0x00001C, 0, 4, AxiResp.SLVERR),
              ("partial FRAME_ERRORS", CSR["FRAME_ERRORS"], 0, 2, AxiResp.SLVERR))
    for what, addr, value, nbytes, resp in others:
        assert await tb.write(addr, value, nbytes) == resp, f"{what} write: expected {resp}"
        got = await tb.read(CSR["FRAME_ERRORS"])
        assert got == (errors_expected, AxiResp.OKAY), \
            f"FRAME_ERRORS {got[0]} after a {what} write, expected {errors_expected} (only a full write clears it)"
    assert await tb.write(CSR["FRAME_ERRORS"], 0) == AxiResp.OKAY
    assert await tb.read(CSR["FRAME_ERRORS"]) == (0, AxiResp.OKAY), "FRAME_ERRORS not cleared"
    assert await tb.read(CSR["STATUS"]) == (0, AxiResp.OKAY), "STATUS frame-error bit not cleared"


@cocotb.test()
async def test_stages(dut):
    """Every intermediate layer (conv1, pool1, conv2, pool2, fc1, fc2, fc3) of a few images vs
    the reference: a mismatch names its layer, channel/neuron and position."""
    tb = TB(dut)
    await tb.reset()
    offset = int(os.environ.get("STAGE_OFFSET", os.environ.get("OFFSET", "0")))
    count = int(os.environ.get("STAGE_IMAGES", "2"))
    images, _, _ = load_test_images(offset, count)
    if os.environ.get("PARAM_WRITES"):
        await tb.apply_param_writes(Path(os.environ["PARAM_WRITES"]))
    first_bad = {}
    errors = await run_stages(tb, tb.params, images, offset, first_bad)
    if os.environ.get("STAGE_REPORT"):
        Path(os.environ["STAGE_REPORT"]).write_text(json.dumps(
            {str(offset + n): {**d, "summary": describe_diff(d)} for n, d in first_bad.items()}, indent=1))
    assert not errors, fail_report(errors)


@cocotb.test()
async def test_axil_params(dut):
    """conv1, conv2, fc3 overwritten through AXI4-Lite with random values; images vs reference."""
    tb = TB(dut)
    await tb.reset()
    seed = cocotb.RANDOM_SEED % (1 << 63)
    gen = torch.Generator().manual_seed(seed)
    layers = ("conv1", "conv2", "fc3")
    params = random_network(gen, base=tb.params, layers=layers)
    tb.log.info("seed %d: loading random %s through AXI4-Lite (%d writes)", seed, "/".join(layers),
                sum(len(axil_writes(params[n])) for n in layers))
    for name in layers:
        await tb.load_layer(params[name])
    try:
        offset = int(os.environ.get("OFFSET", "0")) + 100
        images, _, _ = load_test_images(offset, int(os.environ.get("PARAM_IMAGES", "3")))
        # stage monitors: a wrong parameter decode shows up at the first affected layer
        errors = await run_stages(tb, params, images, offset)
        assert not errors, f"random {'/'.join(layers)} parameters (seed {seed}): " + fail_report(errors)
    finally:
        for name in layers:  # restore the preload for later tests in this simulation
            await tb.load_layer(tb.params[name])


# ------------------------------------------------------------------ robustness (issue 4)

@cocotb.test()
@cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
async def test_handshakes(dut, idle: bool, backpressure: bool, pattern: str):
    """Real images back to back in every handshake variant (``tb.stream``: no stall, input
    idle, output backpressure, both; fixed 3-of-4 and seeded random patterns): every result
    bit-exact, none lost, duplicated or reordered, nothing left in the sink, IMAGES_DONE."""
    tb = TB(dut)
    await tb.reset()
    variant = variant_name(idle, backpressure, pattern)
    tb.set_pauses(idle, backpressure, stream_rng(tb.log), pattern, p=0.5)
    offset = int(os.environ.get("OFFSET", "0")) + 20
    count = int(os.environ.get("HANDSHAKE_IMAGES", "2"))
    images, _, _ = load_test_images(offset, count)
    ref = forward(tb.params, images)
    frames, _ = await tb.run_images(images, read_csrs=False)
    await ClockCycles(dut.clk_i, 100)  # a duplicated or extra result would arrive by now
    expected = [[int(ref["class"][n])] + ref["fc3"][n].tolist() for n in range(count)]
    errors = sequence_errors(expected, frames, "image") + compare_results(ref, frames, offset)
    assert not errors, fail_report([f"{variant}: {e}" for e in errors])
    assert tb.sink.empty(), f"{variant}: result beats beyond the {count} images' results"
    done = await tb.read(CSR["IMAGES_DONE"])
    assert done == (count, AxiResp.OKAY), f"{variant}: IMAGES_DONE {done[0]}, expected {count}"


def expected_results(params, images: torch.Tensor) -> list[list[int]]:
    """Result frames of ``model.reference.forward``: [class, fc3 codes 0..9] per image."""
    ref = forward(params, images)
    return [[int(c)] + f for c, f in zip(ref["class"].tolist(), ref["fc3"].tolist())]


@cocotb.test()
async def test_stress_images(dut):
    """``$STRESS_IMAGES`` (default 4; ``test_top_stress``: 1,000) real test images from
    ``$STRESS_OFFSET`` back to back through AxiStreamSource/Sink under seeded random input idle
    and output backpressure: every result bit-exact vs ``model.reference.forward``, the count
    and the order of the results, nothing left in the sink, IMAGES_DONE."""
    tb = TB(dut)
    await tb.reset()
    count = int(os.environ.get("STRESS_IMAGES", "4"))
    offset = int(os.environ.get("STRESS_OFFSET", "0"))
    images, _, _ = load_test_images(offset, count)
    tb.set_pauses(True, True, stream_rng(tb.log), "random", p=0.5)
    expected = expected_results(tb.params, images)
    wall0 = time.monotonic()
    matches = []

    def progress(n, beats, rec):
        matches.append(beats == expected[n])
        if (n + 1) % 100 == 0 or n + 1 == count:
            wall = time.monotonic() - wall0
            tb.log.info("stress: %d / %d images, %d bit-exact, %.0f s wall, %.2f images/s", n + 1, count,
                        sum(matches), wall, (n + 1) / wall)

    frames, _ = await tb.run_images(images, read_csrs=False, on_frame=progress)
    await ClockCycles(dut.clk_i, 200)
    errors = sequence_errors(expected, frames, "image")
    tb.log.info("stress summary: images %d..%d, %d results, %d bit-exact vs model.reference.forward, "
                "%.0f s wall", offset, offset + count - 1, len(frames), sum(matches), time.monotonic() - wall0)
    assert not errors, fail_report([f"stress (images from {offset}): {e}" for e in errors])
    assert tb.sink.empty(), "stress: result beats beyond the last image's"
    done = await tb.read(CSR["IMAGES_DONE"])
    assert done == (count, AxiResp.OKAY), f"stress: IMAGES_DONE {done[0]}, expected {count}"


def layer_writes(p: LayerParams, rows: list[int] | None = None) -> list[tuple[int, int]]:
    """``axil_writes(p)``; with ``rows``, only those output rows of the weights (every bias,
    requant and zero-point word is still written)."""
    writes = axil_writes(p)
    if rows is None:
        return writes
    base, n_in = LAYER_BASE[p.name], p.weight[0].numel()
    keep = {base + REGION_OFFSET["weight"] + 4 * (o * n_in + i) for o in rows for i in range(n_in)}
    return [(a, d) for a, d in writes if a >= base + REGION_OFFSET["bias"] or a in keep]


def reload_set(gen: torch.Generator, base: dict[str, LayerParams], fc1_rows: list[int]):
    """P1 for :func:`test_param_reload`: every layer random and chained (conv1 with a random
    input zero point), except fc1's weights, which are ``base``'s outside ``fc1_rows``."""
    p1 = random_network(gen, base=base, layers=LAYER_NAMES)
    w = base["fc1"].weight.clone()
    w[fc1_rows] = p1["fc1"].weight[fc1_rows]
    p1["fc1"] = dataclasses.replace(p1["fc1"], weight=w)
    return p1


@cocotb.test()
async def test_param_reload(dut):
    """Parameters swapped over AXI4-Lite between images: image A with the preload P0, then a
    random set P1 written (conv1, conv2, fc2, fc3 entirely; fc1's bias, requant and zero points
    and the weights of ``$RELOAD_FC1_ROWS`` neurons, ``all`` = every one), image B vs the
    reference of P1, P0 restored (the same addresses), image C vs P0, and so on for
    ``$RELOAD_IMAGES`` images; P0 restored at the end."""
    tb = TB(dut)
    await tb.reset()
    seed = cocotb.RANDOM_SEED % (1 << 63)
    gen, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    rows_env = os.environ.get("RELOAD_FC1_ROWS", "8")
    fc1_rows = list(range(120)) if rows_env == "all" else sorted(rng.sample(range(120), int(rows_env)))
    p0 = tb.params
    sets = {"P0": p0, "P1": reload_set(gen, p0, fc1_rows)}
    writes = {name: [w for layer in LAYER_NAMES
                     for w in layer_writes(ps[layer], fc1_rows if layer == "fc1" else None)]
              for name, ps in sets.items()}
    tb.log.info("seed %d: P1 = random conv1/conv2/fc2/fc3 and fc1 neurons %s; %d writes per swap",
                seed, fc1_rows, len(writes["P1"]))
    count = int(os.environ.get("RELOAD_IMAGES", "3"))  # P0, P1, P0: two swaps of ~17k writes, ~20 s each
    offset = int(os.environ.get("OFFSET", "0")) + 300
    images, _, _ = load_test_images(offset, count)
    expected = {name: expected_results(ps, images) for name, ps in sets.items()}
    assert any(a != b for a, b in zip(expected["P0"], expected["P1"])), \
        "P0 and P1 give the same results on every image: the test could not see a missed reload"
    loaded, errors = "P0", []
    try:
        for n in range(count):
            name = ("P0", "P1")[n % 2]
            if name != loaded:
                status = await tb.read(CSR["STATUS"])
                assert status[0] & 1 == 0, f"before image {n}: STATUS.busy set, parameters cannot be written"
                sim0, wall0 = get_sim_time("ns"), time.monotonic()
                await tb.write_all(writes[name], f"{name} before image {n}")
                tb.log.info("%s loaded: %d writes in %d cycles, %.1f s wall", name, len(writes[name]),
                            round((get_sim_time("ns") - sim0) / CLOCK_NS), time.monotonic() - wall0)
                loaded = name
            frames, _ = await tb.run_images(images[n:n + 1], read_csrs=False)
            msgs = sequence_errors(expected[name][n:n + 1], frames, "image")
            errors += [f"image {n} (test set index {offset + n}) with {name}: {m}" for m in msgs]
            if not msgs:
                tb.log.info("image %d with %s: bit-exact (class %d)", offset + n, name, frames[0][0])
        assert tb.sink.empty(), "result beats beyond the images'"
        assert not errors, fail_report(errors, "vs model.reference.forward of the loaded set")
    finally:
        if loaded != "P0":  # restore the preload for later tests in this simulation
            await tb.write_all(writes["P0"], "P0 restore")


HANG_TIMEOUT_US = 50  # 5,000 cycles: the bench gives up after this much silence in test_dut_stops_answering
STUCK_SIGNALS = {"tvalid_out": "m_axis_tvalid", "tready_in": "s_axis_tready"}  # test name: DUT output


@cocotb.test()
@cocotb.parametrize(stuck=list(STUCK_SIGNALS))
async def test_dut_stops_answering(dut, stuck: str):
    """A DUT that stops answering (``signal`` forced to 0 with cocotb's Force: no result beat,
    or no input beat accepted) makes the bench's result wait raise SimTimeoutError after
    ``HANG_TIMEOUT_US`` of simulated silence, with a message naming the image and the stream
    states; released and reset, the accelerator then runs the image bit-exact."""
    tb = TB(dut)
    await tb.reset()
    offset = int(os.environ.get("OFFSET", "0"))
    images, _, _ = load_test_images(offset, 1)
    signal = STUCK_SIGNALS[stuck]
    handle = getattr(dut, signal)
    handle.value = Force(0)
    try:
        with pytest.raises(SimTimeoutError) as exc_info:
            await tb.run_images(images, read_csrs=False, timeout_us=HANG_TIMEOUT_US)
    finally:
        handle.value = Release()
    msg = str(exc_info.value)
    tb.log.info("%s forced low: %s", signal, msg)
    for part in ("image 0 of 1: no result frame on m_axis within", "stopped answering", f"{signal}=0"):
        assert part in msg, f"{signal} forced low: timeout message {msg!r} lacks {part!r}"
    await tb.reset()
    tb.source.clear()
    tb.sink.clear()
    frames, _ = await tb.run_images(images, read_csrs=False)
    errors = sequence_errors(expected_results(tb.params, images), frames, "image")
    assert not errors, fail_report([f"after releasing {signal}: {e}" for e in errors])


# ------------------------------------------------------------------ pytest runner

TOP_SOURCES = ("requant.sv", "conv/maxpool2x2.sv", "conv/conv_padder.sv", "conv/line_buffer.sv",
               "conv/conv3x3_relu_pool.sv", "fc/argmax.sv", "fc/fc_engine.sv",
               "top/axil_regs.sv", "top/perf_counters.sv", "top/frame_guard.sv",
               "top/fashion_lenet_accel.sv")


def top_sources() -> list[str]:
    """Every .sv under hdl/ (the colleagues' blocks may add submodule files)."""
    from tb.runner import HDL, rtl_sources
    files = [str(p) for p in rtl_sources()]
    missing = [s for s in TOP_SOURCES if str(HDL / s) not in files]
    if missing:
        raise FileNotFoundError(f"HDL sources missing: {missing}")
    return files


def run_top(lanes: int = DEFAULT_FOLDING[0], testcase: str | None = None, extra_env: dict | None = None,
            waves: bool = False, build_name: str | None = None,
            conv2_par: int = DEFAULT_FOLDING[1]) -> None:
    """Build (one folder per folding/ParamDir unless ``build_name``) and run the top's cocotb
    tests with ``Lanes`` = ``lanes`` and ``Conv2InChannelsPar`` = ``conv2_par``."""
    from tb.runner import run_sim
    params_dir = resolve_params_dir()
    env = {"PARAMS_DIR": str(params_dir), "LANES": str(lanes), "CONV2_PAR": str(conv2_par)}
    env.update({k: os.environ[k] for k in ("IMAGES", "OFFSET", "STAGE_IMAGES", "STAGE_OFFSET",
                                           "PARAM_IMAGES", "RESULTS", "PARAM_WRITES", "STAGE_REPORT",
                                           "HANDSHAKE_IMAGES", "STRESS_IMAGES", "STRESS_OFFSET",
                                           "RELOAD_IMAGES", "RELOAD_FC1_ROWS")
                if k in os.environ})
    env.update(extra_env or {})
    check_image_env(env, testcase)
    run_sim("fashion_lenet_accel", top_sources(), module="tb.test_top",
            parameters={"Lanes": lanes, "Conv2InChannelsPar": conv2_par, "ParamDir": str(params_dir)},
            extra_env=env, waves=waves, testcase=testcase, build_name=build_name)


# the earlier folding runs a subset: images (cycles checked), stalls with LAST_CYCLES, stage
# monitors, resets mid-image/-convolution/-FC, the AXI4-Lite parameter path
UNFOLDED_TESTS = "test_images$|test_images_stalls$|test_stages$|test_reset_mid_image$|test_axil_params$"


@pytest.mark.parametrize("lanes,conv2_par", [
    pytest.param(*DEFAULT_FOLDING, id="lanes18-par3"),
    pytest.param(*UNFOLDED, id="lanes8-par6"),
    pytest.param(3, 2, id="lanes3-par2", marks=pytest.mark.slow)])
def test_top(lanes, conv2_par):
    """All cocotb tests at the HDL default folding; a subset (``UNFOLDED_TESTS``) at the earlier
    one (Lanes 8, conv2 unfolded); slow: Lanes=3 (a lane count dividing none of 84/10) with
    conv2 in three passes. Each folding is its own build."""
    run_top(lanes, conv2_par=conv2_par,
            testcase=UNFOLDED_TESTS if (lanes, conv2_par) == UNFOLDED else None)


@pytest.mark.slow
def test_top_regression():
    """The whole Fashion-MNIST test split (10,000 images, ~2 h of simulation)."""
    run_top(testcase="test_images$", extra_env={"IMAGES": os.environ.get("IMAGES", "10000"),
                                                  "OFFSET": os.environ.get("OFFSET", "0")})


@pytest.mark.slow
def test_top_stress():
    """``test_stress_images`` on ``$STRESS_IMAGES`` (default 1,000) real test images under
    random idle and backpressure (about 1 image/s: ~20 min). Own build folder, so that a
    rebuild of the shared one by a parallel run cannot disturb it."""
    run_top(testcase="test_stress_images$", build_name="fashion_lenet_accel_stress",
            extra_env={"STRESS_IMAGES": os.environ.get("STRESS_IMAGES", "1000"),
                       "STRESS_OFFSET": os.environ.get("STRESS_OFFSET", "0")})


@pytest.mark.slow
def test_top_param_reload_full():
    """``test_param_reload`` with every fc1 weight rewritten too (81,435 writes per swap, about
    25 s of wall time each) and 5 images: P0, P1, P0, P1, P0."""
    run_top(testcase="test_param_reload$", extra_env={"RELOAD_FC1_ROWS": "all", "RELOAD_IMAGES": "5"})


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
