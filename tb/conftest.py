"""pytest configuration of the benches: seeded repeats of the random unit benches (``SEEDS``),
the fixtures of the checks that run before a build, and the regression's throughput summary."""
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tb.runner  # noqa: E402
from tb.runner import DEFAULT_PARAMS  # noqa: E402
pytest_plugins = ["tb.bench.cocotb_results"]

_SESSION_START = time.time()

# Test modules whose stimulus is random (seeded from cocotb's COCOTB_RANDOM_SEED = $SEED) carry the
# marker `seeded` (`pytestmark = pytest.mark.seeded`): `SEEDS=N` runs each of their tests N times,
# with seeds SEED_BASE .. SEED_BASE + N - 1 (`make regress SEEDS=N` runs `pytest -m seeded`).
SEEDED_MARK = "seeded"


def _seeds() -> int:
    try:
        return max(0, int(os.environ.get("SEEDS", "0") or 0))
    except ValueError:
        raise pytest.UsageError(f"SEEDS={os.environ['SEEDS']!r} is not a count")


def pytest_configure(config):
    config.addinivalue_line("markers", f"{SEEDED_MARK}: random stimulus seeded by $SEED; SEEDS=N repeats "
                            "each test over N seeds (make regress SEEDS=N)")
    # Fixed once in the controlling process so that pytest-xdist workers (spawned later with this
    # environment) collect the same parametrization.
    if _seeds() and not os.environ.get("SEED_BASE"):
        os.environ["SEED_BASE"] = os.environ.get("SEED") or str(random.randrange(1, 1 << 31))


def pytest_generate_tests(metafunc):
    n = _seeds()
    if n and metafunc.definition.get_closest_marker(SEEDED_MARK) is not None:
        base = int(os.environ["SEED_BASE"])
        metafunc.parametrize("seed", [base + k for k in range(n)], ids=lambda v: f"seed{v}")


@pytest.fixture(autouse=True)
def seed():
    """This test's cocotb seed under ``SEEDS=N`` (parametrized above), else None ($SEED or random)."""
    return None


@pytest.fixture(autouse=True)
def _apply_seed(seed, monkeypatch):
    if seed is not None:
        monkeypatch.setenv("SEED", str(seed))  # tb.runner.run_cocotb passes it to cocotb


def pytest_report_header(config):
    if _seeds():
        base = int(os.environ["SEED_BASE"])
        return (f"SEEDS={_seeds()}: random unit tests over seeds {base}..{base + _seeds() - 1} "
                f"(replay one: SEED=<seed> pytest <test file>::<test>)")


IMAGE_VARS = ("IMAGES", "OFFSET", "STAGE_IMAGES", "STAGE_OFFSET", "PARAM_IMAGES", "STRESS_IMAGES",
              "PARAMS", "PARAMS_DIR")


@pytest.fixture
def no_build(monkeypatch, tmp_path):
    """For tests of the checks that run before a build: clean image/parameter settings, SIM_BUILD
    in tmp_path, and every build (``tb.runner.build_verilator``, the one build function, and
    ``tb.runner.run_sim``) failing the test."""
    for name in IMAGE_VARS:
        monkeypatch.delenv(name, raising=False)

    def build(*args, **kwargs):
        raise AssertionError("a build started despite bad settings")
    monkeypatch.setattr(tb.runner, "build_verilator", build)
    monkeypatch.setattr(tb.runner, "run_sim", build)
    monkeypatch.setattr(tb.runner, "SIM_BUILD", tmp_path / "sim_build")
    return build


@pytest.fixture
def failed_message():
    """``failed_message(call)``: the message of the ``pytest.fail(..., pytrace=False)`` that
    ``call()`` raises, checked to be one line without a traceback."""
    def message(call) -> str:
        with pytest.raises(pytest.fail.Exception) as info:
            call()
        assert info.value.pytrace is False
        msg = str(info.value)
        assert "\n" not in msg, msg
        return msg
    return message


@pytest.fixture
def truncated_export(tmp_path) -> tuple[Path, str]:
    """A copy of the trained export with fc2_weight.mem cut short, and the one-line error expected."""
    e = tmp_path / "params"
    shutil.copytree(DEFAULT_PARAMS, e)
    path = e / "fc2_weight.mem"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-7]))
    return e, f"{path}: {84 * 120 - 7} values, expected {84 * 120} (manifest fc2 weight_shape [84, 120])"


def pytest_terminal_summary(terminalreporter):
    """Throughput of the regression shards this session ran (tb.bench.regress writes one
    summary.json per shard; read here so that it shows under pytest-xdist too)."""
    rows = []
    for path in sorted((tb.runner.SIM_BUILD / "regress_runs").glob("*/summary.json")):
        if path.stat().st_mtime < _SESSION_START:
            continue
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    if not rows:
        return
    tr = terminalreporter
    tr.section("RTL regression (tb/test_regress.py)")
    for s in rows:
        torch_txt = "no torch model" if s.get("torch_matches") is None else f"{s.get('torch_matches')} == torch"
        tr.write_line(
            f"images {s['offset']}..{s['offset'] + s['count'] - 1} ({s.get('params', 'trained')} parameters): "
            f"{s.get('completed')} done, {s.get('ref_matches')} == reference, {torch_txt}, "
            f"{s.get('label_correct')} correct; {s.get('images_per_s')} images/s, "
            f"{s.get('cycles_per_s')} cycles/s, {s.get('sim_wall_s')} s simulation")
    n = sum(s.get("completed") or 0 for s in rows)
    trained = [s for s in rows if s.get("params", "trained") == "trained"]
    n_trained = sum(s.get("completed") or 0 for s in trained)
    wall = time.time() - _SESSION_START
    tr.write_line(
        f"total: {n} images, {sum(s.get('ref_matches') or 0 for s in rows)} bit-exact vs reference, "
        f"{sum(s.get('torch_matches') or 0 for s in rows)} vs torch; trained parameters: "
        f"{100.0 * sum(s.get('label_correct') or 0 for s in trained) / max(n_trained, 1):.2f}% of "
        f"{n_trained} vs labels; pytest session wall time {wall:.0f} s (all its tests, builds included)")
