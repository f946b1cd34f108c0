"""scripts/coverage.py (the report step of `make coverage`) on real Verilator coverage data.

One coverage build of ``hdl/top/axil_regs.sv`` runs only its decode test
(``test_param_decode``: no CSR bit patterns), so some points stay unhit; its ``.dat`` goes to a temporary folder (``COVERAGE_DIR``) and the script
merges it with ``verilator_coverage``, annotates, writes lcov, applies waivers and checks goals.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tb.runner import HDL, REPO, hdl_sources, run_sim

SCRIPT = REPO / "scripts" / "coverage.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--no-html", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO)


@pytest.fixture(scope="module")
def dat_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("coverage_dat")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"COVERAGE": "1", "COVERAGE_DIR": str(out), "COCOTB_USER_COVERAGE": "0"}.items():
            mp.setenv(k, v)
        run_sim("axil_regs", hdl_sources("top/axil_regs.sv"), module="tb.test_axil_regs",
                testcase="test_param_decode")
    assert len(list(out.glob("*.dat"))) == 1, list(out.iterdir())
    return out


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_merge_annotate_lcov(dat_dir, tmp_path):
    out = tmp_path / "report"
    res = run_script("--dat-dir", str(dat_dir), "--out", str(out), "--waivers", str(tmp_path / "none"),
                     "--min-line", "0", "--min-branch", "0", "--min-toggle", "0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "coverage goal met" in res.stdout
    assert (out / "merged.dat").read_text().startswith("# SystemC::Coverage")
    annotated = (out / "annotated" / "axil_regs.sv").read_text()
    assert "module axil_regs" in annotated and "%0" in annotated  # missed points are marked
    info = (out / "coverage.info").read_text()
    sources = [ln[3:] for ln in info.splitlines() if ln.startswith("SF:")]
    assert sources == [str((HDL / "top" / "axil_regs.sv").resolve())], sources
    s = _summary(out)
    assert set(s["files"]) == {"top/axil_regs.sv"}
    for kind in ("line", "branch", "toggle"):
        t = s["total"][kind]
        assert t["total"] > 0 and 0 <= t["hit"] <= t["total"], (kind, t)
    missed = (out / "uncovered.txt").read_text()
    assert s["total"]["toggle"]["hit"] < s["total"]["toggle"]["total"], "decode test hit every toggle"
    assert "hdl/top/axil_regs.sv" in missed and "toggle" in missed


def test_goals_and_waivers(dat_dir, tmp_path):
    out = tmp_path / "report"
    res = run_script("--dat-dir", str(dat_dir), "--out", str(out), "--waivers", str(tmp_path / "none"))
    before = _summary(out)["total"]["toggle"]
    assert res.returncode == 1 and "coverage goal NOT met" in res.stdout, res.stdout + res.stderr

    waivers = tmp_path / "waivers.txt"
    waivers.write_text("# every point of axil_regs, for the test\n"
                       "toggle top/axil_regs.sv * the decode test leaves these unhit\n"
                       "line top/*.sv 1-9999 the decode test leaves these unhit\n"
                       "branch top/*.sv 1-9999 the decode test leaves these unhit\n"
                       "line conv/line_buffer.sv 1 stale: no data for this file\n")
    res = run_script("--dat-dir", str(dat_dir), "--out", str(out), "--waivers", str(waivers))
    assert res.returncode == 0, res.stdout + res.stderr
    after = _summary(out)["total"]
    assert after["toggle"]["waived"] == before["total"] - before["hit"] > 0
    assert after["toggle"]["pct_waived"] == 100.0 and after["toggle"]["pct"] == pytest.approx(before["pct"])
    assert "stale waiver waivers.txt:5" in res.stdout
    assert (out / "uncovered.txt").read_text().strip() == ""


def test_errors(dat_dir, tmp_path):
    res = run_script("--dat-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "r"))
    assert res.returncode == 2 and "no .dat files" in res.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("toggle top/axil_regs.sv rresp_q\n")  # no reason
    res = run_script("--dat-dir", str(dat_dir), "--out", str(tmp_path / "r"), "--waivers", str(bad))
    assert res.returncode == 2 and "bad.txt:1" in res.stderr, res.stderr
