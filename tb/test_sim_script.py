"""`make sim` (scripts/sim.py) refuses bad settings with one line and exit status 2,
before building anything."""
import subprocess
import sys

import pytest

from tb.runner import REPO


def run_sim_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "sim.py"), *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.parametrize("args", [("--images", "0"), ("--offset", "9990", "--images", "20"),
                                  ("--offset", "-1")])
def test_images_out_of_range(args):
    res = run_sim_script(*args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "outside the test set" in res.stdout


def test_missing_parameter_export(tmp_path):
    res = run_sim_script("--params", str(tmp_path / "nowhere"), "--images", "1")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "manifest.json missing" in res.stdout
