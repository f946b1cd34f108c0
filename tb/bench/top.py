"""The bench of the accelerator top ``fashion_lenet_accel`` (``hdl/top/fashion_lenet_accel.sv``).

* :class:`TB`: clock, reset, the cocotbext-axi AXI4-Stream source (pixels) and sink (results)
  and AXI4-Lite master (CSRs, parameter writes), every wait under a timeout;
* :func:`dut_signal`: internal signals by dotted path, in the RTL and in Yosys's flattened
  netlist (``make mutate``);
* :class:`Check`: a reusable check of the top (the body of one cocotb test, taking a TB), as
  ``tb/bench/top_csr.py``, ``top_images.py`` and ``top_params.py`` define them for the test
  modules ``tb/test_fashion_lenet_accel*.py`` and the mutation run (``tb/test_mutants.py``);
* :func:`run_top`: the pytest side: checks the settings, then builds the top and runs one of
  those test modules through ``tb.runner.run_sim``.

The top is built with ``ParamDir`` = the export folder (``$PARAMS``, default
``model/artifacts/export``; until that exists a chained random parameter set in
``sim_build/random_export``, :func:`tb.bench.paramsets.resolve_params_dir`), so every memory is
preloaded and no test needs the ~81k AXI4-Lite writes of a full parameter load. The bench
reads the folding (``model.network.FOLDING_PARAMETERS``, :func:`hdl_folding`) and ``ParamDir`` back as HDL parameters
(:func:`tb.bench.hdl.hdl_param`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)
from filelock import FileLock

from model.network import CSR, DEFAULT_FOLDING, FOLDING_PARAMETERS, PARAM_WRITE_LATENCY, SMALL_FOLDING, Folding
from model.params import axil_writes
from model.reference import LayerParams
from model.settings import check_image_range, env_int
from tb import runner
from tb.bench.hdl import hdl_param
from tb.bench.paramsets import cached_params, resolve_params_dir
from tb.bench.stream import set_pauses

TOPLEVEL = "fashion_lenet_accel"
CLOCK_NS = 10
FRAME_TIMEOUT_US = 2000  # per result frame (an image needs ~0.2 ms at 100 MHz)
AXIL_TIMEOUT_US = 10     # per AXI4-Lite access
# The cocotb test modules of the top, by what they check.
IMAGES_MODULE = "tb.test_fashion_lenet_accel"      # images, stages, stalls, handshakes
CSR_MODULE = "tb.test_fashion_lenet_accel_csr"     # CSRs, bounds, malformed frames, reset
PARAMS_MODULE = "tb.test_fashion_lenet_accel_params"  # parameters over AXI4-Lite
# Settings the cocotb tests read, passed on from the pytest process.
BENCH_ENV = ("IMAGES", "OFFSET", "STAGE_IMAGES", "STAGE_OFFSET", "PARAM_IMAGES", "RESULTS", "PARAM_WRITES",
             "STAGE_REPORT", "HANDSHAKE_IMAGES", "STRESS_IMAGES", "STRESS_OFFSET", "RELOAD_IMAGES",
             "RELOAD_FC1_ROWS")
# The files the top needs at least (tb.runner.rtl_sources lists every one under hdl/).
TOP_SOURCES = ("mul_reg.sv", "requant.sv", "conv/maxpool2x2.sv", "conv/conv_padder.sv", "conv/line_buffer.sv",
               "conv/conv3x3_relu_pool.sv", "fc/fc_lane.sv", "fc/fc_param_decode.sv",
               "fc/fc_sequencer.sv", "fc/fc_requant_feeder.sv", "fc/fc_result_tx.sv", "fc/fc_engine.sv",
               "top/axil_regs.sv", "top/perf_counters.sv", "top/frame_guard.sv",
               "top/fashion_lenet_accel.sv")


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


class TB:
    """Clock, reset, AXI4-Stream source (``s_axis``) / sink (``m_axis``) and AXI4-Lite master
    (``s_axil``) around the top, and the parameter set the DUT holds.

    Attributes:
        params_dir: the export folder: HDL parameter ``ParamDir`` (the preload), else
            ``$PARAMS_DIR`` (the mutation netlist, which has no preload and gets the same set
            over AXI4-Lite), else :func:`tb.bench.paramsets.resolve_params_dir`.
        params: ``{layer: model.reference.LayerParams}`` of that folder.
    """

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
        preload = hdl_param("ParamDir", "") or os.environ.get("PARAMS_DIR", "")
        self.params_dir = Path(preload) if preload else resolve_params_dir()
        self.params = cached_params(str(self.params_dir))
        self.log.info("parameters: %s", self.params_dir)

    async def reset(self):
        """rst_ni low for 3 cycles, then 2 cycles out of reset."""
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await ClockCycles(self.dut.clk_i, 2)

    def set_pauses(self, idle: bool, backpressure: bool, rng: random.Random | None, pattern: str = "random",
                   p: float = 0.3):
        """Input idles / output backpressure (``tb.bench.stream.pause_generator``: ``pattern``
        ``random`` with pause probability ``p`` from ``rng``, or ``fixed3of4``)."""
        set_pauses(self.source, self.sink, idle, backpressure, pattern, rng, p, p, log=self.log)

    def axil_state(self) -> str:
        """The AXI4-Lite handshake signals now, for timeout messages."""
        d = self.dut
        names = ("awvalid", "awready", "wvalid", "wready", "bvalid", "bready", "arvalid", "arready",
                 "rvalid", "rready")
        return " ".join(f"{n}={int(getattr(d, 's_axil_' + n).value)}" for n in names)

    async def read(self, addr: int) -> tuple[int, AxiResp]:
        """One 32-bit AXI4-Lite read: ``(data, rresp)``.

        Raises:
            SimTimeoutError: no response within ``AXIL_TIMEOUT_US`` (message with the handshake signals).
        """
        try:
            resp = await with_timeout(self.axil.read(addr, 4), AXIL_TIMEOUT_US, "us")
        except SimTimeoutError as exc:
            raise SimTimeoutError(f"AXI4-Lite read 0x{addr:06x}: no response within {AXIL_TIMEOUT_US} us "
                                  f"({self.axil_state()})") from exc
        return int.from_bytes(resp.data, "little"), resp.resp

    async def write(self, addr: int, value: int, nbytes: int = 4) -> AxiResp:
        """One AXI4-Lite write of the low ``nbytes`` bytes of ``value`` at byte address ``addr``
        (wstrb from ``addr``'s low bits and ``nbytes``); returns bresp.

        Raises:
            SimTimeoutError: no response within ``AXIL_TIMEOUT_US``.
        """
        try:
            resp = await with_timeout(self.axil.write(addr, value.to_bytes(4, "little")[:nbytes]),
                                      AXIL_TIMEOUT_US, "us")
        except SimTimeoutError as exc:
            raise SimTimeoutError(f"AXI4-Lite write 0x{addr:06x}: no response within {AXIL_TIMEOUT_US} us "
                                  f"({self.axil_state()})") from exc
        return resp.resp

    async def write_all(self, writes: list[tuple[int, int]], what: str) -> None:
        """AXI4-Lite ``(address, data)`` writes, pipelined; every response must be OKAY
        (AssertionError naming ``what`` and the address otherwise)."""
        tasks = [(addr, cocotb.start_soon(self.axil.write(addr, (data & 0xFFFFFFFF).to_bytes(4, "little"))))
                 for addr, data in writes]
        for addr, task in tasks:
            resp = (await with_timeout(task, 1000, "us")).resp
            assert resp == AxiResp.OKAY, f"{what}: parameter write at 0x{addr:06x} answered {resp}"
        # The last write reaches its memory PARAM_WRITE_LATENCY edges after its B handshake at
        # the latest (the blocks' pipelined write decode): a reset right away (the next cocotb
        # test's) would drop it.
        await ClockCycles(self.dut.clk_i, PARAM_WRITE_LATENCY)

    async def load_layer(self, p: LayerParams):
        """Write every parameter of layer ``p`` through AXI4-Lite (pipelined), check OKAY."""
        await self.write_all(axil_writes(p), p.name)

    async def apply_param_writes(self, path: Path) -> int:
        """AXI4-Lite writes from ``path`` (``address << 32 | data`` per line, hex: the regression
        harness's format); returns the count."""
        words = [int(line, 16) for line in Path(path).read_text().split()]
        await self.write_all([(w >> 32, w) for w in words], str(path))
        self.log.info("%d parameter writes applied from %s", len(words), path)
        return len(words)

    async def run_images(self, images: torch.Tensor, read_csrs: bool = True, on_frame=None,
                         timeout_us: float = FRAME_TIMEOUT_US):
        """Stream ``images`` (uint8 ``[N, 28, 28]``) back to back; returns (result frames, per-image info).

        info[n]: ``done_ns`` (sim time of the last result beat), ``latency`` (LAST_CYCLES read
        right after the frame arrived, None if another image completed meanwhile or
        ``read_csrs`` is False), ``interval`` (cycles since the previous result, or since the
        start for the first). ``on_frame(n, beats, info_n)`` is called as each result frame arrives.

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


@dataclass(frozen=True)
class Check:
    """A reusable check of the top: the body of the cocotb test ``name``.

    Attributes:
        name: the cocotb test that runs it (``test_csr``); also its name in ``$MUTANT_CHECKS``.
        run: ``async run(tb: TB, **params)``, raising AssertionError or SimTimeoutError on a failure.
        options: the ``cocotb.parametrize`` arguments of a parametrized check: ``(name, values)``
            or ``((names...), [(values...), ...])`` pairs; empty for a plain check.
    """
    name: str
    run: Callable[..., Awaitable[None]]
    options: tuple = ()

    def variants(self) -> list[tuple[str, dict]]:
        """``(label, kwargs)`` for every parametrization: ``test_handshakes[True/False/fixed3of4]``,
        ``test_dut_stops_answering[tvalid_out]``; ``[(name, {})]`` for a plain check."""
        runs = [("", {})]
        for names, values in self.options:
            names = (names,) if isinstance(names, str) else tuple(names)
            runs = [(f"{label}{',' if label else ''}{'/'.join(map(str, v if len(names) > 1 else (v,)))}",
                     {**kw, **dict(zip(names, v if len(names) > 1 else (v,)))})
                    for label, kw in runs for v in values]
        return [(f"{self.name}[{label}]" if label else self.name, kw) for label, kw in runs]


# ------------------------------------------------------------------ pytest side

SLOW_FOLDING = Folding(lanes=3, conv2_par=2)  # a lane count dividing none of 84/10, conv2 in three passes


def folding_id(folding: Folding) -> str:
    """The pytest id (and build-folder part) of a folding: ``Folding.tag``."""
    return folding.tag


def hdl_folding() -> Folding | None:
    """The folding this simulation was built with (its HDL parameters, FOLDING_PARAMETERS), or
    None when they were not passed (e.g. the mutation netlist, which has no parameters)."""
    values = {field: hdl_param(name, None) for field, name in FOLDING_PARAMETERS.items()}
    return None if None in values.values() else Folding(**values)


# The foldings every top test module runs at: the HDL defaults (every test), the small folding
# (a subset) and, slow, SLOW_FOLDING (every test). Each folding is its own build.
TOP_FOLDINGS = [pytest.param(DEFAULT_FOLDING, id=folding_id(DEFAULT_FOLDING)),
                pytest.param(SMALL_FOLDING, id=folding_id(SMALL_FOLDING)),
                pytest.param(SLOW_FOLDING, id=folding_id(SLOW_FOLDING), marks=pytest.mark.slow)]


# Verilator configuration of the cocotb builds: the outputs the stuck-output test forces.
FORCEABLE = Path(__file__).resolve().parent.parent / "hdl" / "top_forceable.vlt"


def top_sources() -> list[str]:
    """Every .sv under hdl/ (``tb.runner.rtl_sources``: packages first; the blocks may add
    submodule files).

    Raises:
        FileNotFoundError: a file of ``TOP_SOURCES`` is missing.
    """
    files = [str(p) for p in runner.rtl_sources()]
    missing = [s for s in TOP_SOURCES if str(runner.HDL / s) not in files]
    if missing:
        raise FileNotFoundError(f"HDL sources missing: {missing}")
    return files


def check_image_env(env: dict, module: str, testcase: str | None = None) -> None:
    """The test images the cocotb tests of ``module`` (filtered by ``testcase``) read lie in
    the test set: ``OFFSET``/``IMAGES`` (every module; test_images, default 10),
    ``STAGE_OFFSET``/``STAGE_IMAGES`` (test_stages), ``STRESS_OFFSET``/``STRESS_IMAGES``
    (test_stress_images), ``OFFSET + 100``/``PARAM_IMAGES`` (test_axil_params) and
    ``OFFSET + 300``/``RELOAD_IMAGES`` (test_param_reload, the furthest of the fixed offsets).
    Checked in the pytest process, before the build.

    Raises:
        model.settings.SettingError: one line naming the settings and the range.
    """
    def runs(test: str, in_module: str) -> bool:
        return module == in_module and (testcase is None or test in testcase)

    offset, count = env_int("OFFSET", 0, env), env_int("IMAGES", 10, env)
    check_image_range(offset, count)
    if runs("test_stages", IMAGES_MODULE):
        so, sc = env_int("STAGE_OFFSET", offset, env), env_int("STAGE_IMAGES", 2, env)
        check_image_range(so, sc, f"STAGE_OFFSET={so} STAGE_IMAGES={sc}")
    if runs("test_stress_images", IMAGES_MODULE):
        so, sc = env_int("STRESS_OFFSET", 0, env), env_int("STRESS_IMAGES", 4, env)
        check_image_range(so, sc, f"STRESS_OFFSET={so} STRESS_IMAGES={sc}")
    if runs("test_axil_params", PARAMS_MODULE):
        pc = env_int("PARAM_IMAGES", 3, env)
        check_image_range(offset + 100, pc, f"OFFSET={offset} PARAM_IMAGES={pc} (test_axil_params reads "
                                            "PARAM_IMAGES images from OFFSET+100)")
    if runs("test_param_reload", PARAMS_MODULE):
        rc = env_int("RELOAD_IMAGES", 3, env)
        check_image_range(offset + 300, rc, f"OFFSET={offset} RELOAD_IMAGES={rc} (test_param_reload reads "
                                            "RELOAD_IMAGES images from OFFSET+300)")


def run_top(module: str, folding: Folding = DEFAULT_FOLDING, testcase: str | None = None,
            extra_env: dict | None = None, waves: bool = False, build_name: str | None = None) -> Path:
    """Build the top and run the cocotb tests of ``module`` in it (``tb.runner.run_sim``).

    Before anything is built: the parameter folder (:func:`tb.bench.paramsets.resolve_params_dir`:
    ``$PARAMS``, checked file by file) and the image ranges (:func:`check_image_env`).

    Args:
        module: the cocotb test module (:data:`IMAGES_MODULE`, :data:`CSR_MODULE`, :data:`PARAMS_MODULE`).
        folding: ``Lanes`` and ``Conv2InChannelsPar`` (``model.network.Folding``).
        testcase: regular expression of the cocotb tests to run (cocotb's test filter); None: all.
        extra_env: settings for the cocotb tests, over those of :data:`BENCH_ENV` in ``os.environ``.
        waves: FST trace (``dump.fst`` in the build folder).
        build_name: build folder under ``sim_build``; default one per folding and parameter
            folder, shared by the test modules (a file lock keeps their runs apart).

    Returns:
        the build folder.

    Raises:
        model.params.ParamsError, model.net.CheckpointError, model.settings.SettingError: bad
            settings (one line), before the build.
        SystemExit, AssertionError: a cocotb test failed (from cocotb-test).
    """
    params_dir = resolve_params_dir()
    env = {k: os.environ[k] for k in BENCH_ENV if k in os.environ}
    env.update(extra_env or {})
    check_image_env(env, module, testcase)
    if build_name is None:
        key = hashlib.sha1(str(params_dir).encode()).hexdigest()[:8]
        build_name = f"{TOPLEVEL}_{folding_id(folding)}_{key}" + ("_waves" if waves else "")
    lock = Path(f"{runner.build_folder(build_name)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        return runner.run_sim(TOPLEVEL, [*top_sources(), str(FORCEABLE)], module=module,
                              parameters={**folding.hdl_parameters(), "ParamDir": str(params_dir)},
                              extra_env=env, waves=waves, testcase=testcase, build_name=build_name)
