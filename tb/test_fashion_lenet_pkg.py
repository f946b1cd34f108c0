"""The generated SystemVerilog package ``hdl/fashion_lenet_pkg.sv`` (model/svpkg.py writes it
from model/network.py; model/tests/test_svpkg.py checks the committed file is its output)."""
import subprocess

from tb.runner import HDL, verilator_env

PACKAGE_FILE = HDL / "fashion_lenet_pkg.sv"


def test_package_lints_clean():
    """verilator --lint-only -Wall on the package alone (about a second)."""
    verilator_env()
    r = subprocess.run(["verilator", "--lint-only", "-Wall", str(PACKAGE_FILE)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
