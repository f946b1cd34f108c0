"""The generated SystemVerilog package and register-map page (``model/svpkg.py``, ``make pkg``):
committed as generated from ``model/network.py``, and the package parses with Verilator."""
from __future__ import annotations

import re

import pytest

from model import network as net
from model import svpkg


@pytest.mark.parametrize("path, generate", [(svpkg.PACKAGE_FILE, svpkg.package_text),
                                            (svpkg.REGISTER_MAP_FILE, svpkg.register_map_text)],
                         ids=["package", "register-map"])
def test_committed_file_is_generated(path, generate):
    """A change to model/network.py (or the generator) needs `make pkg` and the regenerated files
    committed: the RTL's constants must be the network's."""
    assert path.is_file(), f"{path} missing: run `make pkg`"
    assert path.read_text() == generate(), f"{path.name} differs from model/network.py: run `make pkg`"


def test_check_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "fashion_lenet_pkg.sv"
    text = svpkg.package_text()
    stale.write_text(re.sub(r"(DefaultLanes\s+= )\d+", r"\g<1>999", text, count=1))
    assert stale.read_text() != text
    monkeypatch.setattr(svpkg, "PACKAGE_FILE", stale)
    monkeypatch.setattr(svpkg, "REPO", tmp_path)
    monkeypatch.setattr(svpkg, "REGISTER_MAP_FILE", tmp_path / "register-map.md")
    (tmp_path / "register-map.md").write_text(svpkg.register_map_text())
    assert svpkg.main(["--check"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fashion_lenet_pkg.sv differs from model/network.py: run `make pkg`"], err
    assert re.search(r"DefaultLanes\s+= 999;", stale.read_text())  # --check writes nothing


def _localparams(text: str) -> dict[str, str]:
    return dict(re.findall(r"localparam\s+.*?\b(\w+)\s*=\s*([^;]+);", text))


def test_package_values_are_the_network():
    """Spot checks of the generated values against model.network (the rendering, not the text)."""
    p = _localparams(svpkg.package_text())
    for field, hdl in net.FOLDING_PARAMETERS.items():
        assert p[f"Default{hdl}"] == str(getattr(net.DEFAULT_FOLDING, field))
    assert p["DefaultLanes"] == str(net.DEFAULT_FOLDING.lanes)
    assert p["Pixels"] == str(net.PIXELS) and p["ResultBeats"] == str(net.RESULT_BEATS)
    assert p["Fc1In"] == str(net.LAYER["fc1"].in_channels) == "576"
    assert int(p["IdValue"].split("'h")[1], 16) == net.ID_VALUE
    assert int(p["CsrFrameErrorsOffset"].split("'h")[1], 16) == net.CSR["FRAME_ERRORS"]
    assert p["CsrFrameErrors"] == f"3'd{net.CSR['FRAME_ERRORS'] // 4}"
    assert int(p["Fc3Base"].split("'h")[1], 16) == net.layer_base("fc3")
    assert int(p["RegionZpOffset"].split("'h")[1], 16) == net.REGION_OFFSET["zp"]
    assert p["AddrWidth"] == str(net.ADDR_WIDTH) and p["ParamIndexWidth"] == "17"
    text = svpkg.package_text()
    for layer in net.LAYERS:
        assert re.search(rf"Layer{svpkg.camel(layer.name)}\s+= 3'd{layer.code}\b", text)
    for region in net.REGIONS:
        assert re.search(rf"Param{svpkg.camel(region.name)}\s+= 2'd{region.code}\b", text)


def test_hdl_defaults_are_the_package():
    """The top's (and the regression harness's) folding defaults are the package's, so the HDL
    default, model.network.DEFAULT_FOLDING and make synth / bench / mutate agree."""
    for rel in ("hdl/top/fashion_lenet_accel.sv", "tb/hdl/regress_harness.sv"):
        text = (svpkg.REPO / rel).read_text()
        for hdl in net.FOLDING_PARAMETERS.values():
            assert re.search(rf"parameter int unsigned {hdl}\s*=\s*Default{hdl}\b", text), (rel, hdl)
